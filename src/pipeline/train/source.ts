/**
 * Stage 1: train the U-Net on the labelled source domain (GE_3 by default). Defaults from
 * docs/method.md §5 (SOURCE_OPTIONS): Adam lr 1e-3, batch 32, BCE with logits, 100 epochs, no augmentation.
 * A checkpoint is written after every epoch; `resume` continues an interrupted run.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { checkInt, ConvLoraError } from '../../errors.js';
import { defaultsOf, optionValue, type OptionTable } from '../../options.js';
import { tensor } from '../../engine/create.js';
import * as ops from '../../engine/ops.js';
import { Adam } from '../../engine/optim.js';
import { manualSeed } from '../../engine/runtime.js';
import type { Device } from '../../engine/tensor.js';
import { DEFAULT_ARCH, modelSpec, type SegmentationNet } from '../../models/zoo.js';
import type { ModelSpec } from '../../models/spec.js';
import { checkEmaDecay, ModelEma } from '../../nn/ema.js';
import { CC359_SLICE_RANGES, type DatasetInfo, type Domain, type ScanData } from '../../data/scans/cc359.js';
import { axisCodes } from '../../data/image/orientation.js';
import { aggregate } from '../../metrics/aggregate.js';
import { Batches, ScanBatches, checkData, loadScans, openDomain, type BatchSource } from './dataset.js';
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

/**
 * Stage 1's numeric options (docs/method.md §5): their defaults and ranges, in one place for the library,
 * the CLI and config files. The paper trains 100 epochs of Adam at 1e-3 on batches of 32 slices.
 */
export const SOURCE_OPTIONS = {
  epochs: { default: 100, min: 1, integer: true },
  batchSize: { default: 32, min: 1, integer: true },
  lr: { default: 1e-3, min: 0 },
  seed: { default: 42, min: 0, integer: true },
  /** Surface Dice tolerance (mm) of the validation score: the paper's metric is at 1 mm. */
  tolerance: { default: TOLERANCE_MM, min: 0 },
} as const satisfies OptionTable;

/** Stage 1's defaults: the table's, and the paper's source domain. */
export const SOURCE_DEFAULTS = { source: 'GE_3' as Domain, ...defaultsOf(SOURCE_OPTIONS) };

/** A source training's settings, validated and defaulted once (SOURCE_OPTIONS). */
export interface SourceSettings {
  source: Domain; epochs: number; batchSize: number; lr: number; seed: number; tolerance: number;
  spec: ModelSpec; filters: number; device: Device; ema: number | null;
}

/** Validate and default every option of trainSource (E_INVALID_ARG naming the option). */
export function sourceSettings(o: TrainSourceOptions): SourceSettings {
  const T = SOURCE_OPTIONS;
  const epochs = optionValue('epochs', o.epochs, T.epochs), batchSize = optionValue('batchSize', o.batchSize, T.batchSize);
  const lr = optionValue('lr', o.lr, T.lr), seed = optionValue('seed', o.seed, T.seed);
  const spec = modelSpec(o.arch ?? DEFAULT_ARCH);
  const filters = checkInt('filters', o.filters ?? spec.defaultFilters, 1);
  const ema = o.ema === undefined ? null : checkEmaDecay(o.ema);
  return {
    source: o.source ?? SOURCE_DEFAULTS.source, epochs, batchSize, lr, seed, spec, filters, device: o.device ?? 'cpu', ema,
    tolerance: optionValue('tolerance', o.tolerance, T.tolerance),
  };
}

/** The training and validation scans (none stored for training when randomized), and the grid they share. */
interface SourceData { info: DatasetInfo; train: ScanData[]; val: ScanData[]; orientation: string | null; spacing: [number, number, number] }

type InitWeights = Awaited<ReturnType<typeof readInit>>;
type ValScores = Pick<EpochRecord, 'valSurfaceDice' | 'valDice' | 'valSurfaceDiceAdaBN' | 'valDiceAdaBN'>;

/** What every step of one source training shares. */
interface SourceRun {
  s: SourceSettings; o: TrainSourceOptions; r: RandomizedSet | undefined; data: SourceData; init: InitWeights | null;
  model: SegmentationNet; opt: Adam; ema: ModelEma<SegmentationNet> | null;
  /** What validation scores and the checkpoints hold: the averaged weights when there is an EMA. */
  kept: SegmentationNet;
  dp: DataParallel | null; main: boolean; report: Reporter; runDir: string; bestPath: string;
  fingerprint: Record<string, unknown>; meta: ReturnType<typeof checkpointMeta>;
}

export async function trainSource(o: TrainSourceOptions): Promise<TrainSourceResult> {
  const s = sourceSettings(o);
  const dp = o.parallel ?? null;
  dp?.checkDevice(s.device);
  const main = dp === null || dp.main;
  const report = main ? o.report ?? silent : silent;
  const init = o.init === undefined ? null : await readInit(o.init, s.spec.arch, s.filters, s.device);
  try {
    const data = await sourceData(o, s, report);
    const run = startRun(o, s, data, init, dp, main, report);
    try {
      const history = await trainEpochs(run);
      const checkpoint = await writeCheckpoint(run, history);
      // Data-parallel: no rank returns (and reads the checkpoint) before rank 0 has written it.
      dp?.barrier();
      return { checkpoint, history };
    } finally {
      run.ema?.dispose();
      run.model.dispose();
      run.opt.dispose();
    }
  } finally { init?.model.dispose(); }
}

/** The scans (stored, or the randomized set's validation subjects), checked against the network's divisor. */
async function sourceData(o: TrainSourceOptions, s: SourceSettings, report: Reporter): Promise<SourceData> {
  const r = o.randomized;
  const { info, train, val, what } = r === undefined ? await storedSource(o.data, s.source, report) : randomizedSource(r, s.seed);
  report({ type: 'stage', stage: 'train-source', message: `${r?.train.length ?? train.length} train / ${val.length} val volumes of ${what}, ${info.size} x ${info.size} slices` });
  const grids = r === undefined ? [...train, ...val] : [...r.train, ...r.val].map((v) => ({ source: v }));
  const orientation = trainingOrientation(grids);
  const spacing = trainingSpacing(grids);
  if (info.size % s.spec.divisor !== 0) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected slices whose size is a multiple of ${s.spec.divisor} for the ${s.spec.arch} network but received ${info.size} x ${info.size}`);
  }
  if (orientation === null) report({ type: 'stage', stage: 'train-source', message: `${s.source} volumes differ in voxel orientation: \`segment\` will not reorient inputs for this model` });
  return { info, train, val, orientation, spacing };
}

/** The seeded network (or the initial weights), Adam, the EMA shadow, and what identifies the run. */
function startRun(o: TrainSourceOptions, s: SourceSettings, data: SourceData, init: InitWeights | null, dp: DataParallel | null, main: boolean, report: Reporter): SourceRun {
  manualSeed(s.seed);
  const model = s.spec.create({ filters: s.filters, device: s.device });
  // Fine-tuning starts from the given weights (and BatchNorm statistics); Adam's moments start at zero.
  if (init !== null) {
    model.loadStateDict(init.model.stateDict(), { strict: true });
    init.model.dispose();
  }
  const opt = new Adam(model.parameters(), { lr: s.lr });
  // The shadow is built after the live model, so the live model's random initialization is the same with and without EMA.
  const ema = s.ema === null ? null : new ModelEma(model, s.spec.create({ filters: s.filters, device: s.device }), s.ema);
  const runDir = join(o.out, 'source-run');
  return {
    s, o, r: o.randomized, data, init, model, opt, ema, kept: ema?.shadow ?? model, dp, main, report, runDir, bestPath: join(runDir, 'best.safetensors'),
    fingerprint: runFingerprint(o, s, data, init), meta: checkpointMeta(o, s, data, init),
  };
}

/** What a resumed run must match. The architecture joins it only when it is not the default, so earlier runs still resume. */
function runFingerprint(o: TrainSourceOptions, s: SourceSettings, data: SourceData, init: InitWeights | null): Record<string, unknown> {
  const { batchSize, lr, seed, filters } = s, r = o.randomized;
  const extraFingerprint = { ...(s.spec.arch === DEFAULT_ARCH ? {} : { arch: s.spec.arch }), ...(s.ema === null ? {} : { ema: s.ema }), ...(init === null ? {} : { init: init.sha256 }) };
  return r === undefined ? { data: o.data, source: s.source, batchSize, lr, seed, filters, size: data.info.size, ...extraFingerprint }
    : { randomized: { train: r.train.length, val: r.val.length, options: r.options ?? {}, slices: r.slicesPerSubject ?? null, ...(r.batches === undefined || r.batches === 'mixed' ? {} : { batches: r.batches }) }, batchSize, lr, seed, filters, size: data.info.size, ...extraFingerprint };
}

/** The checkpoint's metadata: the network and the grid `segment` prepares scans for. */
function checkpointMeta(o: TrainSourceOptions, s: SourceSettings, data: SourceData, init: InitWeights | null) {
  const sourceName = o.randomized === undefined ? s.source : o.randomized.name ?? 'randomized';
  return { kind: 'unet2d' as const, arch: s.spec.arch, filters: s.filters, size: data.info.size, source: sourceName, orientation: data.orientation, spacing: data.spacing, seed: s.seed,
    ...(s.ema === null ? {} : { ema: s.ema }), ...(init === null ? {} : { init: { path: init.path, sha256: init.sha256, epoch: init.epoch } }) };
}

/** Validation Surface Dice and Dice; randomized models also with test-time AdaBN per scan (the better mode is kept with the epoch). */
function validate(run: SourceRun, m: SegmentationNet): ValScores {
  const { s, data } = run;
  const v = aggregate(scoreScans(m, data.val, s.device, s.batchSize, s.tolerance)).overall;
  const t = run.r === undefined ? null : aggregate(scoreScansTestTime(m, data.val, s.device, s.batchSize, s.tolerance)).overall;
  return { valSurfaceDice: v.surfaceDice.mean, valDice: v.dice.mean, ...(t === null ? {} : { valSurfaceDiceAdaBN: t.surfaceDice.mean, valDiceAdaBN: t.dice.mean }) };
}

function describeScores(v: ValScores): string {
  return `val SDS ${v.valSurfaceDice.toFixed(4)} (Dice ${v.valDice.toFixed(4)})`
    + (v.valSurfaceDiceAdaBN === undefined ? '' : `, with test-time AdaBN per scan ${v.valSurfaceDiceAdaBN.toFixed(4)} (Dice ${v.valDiceAdaBN!.toFixed(4)})`);
}

function say(run: SourceRun, message: string): void {
  run.report({ type: 'stage', stage: 'train-source', message });
}

/** Every epoch from where a resumed run stopped; rank 0 validates and writes after each, the others wait for it. */
async function trainEpochs(run: SourceRun): Promise<EpochRecord[]> {
  const { s, data } = run;
  const { history, start } = await resumeRun<EpochRecord>(run.runDir, run.o.resume === true, run.fingerprint, run.model, run.opt, (m) => say(run, m), run.ema?.shadow ?? null);
  // Every rank starts from rank 0's weights (and EMA shadow), whatever each read or drew.
  run.dp?.broadcastState(run.ema === null ? [run.model] : [run.model, run.ema.shadow]);
  // The starting point on the same validation scans: what fine-tuning has to beat.
  if (run.init !== null && start === 0 && run.main) say(run, `initial weights (${run.init.path}): ${describeScores(validate(run, run.model))}`);
  const stored = run.r === undefined ? new Batches(data.train, data.info, { batchSize: s.batchSize, seed: s.seed, dropLast: false }) : null;
  let best = history.reduce((m, h) => Math.max(m, bestMode(h).score), -Infinity);
  for (let epoch = start; epoch < s.epochs; epoch++) {
    const t0 = Date.now();
    const loss = await sourceEpoch(run, stored ?? randomizedBatches(run, epoch), epoch);
    if (run.main) best = await recordEpoch(run, history, epoch, loss, t0, best);
    else history.push({ epoch: epoch + 1, loss, valSurfaceDice: NaN, valDice: NaN, seconds: (Date.now() - t0) / 1000 });
    run.dp?.barrier();
  }
  return history;
}

/** A randomized epoch's batches: fresh images of every training subject, per image (default) or mixed. */
function randomizedBatches(run: SourceRun, epoch: number): BatchSource {
  const { s, data } = run, r = run.r!;
  return (r.batches ?? 'per-image') === 'per-image'
    ? new ScanBatches(randomizedEpoch(r, s.seed, epoch), { batchSize: s.batchSize, seed: s.seed })
    : new Batches(randomizedEpoch(r, s.seed, epoch), data.info, { batchSize: s.batchSize, seed: s.seed, dropLast: false });
}

/** One epoch of BCE on the labelled slices; the EMA follows every step. */
async function sourceEpoch(run: SourceRun, batches: BatchSource, epoch: number): Promise<number> {
  const { s, model, ema } = run;
  model.train();
  return trainEpoch(batches, epoch, s.epochs, run.opt, s.device, 'train-source', run.report,
    (x, b) => ops.bceWithLogits(model.forward(x), tensor(b.y, b.shape, { device: s.device })),
    { ...(ema === null ? {} : { afterStep: () => ema.update() }), parallel: run.dp, syncBatchNorm: [model] });
}

/** Rank 0 after an epoch: validation, the best randomized epoch kept, the run state written, the report. Returns the best score. */
async function recordEpoch(run: SourceRun, history: EpochRecord[], epoch: number, loss: number, t0: number, best: number): Promise<number> {
  const { s, ema } = run;
  const scores = validate(run, run.kept);
  // With EMA, the live weights too (reported, never selected on): what the average changes.
  const live = ema === null ? null : validate(run, run.model);
  const rec: EpochRecord = { epoch: epoch + 1, loss, ...scores, seconds: (Date.now() - t0) / 1000, ...(live === null ? {} : { live }) };
  history.push(rec);
  const { score, mode } = bestMode(rec);
  if (run.r !== undefined && score > best) {
    best = score;
    await saveNetwork(run.bestPath, run.kept, { ...run.meta, epoch: epoch + 1, inference: mode });
  }
  await writeRunState(run.runDir, { stage: 'train-source', fingerprint: run.fingerprint, epochsDone: epoch + 1, history }, run.model, run.opt, ema?.shadow ?? null);
  run.report({ type: 'epoch-end', stage: 'train-source', epoch: epoch + 1, epochs: s.epochs, loss: rec.loss, metric: rec.valSurfaceDice, metricName: ema === null ? 'val SDS' : 'val SDS (EMA)', seconds: rec.seconds });
  if (scores.valSurfaceDiceAdaBN !== undefined || live !== null) {
    say(run, `epoch ${epoch + 1}: ${ema === null ? '' : 'EMA weights: '}${describeScores(scores)}${live === null ? '' : `; live weights: ${describeScores(live)}`}`);
  }
  return best;
}

/**
 * `unet.safetensors` (rank 0): the last epoch's network, or for randomized training, whose scores swing from
 * epoch to epoch, the best validation epoch's (simulated scans only).
 */
async function writeCheckpoint(run: SourceRun, history: EpochRecord[]): Promise<string> {
  const { s, data, meta } = run;
  const checkpoint = join(run.o.out, 'unet.safetensors');
  if (!run.main) return checkpoint;
  // The model's own view of its training scans (lora/fingerprint.ts): `segment` warns on scans far from it.
  // Randomized training draws its images per epoch, so its validation images stand in for them.
  const fingerprintOf = (m: SegmentationNet): { fingerprint?: Fingerprint } => {
    const fp = fingerprintScans(m, data.train.length > 0 ? data.train : data.val, { device: s.device });
    return fp === null ? {} : { fingerprint: fp };
  };
  const r = run.r;
  if (r === undefined) {
    await saveNetwork(checkpoint, run.kept, { ...meta, epoch: s.epochs, history, ...fingerprintOf(run.kept) });
    return checkpoint;
  }
  const { model: bestModel, info: keptInfo } = await loadUnet(run.bestPath, s.device);
  try {
    await saveNetwork(checkpoint, bestModel, { ...meta, epoch: keptInfo.epoch ?? s.epochs, inference: keptInfo.inference === 'adabn' ? 'adabn' : 'eval', history, randomize: r.options ?? {}, batches: r.batches ?? 'per-image', ...fingerprintOf(bestModel) });
  } finally { bestModel.dispose(); }
  return checkpoint;
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
