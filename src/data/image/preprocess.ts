/**
 * CC359 slice preprocessing (docs/method.md §6), as one index mapping per output pixel, and its inverse.
 *
 * In numpy terms, for a volume V indexed [i, j, k] = [x, y, z] (x fastest in the file):
 *   V[lo:hi+1] -> min-max to [0, 1] -> np.rot90(., k=1, axes=(1, 2)) -> edge-pad to square
 *   -> edge-pad (or centre-crop) to size x size.
 * np.rot90 with k=1 over axes (1, 2) is flip along axis 2 then swap axes 1 and 2, so
 *   R[s, a, b] = V[lo + s, b, nz - 1 - a],  R of shape [S, nz, ny]  (rows follow z reversed, columns y).
 * Padding splits as the authors' loader does: before = floor(diff / 2), after = the rest. Edge padding
 * is index clamping, so both pads compose into one offset (top, left) plus a clamp.
 */
import { ConvLoraError } from '../../errors.js';
import type { NiftiData } from '../nifti/codec.js';

/** Everything needed to map preprocessed slices back onto the original voxel grid. */
export interface SliceGeometry {
  /** Original [nx, ny, nz] (file order). */
  dims: [number, number, number];
  /** Inclusive slice range along axis 0 actually kept (after clamping to the volume). */
  range: [number, number];
  /** Rotated slice size before padding: height = nz, width = ny. */
  height: number;
  width: number;
  /** Output slices are size x size. */
  size: number;
  /** Output pixel (r, c) shows rotated pixel (clamp(r - top), clamp(c - left)); negative = cropped. */
  top: number;
  left: number;
}

/** Python's floor division, so negative differences (cropping) split as numpy would. */
function half(diff: number): number {
  return Math.floor(diff / 2);
}

/**
 * Clamp a requested inclusive slice range to an axis of length `n`.
 * Throws E_DATA when nothing of the range lies inside the volume.
 */
export function clampRange(range: readonly [number, number], n: number, what = 'volume'): [number, number] {
  const [lo, hi] = range;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo > hi) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected an inclusive integer slice range [lo, hi] with lo <= hi but received [${lo}, ${hi}]`);
  }
  const a = Math.max(0, lo), b = Math.min(n - 1, hi);
  if (a > b) throw new ConvLoraError('E_DATA', `Slice range [${lo}, ${hi}] lies outside ${what}, whose axis 0 has ${n} slices (0..${n - 1})`);
  return [a, b];
}

/** Geometry of preprocessing a [nx, ny, nz] volume with an inclusive slice range and output size. */
export function sliceGeometry(dims: readonly number[], range: readonly [number, number], size: number, what = 'volume'): SliceGeometry {
  if (dims.length < 3 || dims.slice(3).some((d) => d !== 1)) {
    throw new ConvLoraError('E_SHAPE', `Expected a 3D volume for ${what} but received dims [${dims.join(', ')}]`);
  }
  if (!Number.isInteger(size) || size < 1) throw new ConvLoraError('E_INVALID_ARG', `Expected integer >= 1 for \`size\` but received ${size}`);
  const [nx = 1, ny = 1, nz = 1] = dims;
  const height = nz, width = ny;
  const side = Math.max(height, width);
  const common = half(size - side);
  return {
    dims: [nx, ny, nz], range: clampRange(range, nx, what), height, width, size,
    top: (height < width ? half(width - height) : 0) + common,
    left: (width < height ? half(height - width) : 0) + common,
  };
}

/** Number of slices the geometry keeps. */
export function sliceCount(g: SliceGeometry): number {
  return g.range[1] - g.range[0] + 1;
}

/** Min and max over the kept slices (i in range) of a file-order volume. */
function rangeMinMax(data: NiftiData, g: SliceGeometry): [number, number] {
  const [nx, ny, nz] = g.dims;
  let min = Infinity, max = -Infinity;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      const row = nx * (j + ny * k);
      for (let i = g.range[0]; i <= g.range[1]; i++) {
        const v = data[row + i] ?? 0;
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
  }
  return [min, max];
}

/** For each output pixel of one slice, the offset j*nx + (nz-1-a)*nx*ny it reads (add i for the slice). */
function pixelOffsets(g: SliceGeometry): Int32Array {
  const [nx, ny, nz] = g.dims;
  const { size, top, left, height, width } = g;
  const out = new Int32Array(size * size);
  for (let r = 0; r < size; r++) {
    const a = Math.min(height - 1, Math.max(0, r - top));
    const zOff = nx * ny * (nz - 1 - a);
    for (let c = 0; c < size; c++) {
      const b = Math.min(width - 1, Math.max(0, c - left));
      out[r * size + c] = zOff + nx * b;
    }
  }
  return out;
}

/**
 * Preprocess an image: returns [S, size, size] C-order slices, min-max scaled over the kept slices to
 * [0, 1] (a constant volume becomes all zeros, as sklearn's MinMaxScaler does).
 */
export function preprocessImage(data: NiftiData, g: SliceGeometry): Float32Array {
  const [min, max] = rangeMinMax(data, g);
  const scale = max > min ? 1 / (max - min) : 0;
  const offsets = pixelOffsets(g);
  const plane = g.size * g.size;
  const out = new Float32Array(sliceCount(g) * plane);
  for (let s = 0; s < sliceCount(g); s++) {
    const i = g.range[0] + s, base = s * plane;
    for (let p = 0; p < plane; p++) out[base + p] = ((data[(offsets[p] ?? 0) + i] ?? 0) - min) * scale;
  }
  return out;
}

/** Preprocess a mask the same way: [S, size, size] of 0/1 (voxel > 0). */
export function preprocessMask(data: NiftiData, g: SliceGeometry): Uint8Array {
  const offsets = pixelOffsets(g);
  const plane = g.size * g.size;
  const out = new Uint8Array(sliceCount(g) * plane);
  for (let s = 0; s < sliceCount(g); s++) {
    const i = g.range[0] + s, base = s * plane;
    for (let p = 0; p < plane; p++) out[base + p] = (data[(offsets[p] ?? 0) + i] ?? 0) > 0 ? 1 : 0;
  }
  return out;
}

/**
 * Inverse of the preprocessing for predictions: [S, size, size] slices back to a file-order array of
 * nx*ny*nz voxels (same array type as `pred`). Voxels outside the slice range, or cropped away by a
 * size smaller than the slice, are 0; padded pixels are dropped.
 */
export function toOriginalGrid<T extends Uint8Array | Float32Array>(pred: T, g: SliceGeometry): T {
  const [nx, ny, nz] = g.dims;
  const { size, top, left } = g;
  const plane = size * size;
  if (pred.length !== sliceCount(g) * plane) {
    throw new ConvLoraError('E_SHAPE', `Expected [${sliceCount(g)}, ${size}, ${size}] = ${sliceCount(g) * plane} predicted values but received ${pred.length}`);
  }
  const out = (pred instanceof Uint8Array ? new Uint8Array(nx * ny * nz) : new Float32Array(nx * ny * nz)) as T;
  for (let k = 0; k < nz; k++) {
    const r = nz - 1 - k + top;
    if (r < 0 || r >= size) continue;
    for (let j = 0; j < ny; j++) {
      const c = j + left;
      if (c < 0 || c >= size) continue;
      const row = nx * (j + ny * k), src = r * size + c;
      for (let s = 0; s < sliceCount(g); s++) out[row + g.range[0] + s] = pred[s * plane + src] ?? 0;
    }
  }
  return out;
}
