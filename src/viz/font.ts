/**
 * A built-in 5x7 bitmap font (with two descender rows, so each glyph is 5 wide and 9 tall),
 * monospaced, scaled by an integer factor. It covers printable ASCII (32..126) and '±'; any other
 * character is drawn as a hollow box so that a missing glyph is visible rather than silent.
 *
 * A glyph's cell is ADVANCE x LINE_HEIGHT pixels at scale 1; (x, y) passed to drawText is the
 * top-left corner of the first cell: capitals occupy rows 0..6, descenders rows 7..8.
 */
import type { Canvas, Rgb } from './canvas.js';
import { checkInt } from '../errors.js';

export const GLYPH_WIDTH = 5;
/** Rows per glyph: 7 above the baseline, 2 for descenders (g, j, p, q, y, comma...). */
export const GLYPH_HEIGHT = 9;
/** Rows of a capital letter or digit: the baseline is the bottom of row CAP_HEIGHT - 1. */
export const CAP_HEIGHT = 7;
/** One blank column between glyphs. */
export const ADVANCE = GLYPH_WIDTH + 1;
/** One blank row between lines of text. */
export const LINE_HEIGHT = GLYPH_HEIGHT + 1;

// Rows top to bottom, separated by spaces; '#' is ink. Rows left out at the bottom are blank.
const SOURCE: Record<string, string> = {
  ' ': '',
  A: '.###. #...# #...# ##### #...# #...# #...#',
  B: '####. #...# #...# ####. #...# #...# ####.',
  C: '.###. #...# #.... #.... #.... #...# .###.',
  D: '####. #...# #...# #...# #...# #...# ####.',
  E: '##### #.... #.... ####. #.... #.... #####',
  F: '##### #.... #.... ####. #.... #.... #....',
  G: '.###. #...# #.... #.### #...# #...# .####',
  H: '#...# #...# #...# ##### #...# #...# #...#',
  I: '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  J: '..### ...#. ...#. ...#. ...#. #..#. .##..',
  K: '#...# #..#. #.#.. ##... #.#.. #..#. #...#',
  L: '#.... #.... #.... #.... #.... #.... #####',
  M: '#...# ##.## #.#.# #.#.# #...# #...# #...#',
  N: '#...# #...# ##..# #.#.# #..## #...# #...#',
  O: '.###. #...# #...# #...# #...# #...# .###.',
  P: '####. #...# #...# ####. #.... #.... #....',
  Q: '.###. #...# #...# #...# #.#.# #..#. .##.#',
  R: '####. #...# #...# ####. #.#.. #..#. #...#',
  S: '.###. #...# #.... .###. ....# #...# .###.',
  T: '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  U: '#...# #...# #...# #...# #...# #...# .###.',
  V: '#...# #...# #...# #...# #...# .#.#. ..#..',
  W: '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.',
  X: '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
  Y: '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..',
  Z: '##### ....# ...#. ..#.. .#... #.... #####',
  a: '..... ..... .###. ....# .#### #...# .####',
  b: '#.... #.... ####. #...# #...# #...# ####.',
  c: '..... ..... .###. #.... #.... #...# .###.',
  d: '....# ....# .#### #...# #...# #...# .####',
  e: '..... ..... .###. #...# ##### #.... .###.',
  f: '..##. .#..# .#... ###.. .#... .#... .#...',
  g: '..... ..... .#### #...# #...# #...# .#### ....# .###.',
  h: '#.... #.... #.##. ##..# #...# #...# #...#',
  i: '..#.. ..... .##.. ..#.. ..#.. ..#.. .###.',
  j: '...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..',
  k: '#.... #.... #..#. #.#.. ##... #.#.. #..#.',
  l: '.##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  m: '..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#',
  n: '..... ..... #.##. ##..# #...# #...# #...#',
  o: '..... ..... .###. #...# #...# #...# .###.',
  p: '..... ..... ####. #...# #...# #...# ####. #.... #....',
  q: '..... ..... .#### #...# #...# #...# .#### ....# ....#',
  r: '..... ..... #.##. ##..# #.... #.... #....',
  s: '..... ..... .###. #.... .###. ....# ####.',
  t: '.#... .#... ###.. .#... .#... .#..# ..##.',
  u: '..... ..... #...# #...# #...# #..## .##.#',
  v: '..... ..... #...# #...# #...# .#.#. ..#..',
  w: '..... ..... #...# #...# #.#.# #.#.# .#.#.',
  x: '..... ..... #...# .#.#. ..#.. .#.#. #...#',
  y: '..... ..... #...# #...# #...# #...# .#### ....# .###.',
  z: '..... ..... ##### ...#. ..#.. .#... #####',
  0: '.###. #...# #..## #.#.# ##..# #...# .###.',
  1: '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
  2: '.###. #...# ....# ...#. ..#.. .#... #####',
  3: '##### ...#. ..#.. ...#. ....# #...# .###.',
  4: '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
  5: '##### #.... ####. ....# ....# #...# .###.',
  6: '..##. .#... #.... ####. #...# #...# .###.',
  7: '##### ....# ...#. ..#.. .#... .#... .#...',
  8: '.###. #...# #...# .###. #...# #...# .###.',
  9: '.###. #...# #...# .#### ....# ...#. .##..',
  '.': '..... ..... ..... ..... ..... .##.. .##..',
  ',': '..... ..... ..... ..... ..... .##.. .##.. ..#.. .#...',
  ':': '..... .##.. .##.. ..... .##.. .##..',
  ';': '..... .##.. .##.. ..... .##.. .##.. ..#.. .#...',
  '+': '..... ..#.. ..#.. ##### ..#.. ..#..',
  '-': '..... ..... ..... #####',
  _: '..... ..... ..... ..... ..... ..... ..... #####',
  '(': '...#. ..#.. .#... .#... .#... ..#.. ...#.',
  ')': '.#... ..#.. ...#. ...#. ...#. ..#.. .#...',
  '[': '.###. .#... .#... .#... .#... .#... .###.',
  ']': '.###. ...#. ...#. ...#. ...#. ...#. .###.',
  '{': '...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.',
  '}': '.#... ..#.. ..#.. ...#. ..#.. ..#.. .#...',
  '%': '##... ##..# ...#. ..#.. .#... #..## ...##',
  '/': '..... ....# ...#. ..#.. .#... #....',
  '\\': '..... #.... .#... ..#.. ...#. ....#',
  '=': '..... ..... ##### ..... #####',
  '<': '...#. ..#.. .#... #.... .#... ..#.. ...#.',
  '>': '.#... ..#.. ...#. ....# ...#. ..#.. .#...',
  '#': '.#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.',
  '±': '..#.. ..#.. ##### ..#.. ..#.. ..... #####',
  '!': '..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..',
  '"': '.#.#. .#.#. .#.#.',
  "'": '..#.. ..#.. ..#..',
  '`': '.#... ..#..',
  $: '..#.. .#### #.#.. .###. ..#.# ####. ..#..',
  '&': '.##.. #..#. #.#.. .#... #.#.# #..#. .##.#',
  '*': '..... ..#.. #.#.# .###. #.#.# ..#..',
  '?': '.###. #...# ....# ...#. ..#.. ..... ..#..',
  '@': '.###. #...# #.### #.#.# #.### #.... .###.',
  '^': '..#.. .#.#. #...#',
  '|': '..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  '~': '..... ..... .#... #.#.# ...#.',
};

/** Drawn for characters without a glyph: a hollow box the size of a capital. */
const MISSING = '##### #...# #...# #...# #...# #...# #####';

function parseGlyph(ch: string, src: string): Uint8Array {
  const rows = src === '' ? [] : src.split(' ');
  if (rows.length > GLYPH_HEIGHT || rows.some((r) => r.length !== GLYPH_WIDTH || /[^.#]/.test(r))) {
    throw new Error(`font: malformed glyph for ${JSON.stringify(ch)}: ${JSON.stringify(src)}`);
  }
  const bits = new Uint8Array(GLYPH_WIDTH * GLYPH_HEIGHT); // [GLYPH_HEIGHT, GLYPH_WIDTH]
  rows.forEach((row, y) => {
    for (let x = 0; x < GLYPH_WIDTH; x++) bits[y * GLYPH_WIDTH + x] = row[x] === '#' ? 1 : 0;
  });
  return bits;
}

const GLYPHS = new Map<string, Uint8Array>(Object.entries(SOURCE).map(([ch, src]) => [ch, parseGlyph(ch, src)]));
const MISSING_GLYPH = parseGlyph('missing', MISSING);

/** True when `ch` (one character) has its own glyph rather than the missing-glyph box. */
export function hasGlyph(ch: string): boolean {
  return GLYPHS.has(ch);
}

/** The characters the font draws, in table order. */
export function glyphChars(): string[] {
  return [...GLYPHS.keys()];
}

/** The bitmap of `ch`: [GLYPH_HEIGHT, GLYPH_WIDTH] of 0/1, the box for unknown characters. */
export function glyphBitmap(ch: string): Uint8Array {
  return (GLYPHS.get(ch) ?? MISSING_GLYPH).slice();
}

/** Width in pixels of the longest line of `text` at `scale`; no trailing gap after the last glyph. */
export function textWidth(text: string, scale = 1): number {
  checkInt('scale', scale, 1);
  const longest = Math.max(0, ...text.split('\n').map((line) => [...line].length));
  return longest === 0 ? 0 : (longest * ADVANCE - 1) * scale;
}

/** Height in pixels of `text` at `scale`, from the top of the first line to the bottom of the last descender. */
export function textHeight(text: string, scale = 1): number {
  checkInt('scale', scale, 1);
  const lines = text.split('\n').length;
  return ((lines - 1) * LINE_HEIGHT + GLYPH_HEIGHT) * scale;
}

/**
 * Draw `text` with its first cell's top-left at (x, y), each font pixel a `scale` x `scale` block.
 * '\n' starts a new line. Pixels outside the canvas are clipped.
 */
export function drawText(canvas: Canvas, x: number, y: number, text: string, color: Rgb, scale = 1): void {
  checkInt('scale', scale, 1);
  text.split('\n').forEach((line, li) => {
    let cx = Math.round(x);
    const cy = Math.round(y) + li * LINE_HEIGHT * scale;
    for (const ch of line) {
      const bits = GLYPHS.get(ch) ?? MISSING_GLYPH;
      for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
        for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
          if (bits[gy * GLYPH_WIDTH + gx]) canvas.fillRect(cx + gx * scale, cy + gy * scale, scale, scale, color);
        }
      }
      cx += ADVANCE * scale;
    }
  });
}

/**
 * Draw one line of `text` rotated 90 degrees counter-clockwise (reading bottom to top), as for a
 * y-axis label. (x, y) is the bottom-left corner of the rotated text's box, which is
 * textHeight(text, scale) wide and textWidth(text, scale) tall.
 */
export function drawTextUp(canvas: Canvas, x: number, y: number, text: string, color: Rgb, scale = 1): void {
  checkInt('scale', scale, 1);
  const x0 = Math.round(x);
  let cy = Math.round(y);
  for (const ch of text) {
    const bits = GLYPHS.get(ch) ?? MISSING_GLYPH;
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        // Glyph column gx goes up from the baseline; glyph row gy goes right from the left edge.
        if (bits[gy * GLYPH_WIDTH + gx]) canvas.fillRect(x0 + gy * scale, cy - (gx + 1) * scale, scale, scale, color);
      }
    }
    cy -= ADVANCE * scale;
  }
}

/** `text` (one line), shortened to end in '..' if it is wider than `maxWidth` pixels at `scale`. */
export function fitText(text: string, scale: number, maxWidth: number): string {
  if (textWidth(text, scale) <= maxWidth) return text;
  const chars = [...text];
  while (chars.length > 0 && textWidth(chars.join('') + '..', scale) > maxWidth) chars.pop();
  return chars.join('') + '..';
}
