import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Canvas, maskContour } from '../../src/viz/index.js';
import { PNG_SIGNATURE, decodePng } from './decode-png.js';

const WHITE = [255, 255, 255];

test('toPng: signature, IHDR size, and the exact bytes back through an independent decoder', () => {
  const c = new Canvas(7, 3, [10, 20, 30]);
  c.fillRect(2, 1, 3, 1, [200, 100, 50]);
  const png = c.toPng();
  assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
  const view = new DataView(png.buffer, png.byteOffset);
  assert.equal(Buffer.from(png.subarray(12, 16)).toString('ascii'), 'IHDR');
  assert.deepEqual([view.getUint32(16), view.getUint32(20)], [7, 3]);
  const d = decodePng(png);
  assert.deepEqual([d.width, d.height], [7, 3]);
  assert.deepEqual(d.rgb, c.rgb);
  assert.deepEqual(d.pixel(1, 1), [10, 20, 30]);
  assert.deepEqual(d.pixel(2, 1), [200, 100, 50]);
  assert.deepEqual(d.pixel(4, 1), [200, 100, 50]);
  assert.deepEqual(d.pixel(5, 1), [10, 20, 30]);
  assert.deepEqual(d.pixel(3, 0), [10, 20, 30]);
});

test('Canvas: sizes are validated with the received value', () => {
  assert.throws(() => new Canvas(0, 5), { code: 'E_INVALID_ARG', message: 'Expected integer >= 1 for `width` but received 0' });
  assert.throws(() => new Canvas(4, 2.5), /Expected integer >= 1 for `height` but received 2.5/);
  assert.throws(() => new Canvas(4, 4).getPixel(4, 0), /inside 4x4 for `\(x, y\)` but received \(4, 0\)/);
});

test('fillRect clips at the edges; rect draws only the outline; line is Bresenham', () => {
  const c = new Canvas(8, 8);
  c.fillRect(-2, -2, 4, 4, [1, 2, 3]);
  c.fillRect(6, 6, 10, 10, [4, 5, 6]);
  assert.deepEqual(c.getPixel(0, 0), [1, 2, 3]);
  assert.deepEqual(c.getPixel(1, 1), [1, 2, 3]);
  assert.deepEqual(c.getPixel(2, 1), WHITE);
  assert.deepEqual(c.getPixel(7, 7), [4, 5, 6]);
  assert.deepEqual(c.getPixel(5, 7), WHITE);

  const r = new Canvas(8, 8);
  r.rect(1, 1, 5, 4, [0, 0, 0]);
  for (const [x, y] of [[1, 1], [5, 1], [1, 4], [5, 4], [3, 1], [1, 3]] as const) assert.deepEqual(r.getPixel(x, y), [0, 0, 0], `(${x}, ${y})`);
  for (const [x, y] of [[2, 2], [4, 3], [6, 1], [1, 5]] as const) assert.deepEqual(r.getPixel(x, y), WHITE, `(${x}, ${y})`);

  const l = new Canvas(8, 8);
  l.line(0, 0, 3, 3, [9, 9, 9]);
  l.line(7, 0, 7, 5, [8, 8, 8]);
  for (let k = 0; k <= 3; k++) assert.deepEqual(l.getPixel(k, k), [9, 9, 9]);
  assert.deepEqual(l.getPixel(1, 0), WHITE);
  assert.deepEqual(l.getPixel(4, 4), WHITE);
  assert.deepEqual(l.getPixel(7, 5), [8, 8, 8]);
  assert.deepEqual(l.getPixel(7, 6), WHITE);
});

test('blitGray: nearest-neighbour 2x, clamped, NaN as black, background untouched', () => {
  const c = new Canvas(6, 6);
  // [2, 2]: 0, 0.5 / 1.7 (clamped to 1), NaN
  c.blitGray(new Float32Array([0, 0.5, 1.7, NaN]), [2, 2], { x: 1, y: 1, width: 4, height: 4 });
  const d = decodePng(c.toPng());
  const expect: [number, number, number][] = [
    // x, y, gray
    [1, 1, 0], [2, 2, 0], [3, 1, 128], [4, 2, 128], [1, 3, 255], [2, 4, 255], [3, 3, 0], [4, 4, 0],
  ];
  for (const [x, y, g] of expect) assert.deepEqual(d.pixel(x, y), [g, g, g], `(${x}, ${y})`);
  for (const [x, y] of [[0, 0], [5, 1], [1, 5], [5, 5]] as const) assert.deepEqual(d.pixel(x, y), WHITE, `(${x}, ${y})`);
  assert.throws(() => c.blitGray(new Float32Array(3), [2, 2], { x: 0, y: 0, width: 2, height: 2 }),
    { code: 'E_SHAPE', message: 'Expected 4 values ([2, 2]) for `image` but received 3' });
});

test('overlayMask: alpha blend inside the mask, gray outside', () => {
  const c = new Canvas(4, 4);
  c.blitGray(new Float32Array(16).fill(0.5), [4, 4], { x: 0, y: 0, width: 4, height: 4 });
  const mask = new Uint8Array(16);
  mask[5] = 1; // (x 1, y 1)
  c.overlayMask(mask, [4, 4], { x: 0, y: 0, width: 4, height: 4 }, [255, 0, 0], 0.5);
  const d = decodePng(c.toPng());
  // 0.5 x 128 + 0.5 x 255 = 191.5, rounded up; 0.5 x 128 + 0 = 64.
  assert.deepEqual(d.pixel(1, 1), [192, 64, 64]);
  assert.deepEqual(d.pixel(2, 1), [128, 128, 128]);
  assert.deepEqual(d.pixel(1, 2), [128, 128, 128]);
  assert.throws(() => c.overlayMask(mask, [4, 4], { x: 0, y: 0, width: 4, height: 4 }, [0, 0, 0], 1.5),
    /Expected a number in \[0, 1\] for `alpha` but received 1.5/);
});

test('maskContour: mask pixels with a 4-neighbour outside; the image border counts as outside', () => {
  const grid = (rows: string[]): Uint8Array => Uint8Array.from(rows.join('').split(''), (ch) => (ch === '#' ? 1 : 0));
  const cases: [string, string[], string[]][] = [
    ['a 4x4 square inside 6x6: a ring of 12', [
      '......', '.####.', '.####.', '.####.', '.####.', '......',
    ], [
      '......', '.####.', '.#..#.', '.#..#.', '.####.', '......',
    ]],
    ['a full 3x3 image: all but the centre', ['###', '###', '###'], ['###', '#.#', '###']],
    ['a plus: its centre has all 4 neighbours inside', ['.#.', '###', '.#.'], ['.#.', '#.#', '.#.']],
    ['empty', ['...', '...'], ['...', '...']],
  ];
  for (const [name, mask, contour] of cases) {
    const size: [number, number] = [mask.length, mask[0]!.length];
    assert.deepEqual(maskContour(grid(mask), size), grid(contour), name);
  }
  // Two pixels thick: the ring and the ring inside it, leaving the 2x2 centre of a 6x6 square.
  const six = ['........', '.######.', '.######.', '.######.', '.######.', '.######.', '.######.', '........'];
  const ring2 = ['........', '.######.', '.######.', '.##..##.', '.##..##.', '.######.', '.######.', '........'];
  assert.deepEqual(maskContour(grid(six), [8, 8], 2), grid(ring2));
  assert.throws(() => maskContour(grid(six), [8, 8], 0), /Expected integer >= 1 for `width` but received 0/);
});

test('contour: a contour pixel becomes a scale x scale block', () => {
  const c = new Canvas(6, 6);
  const mask = Uint8Array.from([0, 0, 0, 0, 1, 1, 0, 1, 1]); // [3, 3]: the lower-right 2x2
  c.contour(mask, [3, 3], { x: 0, y: 0, width: 6, height: 6 }, [0, 200, 0]);
  assert.deepEqual(c.getPixel(2, 2), [0, 200, 0]);
  assert.deepEqual(c.getPixel(5, 5), [0, 200, 0]);
  assert.deepEqual(c.getPixel(1, 1), WHITE);
  assert.deepEqual(c.getPixel(1, 4), WHITE);
});
