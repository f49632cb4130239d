// Trilinear resampling over a shared field of view. Expected values are derived by hand: new voxel i of
// n' sits at old index (i + 0.5) n / n' - 0.5 (clamped to the grid), and trilinear interpolation
// reproduces a linear function of the indices exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resampleLinear, resampledDims } from '../../../src/data/image/resample.js';
import { isCoded } from '../helpers.js';

test('grid sizes keep the extent', () => {
  assert.deepEqual(resampledDims([10, 20, 30], [1, 1, 1], [2, 2, 2]), [5, 10, 15]);
  assert.deepEqual(resampledDims([7, 256, 170], [2, 0.9375, 1.2], [4, 1, 1]), [4, 240, 204]); // 3.5 -> 4, 240, 204
  assert.deepEqual(resampledDims([1, 1, 1], [1, 1, 1], [5, 5, 5]), [1, 1, 1]);
  assert.throws(() => resampledDims([4, 4, 4], [1, 0, 1], [1, 1, 1]), isCoded('E_INVALID_ARG'));
});

test('a hand case: [0, 10] upsampled to four voxels', () => {
  // old positions -0.25, 0.25, 0.75, 1.25 -> clamped 0, 0.25, 0.75, 1
  assert.deepEqual([...resampleLinear(Float32Array.from([0, 10]), [2, 1, 1], [4, 1, 1])], [0, 2.5, 7.5, 10]);
  // and back down: new voxel 0 of 2 sits at old 0.5 (between 0 and 2.5), voxel 1 at 2.5 (between 7.5 and 10)
  assert.deepEqual([...resampleLinear(Float32Array.from([0, 2.5, 7.5, 10]), [4, 1, 1], [2, 1, 1])], [1.25, 8.75]);
});

test('linear functions of the index come out exact; the same grid is the identity', () => {
  const dims = [6, 5, 4];
  const f = (i: number, j: number, k: number): number => 2 * i + 3 * j - k + 0.5;
  const data = new Float32Array(6 * 5 * 4);
  for (let k = 0, o = 0; k < 4; k++) for (let j = 0; j < 5; j++) for (let i = 0; i < 6; i++, o++) data[o] = f(i, j, k);
  const pos = (i: number, n: number, m: number): number => Math.min(n - 1, Math.max(0, (i + 0.5) * (n / m) - 0.5));
  for (const out of [[11, 3, 8], [3, 9, 2], [6, 5, 4]]) {
    const r = resampleLinear(data, dims, out);
    assert.equal(r.length, out[0]! * out[1]! * out[2]!);
    for (let k = 0, o = 0; k < out[2]!; k++) for (let j = 0; j < out[1]!; j++) for (let i = 0; i < out[0]!; i++, o++) {
      const want = f(pos(i, 6, out[0]!), pos(j, 5, out[1]!), pos(k, 4, out[2]!));
      assert.ok(Math.abs(r[o]! - want) < 1e-4, `${out} at ${[i, j, k]}: ${r[o]} vs ${want}`);
    }
  }
  assert.deepEqual(resampleLinear(data, dims, dims), data);
  assert.ok(resampleLinear(Uint8Array.from([0, 255]), [2, 1, 1], [3, 1, 1]) instanceof Float32Array);
  assert.throws(() => resampleLinear(new Float32Array(3), dims, dims), isCoded('E_SHAPE'));
});
