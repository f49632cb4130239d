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
import { checkInt, checkNumber, ConvLoraError } from '../../errors.js';
import { tensor } from '../../engine/create.js';
import * as ops from '../../engine/ops.js';
import { Adam } from '../../engine/optim.js';
import { manualSeed } from '../../engine/runtime.js';
import type { Device } from '../../engine/tensor.js';
import { prepareForModel, type ModelGrid } from '../../data/image/conform.js';
import { checkViewCount, type ViewCount } from '../../data/image/views.js';
import { DEFAULT_ARCH, modelSpec } from '../../models/zoo.js';
import { checkEmaDecay, ModelEma } from '../../nn/ema.js';
import { fingerprintScans } from '../../lora/fingerprint.js';
import { ScanBatches } from './dataset.js';
import { silent, type Reporter } from '../events.js';
import { headEpochScans, listLabelledHeads, loadLabelledHead, scoreHeadViews, splitHeads, validationHeads, type HeadEpochOptions, type LabelledHead } from './head-set.js';
import { trainEpoch } from './loop.js';
import { loadUnet, saveNetwork } from '../models.js';
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

export async function trainOnHeads(o: TrainHeadsOptions): Promise<{ checkpoint: string; history: HeadEpochRecord[] }> {
  const epochs = checkInt('epochs', o.epochs ?? 20, 1);
  const batchSize = checkInt('batchSize', o.batchSize ?? 16, 2);
  const lr = checkNumber('lr', o.lr ?? 5e-4, 0);
  const seed = checkInt('seed', o.seed ?? 42, 0);
  const spec = modelSpec(DEFAULT_ARCH);
  const filters = checkInt('filters', o.filters ?? spec.defaultFilters, 1);
  const voxel = checkNumber('voxel', o.voxel ?? 2, 0.1);
  const size = checkInt('size', o.size ?? 128, 8);
  if (size % spec.divisor !== 0) throw new ConvLoraError('E_INVALID_ARG', `Expected a \`size\` that is a multiple of ${spec.divisor} but received ${size}`);
  const views = checkViewCount('views', o.views ?? 3);
  const adabnSlices = checkInt('adabnSlices', o.adabnSlices ?? 96, 1);
  const emaDecay = o.ema === undefined ? null : checkEmaDecay(o.ema);
  const device = o.device ?? 'cpu';
  const report = o.report ?? silent;
  const say = (message: string): void => report({ type: 'stage', stage: 'train-source', message });
  const grid: ModelGrid = { size, orientation: o.orientation ?? 'RAS', spacing: [voxel, voxel, voxel], views };
  const epochOpts: HeadEpochOptions = { size, views, slicesPerView: o.slicesPerView ?? 24, synthShare: o.synthShare ?? 0.5 };

  const files = await listLabelledHeads(o.heads);
  const split = splitHeads(files, o.split?.every ?? 3, o.split?.offset ?? 2);
  say(`${split.train.length} training / ${split.val.length} validation heads from ${o.heads}; reading`);
  const load = async (fs: typeof files): Promise<LabelledHead[]> => { const out: LabelledHead[] = []; for (const f of fs) out.push(await loadLabelledHead(f, grid)); return out; };
  const train = await load(split.train), valHeads = await load(split.val);
  const val = validationHeads(valHeads, seed, epochOpts.synth);

  const init = o.init === undefined ? null : await readInit(o.init, spec.arch, filters, device);
  manualSeed(seed);
  const model = spec.create({ filters, device });
  if (init !== null) { model.loadStateDict(init.model.stateDict(), { strict: true }); init.model.dispose(); }
  const opt = new Adam(model.parameters(), { lr });
  const ema = emaDecay === null ? null : new ModelEma(model, spec.create({ filters, device }), emaDecay);
  const kept = ema?.shadow ?? model;
  const runDir = join(o.out, 'source-run');
  const bestPath = join(runDir, 'best.safetensors');
  const fingerprint = { heads: { train: split.train.map((f) => f.id), val: split.val.map((f) => f.id) }, epochOpts, batchSize, lr, seed, filters, size, voxel, adabnSlices,
    ...(emaDecay === null ? {} : { ema: emaDecay }), ...(init === null ? {} : { init: init.sha256 }) };
  const meta = { kind: 'unet2d' as const, arch: spec.arch, filters, size, source: `real heads (${split.train.length}, ${o.heads.split('/').filter(Boolean).pop()})`, orientation: grid.orientation, spacing: [voxel, voxel, voxel],
    seed, views, adabnSlices, inference: 'adabn' as const, ...(emaDecay === null ? {} : { ema: emaDecay }), ...(init === null ? {} : { init: { path: init.path, sha256: init.sha256, epoch: init.epoch } }) };
  const score = (m: typeof model): Pick<HeadEpochRecord, 'real' | 'synthetic' | 'score'> => {
    const r = scoreHeadViews(m, val.real, grid, { device, adabnSlices }), s = scoreHeadViews(m, val.synthetic, grid, { device, adabnSlices });
    const real = { one: mean(r.one), fused: mean(r.fused) }, synthetic = { one: mean(s.one), fused: mean(s.fused) };
    return { real, synthetic, score: { one: (real.one + synthetic.one) / 2, fused: (real.fused + synthetic.fused) / 2 } };
  };
  const describe = (s: Pick<HeadEpochRecord, 'real' | 'synthetic' | 'score'>): string =>
    `score ${s.score.one.toFixed(4)} one view / ${s.score.fused.toFixed(4)} fused (real Dice ${s.real.one.toFixed(4)} / ${s.real.fused.toFixed(4)}, synthetic ${s.synthetic.one.toFixed(4)} / ${s.synthetic.fused.toFixed(4)})`;
  try {
    const { history, start } = await resumeRun<HeadEpochRecord>(runDir, o.resume === true, fingerprint, model, opt, say, ema?.shadow ?? null);
    if (init !== null && start === 0) say(`initial weights (${init.path}): ${describe(score(model))}`);
    let best = history.reduce((m, h) => Math.max(m, bestViews(h).score), -Infinity);
    for (let epoch = start; epoch < epochs; epoch++) {
      const t0 = Date.now();
      const batches = new ScanBatches(headEpochScans(train, seed, epoch, epochOpts), { batchSize, seed });
      model.train();
      const loss = await trainEpoch(batches, epoch, epochs, opt, device, 'train-source', report,
        (x, b) => ops.bceWithLogits(model.forward(x), tensor(b.y, b.shape, { device })), ema === null ? {} : { afterStep: () => ema.update() });
      const s = score(kept);
      // Only the kept weights are scored: one scoring of 40 heads in three views costs minutes on a CPU.
      const rec: HeadEpochRecord = { epoch: epoch + 1, loss, seconds: (Date.now() - t0) / 1000, ...s };
      history.push(rec);
      const b = bestViews(rec);
      if (b.score > best) {
        best = b.score;
        await saveNetwork(bestPath, kept, { ...meta, epoch: epoch + 1, inferenceViews: b.views });
      }
      await writeRunState(runDir, { stage: 'train-source', fingerprint, epochsDone: epoch + 1, history }, model, opt, ema?.shadow ?? null);
      report({ type: 'epoch-end', stage: 'train-source', epoch: epoch + 1, epochs, loss, metric: b.score, metricName: 'val score', seconds: rec.seconds });
      say(`epoch ${epoch + 1}: ${ema === null ? '' : 'EMA weights: '}${describe(s)}`);
    }
    const checkpoint = join(o.out, 'unet.safetensors');
    const { model: bestModel, info } = await loadUnet(bestPath, device);
    try {
      // The adapter choice's fingerprint (lora/fingerprint.ts): view 0 of the real validation heads, as `segment` slices them.
      const fp = fingerprintScans(bestModel, val.real.map((h) => {
        const p = prepareForModel({ dims: h.dims, spacing: h.spacing, affine: h.affine, data: h.image }, { ...grid, views: 1 }, { conform: 'never', what: h.id });
        return { images: p.images, shape: p.shape };
      }), { device });
      await saveNetwork(checkpoint, bestModel, { ...meta, epoch: info.epoch ?? epochs, inferenceViews: info.inferenceViews ?? 1, history, ...(fp === null ? {} : { fingerprint: fp }) });
    } finally { bestModel.dispose(); }
    return { checkpoint, history };
  } finally {
    ema?.dispose();
    model.dispose();
    opt.dispose();
  }
}
