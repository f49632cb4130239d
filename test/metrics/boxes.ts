/** Test helpers: synthetic masks in C order. */

/** A [d0, d1, d2] (or [d0, d1]) mask with the half-open box lo <= i < hi set to 1. */
export function boxMask(shape: readonly number[], lo: readonly number[], hi: readonly number[]): Uint8Array {
  const [n0, n1, n2] = shape.length === 3 ? shape : [1, shape[0] ?? 1, shape[1] ?? 1];
  const [a0, a1, a2] = lo.length === 3 ? lo : [0, lo[0] ?? 0, lo[1] ?? 0];
  const [b0, b1, b2] = hi.length === 3 ? hi : [1, hi[0] ?? 0, hi[1] ?? 0];
  const m = new Uint8Array((n0 ?? 1) * (n1 ?? 1) * (n2 ?? 1));
  for (let i = a0 ?? 0; i < (b0 ?? 0); i++) {
    for (let j = a1 ?? 0; j < (b1 ?? 0); j++) {
      for (let k = a2 ?? 0; k < (b2 ?? 0); k++) m[(i * (n1 ?? 1) + j) * (n2 ?? 1) + k] = 1;
    }
  }
  return m;
}

/** A ball of voxels whose centres lie within `radius` of voxel `centre` (unit voxel units). */
export function ballMask(shape: readonly [number, number, number], centre: readonly [number, number, number], radius: number): Uint8Array {
  const [n0, n1, n2] = shape;
  const m = new Uint8Array(n0 * n1 * n2);
  for (let i = 0; i < n0; i++) {
    for (let j = 0; j < n1; j++) {
      for (let k = 0; k < n2; k++) {
        const d2 = (i - centre[0]) ** 2 + (j - centre[1]) ** 2 + (k - centre[2]) ** 2;
        if (d2 <= radius * radius) m[(i * n1 + j) * n2 + k] = 1;
      }
    }
  }
  return m;
}

/** Deterministic PRNG (mulberry32) so property tests are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
