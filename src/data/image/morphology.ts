/**
 * Binary-volume helpers for deriving anatomy from real scans: hole filling, the largest connected
 * component and an exact Euclidean distance map. Volumes are file order (x fastest), dims [nx, ny, nz],
 * masks hold 0 or 1. Connectivity is 6 (face neighbours) throughout.
 */
import { ConvLoraError } from '../../errors.js';
import { squaredEdt } from '../../geometry/edt.js';

type Dims = readonly [number, number, number];

function checkMask(name: string, mask: ArrayLike<number>, dims: Dims): number {
  const n = dims[0] * dims[1] * dims[2];
  if (mask.length !== n) throw new ConvLoraError('E_SHAPE', `Expected ${n} voxels in \`${name}\` for dims [${dims.join(', ')}] but received ${mask.length}`);
  return n;
}

/**
 * Label with `id` every unlabelled voxel 6-connected to the seeds through voxels where `open` is 1;
 * returns how many were labelled. An explicit stack instead of recursion: a head has millions of voxels.
 */
function flood(open: Uint8Array, dims: Dims, seeds: Iterable<number>, label: Int32Array, id: number, stack: Int32Array): number {
  const [nx, ny] = dims;
  const plane = nx * ny, nz = dims[2];
  let top = 0, count = 0;
  const push = (v: number): void => { if (open[v] === 1 && label[v] === 0) { label[v] = id; stack[top++] = v; count++; } };
  for (const s of seeds) push(s);
  while (top > 0) {
    const v = stack[--top]!;
    const i = v % nx, j = Math.floor(v / nx) % ny, k = Math.floor(v / plane);
    if (i > 0) push(v - 1);
    if (i < nx - 1) push(v + 1);
    if (j > 0) push(v - nx);
    if (j < ny - 1) push(v + nx);
    if (k > 0) push(v - plane);
    if (k < nz - 1) push(v + plane);
  }
  return count;
}

/** The voxel indices on the six faces of the volume. */
function* border(dims: Dims): Generator<number> {
  const [nx, ny, nz] = dims;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      const row = nx * (j + ny * k);
      if (k === 0 || k === nz - 1 || j === 0 || j === ny - 1) {
        for (let i = 0; i < nx; i++) yield row + i;
      } else {
        yield row;
        if (nx > 1) yield row + nx - 1;
      }
    }
  }
}

/** Fill holes: every background voxel not 6-connected to the volume's border becomes foreground. */
export function fillHoles(mask: Uint8Array, dims: Dims): Uint8Array {
  const n = checkMask('mask', mask, dims);
  const background = new Uint8Array(n);
  for (let v = 0; v < n; v++) background[v] = mask[v] === 0 ? 1 : 0;
  const outside = new Int32Array(n);
  flood(background, dims, border(dims), outside, 1, new Int32Array(n));
  const out = new Uint8Array(n);
  for (let v = 0; v < n; v++) out[v] = outside[v] === 1 ? 0 : 1;
  return out;
}

/** The largest 6-connected component of `mask` (ties: the one met first in file order); empty in, empty out. */
export function largestComponent(mask: Uint8Array, dims: Dims): Uint8Array {
  const n = checkMask('mask', mask, dims);
  const label = new Int32Array(n), stack = new Int32Array(n);
  let id = 0, best = 0, bestSize = 0;
  for (let v = 0; v < n; v++) {
    if (mask[v] !== 1 || label[v] !== 0) continue;
    const size = flood(mask, dims, [v], label, ++id, stack);
    if (size > bestSize) { best = id; bestSize = size; }
  }
  const out = new Uint8Array(n);
  if (best > 0) for (let v = 0; v < n; v++) out[v] = label[v] === best ? 1 : 0;
  return out;
}

/** Sizes (voxels) of the 6-connected components of `mask`, largest first; empty mask: []. */
export function componentSizes(mask: Uint8Array, dims: Dims): number[] {
  const n = checkMask('mask', mask, dims);
  const label = new Int32Array(n), stack = new Int32Array(n);
  const sizes: number[] = [];
  for (let v = 0; v < n; v++) {
    if (mask[v] !== 1 || label[v] !== 0) continue;
    sizes.push(flood(mask, dims, [v], label, sizes.length + 1, stack));
  }
  return sizes.sort((a, b) => b - a);
}

/** Whether any voxel of `mask` lies on one of the volume's six faces. */
export function touchesBorder(mask: Uint8Array, dims: Dims): boolean {
  checkMask('mask', mask, dims);
  for (const v of border(dims)) if (mask[v] === 1) return true;
  return false;
}

/**
 * Euclidean distance (mm) from every voxel centre to the nearest voxel centre where `mask` is 1
 * (0 on the mask; Infinity everywhere when the mask is empty). `spacing` is the voxel size in mm.
 * [nx * ny * nz] Float32Array. The exact transform of geometry/edt.ts, which the surface metrics use too:
 * a file-order volume is a C-order grid of shape [nz, ny, nx].
 */
export function distanceMap(mask: Uint8Array, dims: Dims, spacing: readonly [number, number, number]): Float32Array {
  checkMask('mask', mask, dims);
  const [nx, ny, nz] = dims;
  const feature = Uint8Array.from(mask, (v) => (v === 1 ? 1 : 0)); // only 1 is the mask (squaredEdt takes any nonzero)
  const squared = squaredEdt(feature, [nz, ny, nx], [spacing[2], spacing[1], spacing[0]]);
  return Float32Array.from(squared, (d) => Math.sqrt(d));
}

/**
 * A brain mask as brain-extraction tools define it: one object without enclosed cavities. Keeps the
 * largest 6-connected component (HD-BET and ROBEX keep the largest component too), then fills every
 * background region the volume's border cannot reach. Empty in, empty out.
 */
export function cleanBrainMask(mask: Uint8Array, dims: Dims): Uint8Array {
  return fillHoles(largestComponent(mask, dims), dims);
}
