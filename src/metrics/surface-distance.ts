import { ConvLoraError, describe, invalidArg } from '../errors.js';
import { squaredEdtAt } from './edt.js';
import { contourLengthTable2d, surfelAreaTable3d } from './lookup-tables.js';
import { binarize, neighbourCodes, unionBox, type BinaryMask, type MaskData } from './surfels.js';

/**
 * Surface distances between two masks, DeepMind `surface-distance` definition: the surface
 * elements are the voxel corners whose 2x2(x2) neighbourhood is mixed, each weighted by its
 * marching-cubes area (3D, mm^2) or contour length (2D, mm); a surfel's distance is the Euclidean
 * distance in mm from its corner to the nearest surface corner of the other mask.
 *
 * Arrays are unsorted (in corner order). If one mask is empty its arrays are empty and every
 * distance of the other mask is Infinity; if both are empty all four arrays are empty.
 */
export interface SurfaceDistances {
  /** mm, one per GT surfel: distance to the predicted surface. */
  readonly distancesGtToPred: Float64Array;
  /** mm^2 (3D) or mm (2D), one per GT surfel. */
  readonly areasGt: Float64Array;
  /** mm, one per predicted surfel: distance to the GT surface. */
  readonly distancesPredToGt: Float64Array;
  /** mm^2 (3D) or mm (2D), one per predicted surfel. */
  readonly areasPred: Float64Array;
}

/** Validate a C-order shape (2 or 3 axes) and its spacing (mm, finite > 0); returns the voxel count. */
export function checkGeometry(shape: readonly number[], spacing: readonly number[]): number {
  if (!Array.isArray(shape) || (shape.length !== 2 && shape.length !== 3) || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ConvLoraError('E_SHAPE', `Expected 2 or 3 positive integer dims for \`shape\` but received ${describe(shape)}`);
  }
  if (!Array.isArray(spacing) || spacing.length !== shape.length || !spacing.every((s) => typeof s === 'number' && Number.isFinite(s) && s > 0)) {
    invalidArg('spacing', `${shape.length} finite numbers > 0 (mm per axis)`, spacing);
  }
  return shape.reduce((a, b) => a * b, 1);
}

/** Check a mask's length against the shape. */
export function checkMask(name: string, data: MaskData, voxels: number, shape: readonly number[]): void {
  if (data === null || typeof data !== 'object' || typeof data.length !== 'number') invalidArg(name, 'a typed array or number[]', data);
  if (data.length !== voxels) {
    throw new ConvLoraError('E_SHAPE', `Expected ${voxels} values for \`${name}\` (shape [${shape.join(', ')}]) but received ${data.length}`);
  }
}

/**
 * Surface distances between `gt` and `pred` (see SurfaceDistances).
 *
 * @param gt      ground-truth mask, C order, length prod(shape); > 0 is foreground.
 * @param pred    predicted mask, same layout.
 * @param shape   [d0, d1] or [d0, d1, d2], axis 0 slowest.
 * @param spacing mm per axis, same order as shape.
 */
export function computeSurfaceDistances(
  gt: MaskData,
  pred: MaskData,
  shape: readonly number[],
  spacing: readonly number[],
): SurfaceDistances {
  const voxels = checkGeometry(shape, spacing);
  checkMask('gt', gt, voxels, shape);
  checkMask('pred', pred, voxels, shape);
  return surfaceDistancesOfBinary(binarize(gt, shape), binarize(pred, shape), shape, spacing);
}

/** computeSurfaceDistances on already binarized, validated masks. */
export function surfaceDistancesOfBinary(
  gt: BinaryMask,
  pred: BinaryMask,
  shape: readonly number[],
  spacing: readonly number[],
): SurfaceDistances {
  const box = unionBox(gt.box, pred.box);
  if (box === null) {
    const none = new Float64Array(0);
    return { distancesGtToPred: none, areasGt: none, distancesPredToGt: none, areasPred: none };
  }
  const areaOf = shape.length === 3
    ? surfelAreaTable3d(spacing as [number, number, number])
    : contourLengthTable2d(spacing as [number, number]);
  const full = shape.length === 3 ? 255 : 15;
  const gtCodes = neighbourCodes(gt.mask, shape, box);
  const predCodes = neighbourCodes(pred.mask, shape, box);
  const cornerShape = gtCodes.cornerShape;
  const gtBorder = borderOf(gtCodes.codes, full);
  const predBorder = borderOf(predCodes.codes, full);
  // One squared-distance buffer serves both transforms, one after the other.
  const buffer = new Float64Array(gtCodes.codes.length);
  const toPred = gather(predBorder, gtBorder, gtCodes.codes, areaOf, cornerShape, spacing, buffer);
  const toGt = gather(gtBorder, predBorder, predCodes.codes, areaOf, cornerShape, spacing, buffer);
  return {
    distancesGtToPred: toPred.distances,
    areasGt: toPred.areas,
    distancesPredToGt: toGt.distances,
    areasPred: toGt.areas,
  };
}

interface Border {
  /** Flat corner indices of the surface corners, ascending. */
  readonly index: Int32Array;
  /** Same corners as a 0/1 grid, the feature map of the distance transform. */
  readonly grid: Uint8Array;
}

function borderOf(codes: Uint8Array, full: number): Border {
  const grid = new Uint8Array(codes.length);
  let count = 0;
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i] as number;
    if (c !== 0 && c !== full) {
      grid[i] = 1;
      count++;
    }
  }
  const index = new Int32Array(count);
  for (let i = 0, k = 0; i < codes.length; i++) if (grid[i] === 1) index[k++] = i;
  return { index, grid };
}

/** Distances from the surfels `from` to the surface `target`, with the surfels' areas. */
function gather(
  target: Border,
  from: Border,
  fromCodes: Uint8Array,
  areaOf: Float64Array,
  cornerShape: readonly number[],
  spacing: readonly number[],
  buffer: Float64Array,
): { distances: Float64Array; areas: Float64Array } {
  const n = from.index.length;
  const distances = new Float64Array(n);
  const areas = new Float64Array(n);
  for (let k = 0; k < n; k++) areas[k] = areaOf[fromCodes[from.index[k] as number] as number] as number;
  if (target.index.length === 0) {
    distances.fill(Infinity);
  } else {
    const sq = squaredEdtAt(target.grid, cornerShape, spacing, from.index, buffer);
    for (let k = 0; k < n; k++) distances[k] = Math.sqrt(sq[k] as number);
  }
  return { distances, areas };
}
