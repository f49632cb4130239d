/**
 * Binary masks, their bounding box, and the 2x2(x2) neighbourhood code of every voxel corner: the
 * "surface elements" of DeepMind's surface-distance definition.
 */

/** A mask as given by callers: any typed array or number[] in C order; entries > 0 are foreground (NaN is background). */
export type MaskData = ArrayLike<number>;

/** Inclusive voxel bounding box, per axis (same axis order as the shape). */
export interface BoundingBox {
  readonly min: readonly number[];
  readonly max: readonly number[];
}

/** A binarized mask with its foreground count and bounding box. */
export interface BinaryMask {
  /** 1 = foreground, 0 = background; C order, same shape as the source. */
  readonly mask: Uint8Array;
  /** Number of foreground voxels. */
  readonly count: number;
  /** Bounding box of the foreground; null when the mask is empty. */
  readonly box: BoundingBox | null;
}

/**
 * Threshold `data > 0` into a Uint8Array, counting the foreground and finding its bounding box.
 *
 * @param data  C-order mask of length prod(shape).
 * @param shape [d0, d1] or [d0, d1, d2]; the length is not checked here.
 */
export function binarize(data: MaskData, shape: readonly number[]): BinaryMask {
  // A 2D mask is a single plane of a 3D one: [1, d0, d1].
  const [n0, n1, n2] = shape.length === 3 ? (shape as [number, number, number]) : [1, shape[0] ?? 1, shape[1] ?? 1];
  const mask = new Uint8Array(n0 * n1 * n2);
  let count = 0;
  const min = [Infinity, Infinity, Infinity];
  const max = [-1, -1, -1];
  for (let i0 = 0; i0 < n0; i0++) {
    for (let i1 = 0; i1 < n1; i1++) {
      const row = (i0 * n1 + i1) * n2;
      let first = -1;
      let last = -1;
      for (let i2 = 0; i2 < n2; i2++) {
        if ((data[row + i2] as number) > 0) {
          mask[row + i2] = 1;
          if (first < 0) first = i2;
          last = i2;
        }
      }
      if (first < 0) continue;
      for (let i2 = first; i2 <= last; i2++) count += mask[row + i2] as number;
      if (i0 < (min[0] as number)) min[0] = i0;
      max[0] = i0;
      if (i1 < (min[1] as number)) min[1] = i1;
      if (i1 > (max[1] as number)) max[1] = i1;
      if (first < (min[2] as number)) min[2] = first;
      if (last > (max[2] as number)) max[2] = last;
    }
  }
  if (count === 0) return { mask, count, box: null };
  const box = shape.length === 3 ? { min, max } : { min: min.slice(1), max: max.slice(1) };
  return { mask, count, box };
}

/** The smallest box holding both boxes; null when both are null. */
export function unionBox(a: BoundingBox | null, b: BoundingBox | null): BoundingBox | null {
  if (a === null) return b;
  if (b === null) return a;
  return {
    min: a.min.map((v, i) => Math.min(v, b.min[i] as number)),
    max: a.max.map((v, i) => Math.max(v, b.max[i] as number)),
  };
}

/**
 * Neighbourhood code of every voxel corner inside the bounding box.
 *
 * The corner grid has shape [m0 + 1, m1 + 1(, m2 + 1)] for a box of extent m_i voxels: corner p sits
 * between box voxels p - 1 and p on each axis (voxels outside the box count as background), so
 * every corner touching the foreground is present. In 3D the corner's code sums 2^(7 - 4a - 2b - c)
 * over its foreground voxels (p0 - 1 + a, p1 - 1 + b, p2 - 1 + c); in 2D it sums 2^(3 - 2a - b).
 * Codes other than 0 and all-ones (15 / 255) mark surface corners.
 *
 * @param mask  binary mask (0/1) of shape `shape`, C order.
 * @param box   a box holding all of the mask's foreground.
 * @returns codes (Uint8Array, C order over the corner grid), the corner grid shape, and the flat
 *   indices of the surface corners in ascending order.
 */
export function neighbourCodes(
  mask: Uint8Array,
  shape: readonly number[],
  box: BoundingBox,
): { codes: Uint8Array; cornerShape: number[]; surface: Int32Array } {
  const is3d = shape.length === 3;
  const [n1, n2] = is3d ? [shape[1] ?? 1, shape[2] ?? 1] : [shape[0] ?? 1, shape[1] ?? 1];
  const [lo0, hi0] = is3d ? [box.min[0] as number, box.max[0] as number] : [0, 0];
  const [lo1, hi1] = [box.min[is3d ? 1 : 0] as number, box.max[is3d ? 1 : 0] as number];
  const [lo2, hi2] = [box.min[is3d ? 2 : 1] as number, box.max[is3d ? 2 : 1] as number];
  const c1 = hi1 - lo1 + 2;
  const c2 = hi2 - lo2 + 2;
  const plane = c1 * c2;
  const surface = new IndexList(1 << 12);
  if (!is3d) {
    const codes = new Uint8Array(plane);
    planeCodes(mask, 0, n1, n2, lo1, hi1, lo2, hi2, codes);
    for (let i = 0; i < plane; i++) if (codes[i] !== 0 && codes[i] !== 15) surface.push(i);
    return { codes, cornerShape: [c1, c2], surface: surface.toArray() };
  }
  const c0 = hi0 - lo0 + 2;
  const codes = new Uint8Array(c0 * plane);
  // prev/cur: 4-bit in-plane codes of voxel planes p0 - 1 (a = 0) and p0 (a = 1).
  let prev = new Uint8Array(plane);
  let cur = new Uint8Array(plane);
  for (let p0 = 0; p0 < c0; p0++) {
    const v0 = lo0 + p0; // voxel plane a = 1 of corner plane p0
    if (v0 <= hi0) planeCodes(mask, v0, n1, n2, lo1, hi1, lo2, hi2, cur);
    else cur.fill(0);
    const out = p0 * plane;
    for (let i = 0; i < plane; i++) {
      const code = ((prev[i] as number) << 4) | (cur[i] as number);
      codes[out + i] = code;
      if (code !== 0 && code !== 255) surface.push(out + i);
    }
    [prev, cur] = [cur, prev];
  }
  return { codes, cornerShape: [c0, c1, c2], surface: surface.toArray() };
}

/** A growable list of indices. */
class IndexList {
  private data: Int32Array;
  private length = 0;

  constructor(capacity: number) {
    this.data = new Int32Array(capacity);
  }

  push(i: number): void {
    if (this.length === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = i;
  }

  toArray(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

/**
 * 4-bit codes of the corners of one voxel plane v0 over the box: bit 2^(3 - 2b - c) for voxel
 * (v0, p1 - 1 + b, p2 - 1 + c). Written to `out` as [c1, c2].
 */
function planeCodes(
  mask: Uint8Array,
  v0: number,
  n1: number,
  n2: number,
  lo1: number,
  hi1: number,
  lo2: number,
  hi2: number,
  out: Uint8Array,
): void {
  const c1 = hi1 - lo1 + 2;
  const c2 = hi2 - lo2 + 2;
  for (let p1 = 0; p1 < c1; p1++) {
    const va = lo1 + p1 - 1; // the voxel row with b = 0; b = 1 is the next
    const ra = va >= lo1 ? (v0 * n1 + va) * n2 + lo2 : -1;
    const rb = va + 1 <= hi1 ? (v0 * n1 + va + 1) * n2 + lo2 : -1;
    const o = p1 * c2;
    let leftA = 0; // voxels (b, c = 0), carried over from the previous corner
    let leftB = 0;
    for (let p2 = 0; p2 < c2 - 1; p2++) {
      const a = ra >= 0 ? (mask[ra + p2] as number) : 0;
      const b = rb >= 0 ? (mask[rb + p2] as number) : 0;
      out[o + p2] = (leftA << 3) | (a << 2) | (leftB << 1) | b;
      leftA = a;
      leftB = b;
    }
    out[o + c2 - 1] = (leftA << 3) | (leftB << 1); // the last corner: its c = 1 voxels lie outside the box
  }
}
