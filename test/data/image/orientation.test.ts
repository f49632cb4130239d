// Orientation codes and reorientation. Expected codes are derived by hand from the affines' columns
// (NIfTI world is RAS+: +x right, +y anterior, +z superior); reorientation is checked against the
// affines themselves: every output voxel must sit at the world position of the input voxel it copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { axisCodes, checkAxisCodes, isIdentity, reorientAffine, reorientData, reorientShape, reorientation } from '../../../src/data/image/orientation.js';
import type { Affine } from '../../../src/data/nifti/affine.js';
import { isCoded } from '../helpers.js';

const diag = (x: number, y: number, z: number): Affine => [[x, 0, 0, 0], [0, y, 0, 0], [0, 0, z, 0], [0, 0, 0, 1]];

test('axis codes from affines (hand-derived)', () => {
  assert.equal(axisCodes(diag(1, 1, 1)), 'RAS');
  assert.equal(axisCodes(diag(-0.9, -0.9, 1.2)), 'LPS');
  // voxel x -> world -z (I), voxel y -> world +x (R), voxel z -> world -y (P): a sagittal stack
  assert.equal(axisCodes([[0, 1, 0, 5], [0, 0, -1, 7], [-1.33, 0, 0, 9], [0, 0, 0, 1]]), 'IRP');
  // 10 degrees about z is still nearest to RAS; 60 degrees swaps x and y
  const rot = (deg: number): Affine => { const c = Math.cos(deg * Math.PI / 180), s = Math.sin(deg * Math.PI / 180); return [[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]; };
  assert.equal(axisCodes(rot(10)), 'RAS');
  assert.equal(axisCodes(rot(60)), 'ALS');
  assert.throws(() => axisCodes([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), isCoded('E_NIFTI'));
});

test('orientation codes are validated', () => {
  assert.equal(checkAxisCodes('las'), 'LAS');
  for (const bad of ['RAR', 'RA', 'XYZ', 'RASS']) assert.throws(() => checkAxisCodes(bad), isCoded('E_INVALID_ARG', undefined, /one each of R\/L, A\/P and S\/I/));
});

test('a reorientation is a signed permutation (hand-derived for IRP -> RAS)', () => {
  const r = reorientation('IRP', 'RAS');
  assert.deepEqual(r.axis, [1, 2, 0]);
  assert.deepEqual(r.flip, [false, true, true]);
  assert.ok(isIdentity(reorientation('LPS', 'lps')));
  assert.deepEqual(reorientShape([10, 20, 30], r), [20, 30, 10]);
});

function world(a: Affine, ijk: readonly number[]): number[] {
  return [0, 1, 2].map((w) => a[w]![0]! * ijk[0]! + a[w]![1]! * ijk[1]! + a[w]![2]! * ijk[2]! + a[w]![3]!);
}

test('reoriented voxels keep their world positions, the new affine has the target codes, and the round trip is exact', () => {
  const dims = [3, 4, 5];
  const n = dims[0]! * dims[1]! * dims[2]!;
  const data = Float32Array.from({ length: n }, (_, i) => i); // value = input flat index
  const affine: Affine = [[0, 1.1, 0, -20], [0, 0, -0.9, 14], [-1.3, 0, 0, 30], [0, 0, 0, 1]]; // IRP
  assert.equal(axisCodes(affine), 'IRP');
  for (const to of ['RAS', 'LPI', 'SRA', 'PIL', 'IRP']) {
    const r = reorientation('IRP', to);
    const out = reorientData(data, dims, r);
    const od = reorientShape(dims, r);
    const oa = reorientAffine(affine, dims, r);
    assert.equal(axisCodes(oa), to);
    assert.ok(out instanceof Float32Array && out.length === n);
    let o = 0;
    for (let k = 0; k < od[2]; k++) for (let j = 0; j < od[1]; j++) for (let i = 0; i < od[0]; i++, o++) {
      const v = out[o]!;
      const src = [v % dims[0]!, Math.floor(v / dims[0]!) % dims[1]!, Math.floor(v / (dims[0]! * dims[1]!))];
      const a = world(oa, [i, j, k]), b = world(affine, src);
      for (let w = 0; w < 3; w++) assert.ok(Math.abs(a[w]! - b[w]!) < 1e-9, `${to} voxel ${[i, j, k]}: ${a} vs ${b}`);
    }
    const back = reorientData(out, od, reorientation(to, 'IRP'));
    assert.deepEqual(back, data);
  }
  const u8 = reorientData(Uint8Array.from({ length: n }, (_, i) => i % 7), dims, reorientation('IRP', 'RAS'));
  assert.ok(u8 instanceof Uint8Array, 'the array type is kept');
  assert.throws(() => reorientData(new Float32Array(5), dims, reorientation('IRP', 'RAS')), isCoded('E_SHAPE'));
});
