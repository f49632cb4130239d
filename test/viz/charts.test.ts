import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BAR_CHART, SERIES_COLORS, barChart, niceStep, type BarChartOptions } from '../../src/viz/index.js';
import { attr, findAll, hasClass, parseSvg, texts, type SvgElement } from './svg-parse.js';

const L = BAR_CHART;
const hex = (c: readonly number[]): string => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

const chart = (extra: Partial<BarChartOptions>): SvgElement =>
  parseSvg(barChart({ title: 'Test', groups: ['GE_3', 'Siemens_15'], series: [{ label: 'a', values: [0.5, NaN] }], ...extra }));

interface Bar { x: number; y: number; width: number; height: number; fill: string; tooltip: string }

/** The bars of series `s`, by group. */
function bars(svg: SvgElement, s: number): Map<number, Bar> {
  const series = findAll(svg, (e) => e.name === 'g' && hasClass(e, 'series') && e.attrs['data-series'] === String(s));
  assert.equal(series.length, 1, `one group for series ${s}`);
  const out = new Map<number, Bar>();
  for (const r of findAll(series[0]!, (e) => e.name === 'rect' && hasClass(e, 'bar'))) {
    const box = { x: attr(r, 'x'), y: attr(r, 'y'), width: attr(r, 'width'), height: attr(r, 'height') };
    out.set(attr(r, 'data-group'), { ...box, fill: r.attrs.fill ?? '', tooltip: r.children[0]?.text ?? '' });
  }
  return out;
}

const near = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 0.01, `${what}: ${a} vs ${b}`);

test('barChart: an SVG document of BAR_CHART.width x BAR_CHART.height, its title as text', () => {
  const doc = barChart({ title: 't', groups: ['x'], series: [{ label: 's', values: [1] }] });
  const svg = parseSvg(doc);
  assert.deepEqual([svg.attrs.width, svg.attrs.height, svg.attrs.viewBox], ['900', '500', '0 0 900 500']);
  assert.deepEqual([L.width, L.height], [900, 500]);
  assert.equal(svg.attrs.xmlns, 'http://www.w3.org/2000/svg');
  assert.equal(findAll(svg, (e) => e.name === 'image').length, 0, 'no raster in a chart');
});

test('barChart: a bar spans y(v) = plotBottom - (v - yMin) / (yMax - yMin) x (plotBottom - plotTop) to the base', () => {
  assert.deepEqual([L.plotTop, L.plotBottom], [90, 440]); // the values below are derived from these
  const cases: [string, number, Partial<BarChartOptions>, number][] = [
    // name, value, axis options, expected top
    ['0.5 on the default 0..1', 0.5, {}, 440 - 175],
    ['0.3 on the default 0..1', 0.3, {}, 440 - 105],
    ['42 on 0..50', 42, { yMax: 50 }, 440 - 294],
    ['0.9 on 0.5..1', 0.9, { yMin: 0.5, yMax: 1 }, 440 - 280],
    ['3.2 on the automatic 0..3.5 (ticks of 0.5)', 3.2, {}, 440 - 320],
  ];
  for (const [name, v, axis, top] of cases) {
    const bar = bars(chart({ ...axis, series: [{ label: 'a', values: [v, NaN] }] }), 0).get(0);
    assert.ok(bar !== undefined, name);
    near(bar.y, top, `${name}: top`);
    near(bar.y + bar.height, 440, `${name}: bottom on the x axis`);
    assert.equal(bar.fill, hex(SERIES_COLORS[0]!), name);
  }
});

test('barChart: missing values draw no bar but "n/a"; series get distinct colours side by side', () => {
  const svg = chart({ series: [{ label: 'a', values: [0.5, NaN] }, { label: 'b', values: [0.25, 0.75] }] });
  const a = bars(svg, 0);
  const b = bars(svg, 1);
  assert.deepEqual([...a.keys()], [0], 'no bar for NaN');
  assert.deepEqual(texts(svg, 'missing').map((t) => t.text), ['n/a']);
  assert.ok(a.get(0)!.x + a.get(0)!.width <= b.get(0)!.x, 'series a left of series b');
  const mid = (L.plotLeft + L.width - L.plotRightMargin) / 2; // the boundary between the two groups
  assert.ok(b.get(0)!.x < mid && b.get(1)!.x > mid, 'one bar in each group');
  assert.notEqual(a.get(0)!.fill, b.get(0)!.fill);
  near(b.get(1)!.y, 440 - 262.5, 'y(0.75)');
  assert.equal(b.get(1)!.tooltip, 'b, Siemens_15: 0.75');
});

test('barChart: error bars span v ± e with caps, and the tooltip gives both', () => {
  const svg = chart({ series: [{ label: 'a', values: [0.5, 0.5], errors: [0.1, 0] }], showValues: false });
  const bar = bars(svg, 0).get(0)!;
  const cx = bar.x + bar.width / 2;
  const lines = findAll(svg, (e) => e.name === 'line' && hasClass(e, 'error')).map((e) => [attr(e, 'x1'), attr(e, 'y1'), attr(e, 'x2'), attr(e, 'y2')]);
  assert.equal(lines.length, 1, 'one error bar: none where e = 0');
  const [x1, y1, x2, y2] = lines[0]!;
  near(x1!, cx, 'centred');
  assert.equal(x2, x1);
  near(y1!, 440 - 210, 'top at y(0.6)');
  near(y2!, 440 - 140, 'bottom at y(0.4)');
  const caps = findAll(svg, (e) => e.name === 'line' && hasClass(e, 'error-cap')).map((e) => attr(e, 'y1'));
  assert.equal(caps.length, 2);
  near(caps[0]!, 230, 'top cap');
  near(caps[1]!, 300, 'bottom cap');
  assert.equal(bar.tooltip, 'a, GE_3: 0.50 ± 0.10');
  assert.equal(texts(svg, 'value').length, 0, 'showValues: false');
});

test('barChart: title, ticks, values, group labels and legend are text where the layout puts them', () => {
  const svg = chart({});
  const [title] = texts(svg, 'title');
  assert.deepEqual([title?.text, title?.x, title?.anchor], ['Test', 450, 'middle']);
  const ticks = texts(svg, 'tick');
  assert.deepEqual(ticks.map((t) => t.text), ['0.0', '0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7', '0.8', '0.9', '1.0']);
  for (const t of ticks) {
    assert.equal(t.anchor, 'end');
    assert.equal(t.x, L.plotLeft - 10, 'right-aligned left of the axis');
    const v = Number(t.text);
    assert.ok(Math.abs(t.y - (440 - 350 * v) - 0.36 * L.font.tick) < 0.02, `'${t.text}' centred on its tick`);
  }
  assert.deepEqual(texts(svg, 'value').map((t) => t.text), ['0.50'], 'the value above its bar');
  assert.deepEqual(texts(svg, 'group').map((t) => t.text), ['GE_3', 'Siemens_15']);
  // A short legend is one row above the plot.
  const swatches = findAll(svg, (e) => e.name === 'rect' && hasClass(e, 'swatch')).map((e) => [attr(e, 'x'), attr(e, 'y')]);
  assert.equal(swatches.length, 1);
  assert.equal(swatches[0]![1], L.legendTop);
  // One wider than the plot moves right of the plot.
  const label = 'a method with a very long name';
  const long = chart({ series: [1, 2, 3].map((k) => ({ label: `${label} ${k}`, values: [0.5, NaN] })) });
  const side = findAll(long, (e) => e.name === 'rect' && hasClass(e, 'swatch')).map((e) => [attr(e, 'x'), attr(e, 'y')]);
  assert.equal(side.length, 3);
  for (const [x, y] of side) assert.ok(x! > 600 && y! >= L.plotTop, `legend swatch right of the plot at ${x}, ${y}`);
  const plotRight = Math.max(...findAll(long, (e) => e.name === 'line' && hasClass(e, 'axis')).map((e) => attr(e, 'x2')));
  assert.ok(plotRight < side[0]![0]!, 'the plot narrows for it');
});

test('barChart: text is escaped, and a title too long for the figure is shortened with an ellipsis', () => {
  const svg = chart({ title: 'Dice < 0.5 & "SDS"', series: [{ label: '<b>', values: [0.5, 0.4] }] });
  assert.equal(texts(svg, 'title')[0]!.text, 'Dice < 0.5 & "SDS"');
  assert.equal(findAll(svg, (e) => e.name === 'title')[0]!.text, 'Dice < 0.5 & "SDS"', 'the document title');
  assert.ok(texts(svg).some((t) => t.text === '<b>'), 'legend label as text, not markup');
  const long = texts(chart({ title: 'x'.repeat(200) }), 'title')[0]!.text;
  assert.ok(long.endsWith('…') && long.length < 200, long);
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
