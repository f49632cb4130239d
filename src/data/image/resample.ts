/**
 * Axis-aligned trilinear resampling of 3D volumes (x fastest), for `segment --conform`: a scan is
 * brought to the voxel size the model was trained at and its prediction taken back to the scan's grid.
 *
 * Grids share their field of view: the new grid has n' = round(n * s / s') voxels per axis (at least 1)
 * and its voxel i' sits at old fractional index (i' + 0.5) * n / n' - 0.5, so the outer voxel edges
 * coincide. Values outside the old grid take the nearest edge voxel.
 */
import { ConvLoraError } from '../../errors.js';
import type { NiftiData } from '../nifti/codec.js';

/** Voxel counts of the grid with voxel size `to` covering the same extent as `dims` voxels of `from`. */
export function resampledDims(dims: readonly number[], from: readonly number[], to: readonly number[]): [number, number, number] {
  return [0, 1, 2].map((a) => {
    const n = dims[a] ?? 1, s = from[a] ?? 1, t = to[a] ?? 1;
    if (!(s > 0) || !(t > 0)) throw new ConvLoraError('E_INVALID_ARG', `Expected positive voxel sizes but received ${s} and ${t} on axis ${a}`);
    return Math.max(1, Math.round((n * s) / t));
  }) as [number, number, number];
}

/** Per output index along one axis: lower input index, upper input index and the weight of the upper. */
function axisTaps(nIn: number, nOut: number): { lo: Int32Array; hi: Int32Array; w: Float32Array } {
  const lo = new Int32Array(nOut), hi = new Int32Array(nOut), w = new Float32Array(nOut);
  const f = nIn / nOut;
  for (let i = 0; i < nOut; i++) {
    const x = Math.min(nIn - 1, Math.max(0, (i + 0.5) * f - 0.5));
    const l = Math.floor(x);
    lo[i] = l;
    hi[i] = Math.min(nIn - 1, l + 1);
    w[i] = x - l;
  }
  return { lo, hi, w };
}

/** Trilinear resampling of `data` (dims [nx, ny, nz]) onto `outDims` over the same extent; Float32Array out. */
export function resampleLinear(data: NiftiData, dims: readonly number[], outDims: readonly number[]): Float32Array {
  const [nx = 1, ny = 1, nz = 1] = dims;
  const [mx = 1, my = 1, mz = 1] = outDims;
  if (data.length !== nx * ny * nz) throw new ConvLoraError('E_SHAPE', `Expected ${nx * ny * nz} voxels for dims [${nx}, ${ny}, ${nz}] but received ${data.length}`);
  const tx = axisTaps(nx, mx), ty = axisTaps(ny, my), tz = axisTaps(nz, mz);
  const out = new Float32Array(mx * my * mz);
  const plane = nx * ny;
  let o = 0;
  for (let k = 0; k < mz; k++) {
    const z0 = tz.lo[k]! * plane, z1 = tz.hi[k]! * plane, wz = tz.w[k]!;
    for (let j = 0; j < my; j++) {
      const y0 = ty.lo[j]! * nx, y1 = ty.hi[j]! * nx, wy = ty.w[j]!;
      const a00 = z0 + y0, a01 = z0 + y1, a10 = z1 + y0, a11 = z1 + y1;
      for (let i = 0; i < mx; i++, o++) {
        const x0 = tx.lo[i]!, x1 = tx.hi[i]!, wx = tx.w[i]!;
        const c00 = data[a00 + x0]! + wx * (data[a00 + x1]! - data[a00 + x0]!);
        const c01 = data[a01 + x0]! + wx * (data[a01 + x1]! - data[a01 + x0]!);
        const c10 = data[a10 + x0]! + wx * (data[a10 + x1]! - data[a10 + x0]!);
        const c11 = data[a11 + x0]! + wx * (data[a11 + x1]! - data[a11 + x0]!);
        const c0 = c00 + wy * (c01 - c00), c1 = c10 + wy * (c11 - c10);
        out[o] = c0 + wz * (c1 - c0);
      }
    }
  }
  return out;
}
