/**
 * bench/adapt: one target's ConvLoRA + AdaBN adaptation through convlora's adaptDomain and through the
 * same loop in Python PyTorch (bench/adapt_torch.py), side by side on the same slices and weights.
 * Each side runs in its own fresh process that only loads the weights and slices and adapts, so peak
 * RSS compares the two loops, not this script's phantom generation.
 * Reports training seconds per epoch (model-selection scoring excluded on both sides), wall time per
 * target (weights loaded to adapter ready; ours also scores the validation volumes before training and
 * after every epoch, which the PyTorch loop does not), and peak RSS.
 *   node dist/bench/adapt.js [--size 64] [--epochs 2] [--batch 32] [--threads 2]
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manualSeed, setThreads } from '../src/engine/runtime.js';
import { tensor } from '../src/engine/create.js';
import { UNet2D } from '../src/models/unet.js';
import { EarlySegHead } from '../src/models/esh.js';
import { AdapterRegistry, disposeAdapter } from '../src/lora/adapter.js';
import { loadSafetensors, saveSafetensors } from '../src/nn/safetensors.js';
import { generatePhantomDataset } from '../src/data/simulation/phantom.js';
import { loadScans, openDomain } from '../src/pipeline/train/dataset.js';
import { adaptDomain } from '../src/pipeline/train/adapt.js';
import type { PipelineEvent } from '../src/pipeline/events.js';
import { machine, median, runPython, writeResult } from './common.js';

const { values } = parseArgs({ options: {
  size: { type: 'string', default: '64' }, epochs: { type: 'string', default: '2' }, batch: { type: 'string', default: '32' },
  threads: { type: 'string', default: '2' }, child: { type: 'string' },
} });
const size = Number(values.size), epochs = Number(values.epochs), batch = Number(values.batch), threads = Number(values.threads);

interface Ours { medianTrainEpochSeconds: number; medianEpochSecondsWithSelection: number; wallSecondsPerTarget: number; peakRssMB: number; trainSlices: number }

/** Our side, in a fresh process: load weights and the target's scans, adapt, report. */
async function child(work: string): Promise<Ours> {
  setThreads(threads);
  const t0 = performance.now();
  const unet = new UNet2D();
  const esh = new EarlySegHead(128);
  for (const [m, f] of [[unet, 'unet'], [esh, 'esh']] as const) {
    const st = await loadSafetensors(join(work, `${f}.safetensors`));
    m.loadStateDict(st.tensors);
    st.tensors.forEach((t) => t.dispose());
  }
  const d = await openDomain(join(work, 'data'), 'Philips_3', 'target');
  const train = await loadScans(d.split.train, d.info);
  const val = await loadScans(d.split.val, d.info);
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
  const r = await adaptDomain(registry, esh, train, val, d.info, { target: 'Philips_3', method: 'convlora', blocks: 'all', adabn: 'implicit', epochs, batchSize: batch, seed: 42, report });
  const wall = (performance.now() - t0) / 1000;
  disposeAdapter(r.adapter);
  return { medianTrainEpochSeconds: median(trainSeconds), medianEpochSecondsWithSelection: median(epochSeconds), wallSecondsPerTarget: wall,
    peakRssMB: process.resourceUsage().maxRSS / 1024, trainSlices: train.reduce((n, s) => n + s.shape[0], 0) };
}

if (values.child !== undefined) {
  process.stdout.write(`${JSON.stringify(await child(values.child))}\n`);
} else {
  const work = mkdtempSync(join(tmpdir(), 'convlora-bench-adapt-'));
  try {
    const data = join(work, 'data');
    await generatePhantomDataset(data, { size, volumes: 14, seed: 0, domains: ['GE_3', 'Philips_3'] });
    const d = await openDomain(data, 'Philips_3', 'target');
    const train = await loadScans(d.split.train, d.info);
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
    unet.dispose();
    esh.dispose();

    const self = fileURLToPath(import.meta.url);
    const out = execFileSync(process.execPath, [self, '--child', work, '--size', String(size), '--epochs', String(epochs), '--batch', String(batch), '--threads', String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const ours = JSON.parse(out.trim().split('\n').pop()!) as Ours;
    const py = runPython<{ epochSeconds: number[]; wallSeconds: number; peakRssMB: number; trainable: number }>(fileURLToPath(new URL('../../bench/adapt_torch.py', import.meta.url)), [work, epochs, batch, threads, 42]);
    const result = {
      date: new Date().toISOString(), machine: machine(), size, epochs, batch, threads, trainSlices: S, stepsPerEpoch: Math.floor(S / batch),
      convlora: ours, pytorch: { medianTrainEpochSeconds: median(py.epochSeconds), wallSecondsPerTarget: py.wallSeconds, peakRssMB: py.peakRssMB, trainable: py.trainable },
      epochTimeRatio: ours.medianTrainEpochSeconds / median(py.epochSeconds),
      wallPerTargetRatio: ours.wallSecondsPerTarget / py.wallSeconds,
      peakRssRatio: ours.peakRssMB / py.peakRssMB,
    };
    writeResult(fileURLToPath(new URL('../../bench/results/adapt.json', import.meta.url)), result);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
