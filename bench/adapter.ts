/**
 * bench/adapter: inference latency of the base U-Net, the same U-Net with a full-encoder ConvLoRA adapter
 * merged into its weights, and unmerged (W + delta recomputed every forward). Rounds interleave the
 * three so machine noise hits them alike; medians are reported.
 *   node dist/bench/adapter.js [--batch 8] [--size 128] [--rounds 15]
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { manualSeed, noGrad, setThreads } from '../src/engine/runtime.js';
import { randn, uniform } from '../src/engine/create.js';
import * as ops from '../src/engine/ops.js';
import { tidy } from '../src/engine/tensor.js';
import { UNet2D } from '../src/models/unet.js';
import { applyPlacement, loraLayers, planPlacement } from '../src/lora/placement.js';
import { machine, median, writeResult } from './common.js';

const { values } = parseArgs({ options: { batch: { type: 'string', default: '8' }, size: { type: 'string', default: '128' }, rounds: { type: 'string', default: '15' }, threads: { type: 'string', default: '2' } } });
const batch = Number(values.batch), size = Number(values.size), rounds = Number(values.rounds);
setThreads(Number(values.threads));
manualSeed(0);
const model = new UNet2D();
model.eval();
const x = uniform([batch, 1, size, size]).keep();
const time = (): number => {
  const t0 = performance.now();
  noGrad(() => tidy(() => { ops.sum(model.forward(x)).item(); }));
  return (performance.now() - t0) / 1000;
};
// Base first, then inject a trained-looking adapter (B randomised so merging changes the weights).
const base: number[] = [], merged: number[] = [], unmerged: number[] = [];
for (let i = 0; i < 2; i++) time(); // warm-up
const baseLayers = () => loraLayers(model);
applyPlacement(model, planPlacement(model, 'convlora', 'all'));
for (const [, l] of baseLayers()) tidy(() => ops.copy_(l.adapter('default').b, ops.mul(randn(l.adapter('default').b.shape), 0.01)));
model.eval();
for (let r = 0; r < rounds; r++) {
  for (const [, l] of baseLayers()) l.setActive(null);
  base.push(time());
  for (const [, l] of baseLayers()) { l.setActive('default'); l.merge(); }
  merged.push(time());
  for (const [, l] of baseLayers()) l.unmerge();
  unmerged.push(time());
}
const result = {
  date: new Date().toISOString(), machine: machine(), batch, size, rounds,
  baseSeconds: median(base), mergedSeconds: median(merged), unmergedSeconds: median(unmerged),
  mergedRatio: median(merged) / median(base), unmergedRatio: median(unmerged) / median(base),
};
writeResult(fileURLToPath(new URL('../../bench/results/adapter.json', import.meta.url)), result);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
