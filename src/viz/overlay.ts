/**
 * A grid of segmentation overlays in the manner of the paper's Figure 2: one row per target domain;
 * the input slice, the ground truth (green), then one column per method with its predicted mask in
 * red and the ground-truth contour in green for comparison (yellow where the two contours agree).
 * An SVG: the slices are one embedded PNG (the only part that needs to be a raster), the labels, Dice
 * captions and colour key are SVG text and shapes.
 */
import { ConvLoraError, checkInt, describe, invalidArg } from '../errors.js';
import { Canvas, checkImage, maskContour, type Rect, type Rgb } from './canvas.js';
import { Svg, baselineBelow, baselineCentred, fitText, textWidth } from './svg.js';

export const OVERLAY = {
  /** Outer margin, and the space between the row labels and the first column. */
  pad: 12,
  /** Space between neighbouring cells. */
  gap: 6,
  /** Opacity of a filled mask over the image: enough to see the mask, little enough to see the anatomy under it. */
  alpha: 0.35,
  background: [255, 255, 255] as Rgb,
  text: [30, 30, 30] as Rgb,
  truth: [40, 200, 70] as Rgb,
  prediction: [230, 45, 45] as Rgb,
  /** A contour pixel shared by the truth and the prediction. */
  agree: [250, 215, 30] as Rgb,
  /** Font size of the labels, and the smaller one used when a column label would not fit its cell. */
  font: 14,
  smallFont: 11,
} as const;

/** Height of a line of text of font size `size`. */
const lineHeight = (size: number): number => Math.ceil(size * 1.25);

export interface OverlayRow {
  /** Row label, e.g. the target domain. */
  label: string;
  /** The input slice, [H, W] row-major, intensities in [0, 1]. */
  image: Float32Array;
  /** Ground-truth mask, [H, W] of 0/1; without it the ground-truth column shows the plain image. */
  gt?: Uint8Array;
  /** One predicted mask per method, [H, W] of 0/1; every row lists the same labels in the same order. */
  columns: { label: string; mask: Uint8Array }[];
}

export interface OverlayGridOptions {
  rows: OverlayRow[];
  /** [H, W] of every image and mask. */
  size: [number, number];
  /** Integer magnification; by default the smallest that makes a cell at least 128 pixels on its longer side. */
  scale?: number;
  /** Print each method's Dice against the ground truth under its cell (default true; needs `gt`). */
  dice?: boolean;
}

export interface OverlayGridLayout {
  width: number;
  height: number;
  scale: number;
  /** Font size of the labels: OVERLAY.font when every column label fits its cell at that size, else smallFont. */
  fontSize: number;
  /** Where the image of row r, column c goes (column 0 = input, 1 = ground truth, 2.. = methods). */
  cell(row: number, col: number): Rect;
}

/** The geometry of overlayGrid(opts), without drawing it. */
export function overlayGridLayout(opts: OverlayGridOptions): OverlayGridLayout {
  const [h, w] = opts.size;
  checkImage('size', { length: h * w }, opts.size);
  const scale = opts.scale ?? Math.max(1, Math.ceil(128 / Math.max(h, w)));
  checkInt('scale', scale, 1);
  const O = OVERLAY;
  const cw = w * scale;
  const ch = h * scale;
  const labels = columnLabels(opts);
  const fontSize = labels.every((l) => textWidth(l, O.font) <= cw) ? O.font : O.smallFont;
  const rowLabelW = Math.ceil(Math.max(0, ...opts.rows.map((r) => textWidth(r.label, fontSize))));
  const left = O.pad + rowLabelW + (rowLabelW > 0 ? O.pad : 0);
  const top = O.pad + lineHeight(fontSize) + 6;
  const below = lineHeight(fontSize) + 4; // room for the Dice line under every cell
  const rowH = ch + below + O.gap;
  const footer = 6 + lineHeight(fontSize) + O.pad; // the colour key, apart from the last captions
  return {
    width: left + labels.length * (cw + O.gap) - O.gap + O.pad,
    height: top + opts.rows.length * rowH - O.gap + footer,
    scale,
    fontSize,
    cell: (row, col) => ({ x: left + col * (cw + O.gap), y: top + row * rowH, width: cw, height: ch }),
  };
}

/** Render the overlay grid; returns the SVG document's text. */
export function overlayGrid(opts: OverlayGridOptions): string {
  validate(opts);
  const L = overlayGridLayout(opts);
  const O = OVERLAY;
  const size = opts.size;
  const fs = L.fontSize;
  // Contours at least 2 display pixels thick: a 1-pixel line vanishes when the figure is viewed shrunk.
  const line = L.scale >= 2 ? 1 : 2;
  // The slices, at their positions in the figure, on one raster of the figure's size (white around them
  // compresses to almost nothing); everything else is drawn over it as SVG.
  const c = new Canvas(L.width, L.height, O.background);
  const captions: { cell: Rect; text: string }[] = [];

  opts.rows.forEach((row, ri) => {
    c.blitGray(row.image, size, L.cell(ri, 0));

    const gtCell = L.cell(ri, 1);
    c.blitGray(row.image, size, gtCell);
    const gt = row.gt;
    const gtContour = gt === undefined ? undefined : maskContour(gt, size, line);
    if (gt !== undefined && gtContour !== undefined) {
      c.overlayMask(gt, size, gtCell, O.truth, O.alpha);
      c.overlayMask(gtContour, size, gtCell, O.truth, 1);
    } else {
      captions.push({ cell: gtCell, text: 'no ground truth' });
    }

    row.columns.forEach((col, k) => {
      const cell = L.cell(ri, 2 + k);
      c.blitGray(row.image, size, cell);
      c.overlayMask(col.mask, size, cell, O.prediction, O.alpha);
      const pred = maskContour(col.mask, size, line);
      c.overlayMask(pred, size, cell, O.prediction, 1);
      if (gt !== undefined && gtContour !== undefined) {
        c.overlayMask(gtContour, size, cell, O.truth, 1);
        c.overlayMask(pred.map((p, i) => p & gtContour[i]!), size, cell, O.agree, 1);
        if (opts.dice !== false) captions.push({ cell, text: `Dice ${formatDice(dice(col.mask, gt))}` });
      }
    });
  });

  const svg = new Svg(L.width, L.height, { title: 'Segmentation overlays', background: O.background });
  svg.png(0, 0, L.width, L.height, c.toPng(), { class: 'slices' });
  svg.group({ class: 'labels' });
  columnLabels(opts).forEach((label, col) => {
    const r = L.cell(0, col);
    svg.text(r.x + r.width / 2, baselineBelow(O.pad, fs), fitText(label, fs, r.width), { size: fs, color: O.text, anchor: 'middle', className: 'column' });
  });
  opts.rows.forEach((row, ri) => {
    const first = L.cell(ri, 0);
    svg.text(O.pad, baselineCentred(first.y + first.height / 2, fs), row.label, { size: fs, color: O.text, className: 'row' });
  });
  for (const { cell, text } of captions) caption(svg, cell, text, fs);
  svg.end();
  drawKey(svg, L, fs);
  return svg.toString();
}

/** Dice of two binary masks; NaN when both are empty. */
function dice(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ? 1 : 0;
    const y = b[i] ? 1 : 0;
    inter += x & y;
    sa += x;
    sb += y;
  }
  return sa + sb === 0 ? NaN : (2 * inter) / (sa + sb);
}

function formatDice(d: number): string {
  return Number.isNaN(d) ? 'n/a' : d.toFixed(3);
}

/** Centred text just under a cell; smaller, then shortened, if it is wider than the cell. */
function caption(svg: Svg, cell: Rect, text: string, fontSize: number): void {
  const size = textWidth(text, fontSize) <= cell.width ? fontSize : OVERLAY.smallFont;
  svg.text(cell.x + cell.width / 2, baselineBelow(cell.y + cell.height + 3, size), fitText(text, size, cell.width),
    { size, color: OVERLAY.text, anchor: 'middle', className: 'caption' });
}

/** The colour key along the bottom edge. */
function drawKey(svg: Svg, L: OverlayGridLayout, size: number): void {
  const items: [Rgb, string][] = [[OVERLAY.truth, 'ground truth'], [OVERLAY.prediction, 'prediction'], [OVERLAY.agree, 'both']];
  let x = L.cell(0, 0).x;
  const top = L.height - OVERLAY.pad - lineHeight(size);
  const sw = Math.round(size * 0.8);
  svg.group({ class: 'key' });
  for (const [color, label] of items) {
    svg.rect(x, top + (lineHeight(size) - sw) / 2, sw, sw, color, { class: 'swatch' });
    svg.text(x + sw + 6, baselineCentred(top + lineHeight(size) / 2, size), label, { size, color: OVERLAY.text });
    x += sw + 6 + textWidth(label, size) + 18;
  }
  svg.end();
}

function columnLabels(opts: OverlayGridOptions): string[] {
  return ['Input', 'Ground truth', ...(opts.rows[0]?.columns.map((c) => c.label) ?? [])];
}

function validate(opts: OverlayGridOptions): void {
  if (!Array.isArray(opts.rows) || opts.rows.length === 0) invalidArg('rows', 'a non-empty array', opts.rows);
  if (!Array.isArray(opts.size) || opts.size.length !== 2) invalidArg('size', '[H, W]', opts.size);
  const expected = opts.rows[0]!.columns.map((c) => c.label);
  opts.rows.forEach((row, r) => {
    checkImage(`rows[${r}].image`, row.image, opts.size);
    if (row.gt !== undefined) checkImage(`rows[${r}].gt`, row.gt, opts.size);
    row.columns.forEach((col, k) => checkImage(`rows[${r}].columns[${k}].mask`, col.mask, opts.size));
    const labels = row.columns.map((c) => c.label);
    if (labels.length !== expected.length || labels.some((l, i) => l !== expected[i])) {
      throw new ConvLoraError('E_INVALID_ARG', `Expected the column labels of row 0 ${describe(expected)} for \`rows[${r}].columns\` but received ${describe(labels)}`);
    }
  });
}
