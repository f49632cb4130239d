import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OVERLAY, overlayGrid, overlayGridLayout, type OverlayGridOptions } from '../../src/viz/index.js';
import { decodePng } from './decode-png.js';

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

test('overlayGrid: size and cell geometry', () => {
  const opts = options();
  const layout = overlayGridLayout(opts);
  const png = decodePng(overlayGrid(opts));
  assert.deepEqual([png.width, png.height], [layout.width, layout.height]);
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
  const png = decodePng(overlayGrid(opts));
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
  const png = decodePng(overlayGrid(opts));
  const cell = layout.cell(0, 1);
  // The 4x4 ground truth at rows/cols 2..5 is all contour when it is two thick.
  assert.deepEqual(png.pixel(cell.x + 3, cell.y + 3), [...OVERLAY.truth]);
  assert.deepEqual(png.pixel(cell.x + 1, cell.y + 1), [128, 128, 128]);
});

test('overlayGrid: labels above the columns, left of the rows, Dice under the methods', () => {
  const inkIn = (png: ReturnType<typeof decodePng>, x0: number, y0: number, x1: number, y1: number): number => {
    let n = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (png.pixel(x, y)[0] === OVERLAY.text[0]) n++;
    return n;
  };
  const opts = options();
  const layout = overlayGridLayout(opts);
  const png = decodePng(overlayGrid(opts));
  const c0 = layout.cell(0, 0);
  assert.ok(inkIn(png, c0.x, 0, c0.x + c0.width, c0.y) > 0, 'column label');
  assert.ok(inkIn(png, 0, c0.y, c0.x, c0.y + c0.height) > 0, 'row label');
  const under = (r: number, c: number, p = png): number => {
    const cell = layout.cell(r, c);
    return inkIn(p, cell.x, cell.y + cell.height, cell.x + cell.width, cell.y + cell.height + 12);
  };
  assert.ok(under(0, 2) > 0, 'Dice caption under a method');
  assert.equal(under(0, 0), 0, 'no caption under the input');
  assert.equal(under(1, 2), 0, 'no Dice without ground truth');
  const noDice = decodePng(overlayGrid(options({ dice: false })));
  assert.equal(under(0, 2, noDice), 0, 'dice: false');
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
