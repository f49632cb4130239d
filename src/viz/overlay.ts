/**
 * A grid of segmentation overlays in the manner of the paper's Figure 2: one row per target domain;
 * the input slice, the ground truth (green), then one column per method with its predicted mask in
 * red and the ground-truth contour in green for comparison (yellow where the two contours agree).
 */
import { ConvLoraError, checkInt, describe, invalidArg } from '../errors.js';
import { Canvas, checkImage, maskContour, type Rect, type Rgb } from './canvas.js';
import { CAP_HEIGHT, drawText, fitText, textHeight, textWidth } from './font.js';

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
} as const;

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
  /** Text scale of the labels: 2 when every column label fits its cell at 2, else 1. */
  labelScale: number;
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
  const labelScale = labels.every((l) => textWidth(l, 2) <= cw) ? 2 : 1;
  const rowLabelW = Math.max(0, ...opts.rows.map((r) => textWidth(r.label, labelScale)));
  const left = O.pad + rowLabelW + (rowLabelW > 0 ? O.pad : 0);
  const top = O.pad + textHeight('', labelScale) + 6;
  const below = textHeight('', labelScale) + 4; // room for the Dice line under every cell
  const rowH = ch + below + O.gap;
  const footer = 6 * labelScale + textHeight('', labelScale) + O.pad; // the colour key, apart from the last captions
  return {
    width: left + labels.length * (cw + O.gap) - O.gap + O.pad,
    height: top + opts.rows.length * rowH - O.gap + footer,
    scale,
    labelScale,
    cell: (row, col) => ({ x: left + col * (cw + O.gap), y: top + row * rowH, width: cw, height: ch }),
  };
}

/** Render the overlay grid; returns PNG bytes. */
export function overlayGrid(opts: OverlayGridOptions): Uint8Array {
  validate(opts);
  const L = overlayGridLayout(opts);
  const O = OVERLAY;
  const size = opts.size;
  const ts = L.labelScale;
  // Contours at least 2 display pixels thick: a 1-pixel line vanishes when the figure is viewed shrunk.
  const line = L.scale >= 2 ? 1 : 2;
  const c = new Canvas(L.width, L.height, O.background);

  columnLabels(opts).forEach((label, col) => {
    const r = L.cell(0, col);
    const text = fitText(label, ts, r.width);
    drawText(c, r.x + (r.width - textWidth(text, ts)) / 2, O.pad, text, O.text, ts);
  });

  opts.rows.forEach((row, ri) => {
    const first = L.cell(ri, 0);
    drawText(c, O.pad, first.y + (first.height - CAP_HEIGHT * ts) / 2, row.label, O.text, ts);
    c.blitGray(row.image, size, first);

    const gtCell = L.cell(ri, 1);
    c.blitGray(row.image, size, gtCell);
    const gt = row.gt;
    const gtContour = gt === undefined ? undefined : maskContour(gt, size, line);
    if (gt !== undefined && gtContour !== undefined) {
      c.overlayMask(gt, size, gtCell, O.truth, O.alpha);
      c.overlayMask(gtContour, size, gtCell, O.truth, 1);
    } else {
      caption(c, gtCell, 'no ground truth', ts);
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
        if (opts.dice !== false) caption(c, cell, `Dice ${formatDice(dice(col.mask, gt))}`, ts);
      }
    });
  });

  drawKey(c, L, ts);
  return c.toPng();
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
function caption(c: Canvas, cell: Rect, text: string, labelScale: number): void {
  const scale = textWidth(text, labelScale) <= cell.width ? labelScale : 1;
  const t = fitText(text, scale, cell.width);
  drawText(c, cell.x + (cell.width - textWidth(t, scale)) / 2, cell.y + cell.height + 3, t, OVERLAY.text, scale);
}

/** The colour key along the bottom edge. */
function drawKey(c: Canvas, L: OverlayGridLayout, scale: number): void {
  const items: [Rgb, string][] = [[OVERLAY.truth, 'ground truth'], [OVERLAY.prediction, 'prediction'], [OVERLAY.agree, 'both']];
  let x = L.cell(0, 0).x;
  const y = L.height - OVERLAY.pad - textHeight('', scale);
  for (const [color, label] of items) {
    const sw = CAP_HEIGHT * scale;
    c.fillRect(x, y, sw, sw, color);
    drawText(c, x + sw + 4 * scale, y, label, OVERLAY.text, scale);
    x += sw + 4 * scale + textWidth(label, scale) + 12 * scale;
  }
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
