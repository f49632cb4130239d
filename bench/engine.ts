/**
 * bench/engine: the same U-Net training step through convlora and through Python PyTorch, measured
 * in one run. Default: the method's residual U-Net (16 filters), batch 8, 128 x 128, 2 threads, Adam,
 * BCE with logits. Writes bench/results/engine.json and prints the ratio.
 *   node dist/bench/engine.js [--device cuda] [--batch 8] [--size 128] [--steps 5] [--warmup 2] [--threads 2]
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { manualSeed, setThreads, resolveDevice, synchronize } from '../src/engine/runtime.js';
import { uniform } from '../src/engine/create.js';
import * as ops from '../src/engine/ops.js';
import { tidy } from '../src/engine/tensor.js';
import { Adam } from '../src/engine/optim.js';
import { UNet2D } from '../src/models/unet.js';
import { machine, median, runPython, writeResult } from './common.js';

const { values } = parseArgs({ options: {
  device: { type: 'string', default: 'cpu' }, batch: { type: 'string', default: '8' }, size: { type: 'string', default: '128' },
  steps: { type: 'string', default: '5' }, warmup: { type: 'string', default: '2' }, threads: { type: 'string', default: '2' },
  filters: { type: 'string', default: '16' }, 'skip-baseline': { type: 'boolean', default: false },
} });
const [batch, size, steps, warmup, threads, filters] = ['batch', 'size', 'steps', 'warmup', 'threads', 'filters'].map((k) => Number(values[k as 'batch']));
const device = resolveDevice(values.device!);
setThreads(threads!);
manualSeed(0);

const model = new UNet2D({ filters: filters!, device });
model.train();
const opt = new Adam(model.parameters(), { lr: 1e-3 });
const x = uniform([batch!, 1, size!, size!], 0, 1, { device }).keep();
const y = tidy(() => ops.to(ops.gt(uniform([batch!, 1, size!, size!], 0, 1, { device }), 0.5), { dtype: 'float32' })).keep();
const times: number[] = [];
for (let i = 0; i < warmup! + steps!; i++) {
  const t0 = performance.now();
  tidy(() => {
    opt.zeroGrad();
    const loss = ops.bceWithLogits(model.forward(x), y);
    loss.backward();
    opt.step();
  });
  synchronize(device);
  if (i >= warmup!) times.push((performance.now() - t0) / 1000);
}
const ours = { stepSeconds: times, peakRssMB: process.resourceUsage().maxRSS / 1024 };
const result: Record<string, unknown> = { date: new Date().toISOString(), machine: machine(), device, batch, size, filters, threads, steps, warmup,
  convlora: { medianStepSeconds: median(times), peakRssMB: ours.peakRssMB } };
if (values['skip-baseline'] !== true) {
  const script = fileURLToPath(new URL('../../bench/engine_torch.py', import.meta.url));
  const py = runPython<{ stepSeconds: number[]; peakRssMB: number; torch: string }>(script, [filters!, batch!, size!, threads!, warmup!, steps!, device]);
  result.pytorch = { medianStepSeconds: median(py.stepSeconds), peakRssMB: py.peakRssMB, version: py.torch };
  result.stepTimeRatio = median(times) / median(py.stepSeconds);
  result.peakRssRatio = ours.peakRssMB / py.peakRssMB;
}
writeResult(fileURLToPath(new URL(`../../bench/results/engine-${device.replace(':', '')}.json`, import.meta.url)), result);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
