import assert from 'node:assert/strict';
import { test } from 'node:test';
import { squaredEdt } from '../../src/geometry/edt.js';
import { squaredEdtAt } from '../../src/geometry/edt.js';
import { squaredDistancesNear } from '../../src/metrics/nearest.js';
import { rng } from '../metrics/boxes.js';

/** Brute force: min over features of the squared spacing-scaled distance. */
function bruteForce(feature: Uint8Array, shape: number[], spacing: number[]): Float64Array {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const coords = (flat: number): number[] => strides.map((s, i) => Math.floor(flat / s) % (shape[i] ?? 1));
  const feats = [...feature.keys()].filter((i) => feature[i] === 1).map(coords);
  const out = new Float64Array(feature.length).fill(Infinity);
  for (let i = 0; i < feature.length; i++) {
    const c = coords(i);
    for (const f of feats) {
      const d = c.reduce((acc, x, k) => acc + ((x - (f[k] ?? 0)) * (spacing[k] ?? 1)) ** 2, 0);
      if (d < (out[i] as number)) out[i] = d;
    }
  }
  return out;
}

test('1D: squared distance to the single feature, in mm', () => {
  const f = new Uint8Array([0, 0, 1, 0, 0, 0]);
  // Points sit at i * 0.5 mm; the feature at 1 mm.
  assert.deepEqual([...squaredEdt(f, [6], [0.5])], [1, 0.25, 0, 0.25, 1, 2.25]);
});

test('no feature: every distance is Infinity', () => {
  const d = squaredEdt(new Uint8Array(12), [3, 4], [1, 1]);
  assert.ok(d.every((x) => x === Infinity));
});

test('2D anisotropic: the nearer feature depends on the spacing', () => {
  // Features at (0, 0) and (2, 3) in a [3, 4] grid with spacing [2, 0.5]: point (2, 0) is
  // 4 mm from (0, 0) but 1.5 mm from (2, 3), so its squared distance is 2.25.
  const f = new Uint8Array(12);
  f[0] = 1;
  f[2 * 4 + 3] = 1;
  const d = squaredEdt(f, [3, 4], [2, 0.5]);
  assert.equal(d[2 * 4 + 0], 2.25);
  assert.equal(d[1 * 4 + 0], 4); // (1, 0): 2 mm from (0, 0), sqrt(4 + 2.25) from (2, 3)
});

test('random 1D/2D/3D grids match brute force exactly', () => {
  const r = rng(7);
  const shapes = [[17], [9, 13], [5, 7, 6], [1, 8, 3], [6, 1, 5], [4, 4, 1]];
  for (const shape of shapes) {
    for (let trial = 0; trial < 4; trial++) {
      const n = shape.reduce((a, b) => a * b, 1);
      const feature = new Uint8Array(n);
      const density = [0.02, 0.1, 0.4, 0][trial] ?? 0;
      for (let i = 0; i < n; i++) feature[i] = r() < density ? 1 : 0;
      const spacing = shape.map(() => 0.4 + 1.6 * r());
      const expected = bruteForce(feature, shape, spacing);
      const got = squaredEdt(feature, shape, spacing);
      for (let i = 0; i < n; i++) {
        const e = expected[i] as number;
        const g = got[i] as number;
        assert.ok(e === g || Math.abs(e - g) <= 1e-9 * e, `shape ${shape} point ${i}: ${g} != ${e}`);
      }
      const queries = Int32Array.from([...Array(n).keys()].filter((i) => i % 3 !== 1));
      const at = squaredEdtAt(feature, shape, spacing, queries);
      queries.forEach((q, k) => assert.equal(at[k], got[q]));
    }
  }
});

test('squaredEdtAt rejects queries out of range or out of order, naming the value', () => {
  const f = new Uint8Array([1, 0, 0, 0]);
  assert.throws(() => squaredEdtAt(f, [2, 2], [1, 1], Int32Array.from([0, 4])), {
    code: 'E_INVALID_ARG',
    message: 'Expected an ascending index in [0, 4) for `queries[1]` but received 4',
  });
  assert.throws(() => squaredEdtAt(f, [2, 2], [1, 1], Int32Array.from([2, 1])), /`queries\[1\]` but received 1/);
  assert.throws(() => squaredEdt(f, [2, 2], [1, 0]), /Expected 2 finite numbers > 0 \(mm per axis\) for `spacing` but received \[1, 0\]/);
});

test('neighbourhood search: exact within the radius, NaN beyond, null past the miss budget', () => {
  // One row of 10 corners, 0.5 mm apart; the only surface corner (code 1) is corner 0.
  const codes = new Uint8Array(10);
  codes[0] = 1;
  codes[5] = 255; // all-inside: not a surface corner
  const queries = Int32Array.from([3, 5, 9]);
  const r = squaredDistancesNear(codes, 255, [1, 1, 10], [1, 1, 0.5], queries, 2, 5);
  // Corner 3 is 1.5 mm away; corner 5 is 2.5 mm, corner 9 4.5 mm: beyond 2 mm.
  assert.deepEqual([...(r?.sq ?? [])], [2.25, NaN, NaN]);
  assert.equal(r?.misses, 2);
  assert.equal(squaredDistancesNear(codes, 255, [1, 1, 10], [1, 1, 0.5], queries, 2, 1), null);
  // 2D grids are [rows, cols] with their own spacing.
  const r2 = squaredDistancesNear(Uint8Array.from([0, 0, 1, 0]), 15, [2, 2], [3, 4], Int32Array.from([0, 1]), 5, 0);
  // Corner (0, 0) is 3 mm above (1, 0); corner (0, 1) is hypot(3, 4) = 5 mm from it.
  assert.deepEqual([...(r2?.sq ?? [])], [9, 25]);
});
