/**
 * Grouped bar charts (one group per target domain, one bar per method) as PNG bytes, drawn with the
 * built-in font: title, y axis with ticks and gridlines, error bars, group labels and a legend.
 */
import { ConvLoraError, describe, invalidArg } from '../errors.js';
import { Canvas, type Rgb } from './canvas.js';
import { CAP_HEIGHT, drawText, drawTextUp, fitText, textHeight, textWidth } from './font.js';

/**
 * Fixed layout of a bar chart, in pixels. The plot's vertical extent is fixed so that a value maps
 * to a known row: y(v) = plotBottom - (v - yMin) / (yMax - yMin) * (plotBottom - plotTop), rounded;
 * a bar of value v >= 0 covers rows round(y(v)) .. plotBottom - 1. The plot spans plotLeft ..
 * width - plotRightMargin when the legend fits in one row above it (at legendTop), else the legend
 * stands right of the plot and narrows it.
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

/** Render a grouped bar chart of BAR_CHART.width x BAR_CHART.height pixels; returns PNG bytes. */
export function barChart(opts: BarChartOptions): Uint8Array {
  const { groups, series } = validate(opts);
  const L = BAR_CHART;
  const [yMin, yMax] = axisRange(opts);
  const { step, decimals } = niceStep((yMax - yMin) / 10);
  const c = new Canvas(L.width, L.height, L.background);
  const yOf = (v: number): number => Math.round(L.plotBottom - ((v - yMin) / (yMax - yMin)) * (L.plotBottom - L.plotTop));
  const clampY = (v: number): number => yOf(Math.min(yMax, Math.max(yMin, v)));

  const labels = series.map((s) => s.label);
  const legend = legendLayout(labels);
  const plotRight = L.width - L.plotRightMargin - (legend.side ? legend.width + 20 : 0);

  // Title, centred on the whole figure; smaller if it would not fit.
  const titleScale = textWidth(opts.title, 3) <= L.width - 40 ? 3 : 2;
  const title = fitText(opts.title, titleScale, L.width - 20);
  drawText(c, (L.width - textWidth(title, titleScale)) / 2, L.titleTop, title, L.text, titleScale);

  // Gridlines and tick labels (with rounding slack so that yMax itself gets a tick).
  for (let k = Math.ceil(yMin / step - 1e-9); k * step <= yMax + step * 1e-9; k++) {
    const v = k * step;
    const y = yOf(v);
    c.line(L.plotLeft, y, plotRight - 1, y, L.grid);
    c.line(L.plotLeft - 5, y, L.plotLeft - 1, y, L.axis);
    const label = v.toFixed(decimals);
    drawText(c, L.plotLeft - 10 - textWidth(label, 2), y - CAP_HEIGHT, label, L.text, 2);
  }
  if (opts.yLabel !== undefined && opts.yLabel !== '') {
    const len = textWidth(opts.yLabel, 2);
    drawTextUp(c, 12, (L.plotTop + L.plotBottom + len) / 2, opts.yLabel, L.text, 2);
  }

  // Bars, error bars, values.
  const groupW = (plotRight - L.plotLeft) / groups.length;
  const barW = (groupW * L.groupFill) / series.length;
  const gap = barW >= 10 ? 2 : 0; // a white seam between neighbouring bars when they are wide enough
  const base = Math.min(yMax, Math.max(yMin, 0));
  const valueText = (v: number): string => v.toFixed(decimals + 1);
  // All values or none, so that a missing label never reads as a missing result.
  const showValues = opts.showValues !== false &&
    series.every((s) => s.values.every((v) => !Number.isFinite(v) || textWidth(valueText(v)) <= barW - 3));
  groups.forEach((_, g) => {
    series.forEach((s, i) => {
      const left = L.plotLeft + g * groupW + (groupW * (1 - L.groupFill)) / 2 + i * barW;
      const x0 = Math.round(left) + gap / 2;
      const x1 = Math.round(left + barW) - gap / 2;
      const cx = Math.floor((x0 + x1 - 1) / 2);
      const v = s.values[g]!;
      if (!Number.isFinite(v)) {
        if (textWidth('n/a') <= x1 - x0) drawText(c, cx - textWidth('n/a') / 2 + 1, L.plotBottom - 12, 'n/a', L.axis);
        return;
      }
      const yv = clampY(v);
      const yb = clampY(base);
      c.fillRect(x0, Math.min(yv, yb), x1 - x0, Math.abs(yb - yv), seriesColor(i));
      let top = Math.min(yv, yb);
      const e = s.errors?.[g];
      if (e !== undefined && Number.isFinite(e) && e > 0) {
        const hi = clampY(v + e);
        const lo = clampY(v - e);
        const cap = Math.max(2, Math.min(10, Math.floor((x1 - x0) / 4)));
        c.line(cx, hi, cx, lo, L.errorBar);
        if (v + e <= yMax) c.line(cx - cap, hi, cx + cap, hi, L.errorBar);
        if (v - e >= yMin) c.line(cx - cap, lo, cx + cap, lo, L.errorBar);
        top = Math.min(top, hi);
      }
      if (showValues) drawText(c, cx - textWidth(valueText(v)) / 2 + 1, top - 11, valueText(v), L.text);
    });
  });

  // Axes on top of the bars, then group labels below the x axis.
  c.line(L.plotLeft, L.plotTop, L.plotLeft, L.plotBottom, L.axis);
  c.line(L.plotLeft, L.plotBottom, plotRight - 1, L.plotBottom, L.axis);
  const labelScale = groups.every((gl) => textWidth(gl, 2) <= groupW - 6) ? 2 : 1;
  groups.forEach((gl, g) => {
    const label = fitText(gl, labelScale, groupW - 4);
    const cx = L.plotLeft + (g + 0.5) * groupW;
    c.line(Math.round(cx), L.plotBottom + 1, Math.round(cx), L.plotBottom + 4, L.axis);
    drawText(c, cx - textWidth(label, labelScale) / 2, L.plotBottom + 10, label, L.text, labelScale);
  });

  if (legend.side) drawSideLegend(c, plotRight + 20, L.plotTop, labels, legend);
  else drawTopLegend(c, plotRight, labels);
  return c.toPng();
}

interface LegendLayout { side: boolean; width: number; scale: number }

const SWATCH = 14;

/** One item of the one-row legend: swatch, space, label, then space before the next item. */
const topItemWidth = (label: string): number => SWATCH + 8 + textWidth(label, 2) + 24;

/**
 * One row above the plot when it fits (the plot then keeps the full width), else a column right of
 * the plot, its labels at scale 2 unless that would take more than a third of the figure.
 */
function legendLayout(labels: string[]): LegendLayout {
  const row = labels.reduce((n, l) => n + topItemWidth(l), -24);
  if (row <= BAR_CHART.width - BAR_CHART.plotLeft - BAR_CHART.plotRightMargin) return { side: false, width: row, scale: 2 };
  const column = (scale: number): LegendLayout =>
    ({ side: true, scale, width: 12 + 7 * scale + 8 + Math.max(0, ...labels.map((l) => textWidth(l, scale))) + 12 });
  const big = column(2);
  return big.width <= BAR_CHART.width / 3 ? big : column(1);
}

/** The one-row legend, right-aligned with the plot. */
function drawTopLegend(c: Canvas, plotRight: number, labels: string[]): void {
  let x = plotRight - labels.reduce((n, l) => n + topItemWidth(l), -24);
  labels.forEach((label, i) => {
    c.fillRect(x, BAR_CHART.legendTop, SWATCH, SWATCH, seriesColor(i));
    drawText(c, x + SWATCH + 8, BAR_CHART.legendTop, label, BAR_CHART.text, 2);
    x += topItemWidth(label);
  });
}

function drawSideLegend(c: Canvas, x: number, y: number, labels: string[], l: LegendLayout): void {
  const maxW = BAR_CHART.width - x - 10;
  const swatch = 7 * l.scale;
  const row = textHeight('', l.scale) + 6 * l.scale;
  c.rect(x, y, Math.min(l.width, maxW), 12 + labels.length * row - 6 * l.scale + 10, BAR_CHART.grid);
  labels.forEach((label, i) => {
    const ry = y + 12 + i * row;
    c.fillRect(x + 12, ry, swatch, swatch, seriesColor(i));
    drawText(c, x + 12 + swatch + 8, ry, fitText(label, l.scale, maxW - 12 - swatch - 16), BAR_CHART.text, l.scale);
  });
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
