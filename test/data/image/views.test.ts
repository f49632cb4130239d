import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromView, toView, viewDims, checkViewCount } from '../../../src/data/image/views.js';

const dims: [number, number, number] = [2, 3, 4];
const vol = Uint16Array.from({ length: 24 }, (_, i) => i);
const at = (x: number, y: number, z: number): number => x + 2 * (y + 3 * z);

test('view 0 is the volume as it is; views 1 and 2 put axis 1 and axis 2 first', () => {
  assert.deepEqual(toView(vol, dims, 0), vol);
  assert.deepEqual(viewDims(dims, 1), [3, 2, 4]);
  assert.deepEqual(viewDims(dims, 2), [4, 2, 3]);
  const v1 = toView(vol, dims, 1), v2 = toView(vol, dims, 2);
  for (let z = 0; z < 4; z++) for (let y = 0; y < 3; y++) for (let x = 0; x < 2; x++) {
    // view 1 is indexed (y, x, z), view 2 (z, x, y), x fastest within each.
    assert.equal(v1[y + 3 * (x + 2 * z)], vol[at(x, y, z)]);
    assert.equal(v2[z + 4 * (x + 2 * y)], vol[at(x, y, z)]);
  }
});

test('fromView undoes toView for every view and array type', () => {
  for (const v of [0, 1, 2]) {
    assert.deepEqual(fromView(toView(vol, dims, v), dims, v), vol);
    const f = Float32Array.from(vol, (x) => x / 3);
    assert.deepEqual(fromView(toView(f, dims, v), dims, v), f);
  }
});

test('bad views are coded errors naming the value', () => {
  assert.throws(() => viewDims(dims, 3), { code: 'E_INVALID_ARG', message: /received 3/ });
  assert.throws(() => checkViewCount('views', 2), { code: 'E_INVALID_ARG', message: /Expected 1 or 3 for `views` but received 2/ });
  assert.throws(() => toView(new Uint8Array(5), dims, 1), { code: 'E_SHAPE', message: /received 5/ });
});
