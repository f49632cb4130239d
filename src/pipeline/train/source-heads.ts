/**
 * `train-source --heads DIR`: a source model trained on real labelled heads (pipeline/train/head-set.ts), the
 * bundled model v2's recipe. Per epoch every training head gives a fresh augmented real or synthetic image
 * and slices of each trained view; batches hold one image's slices (per-image BatchNorm, as test-time AdaBN
 * sees at inference). After each epoch the validation heads are scored as `segment` predicts them, from
 * view 0 alone and from all views fused, on their real images and on one synthetic image each; the epoch
 * score is the mean of the two mean Dices, and the checkpoint is the best (epoch, views) by it
 * (docs/real-heads-split.md fixed this rule before the first run). Resumable (`resume`), like every stage.
 */
import { join } from 'node:path';
import { checkInt, ConvLoraError } from '../../errors.js';
import { optionValue, type OptionTable } from '../../options.js';
import { tensor } from '../../engine/create.js';
import * as ops from '../../engine/ops.js';
import { Adam } from '../../engine/optim.js';
import { manualSeed } from '../../engine/runtime.js';
import type { Device } from '../../engine/tensor.js';
import { prepareForModel, type ModelGrid } from '../../data/image/conform.js';
import { checkViewCount, type ViewCount } from '../../data/image/views.js';
import { DEFAULT_ARCH, modelSpec, type SegmentationNet } from '../../models/zoo.js';
import type { ModelSpec } from '../../models/spec.js';
import { checkEmaDecay, ModelEma } from '../../nn/ema.js';
import { fingerprintScans } from '../../lora/fingerprint.js';
import { ScanBatches } from './dataset.js';
import { silent, type Reporter } from '../events.js';
import { headEpochScans, listLabelledHeads, loadLabelledHead, scoreHeadViews, splitHeads, validationHeads, type HeadEpochOptions, type LabelledHead } from './head-set.js';
import { trainEpoch } from './loop.js';
import { loadUnet, saveNetwork, type ModelInfo } from '../models.js';
import { resumeRun, writeRunState } from './runstate.js';
import { readInit } from './source.js';

export interface TrainHeadsOptions {
  /** Folder of labelled heads (head-set.ts layout). */
  heads: string;
  out: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  filters?: number;
  /** Orientation and voxel size of the training grid. Default RAS, 2 mm (the bundled model's). */
  orientation?: string;
  voxel?: number;
  /** Slice size; default 128 (256 mm at 2 mm). */
  size?: number;
  /** Views to train on (1 or 3). Default 3. */
  views?: ViewCount;
  /** Head slices per view, per head and epoch. Default 24. */
  slicesPerView?: number;
  /** Share of synthetic images. Default 0.5. */
  synthShare?: number;
  /** Test-time AdaBN's slice budget at validation (and recorded for `segment`). Default 96. */
  adabnSlices?: number;
  /** Split of the heads (head-set.ts splitHeads): validation = index mod `every` = `offset`. Default 3, 2. */
  split?: { every: number; offset: number };
  ema?: number;
  init?: string;
  resume?: boolean;
  device?: Device;
  report?: Reporter;
}

export interface HeadEpochRecord {
  epoch: number; loss: number; seconds: number;
  /** Mean Dice over the validation heads: real images and synthetic ones, from view 0 and from all views fused. */
  real: { one: number; fused: number }; synthetic: { one: number; fused: number };
  /** The epoch score (mean of real and synthetic mean Dice) of each inference mode. */
  score: { one: number; fused: number };
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The better inference mode of an epoch (ties: one view, the cheaper). */
export function bestViews(rec: Pick<HeadEpochRecord, 'score'>): { score: number; views: ViewCount } {
  return rec.score.fused > rec.score.one ? { score: rec.score.fused, views: 3 } : { score: rec.score.one, views: 1 };
}

/**
 * The numeric options of training on real heads (the bundled model v2's recipe, models/README.md): one table
 * for the library, the CLI and config files.
 */
export const HEADS_OPTIONS = {
  epochs: { default: 20, min: 1, integer: true },
  /** A batch holds one image's slices: at least 2, so BatchNorm has statistics to normalize with. */
  batchSize: { default: 16, min: 2, integer: true },
  lr: { default: 5e-4, min: 0 },
  seed: { default: 42, min: 0, integer: true },
  /** Voxel size (mm) of the training grid: the bundled model's 2 mm. */
  voxel: { default: 2, min: 0.1 },
  /** Slice size: 128 slices of 2 mm cover 256 mm, a whole head. */
  size: { default: 128, min: 8, integer: true },
  views: { default: 3, min: 1, integer: true },
  slicesPerView: { default: 24, min: 1, integer: true },
  synthShare: { default: 0.5, min: 0 },
  /** Test-time AdaBN's slice budget at validation, recorded for `segment`. */
  adabnSlices: { default: 96, min: 1, integer: true },
} as const satisfies OptionTable;

/** A training on heads' settings, validated and defaulted once (HEADS_OPTIONS). */
interface HeadsSettings {
  epochs: number; batchSize: number; lr: number; seed: number; spec: ModelSpec; filters: number; voxel: number; size: number;
  views: ViewCount; adabnSlices: number; ema: number | null; device: Device; grid: ModelGrid; epochOpts: HeadEpochOptions;
}

function headsSettings(o: TrainHeadsOptions): HeadsSettings {
  const T = HEADS_OPTIONS;
  const epochs = optionValue('epochs', o.epochs, T.epochs), batchSize = optionValue('batchSize', o.batchSize, T.batchSize);
  const lr = optionValue('lr', o.lr, T.lr), seed = optionValue('seed', o.seed, T.seed);
  const spec = modelSpec(DEFAULT_ARCH);
  const filters = checkInt('filters', o.filters ?? spec.defaultFilters, 1);
  const voxel = optionValue('voxel', o.voxel, T.voxel), size = optionValue('size', o.size, T.size);
  if (size % spec.divisor !== 0) throw new ConvLoraError('E_INVALID_ARG', `Expected a \`size\` that is a multiple of ${spec.divisor} but received ${size}`);
  const views = checkViewCount('views', o.views ?? T.views.default);
  const adabnSlices = optionValue('adabnSlices', o.adabnSlices, T.adabnSlices);
  const ema = o.ema === undefined ? null : checkEmaDecay(o.ema);
  const grid: ModelGrid = { size, orientation: o.orientation ?? 'RAS', spacing: [voxel, voxel, voxel], views };
  const epochOpts: HeadEpochOptions = { size, views, slicesPerView: optionValue('slicesPerView', o.slicesPerView, T.slicesPerView), synthShare: optionValue('synthShare', o.synthShare, T.synthShare) };
  return { epochs, batchSize, lr, seed, spec, filters, voxel, size, views, adabnSlices, ema, device: o.device ?? 'cpu', grid, epochOpts };
}

type ValHeads = ReturnType<typeof validationHeads>;
type ViewScores = Pick<HeadEpochRecord, 'real' | 'synthetic' | 'score'>;

/** What every step of one training on heads shares. */
interface HeadsRun {
  o: TrainHeadsOptions; s: HeadsSettings; train: LabelledHead[]; val: ValHeads; report: Reporter; say: (message: string) => void;
  model: SegmentationNet; opt: Adam; ema: ModelEma<SegmentationNet> | null; kept: SegmentationNet; init: InitWeights | null;
  runDir: string; bestPath: string; fingerprint: Record<string, unknown>; meta: ModelInfo;
}

type InitWeights = Awaited<ReturnType<typeof readInit>>;

export async function trainOnHeads(o: TrainHeadsOptions): Promise<{ checkpoint: string; history: HeadEpochRecord[] }> {
  const s = headsSettings(o);
  const report = o.report ?? silent;
  const say = (message: string): void => report({ type: 'stage', stage: 'train-source', message });
  const files = await listLabelledHeads(o.heads);
  const split = splitHeads(files, o.split?.every ?? 3, o.split?.offset ?? 2);
  say(`${split.train.length} training / ${split.val.length} validation heads from ${o.heads}; reading`);
  const load = async (fs: typeof files): Promise<LabelledHead[]> => { const out: LabelledHead[] = []; for (const f of fs) out.push(await loadLabelledHead(f, s.grid)); return out; };
  const train = await load(split.train), valHeads = await load(split.val);
  const val = validationHeads(valHeads, s.seed, s.epochOpts.synth);
  const init = o.init === undefined ? null : await readInit(o.init, s.spec.arch, s.filters, s.device);
  const run = startHeadsRun(o, s, split, { train, val, report, say, init });
  try {
    const history = await headsEpochs(run);
    return { checkpoint: await writeHeadsCheckpoint(run, history), history };
  } finally {
    run.ema?.dispose();
    run.model.dispose();
    run.opt.dispose();
  }
}

/** The seeded network (or the initial weights), Adam, the EMA shadow, and what identifies the run and the checkpoint. */
function startHeadsRun(o: TrainHeadsOptions, s: HeadsSettings, split: { train: { id: string }[]; val: { id: string }[] },
  r: Pick<HeadsRun, 'train' | 'val' | 'report' | 'say' | 'init'>): HeadsRun {
  const { spec, filters, device, batchSize, lr, seed, size, voxel, adabnSlices, views, ema: emaDecay } = s, init = r.init;
  manualSeed(seed);
  const model = spec.create({ filters, device });
  if (init !== null) { model.loadStateDict(init.model.stateDict(), { strict: true }); init.model.dispose(); }
  const opt = new Adam(model.parameters(), { lr });
  const ema = emaDecay === null ? null : new ModelEma(model, spec.create({ filters, device }), emaDecay);
  const runDir = join(o.out, 'source-run');
  const fingerprint = { heads: { train: split.train.map((f) => f.id), val: split.val.map((f) => f.id) }, epochOpts: s.epochOpts, batchSize, lr, seed, filters, size, voxel, adabnSlices,
    ...(emaDecay === null ? {} : { ema: emaDecay }), ...(init === null ? {} : { init: init.sha256 }) };
  const meta = { kind: 'unet2d' as const, arch: spec.arch, filters, size, source: `real heads (${split.train.length}, ${o.heads.split('/').filter(Boolean).pop()})`, orientation: s.grid.orientation, spacing: [voxel, voxel, voxel],
    seed, views, adabnSlices, inference: 'adabn' as const, ...(emaDecay === null ? {} : { ema: emaDecay }), ...(init === null ? {} : { init: { path: init.path, sha256: init.sha256, epoch: init.epoch } }) };
  return { o, s, ...r, model, opt, ema, kept: ema?.shadow ?? model, runDir, bestPath: join(runDir, 'best.safetensors'), fingerprint, meta };
}

/** The validation heads as `segment` predicts them, from view 0 and from all views fused, real and synthetic. */
function scoreViews(run: HeadsRun, m: SegmentationNet): ViewScores {
  const { s, val } = run, opts = { device: s.device, adabnSlices: s.adabnSlices };
  const r = scoreHeadViews(m, val.real, s.grid, opts), y = scoreHeadViews(m, val.synthetic, s.grid, opts);
  const real = { one: mean(r.one), fused: mean(r.fused) }, synthetic = { one: mean(y.one), fused: mean(y.fused) };
  return { real, synthetic, score: { one: (real.one + synthetic.one) / 2, fused: (real.fused + synthetic.fused) / 2 } };
}

function describeViews(s: ViewScores): string {
  return `score ${s.score.one.toFixed(4)} one view / ${s.score.fused.toFixed(4)} fused (real Dice ${s.real.one.toFixed(4)} / ${s.real.fused.toFixed(4)}, synthetic ${s.synthetic.one.toFixed(4)} / ${s.synthetic.fused.toFixed(4)})`;
}

/** Every epoch from where a resumed run stopped. */
async function headsEpochs(run: HeadsRun): Promise<HeadEpochRecord[]> {
  const { history, start } = await resumeRun<HeadEpochRecord>(run.runDir, run.o.resume === true, run.fingerprint, run.model, run.opt, run.say, run.ema?.shadow ?? null);
  if (run.init !== null && start === 0) run.say(`initial weights (${run.init.path}): ${describeViews(scoreViews(run, run.model))}`);
  let best = history.reduce((m, h) => Math.max(m, bestViews(h).score), -Infinity);
  for (let epoch = start; epoch < run.s.epochs; epoch++) best = await headsEpoch(run, history, epoch, best);
  return history;
}

/** One epoch: fresh images of every training head, training, scoring, the best (epoch, views) kept. Returns the best score. */
async function headsEpoch(run: HeadsRun, history: HeadEpochRecord[], epoch: number, best: number): Promise<number> {
  const { s, model, ema, kept } = run;
  const t0 = Date.now();
  const batches = new ScanBatches(headEpochScans(run.train, s.seed, epoch, s.epochOpts), { batchSize: s.batchSize, seed: s.seed });
  model.train();
  const loss = await trainEpoch(batches, epoch, s.epochs, run.opt, s.device, 'train-source', run.report,
    (x, b) => ops.bceWithLogits(model.forward(x), tensor(b.y, b.shape, { device: s.device })), ema === null ? {} : { afterStep: () => ema.update() });
  const scores = scoreViews(run, kept);
  // Only the kept weights are scored: one scoring of 40 heads in three views costs minutes on a CPU.
  const rec: HeadEpochRecord = { epoch: epoch + 1, loss, seconds: (Date.now() - t0) / 1000, ...scores };
  history.push(rec);
  const b = bestViews(rec);
  if (b.score > best) {
    best = b.score;
    await saveNetwork(run.bestPath, kept, { ...run.meta, epoch: epoch + 1, inferenceViews: b.views });
  }
  await writeRunState(run.runDir, { stage: 'train-source', fingerprint: run.fingerprint, epochsDone: epoch + 1, history }, model, run.opt, ema?.shadow ?? null);
  run.report({ type: 'epoch-end', stage: 'train-source', epoch: epoch + 1, epochs: s.epochs, loss, metric: b.score, metricName: 'val score', seconds: rec.seconds });
  run.say(`epoch ${epoch + 1}: ${ema === null ? '' : 'EMA weights: '}${describeViews(scores)}`);
  return best;
}

/** `unet.safetensors`: the best (epoch, views), with the adapter choice's fingerprint of the real validation heads. */
async function writeHeadsCheckpoint(run: HeadsRun, history: HeadEpochRecord[]): Promise<string> {
  const { s } = run;
  const checkpoint = join(run.o.out, 'unet.safetensors');
  const { model: bestModel, info } = await loadUnet(run.bestPath, s.device);
  try {
    // The adapter choice's fingerprint (lora/fingerprint.ts): view 0 of the real validation heads, as `segment` slices them.
    const fp = fingerprintScans(bestModel, run.val.real.map((h) => {
      const p = prepareForModel({ dims: h.dims, spacing: h.spacing, affine: h.affine, data: h.image }, { ...s.grid, views: 1 }, { conform: 'never', what: h.id });
      return { images: p.images, shape: p.shape };
    }), { device: s.device });
    await saveNetwork(checkpoint, bestModel, { ...run.meta, epoch: info.epoch ?? s.epochs, inferenceViews: info.inferenceViews ?? 1, history, ...(fp === null ? {} : { fingerprint: fp }) });
  } finally { bestModel.dispose(); }
  return checkpoint;
}
