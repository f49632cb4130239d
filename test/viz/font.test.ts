import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ADVANCE, Canvas, GLYPH_HEIGHT, drawText, drawTextUp, fitText, glyphBitmap, glyphChars, hasGlyph, textHeight, textWidth,
} from '../../src/viz/index.js';
import { decodePng } from './decode-png.js';

const BLACK = [0, 0, 0] as const;
const WHITE = [255, 255, 255];

/** Draw on a white canvas, then read it back through PNG encoding and an independent decoder. */
function render(w: number, h: number, draw: (c: Canvas) => void): ReturnType<typeof decodePng> {
  const c = new Canvas(w, h);
  draw(c);
  return decodePng(c.toPng());
}

test('font: every required character has its own glyph, and no two glyphs look alike', () => {
  const required = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;+-_()[]%/=<>#±';
  for (const ch of required) assert.ok(hasGlyph(ch), `glyph for ${JSON.stringify(ch)}`);
  for (let code = 32; code <= 126; code++) assert.ok(hasGlyph(String.fromCharCode(code)), `printable ASCII ${code}`);
  assert.equal(hasGlyph('€'), false);
  const seen = new Map<string, string>();
  for (const ch of glyphChars()) {
    const key = glyphBitmap(ch).join('');
    assert.equal(seen.get(key), undefined, `${JSON.stringify(ch)} looks like ${JSON.stringify(seen.get(key))}`);
    seen.set(key, ch);
  }
  // Only the space is blank; every other glyph has ink.
  for (const ch of glyphChars()) assert.equal(glyphBitmap(ch).some((b) => b === 1), ch !== ' ', JSON.stringify(ch));
});

test('textWidth and textHeight: monospaced cells, no trailing gap', () => {
  const cases: [string, number, number, number][] = [
    // text, scale, width, height
    ['', 1, 0, 9],
    ['T', 1, 5, 9],
    ['AB', 2, 22, 18],
    ['0.95 ± 0.01', 1, 11 * ADVANCE - 1, GLYPH_HEIGHT],
    ['ab\nlonger', 3, (6 * ADVANCE - 1) * 3, (10 + 9) * 3],
  ];
  for (const [text, scale, w, h] of cases) {
    assert.equal(textWidth(text, scale), w, `width of ${JSON.stringify(text)} at ${scale}`);
    assert.equal(textHeight(text, scale), h, `height of ${JSON.stringify(text)} at ${scale}`);
  }
  assert.throws(() => textWidth('x', 0), /Expected integer >= 1 for `scale` but received 0/);
});

test('drawText: the pixels of a T, at scale 1 and 2', () => {
  const png = render(30, 30, (c) => {
    drawText(c, 2, 3, 'T', BLACK, 1);
    drawText(c, 12, 3, 'T', BLACK, 2);
  });
  // Scale 1: top bar x = 2..6 on row 3, then only the stem at x = 4 down to row 9.
  for (let x = 2; x <= 6; x++) assert.deepEqual(png.pixel(x, 3), [0, 0, 0], `bar at x=${x}`);
  assert.deepEqual(png.pixel(1, 3), WHITE);
  assert.deepEqual(png.pixel(7, 3), WHITE);
  for (let y = 4; y <= 9; y++) {
    assert.deepEqual(png.pixel(4, y), [0, 0, 0], `stem at y=${y}`);
    assert.deepEqual(png.pixel(3, y), WHITE);
    assert.deepEqual(png.pixel(5, y), WHITE);
  }
  assert.deepEqual(png.pixel(4, 10), WHITE);
  // Scale 2: the bar is rows 3..4 over x = 12..21, the stem columns 16..17.
  for (const [x, y] of [[12, 3], [21, 4], [16, 5], [17, 16]] as const) assert.deepEqual(png.pixel(x, y), [0, 0, 0], `(${x}, ${y})`);
  for (const [x, y] of [[12, 5], [15, 6], [18, 6], [16, 17]] as const) assert.deepEqual(png.pixel(x, y), WHITE, `(${x}, ${y})`);
});

test('drawText: glyph cells advance by ADVANCE, lines by LINE_HEIGHT, unknown characters are a box', () => {
  const png = render(40, 30, (c) => drawText(c, 0, 0, 'I€\n-', BLACK, 1));
  // 'I': top row .###. at x = 1..3.
  assert.deepEqual([0, 1, 2, 3, 4].map((x) => png.pixel(x, 0)[0]), [255, 0, 0, 0, 255]);
  // '€' has no glyph: a hollow box in the second cell (x = 6..10, rows 0..6).
  assert.deepEqual(png.pixel(6, 0), [0, 0, 0]);
  assert.deepEqual(png.pixel(10, 6), [0, 0, 0]);
  assert.deepEqual(png.pixel(8, 3), WHITE);
  // '-' on the second line: row 10 + 3, x = 0..4.
  assert.deepEqual(png.pixel(0, 13), [0, 0, 0]);
  assert.deepEqual(png.pixel(0, 12), WHITE);
});

test('drawTextUp: a T rotated to read bottom to top', () => {
  const png = render(20, 20, (c) => drawTextUp(c, 0, 10, 'T', BLACK, 1));
  // The bar becomes column 0, rows 5..9; the stem becomes row 7, columns 0..6.
  for (let y = 5; y <= 9; y++) assert.deepEqual(png.pixel(0, y), [0, 0, 0], `bar at y=${y}`);
  assert.deepEqual(png.pixel(0, 4), WHITE);
  assert.deepEqual(png.pixel(0, 10), WHITE);
  for (let x = 0; x <= 6; x++) assert.deepEqual(png.pixel(x, 7), [0, 0, 0], `stem at x=${x}`);
  assert.deepEqual(png.pixel(1, 6), WHITE);
  assert.deepEqual(png.pixel(7, 7), WHITE);
});

test('fitText: shortens with ".." only when needed', () => {
  assert.equal(fitText('Siemens_15', 1, 59), 'Siemens_15');
  // 'Siemens_15' is 10 x 6 - 1 = 59 wide; 'Siemens..' is 53, 'Siemens_..' would be 59.
  assert.equal(fitText('Siemens_15', 1, 58), 'Siemens..');
  assert.equal(fitText('Siemens_15', 2, 50), 'Si..'); // (4 x 6 - 1) x 2 = 46
});
