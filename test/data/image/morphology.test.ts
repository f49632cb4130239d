// Hole filling, largest component and the exact distance map, against hand-built masks and a brute-force
// oracle (the distance to every foreground voxel, minimised).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanBrainMask, distanceMap, fillHoles, largestComponent } from '../../../src/data/image/morphology.js';
import { Rng } from '../../../src/data/rng.js';
import { isCoded } from '../helpers.js';

type Dims = [number, number, number];
const idx = (d: Dims, i: number, j: number, k: number): number => i + d[0] * (j + d[1] * k);

/** A hollow cube: faces of [lo, hi]^3 set, inside empty. */
function shell(d: Dims, lo: number, hi: number): Uint8Array {
  const m = new Uint8Array(d[0] * d[1] * d[2]);
  for (let k = lo; k <= hi; k++) for (let j = lo; j <= hi; j++) for (let i = lo; i <= hi; i++) {
    if (i === lo || i === hi || j === lo || j === hi || k === lo || k === hi) m[idx(d, i, j, k)] = 1;
  }
  return m;
}

test('fillHoles fills a closed shell and leaves an open one', () => {
  const d: Dims = [9, 9, 9];
  const closed = fillHoles(shell(d, 2, 6), d);
  let n = 0;
  for (const v of closed) n += v;
  assert.equal(n, 5 ** 3, 'the whole 5^3 cube');
  const open = shell(d, 2, 6);
  open[idx(d, 4, 4, 6)] = 0; // a hole in the top face: the inside touches the border through it
  assert.deepEqual(fillHoles(open, d), open);
  assert.throws(() => fillHoles(new Uint8Array(5), d), isCoded('E_SHAPE', undefined, /Expected 729 voxels in `mask` .* but received 5/));
});

test('largestComponent keeps the bigger blob; face contact joins, edge contact does not', () => {
  const d: Dims = [8, 4, 1];
  const m = new Uint8Array(32);
  [[0, 0], [1, 0], [2, 0], [5, 0], [6, 0], [6, 1], [7, 1], [3, 1]].forEach(([i, j]) => { m[idx(d, i!, j!, 0)] = 1; });
  // (3,1) touches (2,0) only by an edge: its own component. Blobs: {0,1,2 @ j0} size 3, {5,6 @ j0, 6,7 @ j1} size 4.
  const out = largestComponent(m, d);
  const kept = [...out.keys()].filter((v) => out[v] === 1).map((v) => [v % 8, Math.floor(v / 8)]);
  assert.deepEqual(kept, [[5, 0], [6, 0], [6, 1], [7, 1]]);
  assert.deepEqual(largestComponent(new Uint8Array(32), d), new Uint8Array(32));
});

test('cleanBrainMask keeps the largest piece and fills its cavity; a cavity open to the border stays', () => {
  const d: Dims = [12, 9, 9];
  const m = shell(d, 1, 7); // a closed hollow 7^3 cube: 218 voxels around a 5^3 cavity
  m[idx(d, 10, 4, 4)] = 1; // a stray voxel, its own piece
  m[idx(d, 11, 4, 4)] = 1;
  const out = cleanBrainMask(m, d);
  let n = 0;
  for (const v of out) n += v;
  assert.equal(n, 7 ** 3, 'the solid cube, the stray piece gone');
  assert.equal(out[idx(d, 10, 4, 4)], 0);
  assert.equal(out[idx(d, 4, 4, 4)], 1, 'the cavity filled');
  const open = shell(d, 1, 7);
  open[idx(d, 4, 4, 1)] = 0; // a hole in a face: the cavity reaches the border
  assert.deepEqual(cleanBrainMask(open, d), open);
  assert.deepEqual(cleanBrainMask(new Uint8Array(d[0] * d[1] * d[2]), d), new Uint8Array(d[0] * d[1] * d[2]), 'empty in, empty out');
});

test('distanceMap equals brute force on random masks with anisotropic voxels', () => {
  const rng = new Rng(7);
  for (const [d, sp] of [[[7, 5, 6], [1, 1, 1]], [[9, 4, 5], [0.5, 2, 1.3]], [[1, 6, 3], [1, 1, 3]]] as [Dims, Dims][]) {
    const n = d[0] * d[1] * d[2];
    const m = new Uint8Array(n);
    for (let v = 0; v < n; v++) m[v] = rng.next() < 0.08 ? 1 : 0;
    m[idx(d, 0, 0, 0)] = 1;
    const got = distanceMap(m, d, sp);
    for (let v = 0; v < n; v++) {
      const [i, j, k] = [v % d[0], Math.floor(v / d[0]) % d[1], Math.floor(v / (d[0] * d[1]))];
      let best = Infinity;
      for (let u = 0; u < n; u++) {
        if (m[u] !== 1) continue;
        const [a, b, c] = [u % d[0], Math.floor(u / d[0]) % d[1], Math.floor(u / (d[0] * d[1]))];
        best = Math.min(best, Math.hypot((a - i) * sp[0], (b - j) * sp[1], (c - k) * sp[2]));
      }
      assert.ok(Math.abs(got[v]! - best) < 1e-5, `${d} at ${[i, j, k]}: ${got[v]} vs ${best}`);
    }
  }
  assert.ok(distanceMap(new Uint8Array(8), [2, 2, 2], [1, 1, 1]).every((v) => v === Infinity), 'empty mask: infinite everywhere');
});
