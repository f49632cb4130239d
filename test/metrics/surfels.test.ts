import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binarize, neighbourCodes } from '../../src/metrics/index.js';
import { boxMask } from './boxes.js';

test('binarize: > 0 is foreground (NaN and negatives are not), with count and box', () => {
  const data = new Float32Array([0, 0.5, -1, NaN, 0, 0, 0, 2, 0, 0, 0, 0]); // shape [2, 2, 3]
  const b = binarize(data, [2, 2, 3]);
  assert.deepEqual([...b.mask], [0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
  assert.equal(b.count, 2);
  assert.deepEqual(b.box, { min: [0, 0, 1], max: [1, 0, 1] });
  assert.equal(binarize(new Int16Array(4), [2, 2]).box, null);
});

test('a single voxel: its 8 corners carry the 8 single-bit codes', () => {
  // Corner p of the 2x2x2 corner grid sees the voxel as its (a, b, c) = (1 - p0, 1 - p1, 1 - p2)
  // neighbour, whose bit is 2^(7 - 4a - 2b - c) = 2^(4 p0 + 2 p1 + p2): corner (0,0,0) -> 1, ...,
  // corner (1,1,1) -> 128.
  const shape = [3, 3, 3];
  const mask = boxMask(shape, [1, 1, 1], [2, 2, 2]);
  const { codes, cornerShape } = neighbourCodes(mask, shape, { min: [1, 1, 1], max: [1, 1, 1] });
  assert.deepEqual(cornerShape, [2, 2, 2]);
  assert.deepEqual([...codes], [1, 2, 4, 8, 16, 32, 64, 128]);
});

test('2D: a single pixel gives codes 1, 2, 4, 8 at its four corners', () => {
  // Corner (p0, p1) sees the pixel as neighbour (1 - p0, 1 - p1), bit 2^(3 - 2a - b) = 2^(2 p0 + p1).
  const mask = boxMask([2, 2], [0, 1], [1, 2]);
  const { codes, cornerShape } = neighbourCodes(mask, [2, 2], { min: [0, 1], max: [0, 1] });
  assert.deepEqual(cornerShape, [2, 2]);
  assert.deepEqual([...codes], [1, 2, 4, 8]);
});

test('a 2x1x1 bar: the shared corners see two voxels', () => {
  // Voxels (0,0,0) and (1,0,0). Corner (1, 1, 1) sees (0,0,0) as a = 0, b = 0, c = 0 -> 128 and
  // (1,0,0) as a = 1 -> 8: code 136. Corner (1, 0, 0) sees them as (a, b, c) = (0,1,1) -> 16 and
  // (1,1,1) -> 1: code 17. Corner (0, 1, 1) sees only (0,0,0), as (1, 0, 0) -> 8; corner (2, 1, 1)
  // sees only (1,0,0), as (0, 0, 0) -> 128.
  const shape = [2, 1, 1];
  const { codes, cornerShape } = neighbourCodes(new Uint8Array([1, 1]), shape, { min: [0, 0, 0], max: [1, 0, 0] });
  assert.deepEqual(cornerShape, [3, 2, 2]);
  const at = (p0: number, p1: number, p2: number): number => codes[(p0 * 2 + p1) * 2 + p2] as number;
  assert.equal(at(1, 1, 1), 136);
  assert.equal(at(1, 0, 0), 17);
  assert.equal(at(0, 0, 0), 1);
  assert.equal(at(0, 1, 1), 8);
  assert.equal(at(2, 1, 1), 128);
});
