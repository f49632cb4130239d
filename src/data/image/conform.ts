/**
 * A scan as a model sees it, in small steps that `segment`, `adapt --scans`, test-time AdaBN and the
 * adapter choice share (so every path prepares a scan exactly alike), and the way back:
 *   1. orient:    turn the volume into the model's training orientation (axes permuted/flipped, no
 *                 interpolation), when the model records it;
 *   2. conform:   resample (trilinear) to the model's training voxel size, when asked, or by default when
 *                 the voxel sizes differ by more than `CONFORM_TOLERANCE`;
 *   3. slice:     every slice along axis 0, min-max to [0, 1], rotated and padded to the model's size
 *                 (preprocess.ts, as the training data);
 *   4. restore:   predictions back through each step onto the input's own grid.
 * Plain TypeScript on arrays: no file system, no engine.
 */
import { cleanBrainMask } from './morphology.js';
import { ConvLoraError } from '../../errors.js';
import type { NiftiVolume } from '../nifti/bytes.js';
import { axisCodes, isIdentity, reorientData, reorientShape, reorientation, type Reorientation } from './orientation.js';
import { preprocessImage, sliceCount, sliceGeometry, toOriginalGrid, type SliceGeometry } from './preprocess.js';
import { resampleLinear, resampledDims } from './resample.js';
import { fromView, toView, viewDims, type ViewCount } from './views.js';

/** What a model records about its training volumes (checkpoint metadata). */
export interface ModelGrid {
  /** Slice edge length the network was trained at. */
  size: number;
  /** Axis codes ('RAS') of the training volumes, or null when unknown. */
  orientation: string | null;
  /** Median voxel size (mm, model axes) of the training volumes, or null when unknown. */
  spacing: readonly number[] | null;
  /** Views the model was trained on (data/image/views.ts): 1 (axis 0 only, every model before v2) or 3. Default 1. */
  views?: ViewCount;
}

/**
 * Resample when any voxel dimension differs from the model's by more than this fraction. 25 %: CC359's
 * own scanners differ by up to 11 % (Philips 1.5 T 0.889 mm) and 33 % (Siemens 3 T 1.33 mm along one
 * axis) and the paper slices them as stored; a 1 mm scan under a 2 mm or 4 mm model is 50-75 % off.
 */
export const CONFORM_TOLERANCE = 0.25;

/** 'auto': resample only when the voxel sizes differ by more than CONFORM_TOLERANCE. */
export type ConformMode = 'auto' | 'always' | 'never';

/** How user scans are prepared unless told otherwise (`segment`, `adapt --scans`): resample only when far off. */
export const DEFAULT_CONFORM: ConformMode = 'auto';

/**
 * Whether `segment` (CLI, library, browser app) cleans its masks (morphology.ts cleanBrainMask: the largest
 * connected component, enclosed holes filled) unless told otherwise. On, by a rule fixed before measuring
 * it (docs/mask-cleanup-rule.md): on 48 simulated validation scans it changed 2 masks and lowered neither
 * mean Dice nor mean Surface Dice (bench/mask-cleanup.ts).
 */
export const DEFAULT_CLEANUP = true;

/** What a U-Net checkpoint records about its training volumes (unknown orientation or voxel size: null). */
export function modelGrid(info: { size?: number | undefined; orientation?: unknown; spacing?: unknown; views?: unknown }): ModelGrid {
  const sp = info.spacing;
  const spacing = Array.isArray(sp) && sp.length === 3 && sp.every((x) => typeof x === 'number' && x > 0) ? sp as number[] : null;
  return { size: info.size ?? 256, orientation: typeof info.orientation === 'string' ? info.orientation : null, spacing, ...(info.views === 3 ? { views: 3 as const } : {}) };
}

/** Largest relative difference between a scan's and a model's voxel sizes (per axis, relative to the model's). */
export function spacingMismatch(scan: readonly number[], model: readonly number[]): number {
  return Math.max(...[0, 1, 2].map((a) => Math.abs((scan[a] ?? 1) - (model[a] ?? 1)) / (model[a] ?? 1)));
}

/** A scan prepared for a model, with what it takes to map predictions back to the input. */
export interface PreparedScan {
  /** Slices [S, size, size], values in [0, 1]. */
  images: Float32Array;
  shape: [number, number, number];
  /** mm along [slice axis, rows, columns] of the slices (after rotation). */
  spacing: [number, number, number];
  geometry: SliceGeometry;
  /** The input's axis codes (null: degenerate affine) and the turn applied (null: none). */
  inputCodes: string | null;
  turn: Reorientation | null;
  /** Dims and voxel size after orientation (model axes), before resampling. */
  workDims: [number, number, number];
  workSpacing: [number, number, number];
  /** Dims the network saw (after resampling) and whether it resampled. */
  gridDims: [number, number, number];
  resampled: { from: number[]; to: number[] } | null;
  /** Largest relative voxel-size difference from the model's (null: the model records none). */
  mismatch: number | null;
  /**
   * Every view the model was trained on, view 0 first (its arrays are `images`, `shape`, `geometry` above);
   * one entry for a one-view model. Each view is the grid volume permuted (views.ts) and sliced as above.
   */
  views: ViewSlices[];
}

/** One view's slices of a prepared scan. */
export interface ViewSlices { view: number; images: Float32Array; shape: [number, number, number]; geometry: SliceGeometry }

/** Steps 1-3. Throws E_SHAPE for a non-3D volume, E_CHECKPOINT when `conform` is 'always' but the model records no voxel size. */
export function prepareForModel(img: Pick<NiftiVolume, 'dims' | 'spacing' | 'affine' | 'data'>, model: ModelGrid, opts: { reorient?: boolean; conform?: ConformMode; what?: string } = {}): PreparedScan {
  const what = opts.what ?? 'volume';
  if (img.dims.length < 3 || img.dims.slice(3).some((d) => d !== 1)) {
    throw new ConvLoraError('E_SHAPE', `Expected a 3D volume in ${what} but received dims [${img.dims.join(', ')}]`);
  }
  let inputCodes: string | null = null;
  try { inputCodes = axisCodes(img.affine); } catch { /* degenerate affine: use the voxel order as it is */ }
  const t = opts.reorient !== false && model.orientation !== null && inputCodes !== null ? reorientation(inputCodes, model.orientation) : null;
  const turn = t !== null && !isIdentity(t) ? t : null;
  const dims3 = img.dims.slice(0, 3);
  const workDims = (turn === null ? dims3 : reorientShape(dims3, turn)) as [number, number, number];
  const workSpacing = (turn === null ? img.spacing.slice(0, 3) : reorientShape(img.spacing.slice(0, 3), turn)) as [number, number, number];
  const workData = turn === null ? img.data : reorientData(img.data, dims3, turn);

  const mode = opts.conform ?? 'never';
  if (mode === 'always' && model.spacing === null) {
    throw new ConvLoraError('E_CHECKPOINT', `The model does not record the voxel size it was trained at, so ${what} cannot be resampled to it`);
  }
  const mismatch = model.spacing === null ? null : spacingMismatch(workSpacing, model.spacing);
  const resample = mismatch !== null && (mode === 'always' ? mismatch > 1e-3 : mode === 'auto' && mismatch > CONFORM_TOLERANCE);
  const gridDims = resample ? resampledDims(workDims, workSpacing, model.spacing!) : workDims;
  const gridSpacing = resample ? [...model.spacing!] : workSpacing;
  const data = resample ? resampleLinear(workData, workDims, gridDims) : workData;

  const geometry = sliceGeometry(gridDims, [0, gridDims[0] - 1], model.size, what);
  const images = preprocessImage(data, geometry);
  const shape: [number, number, number] = [sliceCount(geometry), geometry.size, geometry.size];
  const views: ViewSlices[] = [{ view: 0, images, shape, geometry }];
  for (let v = 1; v < (model.views ?? 1); v++) {
    const g = sliceGeometry(viewDims(gridDims, v), [0, viewDims(gridDims, v)[0] - 1], model.size, what);
    views.push({ view: v, images: preprocessImage(toView(Float32Array.from(data), gridDims, v), g), shape: [sliceCount(g), g.size, g.size], geometry: g });
  }
  return {
    images, shape,
    spacing: [gridSpacing[0]!, gridSpacing[2]!, gridSpacing[1]!],
    geometry, inputCodes, turn, workDims, workSpacing, gridDims,
    resampled: resample ? { from: [...workSpacing], to: [...model.spacing!] } : null,
    mismatch, views,
  };
}

/**
 * Probabilities on the network's grid (`gridDims`, model axes) from the logits of each given view
 * ([S, size, size] per entry of `logits`, in the order of `prep.views`; fewer entries use the first views
 * only): the sigmoid of each view mapped back onto the grid, averaged over the views.
 */
export function fusedGridProbabilities(prep: PreparedScan, logits: readonly Float32Array[]): Float32Array {
  if (logits.length === 0 || logits.length > prep.views.length) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected logits of 1 to ${prep.views.length} views but received ${logits.length}`);
  }
  const n = prep.gridDims[0] * prep.gridDims[1] * prep.gridDims[2];
  const sum = new Float32Array(n);
  logits.forEach((l, i) => {
    const v = prep.views[i]!;
    const p = new Float32Array(l.length);
    for (let k = 0; k < l.length; k++) p[k] = 1 / (1 + Math.exp(-l[k]!));
    const back = fromView(toOriginalGrid(p, v.geometry), prep.gridDims, v.view);
    for (let k = 0; k < n; k++) sum[k]! += back[k]!;
  });
  const inv = 1 / logits.length;
  for (let k = 0; k < n; k++) sum[k]! *= inv;
  return sum;
}

/** Step 4 for the fused probabilities of several views (fusedGridProbabilities), interpolated back onto the input's grid. */
export function fusedProbabilitiesToInput(prep: PreparedScan, logits: readonly Float32Array[]): Float32Array {
  const grid = fusedGridProbabilities(prep, logits);
  return unturn(prep, prep.resampled === null ? grid : resampleLinear(grid, prep.gridDims, prep.workDims));
}

/**
 * Step 4 for several views: the fused probabilities (fusedGridProbabilities) back onto the input's grid
 * (interpolated when resampled), thresholded at 0.5. With view 0 alone it is maskToInput up to rounding at logit 0.
 */
export function fusedMaskToInput(prep: PreparedScan, logits: readonly Float32Array[]): Uint8Array {
  const grid = fusedGridProbabilities(prep, logits);
  const onWork = prep.resampled === null ? grid : resampleLinear(grid, prep.gridDims, prep.workDims);
  const mask = new Uint8Array(onWork.length);
  for (let i = 0; i < onWork.length; i++) mask[i] = onWork[i]! > 0.5 ? 1 : 0;
  return unturn(prep, mask);
}

/** Step 4 for probabilities [S, size, size]: back onto the input's grid (interpolated when resampled). */
export function probabilitiesToInput(prep: PreparedScan, prob: Float32Array): Float32Array {
  const onGrid = toOriginalGrid(prob, prep.geometry);
  const onWork = prep.resampled === null ? onGrid : resampleLinear(onGrid, prep.gridDims, prep.workDims);
  return unturn(prep, onWork);
}

/**
 * Step 4 for a mask from logits [S, size, size]. Without resampling the mask (logit > 0, i.e. sigmoid
 * > 0.5) is taken on the network's grid, exactly as the training pipeline predicts; with resampling the
 * probabilities are interpolated back first and thresholded at 0.5 on the input grid.
 */
export function maskToInput(prep: PreparedScan, logits: Float32Array): Uint8Array {
  // Plain loops: TypedArray.from with a map function is several times slower on a 1 mm head's millions of voxels.
  if (prep.resampled !== null) {
    const prob = new Float32Array(logits.length);
    for (let i = 0; i < logits.length; i++) prob[i] = 1 / (1 + Math.exp(-logits[i]!));
    const back = probabilitiesToInput(prep, prob);
    const mask = new Uint8Array(back.length);
    for (let i = 0; i < back.length; i++) mask[i] = back[i]! > 0.5 ? 1 : 0;
    return mask;
  }
  const mask = new Uint8Array(logits.length);
  for (let i = 0; i < logits.length; i++) mask[i] = logits[i]! > 0 ? 1 : 0;
  return unturn(prep, toOriginalGrid(mask, prep.geometry));
}

/**
 * The mask `segment` writes (CLI, library, browser app): maskToInput on the input's grid `dims`, then
 * cleaned (cleanBrainMask) unless `cleanup` is false. The paper's evaluation (pipeline/evaluate-model.ts) scores
 * maskToInput's mask as it is.
 */
export function segmentationMask(prep: PreparedScan, logits: Float32Array, dims: readonly number[], cleanup = DEFAULT_CLEANUP): Uint8Array {
  const mask = maskToInput(prep, logits);
  return cleanup ? cleanBrainMask(mask, [dims[0]!, dims[1]!, dims[2]!]) : mask;
}

function unturn<T extends Uint8Array | Float32Array>(prep: PreparedScan, data: T): T {
  return prep.turn === null ? data : reorientData(data, prep.workDims, reorientation(prep.turn.to, prep.turn.from));
}
