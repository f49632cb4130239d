/**
 * bench/profile: where the time of one U-Net training step and one ConvLoRA + AdaBN adaptation step goes,
 * per libtorch operator (self time), ours next to Python PyTorch's (bench/profile_torch.py) on the same
 * shapes. Training: the method's U-Net (16 filters), batch 8, 128 x 128, Adam, BCE. Adaptation: LoRA r=2
 * on the full encoder plus the ResBlock BN affine, U-Net in train mode, frozen ESH, loss BCE(ESH logits,
 * sigmoid(final logits)), Adam, batch 32, 64 x 64. Each side: 2 warm-up steps, then `--steps` profiled.
 * Writes bench/results/profile.json and prints a table (ms per step).
 *   node dist/bench/profile.js [--steps 3] [--threads 2] [--top 14]
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { manualSeed, setThreads } from '../src/engine/runtime.js';
import { uniform } from '../src/engine/create.js';
import * as ops from '../src/engine/ops.js';
import { tidy, type Tensor } from '../src/engine/tensor.js';
import { Adam } from '../src/engine/optim.js';
import { profileOps, type OpProfile } from '../src/engine/profile.js';
import { UNet2D } from '../src/models/unet.js';
import { EarlySegHead } from '../src/models/esh.js';
import { applyPlacement, planPlacement } from '../src/lora/placement.js';
import { PAPER_LORA } from '../src/lora/convlora.js';
import { machine, runPython, writeResult } from './common.js';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '3' }, threads: { type: 'string', default: '2' }, top: { type: 'string', default: '14' } } });
const steps = Number(values.steps), threads = Number(values.threads), top = Number(values.top);
setThreads(threads);

interface Side { stepMs: number; ops: OpProfile[] }

/** Warm up, then profile `steps` calls of `step`; per-step milliseconds. */
function measure(step: () => void): Side {
  for (let i = 0; i < 2; i++) step();
  const t0 = performance.now();
  const { ops: rows } = profileOps(() => { for (let i = 0; i < steps; i++) step(); });
  const stepMs = (performance.now() - t0) / steps;
  return { stepMs, ops: rows.map((r) => ({ ...r, calls: r.calls / steps, totalMs: r.totalMs / steps, selfMs: r.selfMs / steps })) };
}

function trainingStep(): Side {
  manualSeed(0);
  const model = new UNet2D({ filters: 16 });
  model.train();
  const opt = new Adam(model.parameters(), { lr: 1e-3 });
  const x = uniform([8, 1, 128, 128], 0, 1).keep();
  const y = tidy(() => ops.to(ops.gt(uniform([8, 1, 128, 128], 0, 1), 0.5), { dtype: 'float32' })).keep();
  try {
    return measure(() => tidy(() => {
      opt.zeroGrad();
      const loss = ops.bceWithLogits(model.forward(x), y);
      loss.backward();
      opt.step();
    }));
  } finally { [x, y].forEach((t) => t.dispose()); opt.dispose(); model.dispose(); }
}

function adaptationStep(): Side {
  manualSeed(0);
  const unet = new UNet2D({ filters: 16 });
  const esh = new EarlySegHead(128);
  applyPlacement(unet, planPlacement(unet, 'convlora', 'all'), 'bench', PAPER_LORA);
  esh.eval().freeze();
  unet.train();
  const opt = new Adam(unet.trainableParameters().map(([, t]) => t), { lr: 1e-4 });
  const x: Tensor = uniform([32, 1, 64, 64], 0, 1).keep();
  try {
    return measure(() => tidy(() => {
      opt.zeroGrad();
      const f = unet.forwardFeatures(x);
      const loss = ops.bceWithLogits(esh.forward(f.x3), ops.sigmoid(f.logits));
      loss.backward();
      opt.step();
    }));
  } finally { x.dispose(); opt.dispose(); unet.dispose(); esh.dispose(); }
}

const ours = { training: trainingStep(), adaptation: adaptationStep() };
const py = runPython<{ torch: string; training: Side; adaptation: Side }>(fileURLToPath(new URL('../../bench/profile_torch.py', import.meta.url)), [steps, threads]);

function table(what: 'training' | 'adaptation'): string {
  const a = ours[what], b = py[what];
  const byName = new Map(b.ops.map((r) => [r.name, r]));
  const names = [...new Set([...a.ops.slice(0, top).map((r) => r.name), ...b.ops.slice(0, top).map((r) => r.name)])];
  const mine = new Map(a.ops.map((r) => [r.name, r]));
  const rows = names.map((n) => [n, mine.get(n)?.selfMs ?? 0, byName.get(n)?.selfMs ?? 0, mine.get(n)?.calls ?? 0, byName.get(n)?.calls ?? 0] as const)
    .sort((p, q) => Math.max(q[1], q[2]) - Math.max(p[1], p[2]));
  const sum = (s: Side): number => s.ops.reduce((t, r) => t + r.selfMs, 0);
  return [`${what} step: convlora ${a.stepMs.toFixed(0)} ms (operators ${sum(a).toFixed(0)} ms), PyTorch ${py.torch} ${b.stepMs.toFixed(0)} ms (operators ${sum(b).toFixed(0)} ms)`,
    '| operator | convlora self ms | PyTorch self ms | calls (ours / PyTorch) |', '|---|---|---|---|',
    ...rows.map(([n, x, y, c, d]) => `| ${n} | ${x.toFixed(1)} | ${y.toFixed(1)} | ${c} / ${d} |`)].join('\n');
}

const result = { date: new Date().toISOString(), machine: machine(), threads, steps, torch: py.torch, convlora: ours, pytorch: py };
writeResult(fileURLToPath(new URL('../../bench/results/profile.json', import.meta.url)), result);
process.stdout.write(`${table('training')}\n\n${table('adaptation')}\n`);
