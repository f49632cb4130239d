/**
 * Cross-check against the independent numpy/scipy implementation in tools/surface_dice_ref.py on
 * 60 random blob pairs (2D and 3D, isotropic and anisotropic spacing, empty cases). The fixture is
 * regenerated with `/usr/bin/python3 tools/surface_dice_ref.py fixture`; CI needs no Python.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  averageSurfaceDistance,
  averageSymmetricSurfaceDistance,
  computeSurfaceDistances,
  dice,
  evaluateMasks,
  robustHausdorff,
  surfaceDiceAtTolerance,
} from '../../src/metrics/index.js';

type Num = number | 'NaN' | 'Infinity';
interface RefCase {
  id: string;
  shape: number[];
  spacing: number[];
  gt: string;
  pred: string;
  surfaceDice: Record<string, Num>;
  dice: Num;
  hd95: Num;
  hd100: Num;
  assd: Num;
  avgGtToPred: Num;
  avgPredToGt: Num;
  areaGt: number;
  areaPred: number;
  surfelsGt: number;
  surfelsPred: number;
}

const fixture = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/metrics/surface-dice-ref.json', import.meta.url), 'utf8'),
) as { cases: RefCase[] };

/** np.packbits order: voxel i is bit 7 - (i mod 8) of byte i / 8. */
function unpack(b64: string, n: number): Uint8Array {
  const bytes = Buffer.from(b64, 'base64');
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = ((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1;
  return out;
}

function agree(got: number, want: Num, what: string): void {
  const w = typeof want === 'string' ? Number(want) : want;
  if (Number.isNaN(w) || !Number.isFinite(w)) {
    assert.ok(Object.is(got, w), `${what}: ${got} != ${w}`);
    return;
  }
  assert.ok(Math.abs(got - w) <= 1e-6, `${what}: ${got} != ${w} (diff ${Math.abs(got - w)})`);
}

test('fixture has at least 50 cases, some empty, 2D and 3D', () => {
  assert.ok(fixture.cases.length >= 50);
  assert.ok(fixture.cases.some((c) => c.shape.length === 2) && fixture.cases.some((c) => c.shape.length === 3));
  assert.ok(fixture.cases.some((c) => c.surfelsGt === 0 && c.surfelsPred === 0));
  assert.ok(fixture.cases.some((c) => c.surfelsGt === 0 !== (c.surfelsPred === 0)));
});

test('agrees with the numpy/scipy reference within 1e-6 on every case and metric', () => {
  for (const c of fixture.cases) {
    const n = c.shape.reduce((a, b) => a * b, 1);
    const gt = unpack(c.gt, n);
    const pred = unpack(c.pred, n);
    const sd = computeSurfaceDistances(gt, pred, c.shape, c.spacing);
    // The neighbourhood search is a shortcut, not a different answer: with it off (every corner
    // through the distance transform) or at a tiny radius (many doubling rounds, then the
    // transform), the distances are the same.
    for (const nearRadiusMm of [0, 0.3]) {
      const other = computeSurfaceDistances(gt, pred, c.shape, c.spacing, { nearRadiusMm });
      assert.deepEqual(other.distancesGtToPred, sd.distancesGtToPred, `${c.id} radius ${nearRadiusMm}`);
      assert.deepEqual(other.distancesPredToGt, sd.distancesPredToGt, `${c.id} radius ${nearRadiusMm}`);
    }
    assert.equal(sd.areasGt.length, c.surfelsGt, `${c.id} GT surfels`);
    assert.equal(sd.areasPred.length, c.surfelsPred, `${c.id} pred surfels`);
    agree(sd.areasGt.reduce((a, b) => a + b, 0), c.areaGt, `${c.id} GT area`);
    agree(sd.areasPred.reduce((a, b) => a + b, 0), c.areaPred, `${c.id} pred area`);
    for (const [tol, want] of Object.entries(c.surfaceDice)) {
      agree(surfaceDiceAtTolerance(sd, Number(tol)), want, `${c.id} surfaceDice@${tol}`);
    }
    agree(dice(gt, pred), c.dice, `${c.id} dice`);
    agree(robustHausdorff(sd, 95), c.hd95, `${c.id} hd95`);
    agree(robustHausdorff(sd, 100), c.hd100, `${c.id} hd100`);
    agree(averageSymmetricSurfaceDistance(sd), c.assd, `${c.id} assd`);
    // The per-volume entry point with its defaults (1 mm, 95th percentile) gives the same numbers.
    const m = evaluateMasks(gt, pred, { shape: c.shape, spacing: c.spacing });
    agree(m.surfaceDice, c.surfaceDice['1.0'] ?? NaN, `${c.id} evaluateMasks surfaceDice`);
    agree(m.hd95, c.hd95, `${c.id} evaluateMasks hd95`);
    agree(m.assd, c.assd, `${c.id} evaluateMasks assd`);
    agree(m.dice, c.dice, `${c.id} evaluateMasks dice`);
    const avg = averageSurfaceDistance(sd);
    agree(avg.gtToPred, c.avgGtToPred, `${c.id} avg gt->pred`);
    agree(avg.predToGt, c.avgPredToGt, `${c.id} avg pred->gt`);
  }
});
