/**
 * Test-time AdaBN: re-estimate every BatchNorm layer's running statistics on the scans about to be
 * segmented, with no labels and no training (docs/method.md §4, applied at inference). It is the
 * explicit cumulative re-estimation of `reestimateBatchNorm`, over batches of slices shuffled across
 * all the given scans with a fixed seed, as `adaptDomain` re-estimates on a target's training volumes:
 * batches of consecutive slices of one volume have a smaller within-batch variance than the source
 * model's training batches had, and would bias the variances low.
 * By default only the head's slices count (fingerprint.ts `headSpan`): the source model and every
 * adapter estimated their statistics on each domain's slice range, which holds the head, and a scan
 * sliced as stored adds empty slices beyond it that pull the means and variances toward background
 * (on the seed-42 demo phantoms, statistics over every slice gave test-time AdaBN a Surface Dice of
 * 0.45-0.68 per target, over the head's slices 0.75-0.92; docs/segment.md).
 */
import { ConvLoraError } from '../../errors.js';
import { optionValue } from '../../options.js';
import { tensor } from '../../engine/create.js';
import type { Device, Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { reestimateBatchNorm } from '../../lora/adabn.js';
import { adabnSlicePlan, gatherSlices, TEST_TIME_OPTIONS } from './slices.js';

/** Seed of the slice shuffle: fixed, so the same scans give the same statistics and masks every run. */
export const TEST_TIME_SEED = TEST_TIME_OPTIONS.seed.default;

export interface TestTimeOptions {
  /** Slices per batch (default 32, the source model's training batch size). */
  batchSize?: number;
  seed?: number;
  device?: Device;
  /** 'head' (default): each scan's head span only; 'all': every slice. */
  span?: 'head' | 'all';
  /**
   * Use at most this many of the shuffled slices (default: all). A three-view model has three times the
   * slices of a one-view one; a few batches of them estimate the statistics as well, at a fraction of the time.
   */
  maxSlices?: number;
}

export interface TestTimeResult { scans: number; slices: number; batches: number; seed: number }

/**
 * Replace the running statistics of every BN layer of `model` by their cumulative average over
 * shuffled batches of the (head's) slices of `scans` (each slices [S, H, W] with one common H, W). The weights
 * (an active adapter's included) are kept; to undo, restore the model (AdapterRegistry.activate).
 */
export function testTimeAdaBN(model: Module, scans: readonly { images: Float32Array; shape: readonly [number, number, number] }[], o: TestTimeOptions = {}): TestTimeResult {
  const batchSize = optionValue('batchSize', o.batchSize, TEST_TIME_OPTIONS.batchSize);
  const seed = optionValue('seed', o.seed, TEST_TIME_OPTIONS.seed);
  if (scans.length === 0) throw new ConvLoraError('E_INVALID_ARG', 'Expected at least one scan for test-time AdaBN but received none');
  const [, H, W] = scans[0]!.shape;
  for (const s of scans) {
    if (s.shape[1] !== H || s.shape[2] !== W) throw new ConvLoraError('E_SHAPE', `Expected ${H} x ${W} slices in every scan but received ${s.shape[1]} x ${s.shape[2]}`);
  }
  const refs = adabnSlicePlan(scans, { seed, ...(o.span === undefined ? {} : { span: o.span }), ...(o.maxSlices === undefined ? {} : { maxSlices: o.maxSlices }) });
  function* batches(): Generator<Tensor> {
    for (let at = 0; at < refs.length; at += batchSize) {
      const t = tensor(gatherSlices(scans, refs, at, batchSize), [Math.min(batchSize, refs.length - at), 1, H, W], { device: o.device ?? 'cpu' });
      try { yield t; } finally { t.dispose(); }
    }
  }
  const count = reestimateBatchNorm(model, batches());
  return { scans: scans.length, slices: refs.length, batches: count, seed };
}
