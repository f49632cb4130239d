/**
 * bench/adapt: one target's ConvLoRA + AdaBN adaptation through convlora's adaptDomain and through the
 * same loop in Python PyTorch (bench/adapt_torch.py), side by side on the same slices and weights.
 * Reports training seconds per epoch (model-selection scoring excluded on both sides; ours is reported
 * separately), wall time per target, and peak RSS.
 *   node dist/bench/adapt.js [--size 64] [--epochs 2] [--batch 32] [--threads 2]
 */
import { parseArgs } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manualSeed, setThreads } from '../src/engine/runtime.js';
import { tensor } from '../src/engine/create.js';
import { UNet2D } from '../src/models/unet.js';
import { EarlySegHead } from '../src/models/esh.js';
import { AdapterRegistry, disposeAdapter } from '../src/lora/adapter.js';
import { saveSafetensors } from '../src/nn/safetensors.js';
import { generatePhantomDataset } from '../src/data/phantom.js';
import { loadScans, openDomain } from '../src/pipeline/dataset.js';
import { adaptDomain } from '../src/pipeline/adapt.js';
import type { PipelineEvent } from '../src/pipeline/events.js';
import { machine, median, runPython, writeResult } from './common.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '64' }, epochs: { type: 'string', default: '2' }, batch: { type: 'string', default: '32' }, threads: { type: 'string', default: '2' } } });
const size = Number(values.size), epochs = Number(values.epochs), batch = Number(values.batch), threads = Number(values.threads);
setThreads(threads);
const work = mkdtempSync(join(tmpdir(), 'convlora-bench-adapt-'));
const data = join(work, 'data');
await generatePhantomDataset(data, { size, volumes: 14, seed: 0, domains: ['GE_3', 'Philips_3'] });
const d = await openDomain(data, 'Philips_3', 'target');
const train = await loadScans(d.split.train, d.info);
const val = await loadScans(d.split.val, d.info);
manualSeed(0);
const unet = new UNet2D();
const esh = new EarlySegHead(128);
await saveSafetensors(join(work, 'unet.safetensors'), unet.stateDict());
await saveSafetensors(join(work, 'esh.safetensors'), esh.stateDict());
const S = train.reduce((n, s) => n + s.shape[0], 0);
const all = new Float32Array(S * size * size);
let off = 0;
for (const s of train) { all.set(s.images, off); off += s.images.length; }
const xs = tensor(all, [S, 1, size, size]);
await saveSafetensors(join(work, 'slices.safetensors'), new Map([['x', xs]]));
xs.dispose();

const registry = new AdapterRegistry(unet);
const trainSeconds: number[] = [];
const epochSeconds: number[] = [];
let start = 0;
let lastStep = 0;
const report = (e: PipelineEvent): void => {
  if (e.type === 'epoch-start') start = performance.now();
  if (e.type === 'step') lastStep = performance.now();
  if (e.type === 'epoch-end' && e.epoch > 0) { trainSeconds.push((lastStep - start) / 1000); epochSeconds.push(e.seconds); }
};
const t0 = performance.now();
const r = await adaptDomain(registry, esh, train, val, d.info, { target: 'Philips_3', method: 'convlora', blocks: 'all', adabn: 'implicit', epochs, batchSize: batch, seed: 42, report });
const wall = (performance.now() - t0) / 1000;
disposeAdapter(r.adapter);
const ours = { medianTrainEpochSeconds: median(trainSeconds), medianEpochSecondsWithSelection: median(epochSeconds), wallSecondsPerTarget: wall, peakRssMB: process.resourceUsage().maxRSS / 1024 };
const py = runPython<{ epochSeconds: number[]; peakRssMB: number; trainable: number }>(fileURLToPath(new URL('../../bench/adapt_torch.py', import.meta.url)), [work, epochs, batch, threads, 42]);
const result = {
  date: new Date().toISOString(), machine: machine(), size, epochs, batch, threads, trainSlices: S, stepsPerEpoch: Math.floor(S / batch),
  convlora: ours, pytorch: { medianTrainEpochSeconds: median(py.epochSeconds), peakRssMB: py.peakRssMB, trainable: py.trainable },
  epochTimeRatio: ours.medianTrainEpochSeconds / median(py.epochSeconds), peakRssRatio: ours.peakRssMB / py.peakRssMB,
};
writeResult(fileURLToPath(new URL('../../bench/results/adapt.json', import.meta.url)), result);
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
