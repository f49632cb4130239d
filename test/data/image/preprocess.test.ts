import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readNifti } from '../../../src/data/nifti/index.js';
import { clampRange, preprocessImage, preprocessMask, sliceCount, sliceGeometry, toOriginalGrid } from '../../../src/data/image/preprocess.js';
import { fixture, isCoded, readJson } from '../helpers.js';

/** File-order volume from a function of (i, j, k). */
function volume(dims: [number, number, number], f: (i: number, j: number, k: number) => number): Int16Array {
  const [nx, ny, nz] = dims;
  const out = new Int16Array(nx * ny * nz);
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) out[i + nx * (j + ny * k)] = f(i, j, k);
  return out;
}

test('hand-worked: crop slice 1 of a 2x3x2 volume, min-max, rot90 over (1, 2), edge-pad to 3x3, then to 5x5', () => {
  // V[1, j, k] = j + 3k; slice 0 holds 100s that must not enter the min-max (crop first).
  const data = volume([2, 3, 2], (i, j, k) => (i === 0 ? 100 : j + 3 * k));
  const g = sliceGeometry([2, 3, 2], [1, 1], 5);
  // np.rot90(., axes=(1, 2)): R[a, b] = V[1, b, nz-1-a] -> [[3, 4, 5], [0, 1, 2]] (2 x 3).
  // Square: h=2 < w=3, rows padded 0 before, 1 after (edge) -> [[3,4,5],[0,1,2],[0,1,2]].
  // To 5: 1 before, 1 after on both axes (edge).
  const expected = [
    [3, 3, 4, 5, 5],
    [3, 3, 4, 5, 5],
    [0, 0, 1, 2, 2],
    [0, 0, 1, 2, 2],
    [0, 0, 1, 2, 2],
  ].flat().map((v) => Math.fround(v / 5));
  assert.deepEqual(g, { dims: [2, 3, 2], range: [1, 1], height: 2, width: 3, size: 5, top: 1, left: 1 });
  assert.deepEqual(Array.from(preprocessImage(data, g)), expected);
  assert.deepEqual(Array.from(preprocessMask(data, g)), expected.map((v) => (v > 0 ? 1 : 0)));
});

test('hand-worked: np.rot90 of [[1, 2], [3, 4]] is [[2, 4], [1, 3]] (one slice, no padding, no scaling of 0..1 values)', () => {
  // One slice (nx = 1): m[j][k] = V[0, j, k]; m = [[1, 2], [3, 4]] means V(j, k) = 1 + 2j + k.
  const data = Float32Array.from(volume([1, 2, 2], (_i, j, k) => 1 + 2 * j + k));
  const out = preprocessImage(data, sliceGeometry([1, 2, 2], [0, 0], 2));
  assert.deepEqual(Array.from(out), [2, 4, 1, 3].map((v) => Math.fround((v - 1) / 3)));
});

test('hand-worked: a size smaller than the slice centre-crops (start floor-split like the padding)', () => {
  // One 3 x 3 slice, V(j, k) = 10j + k, rotated R[a, b] = V(b, 2 - a). Size 2 < 3: the offset is
  // floor((2 - 3) / 2) = -1, so output (r, c) reads R[r + 1, c + 1] (one row/column cropped before).
  const data = volume([1, 3, 3], (_i, j, k) => 10 * j + k);
  const g = sliceGeometry([1, 3, 3], [0, 0], 2);
  assert.equal(g.top, -1);
  assert.equal(g.left, -1);
  const r = (a: number, b: number): number => 10 * b + (2 - a);
  const expected = [r(1, 1), r(1, 2), r(2, 1), r(2, 2)].map((v) => Math.fround(v / 22));
  assert.deepEqual(Array.from(preprocessImage(data, g)), expected);
});

interface Tiny { dims: [number, number, number]; range: [number, number]; size: number; input: number[]; shape: number[]; output: number[] }
interface Real { name: string; range: [number, number]; size: number; shape: number[]; imageSliceSums: number[]; maskSliceSums: number[]; imageCentre: number[] }
const np = readJson<{ tiny: Tiny[]; real: Real[] }>('preprocess', 'numpy-expected.json');

test('matches the numpy reference (crop, MinMax, np.rot90 axes (1,2), np.pad edge) on tiny volumes', () => {
  for (const t of np.tiny) {
    const g = sliceGeometry(t.dims, t.range, t.size);
    const out = preprocessImage(Int16Array.from(t.input), g);
    assert.deepEqual([sliceCount(g), t.size, t.size], t.shape, JSON.stringify(t.dims));
    t.output.forEach((v, i) => assert.ok(Math.abs(out[i]! - v) < 1e-6, `${JSON.stringify(t.dims)} pixel ${i}: ${out[i]} vs ${v}`));
  }
});

test('matches the numpy reference on the real fixtures (per-slice sums, mask counts, centre samples)', async () => {
  for (const r of np.real) {
    const img = await readNifti(fixture('real', `${r.name}_t1.nii.gz`));
    const mask = await readNifti(fixture('real', `${r.name}_brainmask.nii.gz`));
    const g = sliceGeometry(img.dims, r.range, r.size);
    const x = preprocessImage(img.data, g), m = preprocessMask(mask.data, g);
    assert.deepEqual([sliceCount(g), r.size, r.size], r.shape);
    const plane = r.size * r.size;
    r.imageSliceSums.forEach((s, i) => {
      let sum = 0;
      for (let p = 0; p < plane; p++) sum += x[i * plane + p]!;
      assert.ok(Math.abs(sum - s) <= 1e-4 * Math.max(1, s), `${r.name} slice ${i}: ${sum} vs ${s}`);
    });
    r.maskSliceSums.forEach((s, i) => assert.equal(m.subarray(i * plane, (i + 1) * plane).reduce((a, b) => a + b, 0), s, `${r.name} mask slice ${i}`));
    const mid = Math.floor(r.shape[0]! / 2) * plane;
    r.imageCentre.forEach((v, q) => assert.ok(Math.abs(x[mid + q * 97]! - v) < 1e-6, `${r.name} centre sample ${q}`));
  }
});

test('toOriginalGrid inverts the preprocessing of a mask (padding dropped, outside the range zero)', async () => {
  const mask = await readNifti(fixture('real', 'itk-head_brainmask.nii.gz'));
  for (const [range, size] of [[[5, 60], 64], [[0, 63], 80], [[10, 20], 56]] as [[number, number], number][]) {
    const g = sliceGeometry(mask.dims, range, size);
    const back = toOriginalGrid(preprocessMask(mask.data, g), g);
    const [nx, ny] = mask.dims as [number, number];
    let kept = 0;
    for (let idx = 0; idx < back.length; idx++) {
      const i = idx % nx, j = Math.floor(idx / nx) % ny, k = Math.floor(idx / (nx * ny));
      // A size below the rotated slice (62 x 64) crops rows/columns; those voxels come back 0.
      const r = mask.dims[2]! - 1 - k + g.top, c = j + g.left;
      const inside = i >= range[0] && i <= range[1] && r >= 0 && r < size && c >= 0 && c < size;
      const want = inside && mask.data[idx]! > 0 ? 1 : 0;
      assert.equal(back[idx], want, `voxel ${i},${j},${k} (range ${range}, size ${size})`);
      kept += want;
    }
    assert.ok(kept > 1000, 'the mask is not trivially empty');
  }
  const probs = Float32Array.from({ length: 2 * 4 * 4 }, (_, q) => q / 32);
  const g = sliceGeometry([3, 4, 4], [1, 2], 4);
  const back = toOriginalGrid(probs, g);
  assert.ok(back instanceof Float32Array);
  assert.equal(back[1 + 3 * (0 + 4 * 3)], probs[0], 'voxel (1, 0, 3) is slice 0 pixel (0, 0)');
  assert.throws(() => toOriginalGrid(new Uint8Array(5), g), isCoded('E_SHAPE', undefined, /\[2, 4, 4\] = 32 predicted values but received 5/));
});

test('slice ranges are clamped to the volume; a range outside it, or reversed, is a coded error', () => {
  assert.deepEqual(clampRange([25, 175], 64), [25, 63]);
  assert.deepEqual(clampRange([-3, 10], 64), [0, 10]);
  assert.throws(() => clampRange([60, 195], 48, 'x.nii.gz'), isCoded('E_DATA', undefined, /\[60, 195\] lies outside x\.nii\.gz, whose axis 0 has 48 slices/));
  assert.throws(() => clampRange([5, 4], 10), isCoded('E_INVALID_ARG', undefined, /received \[5, 4\]/));
  assert.throws(() => sliceGeometry([4, 4, 4, 2], [0, 1], 8), isCoded('E_SHAPE', undefined, /\[4, 4, 4, 2\]/));
  assert.equal(sliceGeometry([4, 4, 4, 1], [0, 1], 8).size, 8, 'trailing unit dims are fine');
});

test('a constant volume scales to zeros (as sklearn MinMaxScaler), not NaN', () => {
  const out = preprocessImage(new Int16Array(27).fill(7), sliceGeometry([3, 3, 3], [0, 2], 4));
  assert.ok(out.every((v) => v === 0));
});
