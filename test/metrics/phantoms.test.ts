/**
 * Phantom cases whose answers are derived by hand in the comments.
 *
 * Conventions used in the derivations: corner p of the corner grid sits between voxels p - 1 and
 * p, so a box of voxels [a, a + L) has its surface corners on the box [a, a + L] of corners. From
 * the marching-cubes table (entries 15, 3, 1 and their rotations), a corner inside a flat face
 * perpendicular to axis i carries area s_j s_k; a corner on an edge along axis k carries
 * s_k hypot(s_i, s_j) / 2; a box vertex carries hypot(s1 s2, s0 s2, s0 s1) / 8. With L = 4 each
 * face has m = L - 1 = 3 x 3 interior corners and each edge m = 3 corners.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeSurfaceDistances, evaluateMasks, robustHausdorff, surfaceDice, surfaceDiceAtTolerance } from '../../src/metrics/index.js';
import { ballMask, boxMask } from './boxes.js';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${a} != ${b}`);
const SQRT2 = Math.SQRT2;
const SQRT3 = Math.sqrt(3);
const SQRT5 = Math.sqrt(5);

// A 4-voxel cube at [3, 7)^3 in a 10^3 volume, and the same cube shifted by one voxel along an axis.
const shape = [10, 10, 10];
const cube = boxMask(shape, [3, 3, 3], [7, 7, 7]);
const cubeUp0 = boxMask(shape, [4, 3, 3], [8, 7, 7]);
const cubeUp2 = boxMask(shape, [3, 3, 4], [7, 7, 8]);

test('cube vs the cube shifted one voxel, unit spacing, below / at / above the shift', () => {
  // Total area of each cube: 6 faces x 9 x 1 + 12 edges x 3 x (sqrt2 / 2) + 8 x sqrt3 / 8
  //   = 54 + 18 sqrt2 + sqrt3.
  // GT surfels and their distance to the shifted surface (the shifted box spans corners
  // p0 in [4, 8]):
  //   bottom face p0 = 3 (9 face corners, 4 edges x 3, 4 vertices): 1 (straight up to p0 = 4);
  //   side faces and vertical edges at p0 in 4..6 (4 x 9 face + 4 x 3 edge corners): 0, they lie
  //   on the shifted box's sides;
  //   top face p0 = 7: the rim (4 edges x 3 + 4 vertices) lies on the shifted sides: 0; the
  //   9 interior corners are inside the shifted box, 1 from its top and >= 1 from its sides: 1.
  // Within 0.5: 36 + 12 sqrt2/2 (vertical edges) + 12 sqrt2/2 (top rim) + 4 sqrt3/8
  //   = 36 + 12 sqrt2 + sqrt3 / 2; the shifted cube is the mirror image, so the same holds for it.
  const total = 54 + 18 * SQRT2 + SQRT3;
  const within = 36 + 12 * SQRT2 + SQRT3 / 2;
  const spacing = [1, 1, 1];
  close(surfaceDice(cube, cubeUp0, shape, spacing, 0.5), within / total); // 0.66311...
  // Every distance is 0 or exactly 1 (exact in floating point), and <= counts: at 1 mm and above, 1.
  assert.equal(surfaceDice(cube, cubeUp0, shape, spacing, 1), 1);
  assert.equal(surfaceDice(cube, cubeUp0, shape, spacing, 1.5), 1);
  const m = evaluateMasks(cube, cubeUp0, { shape, spacing, tolerance: 0.5 });
  // Dice: 3 of the 4 layers overlap: 2 x 48 / (64 + 64).
  assert.equal(m.dice, 0.75);
  // 1 - 0.663 of the area is at distance 1, more than 5 %, so the 95th percentile is 1.
  assert.equal(m.hd95, 1);
  // ASSD: the area at distance 1 over the total, both cubes alike.
  close(m.assd, (total - within) / total);
});

test('anisotropic spacing: the same one-voxel shift is 2 mm along axis 0 but 1 mm along axis 2', () => {
  const spacing = [2, 1, 1];
  // Shift along axis 2: 1 mm; every GT surfel is within 1 mm of the shifted surface (as in the
  // unit case, the largest distance is the shift), so at 1.5 mm the Surface Dice is 1.
  assert.equal(surfaceDice(cube, cubeUp2, shape, spacing, 1.5), 1);
  // Shift along axis 0: 2 mm. Areas with (s0, s1, s2) = (2, 1, 1): faces perpendicular to axis 0
  // carry 1 per corner, to axes 1 and 2 carry 2; edges along axis 0 carry 2 sqrt2 / 2 = sqrt2,
  // along axes 1 or 2 carry sqrt5 / 2; vertices hypot(1, 2, 2) / 8 = 3 / 8.
  // Total: 2 x 9 x 1 + 4 x 9 x 2 + 4 x 3 x sqrt2 + 8 x 3 x sqrt5 / 2 + 8 x 3/8 = 93 + 12 sqrt2 + 12 sqrt5.
  // Distances: bottom face 2; sides and vertical edges 0; top rim 0; top interior corner (p1, p2):
  // min(2 [shifted top], 1 x ring distance to the shifted sides) = 1 for the 8 corners next to the
  // rim and 2 for the centre one.
  // Within 1.5 mm: sides 72 + vertical edges 12 sqrt2 + top rim 6 sqrt5 + 4 x 3/8 + 8 x 1
  //   = 81.5 + 12 sqrt2 + 6 sqrt5, the same for the mirror-image shifted cube.
  const total = 93 + 12 * SQRT2 + 12 * SQRT5;
  const within = 81.5 + 12 * SQRT2 + 6 * SQRT5;
  close(surfaceDice(cube, cubeUp0, shape, spacing, 1.5), within / total); // 0.81787...
  assert.equal(surfaceDice(cube, cubeUp0, shape, spacing, 2), 1);
  const sd = computeSurfaceDistances(cube, cubeUp0, shape, spacing);
  close(sd.areasGt.reduce((a, b) => a + b, 0), total);
  // 81.8 % of the area is within 1 mm, less than 95 %: HD95 is the 2 mm shift.
  assert.equal(robustHausdorff(sd, 95), 2);
  // ASSD: 2 x (bottom 9 + 6 sqrt5 + 4 x 3/8 + top centre 1) + 1 x 8 over the total.
  close(evaluateMasks(cube, cubeUp0, { shape, spacing }).assd, (31 + 12 * SQRT5) / total);
});

test('2D: a square shifted one pixel, isotropic and anisotropic', () => {
  const shape2 = [10, 10];
  const sq = boxMask(shape2, [3, 3], [7, 7]);
  const up = boxMask(shape2, [4, 3], [8, 7]);
  // Unit spacing: contour = 4 sides x 3 corners x 1 + 4 corner cuts x sqrt2/2 = 12 + 2 sqrt2.
  // Within 0.5 of the shifted square: the two side runs at p0 = 4..6 (6) and the two top corner
  // cuts (sqrt2): exactly half of the contour.
  close(surfaceDice(sq, up, shape2, [1, 1], 0.5), 0.5);
  // Spacing (2, 1): sides along axis 0 carry 2 per corner (12), top and bottom 1 per corner (6),
  // corner cuts sqrt5 / 2 (4 of them): total 18 + 2 sqrt5. The shift is 2 mm; within 1.5 mm:
  // sides 12, top corner cuts sqrt5, and the 2 top corners next to them (1 mm from the shifted
  // sides; the middle one is 2 mm away): 14 + sqrt5.
  close(surfaceDice(sq, up, shape2, [2, 1], 1.5), (14 + SQRT5) / (18 + 2 * SQRT5));
  // Along axis 1 with spacing (2, 1) the shift is 1 mm: all within 1.5 mm.
  assert.equal(surfaceDice(sq, boxMask(shape2, [3, 4], [7, 8]), shape2, [2, 1], 1.5), 1);
});

test('spheres of radius 9 and 10 voxels (unit spacing)', () => {
  const s: [number, number, number] = [25, 25, 25];
  const small = ballMask(s, [12, 12, 12], 9);
  const large = ballMask(s, [12, 12, 12], 10);
  const spacing = [1, 1, 1];
  const sd = computeSurfaceDistances(small, large, s, spacing);
  // Offsets h of a corner from the centre are half-integers; a corner's farthest voxel is at
  // squared distance sum (|h_j| + 1/2)^2 and its nearest at sum (|h_j| - 1/2)^2. Consecutive corners
  // along an axis share 4 voxels, so walking from a corner with all voxels inside a ball to one
  // with a voxel outside, the first such corner has both: it is on that ball's surface.
  // Bound 1 (GT -> pred <= 2): a small-surface corner x has a voxel outside radius 9 (farthest
  // squared distance U > 81). If x is not on the large surface, all its voxels are inside radius 10.
  // Step outward along the axis of x's largest |h_i|, for which |h_i| + 1/2 >= sqrt(U / 3) > 9 / sqrt3:
  // after k steps U grows by 2k(|h_i| + 1/2) + k^2 > 18k / sqrt3 + k^2, which is 24.8 > 100 - 81
  // at k = 2. So a large-surface corner lies within 2 steps of 1 mm.
  // Bound 2 (pred -> GT <= 2): a large-surface corner y not on the small surface has all voxels
  // outside radius 9 and its nearest voxel at squared distance T <= 100. Stepping inward along its
  // largest axis (|h_i| - 1/2 >= sqrt(T / 3)) k times lowers T to at most T - 2k sqrt(T / 3) + k^2,
  // increasing in T, so at most 100 - 40 / sqrt3 + 4 = 80.9 < 81 for k = 2: within 2 steps a
  // corner has a voxel inside radius 9, and it is on the small surface.
  assert.ok(sd.distancesGtToPred.every((d) => d <= 2));
  assert.ok(sd.distancesPredToGt.every((d) => d <= 2));
  assert.equal(surfaceDiceAtTolerance(sd, 2), 1);
  assert.ok(robustHausdorff(sd, 100) <= 2);
  // Grid distances are square roots of integers, none strictly between 1 and sqrt2 = 1.414 or
  // between 0 and 1, so the Surface Dice is a step function there.
  assert.equal(surfaceDiceAtTolerance(sd, 1.4), surfaceDiceAtTolerance(sd, 1));
  assert.equal(surfaceDiceAtTolerance(sd, 0.99), surfaceDiceAtTolerance(sd, 0));
  // Each distance is the length of an integer vector, so its square is an integer.
  for (const d of sd.distancesGtToPred) close(d * d, Math.round(d * d), 1e-9);
  // The definition is symmetric in the two masks.
  const swapped = computeSurfaceDistances(large, small, s, spacing);
  assert.equal(surfaceDiceAtTolerance(swapped, 1), surfaceDiceAtTolerance(sd, 1));
  assert.equal(robustHausdorff(swapped, 95), robustHausdorff(sd, 95));
  // Dice: the small ball lies inside the large one, so 2 |small| / (|small| + |large|) from counts.
  const count = (m: Uint8Array): number => m.reduce((a, b) => a + b, 0);
  close(evaluateMasks(small, large, { shape: s, spacing }).dice, (2 * count(small)) / (count(small) + count(large)));
});

test('identical masks: Surface Dice 1 even at tolerance 0, distances 0', () => {
  const m = evaluateMasks(cube, cube, { shape, spacing: [0.7, 1.3, 2], tolerance: 0 });
  assert.deepEqual(m, { surfaceDice: 1, dice: 1, hd95: 0, assd: 0 });
});

test('the default tolerance is 1 mm', () => {
  // With spacing (1.5, 1, 1) the shifted cube's bottom face is 1.5 mm away: below 1 when excluded.
  const options = { shape, spacing: [1.5, 1, 1] };
  const sds = evaluateMasks(cube, cubeUp0, options).surfaceDice;
  assert.ok(sds < 1);
  assert.equal(sds, surfaceDice(cube, cubeUp0, shape, options.spacing, 1));
});

test('empty cases: both empty -> NaN everywhere; one empty -> 0 and infinite distances', () => {
  const empty = new Uint8Array(cube.length);
  const both = evaluateMasks(empty, empty, { shape, spacing: [1, 1, 1] });
  assert.ok(Object.values(both).every((v) => Number.isNaN(v)), JSON.stringify(both));
  for (const [gt, pred] of [[cube, empty], [empty, cube]] as const) {
    assert.deepEqual(evaluateMasks(gt, pred, { shape, spacing: [1, 1, 1] }), { surfaceDice: 0, dice: 0, hd95: Infinity, assd: Infinity });
  }
});

test('a mask touching the volume border keeps its outer face', () => {
  // The whole 2x2x2 volume is foreground: the surface is the volume's outer boundary, area 6 x 4
  // minus the chamfers: 6 faces x 1 interior corner + 12 edges x 1 x sqrt2/2 + 8 x sqrt3/8.
  const full = new Uint8Array(8).fill(1);
  const sd = computeSurfaceDistances(full, full, [2, 2, 2], [1, 1, 1]);
  close(sd.areasGt.reduce((a, b) => a + b, 0), 6 + 6 * SQRT2 + SQRT3);
});

test('argument errors name the argument and the received value', () => {
  assert.throws(() => surfaceDice(cube, cube, [10, 10], [1, 1], 1), { code: 'E_SHAPE', message: 'Expected 100 values for `gt` (shape [10, 10]) but received 1000' });
  assert.throws(() => surfaceDice(cube, cube.subarray(1), shape, [1, 1, 1], 1), { code: 'E_SHAPE', message: /`pred` .* received 999/ });
  assert.throws(() => surfaceDice(cube, cube, [10, 10, 11], [1, 1, 1], 1), { code: 'E_SHAPE', message: /received 1000$/ });
  assert.throws(() => surfaceDice(cube, cube, [1000], [1], 1), { code: 'E_SHAPE', message: 'Expected 2 or 3 positive integer dims for `shape` but received [1000]' });
  assert.throws(() => surfaceDice(cube, cube, shape, [1, 1], 1), { code: 'E_INVALID_ARG', message: 'Expected 3 finite numbers > 0 (mm per axis) for `spacing` but received [1, 1]' });
  assert.throws(() => surfaceDice(cube, cube, shape, [1, 1, 1], -1), { code: 'E_INVALID_ARG', message: 'Expected a number in [0, Infinity] for `toleranceMm` but received -1' });
  assert.throws(() => evaluateMasks(cube, cube, { shape, spacing: [1, 1, 1], percentile: 101 }), /`percentile` but received 101/);
});

test('percentile rule: the first surfel (by distance, then area) whose cumulative area reaches p', () => {
  // GT surfels at 0 mm and 1 mm with equal areas: cumulative fractions 0.5, 1. At p = 50 the first
  // already reaches 0.5 -> 0 mm; just above 50 it is the second -> 1 mm. The predicted surface
  // (one surfel at 0.25 mm) never exceeds those.
  const sd = {
    distancesGtToPred: Float64Array.from([1, 0]),
    areasGt: Float64Array.from([2, 2]),
    distancesPredToGt: Float64Array.from([0.25]),
    areasPred: Float64Array.from([1]),
  };
  assert.equal(robustHausdorff(sd, 50), 0.25);
  assert.equal(robustHausdorff(sd, 50.1), 1);
});
