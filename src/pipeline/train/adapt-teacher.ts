/**
 * Self-training that resists its own mistakes (adapt method 'teacher'), beside the paper's method:
 *  - the teacher is the starting model on the target (the base network with the target's AdaBN
 *    statistics, LoRA still zero), frozen: its labels are computed once, before any update, so the
 *    student cannot drift and then learn its drift back (the paper's target is the student's own
 *    final output, which follows every update);
 *  - only the teacher's confident pixels count (probability above `confidence` or below 1 - it); the
 *    rest of the slice is ignored, not forced to either class;
 *  - the student sees the slices under intensity perturbation (gamma, a smooth gain, noise) while the
 *    teacher saw them clean (consistency under perturbation, as FixMatch / noisy student), so what it
 *    learns is invariance on the target's own images rather than a copy of the teacher.
 * The trainable parameters are the paper's (ConvLoRA on the encoder blocks, their BatchNorm affines).
 * For a base model that predicts with test-time AdaBN per scan (the bundled models), everything is per
 * scan (`perScan`): the teacher is that prediction, the student trains on batches of one scan's slices with
 * BatchNorm normalizing by the batch (as the model was trained), and the adapter records `inference:
 * 'adabn'`, so `segment` re-estimates the statistics on each scan on top of the adapter's weights.
 */
import { checkNumber } from '../../errors.js';
import { tensor } from '../../engine/create.js';
import * as ops from '../../engine/ops.js';
import type { Device, Tensor } from '../../engine/tensor.js';
import { Rng, hashSeed } from '../../data/rng.js';
import type { Batch } from '../../data/scans/sampler.js';
import type { SegmentationNet } from '../../models/zoo.js';
import type { BatchScan, BatchSource } from './dataset.js';
import { runSlices } from '../infer/predict.js';
import { snapshotBatchNorm } from '../../lora/adabn.js';
import { testTimeAdaBN } from '../infer/test-time.js';

/** Teacher confidence: pixels with p > 0.9 or p < 0.1 count. 0.9 keeps the bulk of brain and background and drops the boundary band. */
export const TEACHER_CONFIDENCE = 0.9;

/** Label code of a pixel the teacher is unsure about (ignored by the loss). */
export const UNSURE = 2;

/**
 * The teacher's labels of each scan's slices: 1 brain, 0 background, UNSURE in between, from `model` as it
 * is (eval mode, no gradient). Returned as the scans with these labels as their masks.
 */
export function teacherLabels(model: SegmentationNet, scans: readonly BatchScan[], device: Device, confidence = TEACHER_CONFIDENCE,
  o: { perScan?: boolean; maxSlices?: number } = {}): BatchScan[] {
  checkNumber('confidence', confidence, 0.5, 1);
  const hi = Math.log(confidence / (1 - confidence));
  const saved = o.perScan === true ? snapshotBatchNorm(model) : null;
  try {
    return scans.map((s) => labelsOf(s));
  } finally { saved?.dispose(); }

  function labelsOf(s: BatchScan): BatchScan {
    // Per scan: the teacher as `segment` runs a model that records test-time AdaBN (statistics restored after).
    if (saved !== null) testTimeAdaBN(model, [s], { device, ...(o.maxSlices === undefined ? {} : { maxSlices: o.maxSlices }) });
    model.eval();
    const [logits] = runSlices(s.images, s.shape, 16, device, (x) => [model.forward(x)]);
    saved?.restore();
    const masks = new Uint8Array(logits!.length);
    for (let i = 0; i < masks.length; i++) masks[i] = logits![i]! > hi ? 1 : logits![i]! < -hi ? 0 : UNSURE;
    return { ...s, masks };
  }
}

/** Perturb one batch's slices in place: per slice a gamma exp(N(0, 0.25)), a gain ramp of up to +-20 % across the slice, noise of sd up to 0.03. */
export function perturbSlices(x: Float32Array, b: number, h: number, w: number, rng: Rng): void {
  const plane = h * w;
  for (let s = 0; s < b; s++) {
    const gamma = Math.exp(0.25 * rng.normal());
    const gx = rng.uniform(-0.2, 0.2), gy = rng.uniform(-0.2, 0.2), sd = rng.uniform(0, 0.03);
    for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) {
      const i = s * plane + r * w + c;
      const gain = 1 + gx * (c / (w - 1) - 0.5) + gy * (r / (h - 1) - 0.5);
      x[i] = Math.max(0, Math.pow(Math.min(1, Math.max(0, x[i]!)), gamma) * gain + sd * rng.normal());
    }
  }
}

/** Batches of `inner` with their slices perturbed (seeded by seed, epoch and batch). */
export class PerturbedBatches implements BatchSource {
  constructor(private readonly inner: BatchSource, private readonly seed: number) {}
  get steps(): number { return this.inner.steps; }
  async *epoch(epoch: number): AsyncGenerator<Batch> {
    let k = 0;
    for await (const b of this.inner.epoch(epoch)) {
      const x = b.x.slice();
      perturbSlices(x, b.shape[0], b.shape[2], b.shape[3], new Rng(hashSeed(this.seed, epoch, k++, 0x7e)));
      yield { ...b, x };
    }
  }
}

/** The student's loss: BCE against the teacher's confident labels (UNSURE pixels weigh 0), mean over the confident pixels. */
export function teacherLoss(logits: Tensor, batch: Batch, device: Device): Tensor {
  const y = new Float32Array(batch.y.length), w = new Float32Array(batch.y.length);
  let n = 0;
  for (let i = 0; i < y.length; i++) {
    if (batch.y[i] === UNSURE) continue;
    y[i] = batch.y[i]!;
    w[i] = 1;
    n++;
  }
  const sum = ops.bceWithLogits(logits, tensor(y, batch.shape, { device }), { weight: tensor(w, batch.shape, { device }), reduction: 'sum' });
  return ops.div(sum, Math.max(1, n));
}
