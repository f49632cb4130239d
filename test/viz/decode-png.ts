/**
 * An independent PNG reader for the tests: checks the signature and every chunk's CRC, reads IHDR,
 * inflates the concatenated IDAT and accepts only what encodePng promises (8-bit RGB, no interlace,
 * filter type 0 on every row).
 */
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';

export interface DecodedPng {
  width: number;
  height: number;
  /** [height, width, 3] bytes. */
  rgb: Uint8Array;
  pixel(x: number, y: number): [number, number, number];
}

export const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

export function decodePng(png: Uint8Array): DecodedPng {
  assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE, 'PNG signature');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let o = 8;
  let width = 0;
  let height = 0;
  const idat: Uint8Array[] = [];
  const types: string[] = [];
  while (o < png.length) {
    const len = view.getUint32(o);
    const type = Buffer.from(png.subarray(o + 4, o + 8)).toString('ascii');
    const data = png.subarray(o + 8, o + 8 + len);
    assert.equal(view.getUint32(o + 8 + len), crc32(png.subarray(o + 4, o + 8 + len)), `CRC of ${type}`);
    types.push(type);
    if (type === 'IHDR') {
      width = view.getUint32(o + 8);
      height = view.getUint32(o + 12);
      assert.deepEqual([...data.subarray(8)], [8, 2, 0, 0, 0], 'IHDR: 8-bit RGB, deflate, no interlace');
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    o += 12 + len;
  }
  assert.equal(types[0], 'IHDR');
  assert.equal(types.at(-1), 'IEND');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = 1 + 3 * width;
  assert.equal(raw.length, height * stride, 'inflated size');
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * stride], 0, `filter type of row ${y}`);
    rgb.set(raw.subarray(y * stride + 1, (y + 1) * stride), y * 3 * width);
  }
  const pixel = (x: number, y: number): [number, number, number] => {
    assert.ok(x >= 0 && y >= 0 && x < width && y < height, `pixel (${x}, ${y}) inside ${width}x${height}`);
    const i = (y * width + x) * 3;
    return [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!];
  };
  return { width, height, rgb, pixel };
}
