/**
 * Random spatial augmentation of a head and its label maps: one affine map about the volume's centre
 * (rotation about each axis, a scale per axis, a shift, and optionally a mirror of axis 0, left-right in
 * RAS), applied by pulling every output voxel from the input: trilinear for images, nearest for labels.
 * Output voxels that fall outside the input are 0 (air). Volumes are [nx, ny, nz], x fastest; the grid
 * is taken as isotropic (angles act on voxel axes), which the heads it is used on are.
 */
import { ConvLoraError } from '../../errors.js';
import type { Rng } from '../rng.js';

/** What was drawn: degrees about axes 0, 1, 2; scale per axis; shift in voxels; mirror of axis 0. */
export interface AffineDraw { rotation: [number, number, number]; scale: [number, number, number]; shift: [number, number, number]; mirror: boolean }

export interface AffineRanges {
  /** Largest rotation about each axis, degrees. Default 12 (head pose in scanners varies by about that much). */
  maxRotation?: number;
  /** Largest relative scale change per axis. Default 0.1 (head sizes vary by about +-10 % per axis). */
  maxScale?: number;
  /** Largest shift per axis, voxels. Default 5 (10 mm at 2 mm). */
  maxShift?: number;
  /** Probability of mirroring axis 0. Default 0.5 (the brain is near left-right symmetric). */
  mirror?: number;
}

/** Draw an affine augmentation from `rng` (uniform in each range). */
export function drawAffine(rng: Rng, o: AffineRanges = {}): AffineDraw {
  const r = o.maxRotation ?? 12, s = o.maxScale ?? 0.1, t = o.maxShift ?? 5;
  const u = (a: number): number => rng.uniform(-a, a);
  return {
    rotation: [u(r), u(r), u(r)], scale: [1 + u(s), 1 + u(s), 1 + u(s)], shift: [u(t), u(t), u(t)],
    mirror: rng.next() < (o.mirror ?? 0.5),
  };
}

/**
 * The output-to-input map as a 3 x 4 matrix (row-major): input = M [output; 1]. The forward map scales,
 * rotates (about axis 0, then 1, then 2) and shifts about the centre; this is its inverse.
 */
export function inverseAffine(d: AffineDraw, dims: readonly [number, number, number]): Float64Array {
  const rad = d.rotation.map((a) => (a * Math.PI) / 180);
  const rot = (axis: number, a: number): number[][] => {
    const c = Math.cos(a), s = Math.sin(a);
    const [i, j] = axis === 0 ? [1, 2] : axis === 1 ? [2, 0] : [0, 1];
    const m = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
    m[i]![i] = c; m[i]![j] = -s; m[j]![i] = s; m[j]![j] = c;
    return m;
  };
  const mul = (a: number[][], b: number[][]): number[][] => a.map((row) => [0, 1, 2].map((k) => row[0]! * b[0]![k]! + row[1]! * b[1]![k]! + row[2]! * b[2]![k]!));
  // Forward linear part F = R2 R1 R0 S (mirror in S); its inverse is S^-1 R0^T R1^T R2^T.
  const f = mul(rot(2, rad[2]!), mul(rot(1, rad[1]!), mul(rot(0, rad[0]!), [[d.scale[0] * (d.mirror ? -1 : 1), 0, 0], [0, d.scale[1], 0], [0, 0, d.scale[2]]])));
  const inv = invert3(f);
  const c = dims.map((n) => (n - 1) / 2);
  // input = inv (output - c - shift) + c
  const m = new Float64Array(12);
  for (let i = 0; i < 3; i++) {
    let off = c[i]!;
    for (let k = 0; k < 3; k++) {
      m[i * 4 + k] = inv[i]![k]!;
      off -= inv[i]![k]! * (c[k]! + d.shift[k]!);
    }
    m[i * 4 + 3] = off;
  }
  return m;
}

function invert3(a: number[][]): number[][] {
  const [[a0, a1, a2], [b0, b1, b2], [c0, c1, c2]] = a as [[number, number, number], [number, number, number], [number, number, number]];
  const det = a0 * (b1 * c2 - b2 * c1) - a1 * (b0 * c2 - b2 * c0) + a2 * (b0 * c1 - b1 * c0);
  if (Math.abs(det) < 1e-12) throw new ConvLoraError('E_INVALID_ARG', `Expected an invertible affine augmentation but received a determinant of ${det}`);
  const k = 1 / det;
  return [
    [(b1 * c2 - b2 * c1) * k, (a2 * c1 - a1 * c2) * k, (a1 * b2 - a2 * b1) * k],
    [(b2 * c0 - b0 * c2) * k, (a0 * c2 - a2 * c0) * k, (a2 * b0 - a0 * b2) * k],
    [(b0 * c1 - b1 * c0) * k, (a1 * c0 - a0 * c1) * k, (a0 * b1 - a1 * b0) * k],
  ];
}

function checkLength(n: number, dims: readonly number[]): void {
  if (n !== dims[0]! * dims[1]! * dims[2]!) throw new ConvLoraError('E_SHAPE', `Expected ${dims[0]! * dims[1]! * dims[2]!} voxels for dims [${dims.join(', ')}] but received ${n}`);
}

/** Trilinear pull of `data` through the output-to-input matrix `m` (inverseAffine); outside the input: 0. */
export function warpLinear(data: ArrayLike<number>, dims: readonly [number, number, number], m: Float64Array): Float32Array {
  checkLength(data.length, dims);
  const [nx, ny, nz] = dims, plane = nx * ny;
  const out = new Float32Array(data.length);
  const at = (x: number, y: number, z: number): number => (x < 0 || y < 0 || z < 0 || x >= nx || y >= ny || z >= nz ? 0 : data[x + nx * y + plane * z]!);
  let o = 0;
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) {
    let x = m[1]! * j + m[2]! * k + m[3]!, y = m[5]! * j + m[6]! * k + m[7]!, z = m[9]! * j + m[10]! * k + m[11]!;
    for (let i = 0; i < nx; i++, o++, x += m[0]!, y += m[4]!, z += m[8]!) {
      if (x <= -1 || y <= -1 || z <= -1 || x >= nx || y >= ny || z >= nz) continue;
      const x0 = Math.floor(x), y0 = Math.floor(y), z0 = Math.floor(z);
      const fx = x - x0, fy = y - y0, fz = z - z0;
      const c00 = at(x0, y0, z0) * (1 - fx) + at(x0 + 1, y0, z0) * fx;
      const c10 = at(x0, y0 + 1, z0) * (1 - fx) + at(x0 + 1, y0 + 1, z0) * fx;
      const c01 = at(x0, y0, z0 + 1) * (1 - fx) + at(x0 + 1, y0, z0 + 1) * fx;
      const c11 = at(x0, y0 + 1, z0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1, z0 + 1) * fx;
      out[o] = (c00 * (1 - fy) + c10 * fy) * (1 - fz) + (c01 * (1 - fy) + c11 * fy) * fz;
    }
  }
  return out;
}

/** Nearest-neighbour pull of a label volume through `m` (inverseAffine); outside the input: 0. Same array type out. */
export function warpNearest<T extends Uint8Array | Uint16Array>(data: T, dims: readonly [number, number, number], m: Float64Array): T {
  checkLength(data.length, dims);
  const [nx, ny, nz] = dims, plane = nx * ny;
  const out = (data instanceof Uint8Array ? new Uint8Array(data.length) : new Uint16Array(data.length)) as T;
  let o = 0;
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) {
    let x = m[1]! * j + m[2]! * k + m[3]!, y = m[5]! * j + m[6]! * k + m[7]!, z = m[9]! * j + m[10]! * k + m[11]!;
    for (let i = 0; i < nx; i++, o++, x += m[0]!, y += m[4]!, z += m[8]!) {
      const xi = Math.round(x), yi = Math.round(y), zi = Math.round(z);
      if (xi < 0 || yi < 0 || zi < 0 || xi >= nx || yi >= ny || zi >= nz) continue;
      out[o] = data[xi + nx * yi + plane * zi]!;
    }
  }
  return out;
}
