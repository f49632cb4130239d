/**
 * Label-free scores of a network on a target's unlabelled scans, for choosing an adaptation epoch without
 * labels and for the guard that keeps the starting model when adaptation does not help. Each is a mean
 * over scans of a number in [0, 1], higher meaning "looks better":
 *  - 'agreement': the paper's, the early head's mask against the final mask (score.ts agreement; needs a head);
 *  - 'consistency': Dice between the mask of the slices as they are and the masks of perturbed copies
 *    (adapt-teacher.ts perturbSlices, fixed seeds): a network that has learnt its own mistakes on this
 *    scanner tends to hold them only for the exact images it learnt them on;
 *  - 'confidence': mean |2p - 1| over the pixels whose image value is above the head level.
 * bench/real-adapt.ts measures how each tracks real Dice (rank correlation over epochs, methods, seeds).
 */
import type { Device } from '../../engine/tensor.js';
import { Rng, hashSeed } from '../../data/rng.js';
import { snapshotBatchNorm } from '../../lora/adabn.js';
import { testTimeAdaBN } from '../infer/test-time.js';
import { dice } from '../../metrics/index.js';
import type { SegmentationNet } from '../../models/zoo.js';
import { perturbSlices } from './adapt-teacher.js';
import { runSlices } from '../infer/predict.js';
import { HEAD_LEVEL } from '../scans.js';

export const CRITERIA = ['agreement', 'consistency', 'confidence'] as const;
export type Criterion = typeof CRITERIA[number];

type Slices = { images: Float32Array; shape: readonly [number, number, number] };

/** Perturbed copies per scan in 'consistency'. */
export const CONSISTENCY_COPIES = 2;

function logitsOf(model: SegmentationNet, images: Float32Array, shape: readonly [number, number, number], device: Device): Float32Array {
  return runSlices(images, shape, 16, device, (x) => [model.forward(x)])[0]!;
}

/**
 * How a criterion predicts: with the model's statistics as they are, or (`perScan`) after test-time AdaBN
 * on each scan (at most `maxSlices` slices), as `segment` predicts with a model that records it.
 */
export interface CriterionOptions { perScan?: boolean; maxSlices?: number }

/** Run `fn` for each scan, with the model fitted to that scan by test-time AdaBN when `perScan` (statistics restored after). */
function eachScan<S extends Slices>(model: SegmentationNet, scans: readonly S[], device: Device, o: CriterionOptions, fn: (s: S, i: number) => void): void {
  const saved = o.perScan === true ? snapshotBatchNorm(model) : null;
  try {
    scans.forEach((s, i) => {
      if (saved !== null) testTimeAdaBN(model, [s], { device, ...(o.maxSlices === undefined ? {} : { maxSlices: o.maxSlices }) });
      model.eval();
      fn(s, i);
      saved?.restore();
    });
  } finally { saved?.dispose(); }
}

/** 'consistency': mean over scans and CONSISTENCY_COPIES perturbed copies of Dice(mask, mask of the copy). Model in eval mode. */
export function perturbationConsistency(model: SegmentationNet, scans: readonly Slices[], device: Device, o: CriterionOptions = {}, seed = 7): number {
  let sum = 0, n = 0;
  eachScan(model, scans, device, o, (s, i) => {
    const clean = logitsOf(model, s.images, s.shape, device);
    const m0 = Uint8Array.from(clean, (v) => (v > 0 ? 1 : 0));
    for (let c = 0; c < CONSISTENCY_COPIES; c++) {
      const x = s.images.slice();
      perturbSlices(x, s.shape[0], s.shape[1], s.shape[2], new Rng(hashSeed(seed, i, c)));
      const m = Uint8Array.from(logitsOf(model, x, s.shape, device), (v) => (v > 0 ? 1 : 0));
      const d = dice(m0, m);
      sum += Number.isNaN(d) ? 1 : d;
      n++;
    }
  });
  return sum / n;
}

/** 'confidence': mean |2 sigmoid(logit) - 1| over the head's pixels (image above HEAD_LEVEL), averaged over scans. */
export function meanConfidence(model: SegmentationNet, scans: readonly Slices[], device: Device, o: CriterionOptions = {}): number {
  let total = 0;
  eachScan(model, scans, device, o, (s) => {
    const l = logitsOf(model, s.images, s.shape, device);
    let sum = 0, n = 0;
    for (let i = 0; i < l.length; i++) {
      if (s.images[i]! <= HEAD_LEVEL) continue;
      sum += Math.abs(2 / (1 + Math.exp(-l[i]!)) - 1);
      n++;
    }
    total += n === 0 ? 0 : sum / n;
  });
  return total / scans.length;
}
