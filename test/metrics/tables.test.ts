import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contourLengthTable2d, NEIGHBOUR_CODE_TO_NORMALS, surfelAreaTable3d } from '../../src/metrics/index.js';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test('normals table: 256 codes, the empty and full cells have no surface', () => {
  assert.equal(NEIGHBOUR_CODE_TO_NORMALS.length, 256);
  assert.deepEqual(NEIGHBOUR_CODE_TO_NORMALS[0], [[0, 0, 0]]);
  assert.deepEqual(NEIGHBOUR_CODE_TO_NORMALS[255], [[0, 0, 0]]);
});

test('normals table: code c and its complement 255 - c cut the cell by the same triangles', () => {
  // The surface between inside and outside does not change when the two swap, so the two
  // entries must list the same normals up to sign. Each pair was transcribed separately, so
  // this also catches a slip in either copy.
  const key = (c: number): string =>
    (NEIGHBOUR_CODE_TO_NORMALS[c] ?? []).map((n) => n.map((x) => Math.abs(x)).join(',')).sort().join(';');
  for (let c = 0; c < 256; c++) assert.equal(key(c), key(255 - c), `code ${c}`);
});

test('normals table: every normal component is a multiple of 1/8 with at most 1/2', () => {
  for (const normals of NEIGHBOUR_CODE_TO_NORMALS) {
    for (const n of normals) for (const x of n) assert.ok(Number.isInteger(x * 8) && Math.abs(x) <= 0.5, String(n));
  }
});

test('surfel areas scale with the spacing of the two axes spanning each triangle', () => {
  const [s0, s1, s2] = [2, 3, 5];
  const a = surfelAreaTable3d([s0, s1, s2]);
  assert.equal(a[0], 0);
  assert.equal(a[255], 0);
  // Code 15 = voxels (1, *, *) inside, (0, *, *) outside: a flat face perpendicular to axis 0 whose
  // corner cell is s1 x s2 (two triangles with normal (1/2, 0, 0) at unit spacing).
  close(a[15] as number, s1 * s2);
  // Code 85 = 64 + 16 + 4 + 1: voxels with c = 1 inside -> face perpendicular to axis 2, s0 x s1.
  close(a[85] as number, s0 * s1);
  // Code 1 = a single voxel (1, 1, 1): one corner triangle with normal (1, 1, 1) / 8, whose area
  // vector at spacing s is (s1 s2, s0 s2, s0 s1) / 8.
  close(a[1] as number, Math.hypot(s1 * s2, s0 * s2, s0 * s1) / 8);
  // Code 3 = voxels (1, 1, 0) and (1, 1, 1): an edge along axis 2; two triangles with normals
  // (1/4, 1/4, 0): area 2 * |(s1 s2, s0 s2, 0)| / 4 = s2 * hypot(s0, s1) / 2.
  close(a[3] as number, (s2 * Math.hypot(s0, s1)) / 2);
});

test('contour lengths: axis-aligned runs take that axis spacing, corner cuts half the diagonal', () => {
  const [s0, s1] = [2, 3];
  const t = contourLengthTable2d([s0, s1]);
  const half = Math.hypot(s0, s1) / 2;
  const expected = [0, half, half, s1, half, s0, 2 * half, half, half, 2 * half, s0, half, s1, half, half, 0];
  // 0b0011: bottom row inside -> runs along axis 1 (s1); 0b0101: right column inside -> along axis 0.
  assert.deepEqual([...t], expected);
});
