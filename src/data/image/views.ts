/**
 * Slicing a volume along each of its three axes ("views"): a 2D network trained on slices of all three
 * and run along each, with the three probability maps averaged, sees every voxel in three planes (as
 * the multi-planar U-Net of Perslev et al. 2019 does). View v slices along axis VIEW_ORDERS[v][0] of a
 * volume in the model's orientation: view 0 is the slicing every model of this project used (axis 0;
 * sagittal in RAS), view 1 axis 1 (coronal), view 2 axis 2 (axial). The permuted volume is then sliced
 * along its axis 0 by preprocess.ts as before.
 * Volumes are [nx, ny, nz], x fastest.
 */
import { ConvLoraError } from '../../errors.js';

/** For each view: the source axis that becomes axis 0, 1, 2 of the permuted volume. */
export const VIEW_ORDERS: readonly (readonly [number, number, number])[] = [[0, 1, 2], [1, 0, 2], [2, 0, 1]];

/** Number of views a model may be trained on: 1 (axis 0 only) or 3. */
export const VIEW_COUNTS = [1, 3] as const;
export type ViewCount = typeof VIEW_COUNTS[number];

export function checkViewCount(name: string, v: unknown): ViewCount {
  if (v !== 1 && v !== 3) throw new ConvLoraError('E_INVALID_ARG', `Expected 1 or 3 for \`${name}\` but received ${JSON.stringify(v)}`);
  return v;
}

/** Dims of view `view` of a volume with dims `dims`. */
export function viewDims(dims: readonly number[], view: number): [number, number, number] {
  const o = VIEW_ORDERS[view];
  if (o === undefined) throw new ConvLoraError('E_INVALID_ARG', `Expected a view of 0, 1 or 2 but received ${view}`);
  return [dims[o[0]]!, dims[o[1]]!, dims[o[2]]!];
}

type Voxels = Float32Array | Uint8Array | Uint16Array;

function permute<T extends Voxels>(data: T, dims: readonly number[], order: readonly number[], inverse: boolean): T {
  const [nx, ny, nz] = dims as [number, number, number];
  if (data.length !== nx * ny * nz) throw new ConvLoraError('E_SHAPE', `Expected ${nx * ny * nz} voxels for dims [${dims.join(', ')}] but received ${data.length}`);
  // Strides of the source axes; output index walks the permuted axes.
  const src = [1, nx, nx * ny];
  const pd = [dims[order[0]!]!, dims[order[1]!]!, dims[order[2]!]!];
  const s0 = src[order[0]!]!, s1 = src[order[1]!]!, s2 = src[order[2]!]!;
  const out = new (data.constructor as new (n: number) => T)(data.length);
  let o = 0;
  for (let k = 0; k < pd[2]!; k++) for (let j = 0; j < pd[1]!; j++) {
    let p = j * s1 + k * s2;
    for (let i = 0; i < pd[0]!; i++, o++, p += s0) {
      if (inverse) out[p] = data[o]!; else out[o] = data[p]!;
    }
  }
  return out;
}

/** View `view` of a volume: the data permuted so its slicing axis comes first (a copy; view 0 too). */
export function toView<T extends Voxels>(data: T, dims: readonly number[], view: number): T {
  viewDims(dims, view);
  return permute(data, dims, VIEW_ORDERS[view]!, false);
}

/** Back from view `view` (data with viewDims(dims, view)) to the volume's own axes, dims `dims`. */
export function fromView<T extends Voxels>(data: T, dims: readonly number[], view: number): T {
  viewDims(dims, view);
  return permute(data, dims, VIEW_ORDERS[view]!, true);
}
