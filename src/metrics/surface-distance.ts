import { ConvLoraError, checkNumber, describe, invalidArg } from '../errors.js';
import { squaredEdtAt } from '../geometry/edt.js';
import { squaredDistancesNear } from './nearest.js';
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
 * Surface distances between `gt` and `pred` (see SurfaceDistances). Each distance is exact: an
 * exact nearest-corner search within a few voxels (nearest.ts) settles the corners whose other
 * surface is near, and the Felzenszwalb-Huttenlocher distance transform (edt.ts) the rest.
 *
 * @param gt      ground-truth mask, C order, length prod(shape); > 0 is foreground.
 * @param pred    predicted mask, same layout.
 * @param shape   [d0, d1] or [d0, d1, d2], axis 0 slowest.
 * @param spacing mm per axis, same order as shape.
 * @param options how distances are searched (the results do not depend on it).
 */
export function computeSurfaceDistances(
  gt: MaskData,
  pred: MaskData,
  shape: readonly number[],
  spacing: readonly number[],
  options: DistanceOptions = {},
): SurfaceDistances {
  const voxels = checkGeometry(shape, spacing);
  checkMask('gt', gt, voxels, shape);
  checkMask('pred', pred, voxels, shape);
  if (options.nearRadiusMm !== undefined) checkNumber('nearRadiusMm', options.nearRadiusMm, 0, 1e6);
  return surfaceDistancesOfBinary(binarize(gt, shape), binarize(pred, shape), shape, spacing, options);
}

/**
 * Search radius of the exact neighbourhood search, in voxels of the coarsest axis: it covers the
 * distances of any reasonable segmentation (Surface Dice tolerances are 1-2 mm) with about 200
 * offsets per corner; farther corners go to the distance transform.
 */
const NEAR_RADIUS_VOXELS = 3;

export interface DistanceOptions {
  /**
   * Radius (mm) of the neighbourhood search tried before the distance transform; 0 sends every
   * corner to the transform. Default 3 voxels of the coarsest axis. Results do not depend on it.
   */
  nearRadiusMm?: number;
}

/** computeSurfaceDistances on already binarized, validated masks. */
export function surfaceDistancesOfBinary(
  gt: BinaryMask,
  pred: BinaryMask,
  shape: readonly number[],
  spacing: readonly number[],
  options: DistanceOptions = {},
): SurfaceDistances {
  const box = unionBox(gt.box, pred.box);
  if (box === null) {
    const none = new Float64Array(0);
    return { distancesGtToPred: none, areasGt: none, distancesPredToGt: none, areasPred: none };
  }
  const is3d = shape.length === 3;
  const areaOf = is3d ? surfelAreaTable3d(spacing as [number, number, number]) : contourLengthTable2d(spacing as [number, number]);
  const full = is3d ? 255 : 15;
  const g = neighbourCodes(gt.mask, shape, box);
  const p = neighbourCodes(pred.mask, shape, box);
  const grid: Grid = {
    shape: g.cornerShape,
    spacing,
    full,
    radius: options.nearRadiusMm ?? NEAR_RADIUS_VOXELS * Math.max(...spacing),
    buffer: undefined,
  };
  const gtSurface = { codes: g.codes, index: g.surface };
  const predSurface = { codes: p.codes, index: p.surface };
  const toPred = distancesTo(predSurface, gtSurface, areaOf, grid);
  const toGt = distancesTo(gtSurface, predSurface, areaOf, grid);
  return {
    distancesGtToPred: toPred.distances,
    areasGt: toPred.areas,
    distancesPredToGt: toGt.distances,
    areasPred: toGt.areas,
  };
}

/** A surface on the corner grid: every corner's code, and the flat indices (ascending) of its surface corners. */
interface Surface {
  readonly codes: Uint8Array;
  readonly index: Int32Array;
}

/** The corner grid both surfaces live on, with a distance-transform buffer shared between calls. */
interface Grid {
  readonly shape: number[];
  readonly spacing: readonly number[];
  readonly full: number;
  readonly radius: number;
  buffer: Float64Array | undefined;
}

/**
 * Distances from the corners of surface `from` to surface `target`, with `from`'s surfel areas.
 * The neighbourhood search runs first; corners it leaves are searched again with twice the
 * radius while that costs less than a distance transform of the grid (about one offset tried per
 * grid corner), and whatever is still left goes to the transform. If the first search misses more
 * than 1/32 of the corners, the surfaces are far apart and the transform takes them all.
 */
function distancesTo(target: Surface, from: Surface, areaOf: Float64Array, grid: Grid): { distances: Float64Array; areas: Float64Array } {
  const n = from.index.length;
  const areas = new Float64Array(n);
  for (let k = 0; k < n; k++) areas[k] = areaOf[from.codes[from.index[k] as number] as number] as number;
  const distances = new Float64Array(n);
  if (target.index.length === 0) return { distances: distances.fill(Infinity), areas };
  // sq[k]: squared distance of corner from.index[k]; `pending` lists the k still unknown, and
  // `queries` their corner indices (both ascending).
  const sq = new Float64Array(n);
  let pending = new Int32Array(n);
  for (let k = 0; k < n; k++) pending[k] = k;
  let queries = from.index.slice(); // compacted in place below
  let radius = grid.radius;
  let first = true;
  while (pending.length > 0 && radius > 0 && (first || pending.length * offsetCount(grid, radius) <= target.codes.length)) {
    const near = squaredDistancesNear(target.codes, grid.full, grid.shape, grid.spacing, queries, radius, first ? n >> 5 : Infinity);
    if (near === null) break; // many far corners: the transform is cheaper than searching wider
    let missed = 0;
    for (let j = 0; j < pending.length; j++) {
      const v = near.sq[j] as number;
      if (Number.isNaN(v)) {
        pending[missed] = pending[j] as number;
        queries[missed++] = queries[j] as number;
      } else {
        sq[pending[j] as number] = v;
      }
    }
    pending = pending.subarray(0, missed);
    queries = queries.subarray(0, missed);
    radius *= 2;
    first = false;
  }
  if (pending.length > 0) {
    const feature = new Uint8Array(target.codes.length);
    for (let k = 0; k < target.index.length; k++) feature[target.index[k] as number] = 1;
    grid.buffer ??= new Float64Array(target.codes.length);
    const far = squaredEdtAt(feature, grid.shape, grid.spacing, queries, grid.buffer);
    for (let j = 0; j < pending.length; j++) sq[pending[j] as number] = far[j] as number;
  }
  for (let k = 0; k < n; k++) distances[k] = Math.sqrt(sq[k] as number);
  return { distances, areas };
}

/** About how many grid offsets lie within `radius` mm (the volume of the ball in voxels). */
function offsetCount(grid: Grid, radius: number): number {
  const cell = grid.spacing.reduce((a, b) => a * b, 1);
  return grid.shape.length === 3 ? (4 / 3) * Math.PI * radius ** 3 / cell : Math.PI * radius ** 2 / cell;
}
