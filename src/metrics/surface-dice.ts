import { checkNumber } from '../errors.js';
import { computeSurfaceDistances, type SurfaceDistances } from './surface-distance.js';
import type { MaskData } from './surfels.js';

function sum(values: Float64Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] as number;
  return s;
}

/** Total area (mm^2, 3D) or length (mm, 2D) of the surfels whose distance is <= tolerance. */
function areaWithin(distances: Float64Array, areas: Float64Array, tolerance: number): number {
  let s = 0;
  for (let i = 0; i < distances.length; i++) if ((distances[i] as number) <= tolerance) s += areas[i] as number;
  return s;
}

/**
 * Surface Dice at a tolerance: (GT surface area within `toleranceMm` of the predicted surface +
 * predicted surface area within `toleranceMm` of the GT surface) / (total GT + predicted area).
 * A surfel exactly at the tolerance counts as overlapping. In [0, 1]; NaN when both masks are
 * empty, 0 when exactly one is.
 */
export function surfaceDiceAtTolerance(sd: SurfaceDistances, toleranceMm: number): number {
  checkNumber('toleranceMm', toleranceMm, 0);
  const within = areaWithin(sd.distancesGtToPred, sd.areasGt, toleranceMm)
    + areaWithin(sd.distancesPredToGt, sd.areasPred, toleranceMm);
  return within / (sum(sd.areasGt) + sum(sd.areasPred));
}

/**
 * Fraction of each surface within `toleranceMm` of the other: [GT -> pred, pred -> GT], each in
 * [0, 1]; NaN for an empty mask's own fraction, 0 for the other when one mask is empty.
 */
export function surfaceOverlapAtTolerance(sd: SurfaceDistances, toleranceMm: number): [number, number] {
  checkNumber('toleranceMm', toleranceMm, 0);
  return [
    areaWithin(sd.distancesGtToPred, sd.areasGt, toleranceMm) / sum(sd.areasGt),
    areaWithin(sd.distancesPredToGt, sd.areasPred, toleranceMm) / sum(sd.areasPred),
  ];
}

/**
 * Area-weighted `percent` percentile of one direction's distances, as the package computes it: sort
 * surfels by (distance, area), take the first whose cumulative area fraction reaches percent / 100.
 * Infinity when there are no surfels.
 */
function weightedPercentile(distances: Float64Array, areas: Float64Array, percent: number): number {
  const n = distances.length;
  if (n === 0) return Infinity;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((i, j) => ((distances[i] as number) - (distances[j] as number)) || ((areas[i] as number) - (areas[j] as number)));
  const total = sum(areas);
  const target = percent / 100;
  let cum = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k] as number;
    cum += areas[i] as number;
    if (cum / total >= target) return distances[i] as number;
  }
  return distances[order[n - 1] as number] as number;
}

/**
 * Robust (percentile) Hausdorff distance in mm: the larger of the two directed area-weighted
 * `percent` percentiles (95 gives HD95). Infinity when exactly one mask is empty; NaN when both
 * are (the package returns Infinity there; NaN keeps an undefined case out of means).
 */
export function robustHausdorff(sd: SurfaceDistances, percent = 95): number {
  checkNumber('percent', percent, 0, 100);
  if (sd.areasGt.length === 0 && sd.areasPred.length === 0) return NaN;
  return Math.max(
    weightedPercentile(sd.distancesGtToPred, sd.areasGt, percent),
    weightedPercentile(sd.distancesPredToGt, sd.areasPred, percent),
  );
}

/** Area-weighted mean distances in mm, per direction (as the package's average surface distance). */
export function averageSurfaceDistance(sd: SurfaceDistances): { gtToPred: number; predToGt: number } {
  return {
    gtToPred: weightedSum(sd.distancesGtToPred, sd.areasGt) / sum(sd.areasGt),
    predToGt: weightedSum(sd.distancesPredToGt, sd.areasPred) / sum(sd.areasPred),
  };
}

function weightedSum(distances: Float64Array, areas: Float64Array): number {
  let s = 0;
  for (let i = 0; i < distances.length; i++) s += (distances[i] as number) * (areas[i] as number);
  return s;
}

/**
 * Average symmetric surface distance in mm: the area-weighted mean distance over the surfels of
 * both surfaces together, sum(d a) / sum(a) over GT and predicted surfels (the pooled definition,
 * not the mean of the two directed averages). Infinity when exactly one mask is empty, NaN when both.
 */
export function averageSymmetricSurfaceDistance(sd: SurfaceDistances): number {
  return (weightedSum(sd.distancesGtToPred, sd.areasGt) + weightedSum(sd.distancesPredToGt, sd.areasPred))
    / (sum(sd.areasGt) + sum(sd.areasPred));
}

/**
 * Surface Dice of two masks at a tolerance (see surfaceDiceAtTolerance).
 *
 * @param gt, pred    C-order masks (> 0 is foreground) of shape `shape` ([d0, d1] or [d0, d1, d2]).
 * @param spacing     mm per axis, same order as shape.
 * @param toleranceMm tolerance in mm (the paper uses 1).
 */
export function surfaceDice(
  gt: MaskData,
  pred: MaskData,
  shape: readonly number[],
  spacing: readonly number[],
  toleranceMm: number,
): number {
  checkNumber('toleranceMm', toleranceMm, 0);
  return surfaceDiceAtTolerance(computeSurfaceDistances(gt, pred, shape, spacing), toleranceMm);
}
