/**
 * Stage 1: train the U-Net on the labelled source domain (GE_3 by default). Defaults from
 * convlora-method.md §5: Adam lr 1e-3, batch 32, BCE with logits, 100 epochs, no augmentation.
 * A checkpoint is written after every epoch; `resume` continues an interrupted run.
 */
import { join } from 'node:path';
import { checkInt, checkNumber } from '../errors.js';
import { tensor } from '../engine/create.js';
import * as ops from '../engine/ops.js';
import { Adam } from '../engine/optim.js';
import { manualSeed } from '../engine/runtime.js';
import type { Device } from '../engine/tensor.js';
import { UNet2D } from '../models/unet.js';
import type { Domain, ScanData } from '../data/cc359.js';
import { axisCodes } from '../data/orientation.js';
import { aggregate } from '../metrics/aggregate.js';
import { Batches, checkData, loadScans, openDomain } from './dataset.js';
import { saveNetwork } from './models.js';
import { resumeRun, writeRunState } from './runstate.js';
import { trainEpoch } from './loop.js';
import { scoreScans, TOLERANCE_MM } from './score.js';
import { silent, type Reporter } from './events.js';

export interface TrainSourceOptions {
  data: string;
  out: string;
  source?: Domain;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  filters?: number;
  device?: Device;
  resume?: boolean;
  /** Surface Dice tolerance (mm) of the validation score; default 1. */
  tolerance?: number;
  report?: Reporter;
}

export interface EpochRecord { epoch: number; loss: number; valSurfaceDice: number; valDice: number; seconds: number }

export interface TrainSourceResult { checkpoint: string; history: EpochRecord[] }

export async function trainSource(o: TrainSourceOptions): Promise<TrainSourceResult> {
  const source = o.source ?? 'GE_3';
  const epochs = checkInt('epochs', o.epochs ?? 100, 1);
  const batchSize = checkInt('batchSize', o.batchSize ?? 32, 1);
  const lr = checkNumber('lr', o.lr ?? 1e-3, 0);
  const seed = checkInt('seed', o.seed ?? 42, 0);
  const filters = checkInt('filters', o.filters ?? 16, 1);
  const device = o.device ?? 'cpu';
  const report = o.report ?? silent;
  const runDir = join(o.out, 'source-run');

  report({ type: 'stage', stage: 'train-source', message: `checking ${o.data} (${source})` });
  await checkData(o.data, [source]);
  const d = await openDomain(o.data, source, 'source');
  const train = await loadScans(d.split.train, d.info);
  const val = await loadScans(d.split.val, d.info);
  report({ type: 'stage', stage: 'train-source', message: `${train.length} train / ${val.length} val volumes of ${source}, ${d.info.size} x ${d.info.size} slices` });
  const orientation = trainingOrientation([...train, ...val]);
  const spacing = trainingSpacing([...train, ...val]);
  if (orientation === null) report({ type: 'stage', stage: 'train-source', message: `${source} volumes differ in voxel orientation: \`segment\` will not reorient inputs for this model` });

  manualSeed(seed);
  const model = new UNet2D({ filters, device });
  const opt = new Adam(model.parameters(), { lr });
  const fingerprint = { data: o.data, source, batchSize, lr, seed, filters, size: d.info.size };
  try {
    const { history, start } = await resumeRun<EpochRecord>(runDir, o.resume === true, fingerprint, model, opt,
      (message) => report({ type: 'stage', stage: 'train-source', message }));
    const batches = new Batches(train, d.info, { batchSize, seed, dropLast: false });
    for (let epoch = start; epoch < epochs; epoch++) {
      const t0 = Date.now();
      model.train();
      const loss = await trainEpoch(batches, epoch, epochs, opt, device, 'train-source', report,
        (x, b) => ops.bceWithLogits(model.forward(x), tensor(b.y, b.shape, { device })));
      const v = aggregate(scoreScans(model, val, device, batchSize, o.tolerance ?? TOLERANCE_MM)).overall;
      const rec: EpochRecord = { epoch: epoch + 1, loss, valSurfaceDice: v.surfaceDice.mean, valDice: v.dice.mean, seconds: (Date.now() - t0) / 1000 };
      history.push(rec);
      await writeRunState(runDir, { stage: 'train-source', fingerprint, epochsDone: epoch + 1, history }, model, opt);
      report({ type: 'epoch-end', stage: 'train-source', epoch: epoch + 1, epochs, loss: rec.loss, metric: rec.valSurfaceDice, metricName: 'val SDS', seconds: rec.seconds });
    }
    const checkpoint = join(o.out, 'unet.safetensors');
    await saveNetwork(checkpoint, model, { kind: 'unet2d', filters, size: d.info.size, source, orientation, spacing, epoch: epochs, seed, history });
    return { checkpoint, history };
  } finally {
    model.dispose();
    opt.dispose();
  }
}

/**
 * The voxel orientation (axis codes, e.g. 'RAS') the model learns from: that of every training volume,
 * or null when they differ (or one has a degenerate affine). `segment` reorients inputs to it.
 */
export function trainingOrientation(scans: readonly Pick<ScanData, 'source'>[]): string | null {
  const codes = new Set<string>();
  for (const s of scans) {
    try { codes.add(axisCodes(s.source.affine)); } catch { return null; }
  }
  return codes.size === 1 ? [...codes][0]! : null;
}

/**
 * A warning when a domain's volumes are stored in another voxel orientation than the model's training
 * volumes (null when they agree or either is unknown). The paper's pipeline slices every domain along
 * axis 0 as stored, so adaptation and evaluation do not turn volumes; only `segment` does.
 */
export function orientationWarning(modelOrientation: unknown, scans: readonly Pick<ScanData, 'source'>[], domain: string): string | null {
  if (typeof modelOrientation !== 'string') return null;
  const o = trainingOrientation(scans);
  if (o === null || o === modelOrientation) return null;
  return `warning: ${domain} volumes are stored ${o} but the model was trained on ${modelOrientation} volumes; they are sliced along axis 0 as stored (as in the paper's pipeline), so the slices show the head another way round`;
}

/** Median voxel size (mm) per file axis of the training volumes: the grid `segment --conform` resamples to. */
export function trainingSpacing(scans: readonly Pick<ScanData, 'source'>[]): [number, number, number] {
  return [0, 1, 2].map((a) => {
    const v = scans.map((s) => s.source.spacing[a] ?? 1).sort((x, y) => x - y);
    const m = v.length >> 1;
    return v.length === 0 ? 1 : v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
  }) as [number, number, number];
}
