/**
 * Stage 1: train the U-Net on the labelled source domain (GE_3 by default). Defaults from
 * docs/method.md §5: Adam lr 1e-3, batch 32, BCE with logits, 100 epochs, no augmentation.
 * A checkpoint is written after every epoch; `resume` continues an interrupted run.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { checkInt, checkNumber, ConvLoraError } from '../../errors.js';
import { tensor } from '../../engine/create.js';
import * as ops from '../../engine/ops.js';
import { Adam } from '../../engine/optim.js';
import { manualSeed } from '../../engine/runtime.js';
import type { Device } from '../../engine/tensor.js';
import { DEFAULT_ARCH, modelSpec, type SegmentationNet } from '../../models/zoo.js';
import { checkEmaDecay, ModelEma } from '../../nn/ema.js';
import { CC359_SLICE_RANGES, type DatasetInfo, type Domain, type ScanData } from '../../data/scans/cc359.js';
import { axisCodes } from '../../data/image/orientation.js';
import { aggregate } from '../../metrics/aggregate.js';
import { Batches, ScanBatches, checkData, loadScans, openDomain } from './dataset.js';
import { loadUnet, saveNetwork } from '../models.js';
import { fingerprintScans, type Fingerprint } from '../../lora/fingerprint.js';
import { randomizedEpoch, randomizedValidation, type RandomizedSet } from './randomized.js';
import { resumeRun, writeRunState } from './runstate.js';
import { trainEpoch } from './loop.js';
import { scoreScans, scoreScansTestTime, TOLERANCE_MM } from './score.js';
import { silent, type Reporter } from '../events.js';
import type { DataParallel } from '../dist/parallel.js';

export interface TrainSourceOptions {
  /** Dataset root (CC359 layout); not read when `randomized` is given. */
  data?: string;
  /**
   * Domain randomization instead of a stored source domain: a fresh random-contrast image of every
   * training subject each epoch; the checkpoint is the epoch with the best validation Surface Dice.
   */
  randomized?: RandomizedSet;
  out: string;
  source?: Domain;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** Model zoo architecture (models/zoo.ts); default 'dart-unet', the paper's residual U-Net. */
  arch?: string;
  /** Initial filters; default the architecture's (16 for the paper's U-Net). */
  filters?: number;
  device?: Device;
  resume?: boolean;
  /** Surface Dice tolerance (mm) of the validation score; default 1. */
  tolerance?: number;
  /**
   * Keep an exponential moving average of the weights with this decay (0 < decay < 1), updated after every
   * optimizer step (nn/ema.ts): validation scores the averaged weights, and the checkpoints hold them.
   */
  ema?: number;
  /** A U-Net checkpoint (same filters) to start from instead of a random initialization: fine-tuning. */
  init?: string;
  report?: Reporter;
  /**
   * Data-parallel training over a process group (pipeline/dist/parallel.ts): each rank trains on its rows of
   * the same global batches; rank 0 alone validates and writes the checkpoints and run state.
   */
  parallel?: DataParallel | null;
}

export interface EpochRecord {
  epoch: number; loss: number; valSurfaceDice: number; valDice: number; seconds: number;
  /** Randomized training: validation Surface Dice and Dice with test-time AdaBN on each scan (scoreScansTestTime). */
  valSurfaceDiceAdaBN?: number; valDiceAdaBN?: number;
  /** With a weight EMA the scores above are the averaged weights'; these are the live (last-step) weights'. */
  live?: { valSurfaceDice: number; valDice: number; valSurfaceDiceAdaBN?: number; valDiceAdaBN?: number };
}

/**
 * How a randomized model predicts best on its simulated validation scans: with its running BatchNorm
 * statistics ('eval') or after test-time AdaBN on each scan ('adabn'). Recorded in the checkpoint as
 * `inference`; `segment` follows it unless told otherwise.
 */
export type InferenceMode = 'eval' | 'adabn';

/** The better of an epoch's two validation scores, and the mode that gave it (ties: 'eval', the cheaper). */
export function bestMode(rec: EpochRecord): { score: number; mode: InferenceMode } {
  const adabn = rec.valSurfaceDiceAdaBN ?? -Infinity;
  return adabn > rec.valSurfaceDice ? { score: adabn, mode: 'adabn' } : { score: rec.valSurfaceDice, mode: 'eval' };
}

export interface TrainSourceResult { checkpoint: string; history: EpochRecord[] }

export async function trainSource(o: TrainSourceOptions): Promise<TrainSourceResult> {
  const source = o.source ?? 'GE_3';
  const epochs = checkInt('epochs', o.epochs ?? 100, 1);
  const batchSize = checkInt('batchSize', o.batchSize ?? 32, 1);
  const lr = checkNumber('lr', o.lr ?? 1e-3, 0);
  const seed = checkInt('seed', o.seed ?? 42, 0);
  const spec = modelSpec(o.arch ?? DEFAULT_ARCH);
  const filters = checkInt('filters', o.filters ?? spec.defaultFilters, 1);
  const device = o.device ?? 'cpu';
  const emaDecay = o.ema === undefined ? null : checkEmaDecay(o.ema);
  const dp = o.parallel ?? null;
  dp?.checkDevice(o.device ?? 'cpu');
  const main = dp === null || dp.main;
  const report = main ? o.report ?? silent : silent;
  const runDir = join(o.out, 'source-run');
  const init = o.init === undefined ? null : await readInit(o.init, spec.arch, filters, device);
  try {
    return await train();
  } finally { init?.model.dispose(); }

  async function train(): Promise<TrainSourceResult> {

    const r = o.randomized;
    const { info, train, val, what } = r === undefined ? await storedSource(o.data, source, report) : randomizedSource(r, seed);
    report({ type: 'stage', stage: 'train-source', message: `${r?.train.length ?? train.length} train / ${val.length} val volumes of ${what}, ${info.size} x ${info.size} slices` });
    const grids = r === undefined ? [...train, ...val] : [...r.train, ...r.val].map((v) => ({ source: v }));
    const orientation = trainingOrientation(grids);
    const spacing = trainingSpacing(grids);
    if (info.size % spec.divisor !== 0) {
      throw new ConvLoraError('E_INVALID_ARG', `Expected slices whose size is a multiple of ${spec.divisor} for the ${spec.arch} network but received ${info.size} x ${info.size}`);
    }
    if (orientation === null) report({ type: 'stage', stage: 'train-source', message: `${source} volumes differ in voxel orientation: \`segment\` will not reorient inputs for this model` });

    manualSeed(seed);
    const model = spec.create({ filters, device });
    // Fine-tuning starts from the given weights (and BatchNorm statistics); Adam's moments start at zero.
    if (init !== null) {
      model.loadStateDict(init.model.stateDict(), { strict: true });
      init.model.dispose();
    }
    const opt = new Adam(model.parameters(), { lr });
    // The shadow is built after the live model, so the live model's random initialization is the same with and without EMA.
    const ema = emaDecay === null ? null : new ModelEma(model, spec.create({ filters, device }), emaDecay);
    // The architecture joins the resume fingerprint only when it is not the default, so earlier runs still resume.
    const extraFingerprint = { ...(spec.arch === DEFAULT_ARCH ? {} : { arch: spec.arch }), ...(emaDecay === null ? {} : { ema: emaDecay }), ...(init === null ? {} : { init: init.sha256 }) };
    const fingerprint = r === undefined ? { data: o.data, source, batchSize, lr, seed, filters, size: info.size, ...extraFingerprint }
      : { randomized: { train: r.train.length, val: r.val.length, options: r.options ?? {}, slices: r.slicesPerSubject ?? null, ...(r.batches === undefined || r.batches === 'mixed' ? {} : { batches: r.batches }) }, batchSize, lr, seed, filters, size: info.size, ...extraFingerprint };
    const bestPath = join(runDir, 'best.safetensors');
    const sourceName = r === undefined ? source : r.name ?? 'randomized';
    const meta = { kind: 'unet2d' as const, arch: spec.arch, filters, size: info.size, source: sourceName, orientation, spacing, seed,
      ...(emaDecay === null ? {} : { ema: emaDecay }), ...(init === null ? {} : { init: { path: init.path, sha256: init.sha256, epoch: init.epoch } }) };
    // What validation scores and the checkpoints hold: the averaged weights when there is an EMA.
    const kept = ema?.shadow ?? model;
    const tolerance = o.tolerance ?? TOLERANCE_MM;
    const validate = (m: SegmentationNet): { valSurfaceDice: number; valDice: number; valSurfaceDiceAdaBN?: number; valDiceAdaBN?: number } => {
      const v = aggregate(scoreScans(m, val, device, batchSize, tolerance)).overall;
      // Randomized: also with test-time AdaBN per scan, and keep the better mode with the epoch.
      const t = r === undefined ? null : aggregate(scoreScansTestTime(m, val, device, batchSize, tolerance)).overall;
      return { valSurfaceDice: v.surfaceDice.mean, valDice: v.dice.mean, ...(t === null ? {} : { valSurfaceDiceAdaBN: t.surfaceDice.mean, valDiceAdaBN: t.dice.mean }) };
    };
    const describe = (s: ReturnType<typeof validate>): string => `val SDS ${s.valSurfaceDice.toFixed(4)} (Dice ${s.valDice.toFixed(4)})`
      + (s.valSurfaceDiceAdaBN === undefined ? '' : `, with test-time AdaBN per scan ${s.valSurfaceDiceAdaBN.toFixed(4)} (Dice ${s.valDiceAdaBN!.toFixed(4)})`);
    try {
      const { history, start } = await resumeRun<EpochRecord>(runDir, o.resume === true, fingerprint, model, opt,
        (message) => report({ type: 'stage', stage: 'train-source', message }), ema?.shadow ?? null);
      // Every rank starts from rank 0's weights (and EMA shadow), whatever each read or drew.
      dp?.broadcastState(ema === null ? [model] : [model, ema.shadow]);
      if (init !== null && start === 0 && main) {
        // The starting point on the same validation scans: what fine-tuning has to beat.
        report({ type: 'stage', stage: 'train-source', message: `initial weights (${init.path}): ${describe(validate(model))}` });
      }
      const stored = r === undefined ? new Batches(train, info, { batchSize, seed, dropLast: false }) : null;
      let best = history.reduce((m, h) => Math.max(m, bestMode(h).score), -Infinity);
      for (let epoch = start; epoch < epochs; epoch++) {
        const t0 = Date.now();
        const batches = stored ?? ((r!.batches ?? 'per-image') === 'per-image'
          ? new ScanBatches(randomizedEpoch(r!, seed, epoch), { batchSize, seed })
          : new Batches(randomizedEpoch(r!, seed, epoch), info, { batchSize, seed, dropLast: false }));
        model.train();
        const loss = await trainEpoch(batches, epoch, epochs, opt, device, 'train-source', report,
          (x, b) => ops.bceWithLogits(model.forward(x), tensor(b.y, b.shape, { device })),
          { ...(ema === null ? {} : { afterStep: () => ema.update() }), parallel: dp, syncBatchNorm: [model] });
        if (!main) {
          // Rank 0 validates and writes; the others wait for it with the same weights.
          history.push({ epoch: epoch + 1, loss, valSurfaceDice: NaN, valDice: NaN, seconds: (Date.now() - t0) / 1000 });
          dp!.barrier();
          continue;
        }
        const scores = validate(kept);
        // With EMA, the live weights too (reported, never selected on): what the average changes.
        const live = ema === null ? null : validate(model);
        const rec: EpochRecord = { epoch: epoch + 1, loss, ...scores, seconds: (Date.now() - t0) / 1000, ...(live === null ? {} : { live }) };
        history.push(rec);
        const { score, mode } = bestMode(rec);
        if (r !== undefined && score > best) {
          best = score;
          await saveNetwork(bestPath, kept, { ...meta, epoch: epoch + 1, inference: mode });
        }
        await writeRunState(runDir, { stage: 'train-source', fingerprint, epochsDone: epoch + 1, history }, model, opt, ema?.shadow ?? null);
        report({ type: 'epoch-end', stage: 'train-source', epoch: epoch + 1, epochs, loss: rec.loss, metric: rec.valSurfaceDice, metricName: ema === null ? 'val SDS' : 'val SDS (EMA)', seconds: rec.seconds });
        if (scores.valSurfaceDiceAdaBN !== undefined || live !== null) {
          report({ type: 'stage', stage: 'train-source', message: `epoch ${epoch + 1}: ${ema === null ? '' : 'EMA weights: '}${describe(scores)}${live === null ? '' : `; live weights: ${describe(live)}`}` });
        }
        dp?.barrier();
      }
      const checkpoint = join(o.out, 'unet.safetensors');
      if (main) {
        // The model's own view of its training scans (lora/fingerprint.ts): `segment` warns on scans far from it.
        // Randomized training draws its images per epoch, so its validation images stand in for them.
        const fingerprintOf = (m: SegmentationNet): { fingerprint?: Fingerprint } => {
          const fp = fingerprintScans(m, train.length > 0 ? train : val, { device });
          return fp === null ? {} : { fingerprint: fp };
        };
        if (r === undefined) await saveNetwork(checkpoint, kept, { ...meta, epoch: epochs, history, ...fingerprintOf(kept) });
        else {
          // Randomized training swings from epoch to epoch: keep the best validation epoch (simulated scans only).
          const { model: bestModel, info: keptInfo } = await loadUnet(bestPath, device);
          try {
            await saveNetwork(checkpoint, bestModel, { ...meta, epoch: keptInfo.epoch ?? epochs, inference: keptInfo.inference === 'adabn' ? 'adabn' : 'eval', history, randomize: r.options ?? {}, batches: r.batches ?? 'per-image', ...fingerprintOf(bestModel) });
          } finally { bestModel.dispose(); }
        }
      }
      // Data-parallel: no rank returns (and reads the checkpoint) before rank 0 has written it.
      dp?.barrier();
      return { checkpoint, history };
    } finally {
      ema?.dispose();
      model.dispose();
      opt.dispose();
    }
  }
}

/** An initial network for fine-tuning: read, checked against the architecture and `filters`, identified by its file's sha256. */
export async function readInit(path: string, arch: string, filters: number, device: Device): Promise<{ model: SegmentationNet; path: string; sha256: string; epoch: number | null }> {
  if (typeof path !== 'string' || path === '') throw new ConvLoraError('E_INVALID_ARG', `Expected a U-Net checkpoint path for \`init\` but received ${JSON.stringify(path)}`);
  const { model, info } = await loadUnet(path, device);
  const initArch = info.arch ?? DEFAULT_ARCH;
  if (initArch !== arch) {
    model.dispose();
    throw new ConvLoraError('E_INVALID_ARG', `Expected a ${arch} network for \`init\` but ${path} holds a ${initArch}; pass --arch ${initArch} or another checkpoint`);
  }
  if (info.filters !== filters) {
    model.dispose();
    throw new ConvLoraError('E_INVALID_ARG', `Expected a U-Net with ${filters} filters for \`init\` but ${path} has ${info.filters}; pass --filters ${info.filters} or another checkpoint`);
  }
  const sha256 = createHash('sha256').update(await fsp.readFile(path)).digest('hex');
  return { model, path, sha256, epoch: typeof info.epoch === 'number' ? info.epoch : null };
}

async function storedSource(data: string | undefined, source: Domain, report: Reporter): Promise<{ info: DatasetInfo; train: ScanData[]; val: ScanData[]; what: string }> {
  if (data === undefined) throw new ConvLoraError('E_INVALID_ARG', 'Expected a dataset root for `data` (or a `randomized` set) but received none');
  report({ type: 'stage', stage: 'train-source', message: `checking ${data} (${source})` });
  await checkData(data, [source]);
  const d = await openDomain(data, source, 'source');
  return { info: d.info, train: await loadScans(d.split.train, d.info), val: await loadScans(d.split.val, d.info), what: source };
}

function randomizedSource(r: RandomizedSet, seed: number): { info: DatasetInfo; train: ScanData[]; val: ScanData[]; what: string } {
  const info: DatasetInfo = { root: r.name ?? 'randomized', phantom: true, sliceRanges: { ...CC359_SLICE_RANGES } as DatasetInfo['sliceRanges'], size: r.size };
  // Training images are drawn per epoch in the loop.
  return { info, train: [], val: randomizedValidation(r, seed), what: 'randomized simulated subjects' };
}

/**
 * The voxel orientation (axis codes, e.g. 'RAS') the model learns from: that of every training volume,
 * or null when they differ (or one has a degenerate affine). `segment` reorients inputs to it.
 */
export function trainingOrientation(scans: readonly { source: Pick<ScanData['source'], 'affine'> }[]): string | null {
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
export function trainingSpacing(scans: readonly { source: { spacing: readonly number[] } }[]): [number, number, number] {
  return [0, 1, 2].map((a) => {
    const v = scans.map((s) => s.source.spacing[a] ?? 1).sort((x, y) => x - y);
    const m = v.length >> 1;
    return v.length === 0 ? 1 : v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
  }) as [number, number, number];
}
