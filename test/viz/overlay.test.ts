import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OVERLAY, overlayGrid, overlayGridLayout, type OverlayGridOptions } from '../../src/viz/index.js';
import { embeddedPng, findAll, hasClass, parseSvg, texts, type SvgElement } from './svg-parse.js';

const H = 8;
const W = 8;
/** [H, W] mask of the square rows/cols lo..hi inclusive. */
function square(lo: number, hi: number): Uint8Array {
  const m = new Uint8Array(H * W);
  for (let y = lo; y <= hi; y++) for (let x = lo; x <= hi; x++) m[y * W + x] = 1;
  return m;
}
const gray = new Float32Array(H * W).fill(0.5); // 0.5 -> 128
const gt = square(2, 5);
const pred = square(1, 6);

function options(extra: Partial<OverlayGridOptions> = {}): OverlayGridOptions {
  return {
    size: [H, W],
    scale: 3,
    rows: [
      { label: 'GE_3', image: gray, gt, columns: [{ label: 'Pred', mask: pred }, { label: 'Same', mask: gt }] },
      { label: 'Philips_15', image: gray, columns: [{ label: 'Pred', mask: pred }, { label: 'Same', mask: gt }] },
    ],
    ...extra,
  };
}

/** The figure's one raster, checked to cover the whole figure at one pixel per unit. */
function raster(svg: SvgElement): ReturnType<typeof embeddedPng>['png'] {
  const r = embeddedPng(svg);
  assert.deepEqual([r.x, r.y, r.width, r.height], [0, 0, Number(svg.attrs.width), Number(svg.attrs.height)]);
  assert.deepEqual([r.png.width, r.png.height], [r.width, r.height], 'one raster pixel per unit');
  return r.png;
}

test('overlayGrid: an SVG the size of the layout; the slices one embedded PNG, the cells where the layout puts them', () => {
  const opts = options();
  const layout = overlayGridLayout(opts);
  const svg = parseSvg(overlayGrid(opts));
  assert.deepEqual([Number(svg.attrs.width), Number(svg.attrs.height)], [layout.width, layout.height]);
  const png = raster(svg);
  const a = layout.cell(0, 0);
  assert.deepEqual([a.width, a.height], [24, 24]);
  assert.equal(layout.cell(0, 3).x - layout.cell(0, 2).x, 24 + OVERLAY.gap);
  assert.ok(layout.cell(1, 0).y >= a.y + 24 + OVERLAY.gap);
  assert.ok(layout.cell(0, 3).x + 24 + OVERLAY.pad <= layout.width);
  // The images are where the layout says: gray at a cell's corner, background just outside it.
  for (const [r, c] of [[0, 1], [1, 3]] as const) {
    const cell = layout.cell(r, c);
    assert.deepEqual(png.pixel(cell.x, cell.y), [128, 128, 128], `cell ${r},${c} corner`);
    assert.deepEqual(png.pixel(cell.x - 1, cell.y), [...OVERLAY.background], `left of cell ${r},${c}`);
    assert.deepEqual(png.pixel(cell.x, cell.y - 1), [...OVERLAY.background], `above cell ${r},${c}`);
  }
  // Default scale: the smallest making the longer side >= 128 pixels.
  for (const [size, scale] of [[[8, 8], 16], [[256, 256], 1], [[100, 60], 2]] as const) {
    assert.equal(overlayGridLayout({ rows: opts.rows, size: [...size] }).scale, scale, `${size}`);
  }
});

test('overlayGrid: mask overlay colours inside, untouched gray outside, contours in their colours', () => {
  const opts = options();
  const layout = overlayGridLayout(opts);
  const png = raster(parseSvg(overlayGrid(opts)));
  /** The pixel at the middle of source pixel (y, x) of cell (r, c); scale 3. */
  const at = (r: number, c: number, y: number, x: number): [number, number, number] => {
    const cell = layout.cell(r, c);
    return png.pixel(cell.x + 3 * x + 1, cell.y + 3 * y + 1);
  };
  // Blends with alpha 0.35 over 128, derived by hand: round(0.65 x 128 + 0.35 x colour).
  const redOver = [164, 99, 99]; // 83.2 + 80.5, 83.2 + 15.75, 83.2 + 15.75
  const greenOver = [97, 153, 108]; // 83.2 + 14, 83.2 + 70, 83.2 + 24.5
  assert.deepEqual(at(0, 0, 3, 3), [128, 128, 128], 'input column: the plain image');
  assert.deepEqual(at(0, 1, 3, 3), greenOver, 'ground truth: green inside the mask');
  assert.deepEqual(at(0, 1, 2, 2), [...OVERLAY.truth], 'ground truth: its contour');
  assert.deepEqual(at(0, 1, 1, 1), [128, 128, 128], 'ground truth: gray outside');
  assert.deepEqual(at(0, 2, 3, 3), redOver, 'method: red inside its mask');
  assert.deepEqual(at(0, 2, 1, 1), [...OVERLAY.prediction], 'method: its contour');
  assert.deepEqual(at(0, 2, 2, 3), [...OVERLAY.truth], 'method: ground-truth contour inside the prediction');
  assert.deepEqual(at(0, 2, 0, 0), [128, 128, 128], 'method: gray outside');
  assert.deepEqual(at(0, 2, 7, 7), [128, 128, 128], 'method: gray outside');
  assert.deepEqual(at(0, 3, 2, 2), [...OVERLAY.agree], 'perfect prediction: the contours agree');
  assert.deepEqual(at(0, 3, 3, 3), redOver);
  // Row 1 has no ground truth: plain image in its column, no green on the methods.
  assert.deepEqual(at(1, 1, 3, 3), [128, 128, 128]);
  assert.deepEqual(at(1, 2, 2, 3), redOver);
  assert.deepEqual(at(1, 3, 2, 2), [...OVERLAY.prediction]);
});

test('overlayGrid: at scale 1 contours are two pixels thick', () => {
  const opts = options({ scale: 1 });
  const layout = overlayGridLayout(opts);
  const png = raster(parseSvg(overlayGrid(opts)));
  const cell = layout.cell(0, 1);
  // The 4x4 ground truth at rows/cols 2..5 is all contour when it is two thick.
  assert.deepEqual(png.pixel(cell.x + 3, cell.y + 3), [...OVERLAY.truth]);
  assert.deepEqual(png.pixel(cell.x + 1, cell.y + 1), [128, 128, 128]);
});

test('overlayGrid: labels above the columns and left of the rows, Dice under the methods, a colour key: all text', () => {
  const opts = options({ scale: 16 }); // 128-pixel cells, as in an experiment's figure: every label fits at full size
  const layout = overlayGridLayout(opts);
  const svg = parseSvg(overlayGrid(opts));
  const c0 = layout.cell(0, 0);
  const columns = texts(svg, 'column');
  assert.deepEqual(columns.map((t) => t.text), ['Input', 'Ground truth', 'Pred', 'Same']);
  columns.forEach((t, col) => {
    const cell = layout.cell(0, col);
    assert.equal(t.x, cell.x + cell.width / 2, `'${t.text}' centred over its column`);
    assert.ok(t.y < c0.y && t.anchor === 'middle', `'${t.text}' above the first row`);
  });
  assert.equal(layout.fontSize, OVERLAY.font);
  const rows = texts(svg, 'row');
  assert.deepEqual(rows.map((t) => t.text), ['GE_3', 'Philips_15']);
  rows.forEach((t, r) => {
    const cell = layout.cell(r, 0);
    assert.ok(t.x + 0.62 * layout.fontSize * t.text.length <= cell.x, `'${t.text}' left of its row`);
    assert.ok(t.y > cell.y && t.y < cell.y + cell.height, `'${t.text}' level with its row`);
  });
  // Dice of the 6x6 prediction against the 4x4 truth inside it: 2 x 16 / (36 + 16); of the truth itself: 1.
  const captions = texts(svg, 'caption');
  assert.deepEqual(captions.map((t) => t.text), ['Dice 0.615', 'Dice 1.000', 'no ground truth']);
  const under = (t: { x: number; y: number }, r: number, c: number): boolean => {
    const cell = layout.cell(r, c);
    return t.x === cell.x + cell.width / 2 && t.y > cell.y + cell.height && t.y < layout.cell(r + 1, c).y;
  };
  assert.ok(under(captions[0]!, 0, 2) && under(captions[1]!, 0, 3), 'Dice under each method of the row with ground truth');
  assert.ok(under(captions[2]!, 1, 1), 'the row without ground truth says so under its ground-truth column');
  assert.deepEqual(texts(parseSvg(overlayGrid(options({ scale: 16, dice: false }))), 'caption').map((t) => t.text), ['no ground truth'], 'dice: false');
  const key = findAll(svg, (e) => e.name === 'g' && hasClass(e, 'key'))[0]!;
  assert.deepEqual(texts(key).map((t) => t.text), ['ground truth', 'prediction', 'both']);
  assert.deepEqual(findAll(key, (e) => e.name === 'rect').map((e) => e.attrs.fill), ['#28c846', '#e62d2d', '#fad71e']);
});

test('overlayGrid: errors name the argument and the received value', () => {
  const bad = options();
  bad.rows[1] = { ...bad.rows[1]!, columns: [{ label: 'Pred', mask: pred.subarray(1) }, { label: 'Same', mask: gt }] };
  assert.throws(() => overlayGrid(bad), { code: 'E_SHAPE', message: 'Expected 64 values ([8, 8]) for `rows[1].columns[0].mask` but received 63' });
  const relabelled = options();
  relabelled.rows[1] = { ...relabelled.rows[1]!, columns: [{ label: 'Same', mask: gt }, { label: 'Pred', mask: pred }] };
  assert.throws(() => overlayGrid(relabelled), /Expected the column labels of row 0 \["Pred", "Same"\] for `rows\[1\].columns` but received \["Same", "Pred"\]/);
  assert.throws(() => overlayGrid(options({ rows: [] })), /Expected a non-empty array for `rows` but received \[\]/);
  assert.throws(() => overlayGrid(options({ scale: 0 })), /Expected integer >= 1 for `scale` but received 0/);
  assert.throws(() => overlayGrid(options({ rows: [{ label: 'x', image: gray, gt: gt.subarray(2), columns: [] }] })), /for `rows\[0\].gt` but received 62/);
});
