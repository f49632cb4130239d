import { checkNumber } from '../errors.js';
import { diceOfBinary } from './overlap.js';
import {
  averageSymmetricSurfaceDistance,
  robustHausdorff,
  surfaceDiceAtTolerance,
} from './surface-dice.js';
import { checkGeometry, checkMask, surfaceDistancesOfBinary } from './surface-distance.js';
import { binarize, type MaskData } from './surfels.js';

/** The per-volume metrics. Distances in mm. */
export interface MaskMetrics {
  /** Surface Dice at the tolerance, [0, 1]; NaN both empty, 0 one empty. */
  surfaceDice: number;
  /** Volumetric Dice, [0, 1]; NaN both empty, 0 one empty. */
  dice: number;
  /** Robust Hausdorff at the percentile (95 by default), mm; NaN both empty, Infinity one empty. */
  hd95: number;
  /** Average symmetric surface distance, mm; NaN both empty, Infinity one empty. */
  assd: number;
}

export interface EvaluateOptions {
  /** C-order shape, [d0, d1] or [d0, d1, d2]. */
  shape: readonly number[];
  /** mm per axis, same order as shape. */
  spacing: readonly number[];
  /** Surface Dice tolerance in mm; 1 by default because the paper reports Surface Dice at 1 mm. */
  tolerance?: number;
  /** Hausdorff percentile in [0, 100]; 95 by default (HD95). */
  percentile?: number;
}

/**
 * Surface Dice, Dice, HD95 and ASSD of one predicted mask against its ground truth, from a single
 * computation of the surface distances.
 *
 * @param gt, pred C-order masks of length prod(shape); any typed array or number[], > 0 is foreground.
 */
export function evaluateMasks(gt: MaskData, pred: MaskData, options: EvaluateOptions): MaskMetrics {
  const { shape, spacing } = options;
  const tolerance = checkNumber('tolerance', options.tolerance ?? 1, 0);
  const percentile = checkNumber('percentile', options.percentile ?? 95, 0, 100);
  const voxels = checkGeometry(shape, spacing);
  checkMask('gt', gt, voxels, shape);
  checkMask('pred', pred, voxels, shape);
  const g = binarize(gt, shape);
  const p = binarize(pred, shape);
  const sd = surfaceDistancesOfBinary(g, p, shape, spacing);
  return {
    surfaceDice: surfaceDiceAtTolerance(sd, tolerance),
    dice: diceOfBinary(g, p),
    hd95: robustHausdorff(sd, percentile),
    assd: averageSymmetricSurfaceDistance(sd),
  };
}

/**
 * Volumetric Dice of two masks of the same length (any typed array or number[], > 0 is foreground).
 * NaN when both are empty, 0 when exactly one is.
 */
export function dice(gt: MaskData, pred: MaskData): number {
  checkMask('gt', gt, gt.length, [gt.length]);
  checkMask('pred', pred, gt.length, [gt.length]);
  return diceOfBinary(binarize(gt, [1, gt.length]), binarize(pred, [1, gt.length]));
}
