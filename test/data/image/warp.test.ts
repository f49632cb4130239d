import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drawAffine, inverseAffine, warpLinear, warpNearest, type AffineDraw } from '../../../src/data/image/warp.js';
import { Rng } from '../../../src/data/rng.js';

const ID: AffineDraw = { rotation: [0, 0, 0], scale: [1, 1, 1], shift: [0, 0, 0], mirror: false };
const dims: [number, number, number] = [6, 5, 4];
const ramp = Float32Array.from({ length: 120 }, (_, i) => i);

test('the identity draw maps every voxel onto itself, for images and labels', () => {
  const m = inverseAffine(ID, dims);
  assert.deepEqual(Array.from(warpLinear(ramp, dims, m)), Array.from(ramp));
  const labels = Uint16Array.from(ramp);
  assert.deepEqual(warpNearest(labels, dims, m), labels);
});

test('a shift of one voxel along axis 0 moves the content by one voxel; what enters from outside is 0', () => {
  const m = inverseAffine({ ...ID, shift: [1, 0, 0] }, dims);
  const out = warpLinear(ramp, dims, m);
  // output (i, j, k) reads input (i - 1, j, k)
  for (let k = 0; k < 4; k++) for (let j = 0; j < 5; j++) {
    const row = 6 * (j + 5 * k);
    assert.equal(out[row], 0, 'the first voxel of each row comes from outside');
    for (let i = 1; i < 6; i++) assert.equal(out[row + i], ramp[row + i - 1]);
  }
});

test('a mirror of axis 0 reverses each row; a 90-degree rotation about axis 2 of a square swaps axes 0 and 1', () => {
  const sq: [number, number, number] = [5, 5, 3];
  const vol = Float32Array.from({ length: 75 }, (_, i) => i);
  const mir = warpNearest(Uint16Array.from(vol), sq, inverseAffine({ ...ID, mirror: true }, sq));
  assert.equal(mir[0], 4);
  assert.equal(mir[4], 0);
  const rot = warpNearest(Uint16Array.from(vol), sq, inverseAffine({ ...ID, rotation: [0, 0, 90] }, sq));
  // Forward: (x, y) -> (c - (y - c), x) about the centre c = 2, so output (i, j) reads input (j, 4 - i).
  for (let j = 0; j < 5; j++) for (let i = 0; i < 5; i++) assert.equal(rot[i + 5 * j], vol[j + 5 * (4 - i)], `(${i}, ${j})`);
});

test('drawAffine stays in its ranges and is reproducible', () => {
  for (let s = 0; s < 20; s++) {
    const a = drawAffine(new Rng(s), { maxRotation: 10, maxScale: 0.1, maxShift: 3, mirror: 0.5 });
    assert.deepEqual(a, drawAffine(new Rng(s), { maxRotation: 10, maxScale: 0.1, maxShift: 3, mirror: 0.5 }));
    assert.ok(a.rotation.every((r) => Math.abs(r) <= 10) && a.scale.every((x) => x >= 0.9 && x <= 1.1) && a.shift.every((t) => Math.abs(t) <= 3));
  }
});

test('a volume of the wrong length is E_SHAPE, naming the counts', () => {
  assert.throws(() => warpLinear(new Float32Array(10), dims, inverseAffine(ID, dims)), { code: 'E_SHAPE', message: /Expected 120 voxels for dims \[6, 5, 4\] but received 10/ });
});
