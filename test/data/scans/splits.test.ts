import { test } from 'node:test';
import assert from 'node:assert/strict';
import { holdOut } from '../../../src/data/scans/splits.js';
import { isCoded } from '../helpers.js';

const scans = (n: number): { stem: string }[] => Array.from({ length: n }, (_, i) => ({ stem: `s${String(i).padStart(2, '0')}` }));

test('holdOut: 10 % rounded (at least 1), or a count; seeded; the input order does not matter; train and held out partition the scans', () => {
  for (const [n, share, held] of [[2, 0.1, 1], [7, 0.1, 1], [14, 0.1, 1], [15, 0.1, 2], [20, 0.1, 2], [10, 3, 3], [10, 0.5, 5]] as const) {
    const { train, val } = holdOut(scans(n), share, 359);
    assert.equal(val.length, held, `${n} scans, share ${share}`);
    assert.deepEqual([...train, ...val].map((s) => s.stem).sort(), scans(n).map((s) => s.stem), 'a partition');
  }
  const a = holdOut(scans(12), 0.25, 359), b = holdOut(scans(12).reverse(), 0.25, 359);
  assert.deepEqual(a, b, 'sorted by stem before the seeded shuffle');
  assert.notDeepEqual(holdOut(scans(12), 0.25, 1).val, a.val, 'another seed, another share');
});

test('holdOut: a single scan, or a share that leaves nothing to train on, is E_DATA/E_DATA_TOO_FEW; a zero share E_INVALID_ARG', () => {
  assert.throws(() => holdOut(scans(1), 0.1, 359, 'MyPrisma'), isCoded('E_DATA', 'E_DATA_TOO_FEW', /Cannot hold out 1 of the 1 scans of MyPrisma .* at least 2 scans are needed/));
  assert.throws(() => holdOut(scans(3), 3, 359), isCoded('E_DATA', 'E_DATA_TOO_FEW', /Cannot hold out 3 of the 3 scans/));
  assert.throws(() => holdOut(scans(3), 0, 359), isCoded('E_INVALID_ARG', undefined, /for `holdOut` but received 0/));
});
