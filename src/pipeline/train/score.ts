/** Scoring of preprocessed scans: per-volume Surface Dice (1 mm) and Dice, and label-free agreement. */
import type { ScanData } from '../../data/scans/cc359.js';
import { evaluateMasks, surfaceDice } from '../../metrics/index.js';
import type { CaseMetrics } from '../../metrics/aggregate.js';
import type { Device, Tensor } from '../../engine/tensor.js';
import { headInput, specOf, type SegmentationNet } from '../../models/zoo.js';
import type { Module } from '../../nn/module.js';
import { snapshotBatchNorm } from '../../lora/adabn.js';
import { maskOfLogits, runSlices } from '../infer/predict.js';
import type { HeadKind } from '../models.js';
import { testTimeAdaBN } from '../infer/test-time.js';

export const TOLERANCE_MM = 1;

/** Final and (optionally) early-head logits of a network, for one batch; the head reads the spec's tap for its kind. */
export function forwardHeads(unet: SegmentationNet, head: Module | null, kind: HeadKind | null, x: Tensor): Tensor[] {
  const f = unet.forwardFeatures(x);
  if (head === null || kind === null) return [f.logits];
  return [f.logits, head.forward(headInput(specOf(unet), kind, f))];
}

/** Per-volume metrics of the U-Net's final mask against each scan's ground truth (3D, header spacing). */
export function scoreScans(unet: SegmentationNet, scans: readonly ScanData[], device: Device, batchSize = 32, tolerance = TOLERANCE_MM): CaseMetrics[] {
  unet.eval();
  return scans.map((s) => {
    const [logits] = runSlices(s.images, s.shape, batchSize, device, (x) => [unet.forward(x)]);
    const m = evaluateMasks(s.masks, maskOfLogits(logits!), { shape: s.shape, spacing: s.spacing, tolerance });
    return { id: s.stem, domain: s.domain, ...m };
  });
}

/**
 * As scoreScans, but each scan predicted after test-time AdaBN on itself (what `segment --adabn` does):
 * its BatchNorm statistics re-estimated on the scan's head slices, the prediction scored, the model's
 * statistics restored. For a model trained on randomized contrasts, whose running statistics average
 * over contrasts that no one scan has.
 */
export function scoreScansTestTime(unet: SegmentationNet, scans: readonly ScanData[], device: Device, batchSize = 32, tolerance = TOLERANCE_MM): CaseMetrics[] {
  const saved = snapshotBatchNorm(unet);
  try {
    return scans.map((s) => {
      testTimeAdaBN(unet, [s], { device });
      try {
        return scoreScans(unet, [s], device, batchSize, tolerance)[0]!;
      } finally {
        saved.restore();
      }
    });
  } finally {
    saved.dispose();
  }
}

/** Mean Surface Dice of a head's mask against ground truth (ESH model selection on source validation). */
export function headSurfaceDice(unet: SegmentationNet, head: Module, kind: HeadKind, scans: readonly ScanData[], device: Device, batchSize = 32, tolerance = TOLERANCE_MM): number {
  unet.eval();
  head.eval();
  return meanDefined(scans.map((s) => {
    const [, h] = runSlices(s.images, s.shape, batchSize, device, (x) => forwardHeads(unet, head, kind, x));
    return surfaceDice(s.masks, maskOfLogits(h!), s.shape, s.spacing, tolerance);
  }));
}

/**
 * Label-free model selection (docs/method.md §5): mean over volumes of the Surface Dice between the
 * early head's mask and the final mask (both sigmoid > 0.5), everything in eval mode.
 */
export function agreement(unet: SegmentationNet, head: Module, kind: HeadKind, scans: readonly Pick<ScanData, 'images' | 'shape' | 'spacing'>[], device: Device, batchSize = 32, tolerance = TOLERANCE_MM): number {
  unet.eval();
  head.eval();
  return meanDefined(scans.map((s) => {
    const [f, h] = runSlices(s.images, s.shape, batchSize, device, (x) => forwardHeads(unet, head, kind, x));
    return surfaceDice(maskOfLogits(f!), maskOfLogits(h!), s.shape, s.spacing, tolerance);
  }));
}

/** Mean of the defined (non-NaN) values; NaN when none is. */
export function meanDefined(xs: readonly number[]): number {
  const v = xs.filter((x) => !Number.isNaN(x));
  return v.length === 0 ? NaN : v.reduce((a, b) => a + b, 0) / v.length;
}
