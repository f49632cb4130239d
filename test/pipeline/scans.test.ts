import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headSlices, keepSlices, HEAD_AREA, HEAD_LEVEL } from '../../src/pipeline/scans.js';

test('headSlices: slices whose area above HEAD_LEVEL is at least HEAD_AREA of the largest; keepSlices copies them in order', () => {
  assert.deepEqual([HEAD_LEVEL, HEAD_AREA], [0.2, 0.05]);
  // [S=6, 5, 5]: areas above 0.2 of 0, 1, 25, 0 (all at 0.15: noise below the level), 2 and 1 pixels.
  const plane = 25, images = new Float32Array(6 * plane);
  images[plane] = 0.5;
  images.fill(1, 2 * plane, 3 * plane);
  images.fill(0.15, 3 * plane, 4 * plane);
  images[4 * plane] = 0.9; images[4 * plane + 7] = 0.3;
  images[5 * plane + 3] = 0.21;
  // 5 % of 25 pixels is 1.25: one pixel is not enough, two are.
  assert.deepEqual(headSlices(images, [6, 5, 5]), [2, 4]);
  assert.deepEqual(headSlices(new Float32Array(2 * plane), [2, 5, 5]), [], 'a blank scan shows no head');
  const scan = { stem: 's', domain: 'd', images, shape: [6, 5, 5] as [number, number, number], spacing: [1, 1, 1] as [number, number, number] };
  const kept = keepSlices(scan, [2, 4]);
  assert.deepEqual(kept.shape, [2, 5, 5]);
  assert.deepEqual([...kept.images], [...images.subarray(2 * plane, 3 * plane), ...images.subarray(4 * plane, 5 * plane)]);
  assert.equal(kept.spacing, scan.spacing);
});
