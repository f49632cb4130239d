/**
 * Grouped bar charts (one group per target domain, one bar per method) as SVG, its text as text: title,
 * y axis with ticks and gridlines, error bars, group labels and a legend. Each bar carries its value in a
 * tooltip and its series and group in data- attributes.
 */
import { ConvLoraError, describe, invalidArg } from '../errors.js';
import type { Rgb } from './canvas.js';
import { Svg, baselineBelow, baselineCentred, fitText, textWidth } from './svg.js';

/**
 * Fixed layout of a bar chart, in SVG units (pixels at 100 %). A value maps to
 * y(v) = plotBottom - (v - yMin) / (yMax - yMin) * (plotBottom - plotTop), unrounded; a bar of value
 * v >= 0 spans y(v) .. y(max(yMin, 0)). The plot spans plotLeft .. width - plotRightMargin when the legend
 * fits in one row above it (at legendTop), else the legend stands right of the plot and narrows it.
 */
export const BAR_CHART = {
  width: 900,
  height: 500,
  plotLeft: 90,
  plotRightMargin: 30,
  plotTop: 90,
  plotBottom: 440,
  titleTop: 14,
  legendTop: 50,
  /** Fraction of a group's width taken by its bars; the rest separates groups. */
  groupFill: 0.76,
  /** Font sizes: title, tick and legend labels, axis title, group labels (smaller when one does not fit), values. */
  font: { title: 22, tick: 13, axis: 14, group: 14, groupSmall: 11, value: 11, legend: 13 },
  background: [255, 255, 255] as Rgb,
  text: [30, 30, 30] as Rgb,
  axis: [70, 70, 70] as Rgb,
  grid: [228, 228, 228] as Rgb,
  errorBar: [40, 40, 40] as Rgb,
} as const;

/** Series colours in order, cycled past ten: distinct hues of similar weight, readable on white. */
export const SERIES_COLORS: readonly Rgb[] = [
  [78, 121, 167], [242, 142, 43], [225, 87, 89], [118, 183, 178], [89, 161, 79],
  [237, 201, 72], [176, 122, 161], [255, 157, 167], [156, 117, 95], [186, 176, 172],
];

export interface BarSeries {
  label: string;
  /** One value per group; NaN (or any non-finite value) = missing, drawn as "n/a". */
  values: number[];
  /** Optional ± half-lengths of the error bars (e.g. one standard deviation), one per group. */
  errors?: number[];
}

export interface BarChartOptions {
  title: string;
  /** Group labels along the x axis, e.g. target domains. */
  groups: string[];
  series: BarSeries[];
  yLabel?: string;
  /** Axis range; by default 0 .. 1 when the data (with error bars) fit, else rounded out to a tick. */
  yMin?: number;
  yMax?: number;
  /** Print each value above its bar when every value fits its bar's width (default true). */
  showValues?: boolean;
}

const seriesColor = (i: number): Rgb => SERIES_COLORS[i % SERIES_COLORS.length]!;

/** A chart being drawn: the document, the value axis (range, ticks, value -> y) and the plot's right edge. */
interface Frame {
  svg: Svg; yMin: number; yMax: number; step: number; decimals: number; plotRight: number;
  yOf: (v: number) => number;
  /** y of a value clamped to the axis range. */
  clampY: (v: number) => number;
}

/** Render a grouped bar chart of BAR_CHART.width x BAR_CHART.height; returns the SVG document's text. */
export function barChart(opts: BarChartOptions): string {
  const { groups, series } = validate(opts);
  const L = BAR_CHART;
  const [yMin, yMax] = axisRange(opts);
  const { step, decimals } = niceStep((yMax - yMin) / 10);
  const svg = new Svg(L.width, L.height, { title: opts.title, background: L.background });
  const yOf = (v: number): number => L.plotBottom - ((v - yMin) / (yMax - yMin)) * (L.plotBottom - L.plotTop);
  const labels = series.map((s) => s.label);
  const legend = legendLayout(labels);
  const plotRight = L.width - L.plotRightMargin - (legend.side ? legend.width + 20 : 0);
  const f: Frame = { svg, yMin, yMax, step, decimals, plotRight, yOf, clampY: (v) => yOf(Math.min(yMax, Math.max(yMin, v))) };
  drawTitle(svg, opts.title);
  drawValueAxis(f, opts.yLabel);
  const groupW = (plotRight - L.plotLeft) / groups.length;
  drawBars(f, groups, series, groupW, opts.showValues !== false);
  drawGroupAxis(f, groups, groupW);
  if (legend.side) drawSideLegend(svg, plotRight + 20, L.plotTop, labels, legend);
  else drawTopLegend(svg, plotRight, labels);
  return svg.toString();
}

/** The title, centred on the whole figure; smaller, then shortened, if it would not fit. */
function drawTitle(svg: Svg, title: string): void {
  const L = BAR_CHART, F = L.font;
  const titleSize = textWidth(title, F.title) <= L.width - 40 ? F.title : Math.round(F.title * 0.75);
  svg.text(L.width / 2, baselineBelow(L.titleTop, titleSize), fitText(title, titleSize, L.width - 20),
    { size: titleSize, color: L.text, anchor: 'middle', bold: true, className: 'title' });
}

/** Gridlines and tick labels (with rounding slack so that yMax itself gets a tick), and the axis title. */
function drawValueAxis(f: Frame, yLabel: string | undefined): void {
  const L = BAR_CHART, F = L.font, { svg, step } = f;
  svg.group({ class: 'y-axis' });
  for (let k = Math.ceil(f.yMin / step - 1e-9); k * step <= f.yMax + step * 1e-9; k++) {
    const v = k * step;
    const y = f.yOf(v);
    svg.line(L.plotLeft, y, f.plotRight, y, L.grid, { class: 'grid' });
    svg.line(L.plotLeft - 5, y, L.plotLeft, y, L.axis);
    svg.text(L.plotLeft - 10, baselineCentred(y, F.tick), v.toFixed(f.decimals), { size: F.tick, color: L.text, anchor: 'end', className: 'tick' });
  }
  if (yLabel !== undefined && yLabel !== '') {
    const x = 24;
    svg.text(x, (L.plotTop + L.plotBottom) / 2, yLabel, { size: F.axis, color: L.text, anchor: 'middle', rotate: -90, className: 'axis-label' });
  }
  svg.end();
}

/** Where one series' bars go within their groups. */
interface BarSlot { barW: number; gap: number; base: number; showValues: boolean; valueText: (v: number) => string }

/** Bars, error bars and values: one SVG group per series. */
function drawBars(f: Frame, groups: string[], series: BarSeries[], groupW: number, wantValues: boolean): void {
  const L = BAR_CHART, F = L.font;
  const barW = (groupW * L.groupFill) / series.length;
  const valueText = (v: number): string => v.toFixed(f.decimals + 1);
  const slot: BarSlot = {
    barW, gap: barW >= 10 ? 2 : 0, // a white seam between neighbouring bars when they are wide enough
    base: Math.min(f.yMax, Math.max(f.yMin, 0)), valueText,
    // All values or none, so that a missing label never reads as a missing result.
    showValues: wantValues && series.every((s) => s.values.every((v) => !Number.isFinite(v) || textWidth(valueText(v), F.value) <= barW - 2)),
  };
  series.forEach((s, i) => {
    f.svg.group({ class: 'series', 'data-series': i, 'data-label': s.label });
    groups.forEach((group, g) => drawBar(f, slot, s, i, group, g, L.plotLeft + g * groupW + (groupW * (1 - L.groupFill)) / 2 + i * barW));
    f.svg.end();
  });
}

/** Series `i`'s bar in group `g`, its left edge at `left`: the bar with its tooltip, the error bar, the value ("n/a" when missing). */
function drawBar(f: Frame, slot: BarSlot, s: BarSeries, i: number, group: string, g: number, left: number): void {
  const L = BAR_CHART, F = L.font, { svg } = f;
  const x0 = left + slot.gap / 2;
  const w = slot.barW - slot.gap;
  const cx = left + slot.barW / 2;
  const v = s.values[g]!;
  if (!Number.isFinite(v)) {
    if (textWidth('n/a', F.value) <= w) svg.text(cx, L.plotBottom - 4, 'n/a', { size: F.value, color: L.axis, anchor: 'middle', className: 'missing' });
    return;
  }
  const yv = f.clampY(v);
  const yb = f.clampY(slot.base);
  const e = s.errors?.[g];
  const hasError = e !== undefined && Number.isFinite(e) && e > 0;
  const tip = `${s.label}, ${group}: ${slot.valueText(v)}${hasError ? ` ± ${slot.valueText(e)}` : ''}`;
  svg.rect(x0, Math.min(yv, yb), w, Math.abs(yb - yv), seriesColor(i), { class: 'bar', 'data-group': g }, tip);
  let top = Math.min(yv, yb);
  if (hasError) {
    const hi = f.clampY(v + e);
    const lo = f.clampY(v - e);
    const cap = Math.max(2, Math.min(10, w / 4));
    svg.line(cx, hi, cx, lo, L.errorBar, { class: 'error' });
    if (v + e <= f.yMax) svg.line(cx - cap, hi, cx + cap, hi, L.errorBar, { class: 'error-cap' });
    if (v - e >= f.yMin) svg.line(cx - cap, lo, cx + cap, lo, L.errorBar, { class: 'error-cap' });
    top = Math.min(top, hi);
  }
  if (slot.showValues) svg.text(cx, top - 4, slot.valueText(v), { size: F.value, color: L.text, anchor: 'middle', className: 'value' });
}

/** The axes, on top of the bars, then the group labels below the x axis (smaller when one does not fit). */
function drawGroupAxis(f: Frame, groups: string[], groupW: number): void {
  const L = BAR_CHART, F = L.font, { svg } = f;
  svg.line(L.plotLeft, L.plotTop, L.plotLeft, L.plotBottom, L.axis, { class: 'axis' });
  svg.line(L.plotLeft, L.plotBottom, f.plotRight, L.plotBottom, L.axis, { class: 'axis' });
  const groupSize = groups.every((gl) => textWidth(gl, F.group) <= groupW - 6) ? F.group : F.groupSmall;
  groups.forEach((gl, g) => {
    const cx = L.plotLeft + (g + 0.5) * groupW;
    svg.line(cx, L.plotBottom, cx, L.plotBottom + 4, L.axis);
    svg.text(cx, baselineBelow(L.plotBottom + 10, groupSize), fitText(gl, groupSize, groupW - 4),
      { size: groupSize, color: L.text, anchor: 'middle', className: 'group' });
  });
}

interface LegendLayout { side: boolean; width: number; size: number }

const SWATCH = 14;

/** One item of the one-row legend: swatch, space, label, then space before the next item. */
const topItemWidth = (label: string): number => SWATCH + 8 + textWidth(label, BAR_CHART.font.legend) + 24;

/**
 * One row above the plot when it fits (the plot then keeps the full width), else a column right of
 * the plot, its labels at the legend's size unless that would take more than a third of the figure.
 */
function legendLayout(labels: string[]): LegendLayout {
  const row = labels.reduce((n, l) => n + topItemWidth(l), -24);
  const size = BAR_CHART.font.legend;
  if (row <= BAR_CHART.width - BAR_CHART.plotLeft - BAR_CHART.plotRightMargin) return { side: false, width: row, size };
  const column = (sz: number): LegendLayout =>
    ({ side: true, size: sz, width: 12 + sz + 8 + Math.max(0, ...labels.map((l) => textWidth(l, sz))) + 12 });
  const big = column(size);
  return big.width <= BAR_CHART.width / 3 ? big : column(Math.round(size * 0.75));
}

/** The one-row legend, right-aligned with the plot. */
function drawTopLegend(svg: Svg, plotRight: number, labels: string[]): void {
  const size = BAR_CHART.font.legend;
  let x = plotRight - labels.reduce((n, l) => n + topItemWidth(l), -24);
  svg.group({ class: 'legend' });
  labels.forEach((label, i) => {
    svg.rect(x, BAR_CHART.legendTop, SWATCH, SWATCH, seriesColor(i), { class: 'swatch' });
    svg.text(x + SWATCH + 8, baselineCentred(BAR_CHART.legendTop + SWATCH / 2, size), label, { size, color: BAR_CHART.text });
    x += topItemWidth(label);
  });
  svg.end();
}

function drawSideLegend(svg: Svg, x: number, y: number, labels: string[], l: LegendLayout): void {
  const maxW = BAR_CHART.width - x - 10;
  const swatch = l.size;
  const row = Math.round(l.size * 1.7);
  svg.group({ class: 'legend' });
  svg.outline(x, y, Math.min(l.width, maxW), 12 + labels.length * row - (row - swatch) + 12, BAR_CHART.grid);
  labels.forEach((label, i) => {
    const ry = y + 12 + i * row;
    svg.rect(x + 12, ry, swatch, swatch, seriesColor(i), { class: 'swatch' });
    svg.text(x + 12 + swatch + 8, baselineCentred(ry + swatch / 2, l.size), fitText(label, l.size, maxW - 12 - swatch - 16),
      { size: l.size, color: BAR_CHART.text });
  });
  svg.end();
}

/**
 * The smallest "nice" step (1, 2, 2.5 or 5 times a power of ten) >= `raw`, and the decimals that
 * print it exactly. Ten intervals at most over the axis, so [0, 1] gets ticks 0.0, 0.1, ..., 1.0.
 */
export function niceStep(raw: number): { step: number; decimals: number } {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw * (1 - 1e-9)) ?? 10 * p;
  let decimals = 0;
  while (decimals < 10 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6) decimals++;
  return { step, decimals };
}

function axisRange(opts: BarChartOptions): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of opts.series) {
    s.values.forEach((v, g) => {
      if (!Number.isFinite(v)) return;
      const e = s.errors?.[g];
      const d = e !== undefined && Number.isFinite(e) ? Math.abs(e) : 0;
      lo = Math.min(lo, v - d);
      hi = Math.max(hi, v + d);
    });
  }
  if (lo === Infinity) { lo = 0; hi = 1; }
  const roundOut = (a: number, b: number, up: boolean): number => {
    const { step } = niceStep(Math.max(b - a, 1e-12) / 10);
    return up ? Math.ceil(b / step - 1e-9) * step : Math.floor(a / step + 1e-9) * step;
  };
  const yMin = opts.yMin ?? (lo >= 0 ? 0 : roundOut(lo, Math.max(hi, 0), false));
  const yMax = opts.yMax ?? (hi <= 1 && yMin < 1 ? 1 : roundOut(yMin, hi, true));
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax) || yMin >= yMax) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected finite \`yMin\` < \`yMax\` but received yMin=${describe(yMin)}, yMax=${describe(yMax)}`);
  }
  return [yMin, yMax];
}

function validate(opts: BarChartOptions): { groups: string[]; series: BarSeries[] } {
  if (typeof opts.title !== 'string') invalidArg('title', 'a string', opts.title);
  if (!Array.isArray(opts.groups) || opts.groups.length === 0) invalidArg('groups', 'a non-empty array of labels', opts.groups);
  if (!Array.isArray(opts.series) || opts.series.length === 0) invalidArg('series', 'a non-empty array', opts.series);
  opts.series.forEach((s, i) => {
    for (const key of ['values', 'errors'] as const) {
      const a = s[key];
      if (a === undefined && key === 'errors') continue;
      if (!Array.isArray(a) || a.length !== opts.groups.length) {
        throw new ConvLoraError('E_SHAPE', `Expected ${opts.groups.length} numbers (one per group) for \`series[${i}].${key}\` but received ${Array.isArray(a) ? a.length : describe(a)}`);
      }
    }
  });
  return { groups: opts.groups, series: opts.series };
}
