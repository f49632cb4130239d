import { NEIGHBOUR_CODE_TO_NORMALS } from './normals-3d.js';

/**
 * Surfel area per 2x2x2 neighbourhood code for a given voxel spacing, in mm^2.
 *
 * Each marching-cubes triangle of a code has a normal n (length = area at unit spacing); scaling the
 * grid by spacing (s0, s1, s2) scales its area vector to (n0 s1 s2, n1 s0 s2, n2 s0 s1), whose length
 * is the triangle's area in mm^2. A code's area is the sum over its triangles. Codes 0 and 255
 * (all outside / all inside) have area 0.
 *
 * @param spacing mm per axis, in the same axis order as the volume (C order: axis 0 slowest).
 * @returns Float64Array(256) indexed by neighbourhood code.
 */
export function surfelAreaTable3d(spacing: readonly [number, number, number]): Float64Array {
  const [s0, s1, s2] = spacing;
  const table = new Float64Array(256);
  for (let code = 0; code < 256; code++) {
    let area = 0;
    for (const n of NEIGHBOUR_CODE_TO_NORMALS[code] ?? []) {
      area += Math.hypot(n[0] * s1 * s2, n[1] * s0 * s2, n[2] * s0 * s1);
    }
    table[code] = area;
  }
  return table;
}

/**
 * Contour length per 2x2 neighbourhood code for a given pixel spacing, in mm (2D marching squares).
 *
 * Code bits: pixel (a, b) of the cell, a/b in {0, 1} along axes 0/1, has weight 2^(3 - 2a - b), i.e.
 * the package's kernel [[8, 4], [2, 1]]. A contour that separates the two rows runs along axis 1
 * (length s1); one that separates the two columns runs along axis 0 (length s0); one that cuts off
 * a single corner joins two edge midpoints (length sqrt(s0^2 + s1^2) / 2); the two saddle codes
 * (diagonal pairs, 0b0110 and 0b1001) cut off two corners.
 *
 * @param spacing mm per axis [s0, s1].
 * @returns Float64Array(16) indexed by neighbourhood code.
 */
export function contourLengthTable2d(spacing: readonly [number, number]): Float64Array {
  const [s0, s1] = spacing;
  const diag = 0.5 * Math.hypot(s0, s1);
  const table = new Float64Array(16);
  for (const code of [0b0001, 0b0010, 0b0100, 0b1000, 0b1110, 0b1101, 0b1011, 0b0111]) table[code] = diag;
  table[0b0011] = s1; // bottom row inside, top row outside: contour parallel to axis 1
  table[0b1100] = s1;
  table[0b0101] = s0; // right column inside: contour parallel to axis 0
  table[0b1010] = s0;
  table[0b0110] = 2 * diag; // saddles: two corner cuts
  table[0b1001] = 2 * diag;
  return table;
}
