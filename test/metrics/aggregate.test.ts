import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aggregate, formatAggregate, MetricsAccumulator, summarize, type CaseMetrics } from '../../src/metrics/index.js';
import { boxMask } from './boxes.js';

const c = (id: string, domain: string, surfaceDice: number, dice = 0.9, hd95 = 1, assd = 0.5): CaseMetrics =>
  ({ id, domain, surfaceDice, dice, hd95, assd });

test('summarize: NaN skipped, population standard deviation', () => {
  // Values 1, 2, 3: mean 2, variance ((1)^2 + 0 + 1^2) / 3 = 2/3.
  assert.deepEqual(summarize([1, 2, NaN, 3]), { n: 3, mean: 2, std: Math.sqrt(2 / 3) });
  assert.deepEqual(summarize([NaN]), { n: 0, mean: NaN, std: NaN });
  // An infinite distance (one mask empty) makes the mean infinite and the spread undefined.
  assert.deepEqual(summarize([1, Infinity]), { n: 2, mean: Infinity, std: NaN });
});

test('aggregate: one row per domain, sorted, plus overall', () => {
  const t = aggregate([c('a', 'Siemens_3', 0.8), c('b', 'GE_15', 0.6), c('d', 'Siemens_3', 0.9), c('e', 'GE_15', NaN)]);
  assert.deepEqual(t.rows.map((r) => [r.domain, r.cases, r.surfaceDice.n]), [['GE_15', 2, 1], ['Siemens_3', 2, 2]]);
  assert.equal(t.rows[0]?.surfaceDice.mean, 0.6);
  assert.ok(Math.abs((t.rows[1]?.surfaceDice.mean ?? 0) - 0.85) < 1e-15);
  assert.ok(Math.abs((t.rows[1]?.surfaceDice.std ?? 0) - 0.05) < 1e-15);
  // Overall: mean of 0.8, 0.6, 0.9 = 0.766..., over the 3 defined values out of 4 cases.
  assert.equal(t.overall.cases, 4);
  assert.equal(t.overall.surfaceDice.n, 3);
  assert.ok(Math.abs(t.overall.surfaceDice.mean - 2.3 / 3) < 1e-15);
  const text = formatAggregate(t);
  assert.match(text, /^domain\s+n\s+surfaceDice/);
  assert.match(text, /GE_15\s+2\s+0\.6000 ± 0\.0000/);
  assert.match(text, /overall\s+4\s+0\.7667 ± /);
});

test('accumulator: evaluates, records, aggregates, refuses duplicate ids, resets', () => {
  const shape = [8, 8, 8];
  const cube = boxMask(shape, [2, 2, 2], [6, 6, 6]);
  const acc = new MetricsAccumulator({ tolerance: 1 });
  const r = acc.evaluate('same', 'GE_3', cube, cube, { shape, spacing: [1, 1, 1] });
  assert.deepEqual(r, { id: 'same', domain: 'GE_3', surfaceDice: 1, dice: 1, hd95: 0, assd: 0 });
  // A 4-cube vs a 3-cube sharing a corner: Dice = 2 x 27 / (64 + 27).
  acc.evaluate('smaller', 'GE_3', cube, boxMask(shape, [2, 2, 2], [5, 5, 5]), { shape, spacing: [1, 1, 1] });
  assert.equal(acc.cases.length, 2);
  const t = acc.aggregate();
  assert.ok(Math.abs(t.overall.dice.mean - (1 + 54 / 91) / 2) < 1e-15);
  assert.throws(() => acc.add(c('same', 'GE_3', 1)), { code: 'E_INVALID_ARG', message: /"same", which is already recorded/ });
  acc.reset();
  assert.equal(acc.cases.length, 0);
});
