import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BAR_CHART, SERIES_COLORS, barChart, niceStep, type BarChartOptions } from '../../src/viz/index.js';
import { decodePng, type DecodedPng } from './decode-png.js';

const L = BAR_CHART;
const same = (a: readonly number[], b: readonly number[]): boolean => a.every((v, i) => v === b[i]);

/** The x range of `color` on row y, asserting it is one contiguous run inside [x0, x1). */
function run(png: DecodedPng, y: number, color: readonly number[], x0 = 0, x1 = png.width): [number, number] | undefined {
  const xs: number[] = [];
  for (let x = x0; x < x1; x++) if (same(png.pixel(x, y), color)) xs.push(x);
  if (xs.length === 0) return undefined;
  assert.equal(xs.length, xs.at(-1)! - xs[0]! + 1, `one contiguous run of ${color.join(',')} on row ${y}`);
  return [xs[0]!, xs.at(-1)!];
}

const chart = (extra: Partial<BarChartOptions>): DecodedPng =>
  decodePng(barChart({ title: 'Test', groups: ['GE_3', 'Siemens_15'], series: [{ label: 'a', values: [0.5, NaN] }], ...extra }));

test('barChart: a PNG of BAR_CHART.width x BAR_CHART.height', () => {
  const png = barChart({ title: 't', groups: ['x'], series: [{ label: 's', values: [1] }] });
  const view = new DataView(png.buffer, png.byteOffset);
  assert.deepEqual([view.getUint32(16), view.getUint32(20)], [900, 500]);
  assert.deepEqual([L.width, L.height], [900, 500]);
});

test('barChart: a bar\'s top is at plotBottom - (v - yMin) / (yMax - yMin) x (plotBottom - plotTop)', () => {
  assert.deepEqual([L.plotTop, L.plotBottom], [90, 440]); // the rows below are derived from these
  const cases: [string, number, Partial<BarChartOptions>, number][] = [
    // name, value, axis options, expected top row
    ['0.5 on the default 0..1', 0.5, {}, 440 - 175],
    ['0.3 on the default 0..1', 0.3, {}, 440 - 105],
    ['42 on 0..50', 42, { yMax: 50 }, 440 - 294],
    ['0.9 on 0.5..1', 0.9, { yMin: 0.5, yMax: 1 }, 440 - 280],
    ['3.2 on the automatic 0..3.5 (ticks of 0.5)', 3.2, {}, 440 - 320],
  ];
  for (const [name, v, axis, top] of cases) {
    const png = chart({ ...axis, series: [{ label: 'a', values: [v, NaN] }] });
    const color = SERIES_COLORS[0]!;
    const bar = run(png, L.plotBottom - 1, color, L.plotLeft, 600);
    assert.ok(bar !== undefined, `${name}: a bar on the row above the axis`);
    const cx = Math.floor((bar[0] + bar[1]) / 2);
    assert.deepEqual(png.pixel(cx, top), [...color], `${name}: row ${top} is the bar's top`);
    assert.notDeepEqual(png.pixel(cx, top - 1), [...color], `${name}: row ${top - 1} is above the bar`);
    assert.deepEqual(run(png, top, color, L.plotLeft, 600), bar, `${name}: the bar is a rectangle`);
    assert.deepEqual(png.pixel(cx, L.plotBottom), [...L.axis], `${name}: the x axis`);
  }
});

test('barChart: missing values draw no bar; series get distinct colours side by side', () => {
  const png = chart({ series: [{ label: 'a', values: [0.5, NaN] }, { label: 'b', values: [0.25, 0.75] }] });
  const mid = (L.plotLeft + L.width - L.plotRightMargin) / 2; // the boundary between the two groups
  const a0 = run(png, L.plotBottom - 1, SERIES_COLORS[0]!, L.plotLeft, mid);
  const b0 = run(png, L.plotBottom - 1, SERIES_COLORS[1]!, L.plotLeft, mid);
  assert.ok(a0 !== undefined && b0 !== undefined);
  assert.ok(a0[1] < b0[0], 'series a left of series b');
  assert.equal(run(png, L.plotBottom - 1, SERIES_COLORS[0]!, mid, L.width), undefined, 'no bar for NaN');
  const b1 = run(png, L.plotBottom - 1, SERIES_COLORS[1]!, mid, L.width);
  assert.ok(b1 !== undefined);
  // y(0.75) = 440 - 262.5 = 177.5, which rounds to 178.
  assert.deepEqual(png.pixel(b1[0], 178), [...SERIES_COLORS[1]!]);
  assert.notDeepEqual(png.pixel(b1[0], 177), [...SERIES_COLORS[1]!]);
});

test('barChart: error bars span v ± e with caps, over and above the bar', () => {
  const png = chart({ series: [{ label: 'a', values: [0.5, 0.5], errors: [0.1, 0] }], showValues: false });
  const mid = (L.plotLeft + L.width - L.plotRightMargin) / 2;
  const [x0, x1] = run(png, L.plotBottom - 1, SERIES_COLORS[0]!, L.plotLeft, mid)!;
  const cx = Math.floor((x0 + x1) / 2);
  const hi = 440 - 210; // y(0.6)
  const lo = 440 - 140; // y(0.4)
  for (const y of [hi, hi + 10, 265, lo]) assert.deepEqual(png.pixel(cx, y), [...L.errorBar], `error bar at row ${y}`);
  assert.notDeepEqual(png.pixel(cx, hi - 1), [...L.errorBar]);
  assert.deepEqual(png.pixel(cx + 3, hi), [...L.errorBar], 'top cap');
  assert.deepEqual(png.pixel(cx - 3, lo), [...L.errorBar], 'bottom cap');
  // No error bar on the second bar (e = 0): its top row and the row above are untouched by it.
  const [y0, y1] = run(png, L.plotBottom - 1, SERIES_COLORS[0]!, mid, L.width)!;
  const cx1 = Math.floor((y0 + y1) / 2);
  assert.deepEqual(png.pixel(cx1, 265), [...SERIES_COLORS[0]!]);
  assert.deepEqual(png.pixel(cx1, 250), [...L.background]);
});

test('barChart: title, tick labels and legend are drawn where the layout puts them', () => {
  const png = chart({});
  // Title 'Test' at scale 3 is (4 x 6 - 1) x 3 = 69 wide, centred: x from round(415.5) = 416, row 14 is T's bar.
  assert.deepEqual(png.pixel(416, L.titleTop), [...L.text]);
  assert.deepEqual(png.pixel(430, L.titleTop + 2), [...L.text]);
  assert.deepEqual(png.pixel(415, L.titleTop), [...L.background]);
  // Tick label '1.0' at scale 2 is 34 wide, right-aligned 10 px left of the axis, caps centred on y(1) = 90:
  // it starts at x = 46, row 83; the '1' is '..#..' on its first row, so x = 50 is ink and x = 46 is not.
  assert.deepEqual(png.pixel(50, 83), [...L.text]);
  assert.deepEqual(png.pixel(46, 83), [...L.background]);
  // '0.5' on the tick at y(0.5) = 265: the '0' starts with '.###.' at x = 48..53 on row 258.
  assert.deepEqual(png.pixel(48, 258), [...L.text]);
  assert.deepEqual(png.pixel(47, 258), [...L.background]);
  // A short legend is one row above the plot.
  assert.ok(run(png, L.legendTop + 5, SERIES_COLORS[0]!, 0, L.width) !== undefined, 'legend swatch in the top row');
  // One wider than the plot (3 x (14 + 8 + 358 + 24) - 24 > 780) moves right of the plot.
  const label = 'a method with a very long name';
  const long = chart({ series: [1, 2, 3].map((k) => ({ label: `${label} ${k}`, values: [0.5, NaN] })) });
  assert.equal(run(long, L.legendTop + 5, SERIES_COLORS[0]!, 0, L.width), undefined);
  assert.ok(run(long, L.plotTop + 15, SERIES_COLORS[0]!, 600, L.width) !== undefined, 'legend swatch right of the plot');
});

test('niceStep: 1, 2, 2.5 or 5 x 10^k and the decimals that print it', () => {
  const cases: [number, number, number][] = [[0.1, 0.1, 1], [0.125, 0.2, 1], [0.3, 0.5, 1], [0.22, 0.25, 2], [5, 5, 0], [37, 50, 0], [0.025, 0.025, 3]];
  for (const [raw, step, decimals] of cases) {
    const r = niceStep(raw);
    assert.ok(Math.abs(r.step - step) < 1e-12, `step for ${raw}: ${r.step}`);
    assert.equal(r.decimals, decimals, `decimals for ${raw}`);
  }
});

test('barChart: errors name the argument and the received value', () => {
  const groups = ['a', 'b'];
  assert.throws(() => barChart({ title: 't', groups, series: [{ label: 's', values: [1, 2, 3] }] }),
    { code: 'E_SHAPE', message: 'Expected 2 numbers (one per group) for `series[0].values` but received 3' });
  assert.throws(() => barChart({ title: 't', groups, series: [{ label: 's', values: [1, 2], errors: [1] }] }),
    /for `series\[0\].errors` but received 1$/);
  assert.throws(() => barChart({ title: 't', groups, series: [] }), /Expected a non-empty array for `series` but received \[\]/);
  assert.throws(() => barChart({ title: 't', groups: [], series: [{ label: 's', values: [] }] }), /for `groups` but received \[\]/);
  assert.throws(() => barChart({ title: 't', groups, series: [{ label: 's', values: [1, 2] }], yMin: 1, yMax: 1 }),
    { code: 'E_INVALID_ARG', message: 'Expected finite `yMin` < `yMax` but received yMin=1, yMax=1' });
});
