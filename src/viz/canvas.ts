/**
 * An RGB raster to draw figures into: rectangles, lines, grayscale images and binary masks
 * (overlay and contour), scaled nearest-neighbour. Coordinates are pixels, x to the right, y down;
 * everything drawn outside the canvas is clipped.
 */
import { ConvLoraError, checkInt, checkNumber } from '../errors.js';
import { encodePng } from './png.js';

/** A colour as [red, green, blue], each an integer in 0..255. */
export type Rgb = readonly [number, number, number];

/** A destination rectangle on the canvas, in pixels. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export class Canvas {
  readonly width: number;
  readonly height: number;
  /** [height, width, 3] row-major bytes. */
  readonly rgb: Uint8Array;

  constructor(width: number, height: number, background: Rgb = [255, 255, 255]) {
    this.width = checkInt('width', width, 1);
    this.height = checkInt('height', height, 1);
    this.rgb = new Uint8Array(width * height * 3);
    this.fill(background);
  }

  /** The colour at (x, y); throws for a pixel outside the canvas. */
  getPixel(x: number, y: number): [number, number, number] {
    if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || y < 0 || x >= this.width || y >= this.height) {
      throw new ConvLoraError('E_INVALID_ARG', `Expected a pixel inside ${this.width}x${this.height} for \`(x, y)\` but received (${x}, ${y})`);
    }
    const o = (y * this.width + x) * 3;
    return [this.rgb[o]!, this.rgb[o + 1]!, this.rgb[o + 2]!];
  }

  fill(color: Rgb): void {
    for (let o = 0; o < this.rgb.length; o += 3) this.rgb.set(color, o);
  }

  /** Fill the rectangle [x, x + w) x [y, y + h); coordinates are rounded to whole pixels. */
  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) this.rgb.set(color, (yy * this.width + xx) * 3);
    }
  }

  /** A straight line from (x0, y0) to (x1, y1) inclusive, `thickness` pixels wide (Bresenham). */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness = 1): void {
    checkInt('thickness', thickness, 1);
    let x = Math.round(x0);
    let y = Math.round(y0);
    const xe = Math.round(x1);
    const ye = Math.round(y1);
    const dx = Math.abs(xe - x);
    const dy = -Math.abs(ye - y);
    const sx = x < xe ? 1 : -1;
    const sy = y < ye ? 1 : -1;
    const off = Math.floor((thickness - 1) / 2); // thickness grows right/down of the line first
    let err = dx + dy;
    for (;;) {
      this.fillRect(x - off, y - off, thickness, thickness, color);
      if (x === xe && y === ye) break;
      const e2 = 2 * err;
      if (e2 >= dy) { err += dy; x += sx; }
      if (e2 <= dx) { err += dx; y += sy; }
    }
  }

  /** The outline of the rectangle [x, x + w) x [y, y + h), drawn inside it. */
  rect(x: number, y: number, w: number, h: number, color: Rgb, thickness = 1): void {
    checkInt('thickness', thickness, 1);
    const t = Math.min(thickness, Math.ceil(w / 2), Math.ceil(h / 2));
    this.fillRect(x, y, w, t, color);
    this.fillRect(x, y + h - t, w, t, color);
    this.fillRect(x, y, t, h, color);
    this.fillRect(x + w - t, y, t, h, color);
  }

  /**
   * Draw a grayscale image `image` ([H, W] row-major, values in [0, 1]; clamped, NaN as 0) into
   * `dest`, scaled nearest-neighbour.
   */
  blitGray(image: Float32Array | Float64Array, size: readonly [number, number], dest: Rect): void {
    checkImage('image', image, size);
    forEachDest(this, size, dest, (src, o) => {
      const v = image[src]!;
      const g = v > 0 ? (v < 1 ? Math.round(v * 255) : 255) : 0; // NaN fails v > 0
      this.rgb[o] = g;
      this.rgb[o + 1] = g;
      this.rgb[o + 2] = g;
    });
  }

  /**
   * Blend `color` with opacity `alpha` over the pixels of `dest` whose source pixel in `mask`
   * ([H, W], nonzero = inside) is set: out = (1 - alpha) * under + alpha * color, rounded.
   */
  overlayMask(mask: Uint8Array, size: readonly [number, number], dest: Rect, color: Rgb, alpha = 0.4): void {
    checkImage('mask', mask, size);
    checkNumber('alpha', alpha, 0, 1);
    forEachDest(this, size, dest, (src, o) => {
      if (!mask[src]) return;
      for (let c = 0; c < 3; c++) this.rgb[o + c] = Math.round((1 - alpha) * this.rgb[o + c]! + alpha * color[c]!);
    });
  }

  /** Paint the contour of `mask` (see maskContour) opaquely into `dest`; a contour pixel scales to a block. */
  contour(mask: Uint8Array, size: readonly [number, number], dest: Rect, color: Rgb, width = 1): void {
    this.overlayMask(maskContour(mask, size, width), size, dest, color, 1);
  }

  toPng(): Uint8Array {
    return encodePng(this.width, this.height, this.rgb);
  }
}

/**
 * The contour of a binary mask ([H, W], nonzero = inside): the mask pixels with at least one
 * 4-neighbour outside the mask. Pixels beyond the image border count as outside, so a mask
 * touching the border is closed there. With `width` > 1 the contour is `width` pixels thick,
 * growing inwards (each further layer is the contour of what is left). Returns [H, W] of 0/1.
 */
export function maskContour(mask: Uint8Array, size: readonly [number, number], width = 1): Uint8Array {
  checkImage('mask', mask, size);
  checkInt('width', width, 1);
  const [h, w] = size;
  const out = new Uint8Array(h * w);
  let rest = Uint8Array.from(mask, (v) => (v ? 1 : 0));
  for (let layer = 0; layer < width; layer++) {
    const inside = (y: number, x: number): boolean => y >= 0 && x >= 0 && y < h && x < w && rest[y * w + x] === 1;
    const next = rest.slice();
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (!inside(y, x)) continue;
        if (!inside(y - 1, x) || !inside(y + 1, x) || !inside(y, x - 1) || !inside(y, x + 1)) {
          out[y * w + x] = 1;
          next[y * w + x] = 0;
        }
      }
    }
    rest = next;
  }
  return out;
}

/** Validate that `data` is an [H, W] image for `size`. */
export function checkImage(name: string, data: ArrayLike<number>, size: readonly [number, number]): void {
  checkInt('size[0]', size[0], 1);
  checkInt('size[1]', size[1], 1);
  if (data.length !== size[0] * size[1]) {
    throw new ConvLoraError('E_SHAPE', `Expected ${size[0] * size[1]} values ([${size[0]}, ${size[1]}]) for \`${name}\` but received ${data.length}`);
  }
}

/** Call fn(source index, canvas byte offset) for every on-canvas pixel of `dest`, nearest-neighbour. */
function forEachDest(canvas: Canvas, size: readonly [number, number], dest: Rect, fn: (src: number, o: number) => void): void {
  const [h, w] = size;
  const dx = Math.round(dest.x);
  const dy = Math.round(dest.y);
  const dw = checkInt('dest.width', Math.round(dest.width), 0);
  const dh = checkInt('dest.height', Math.round(dest.height), 0);
  for (let j = Math.max(0, -dy); j < dh && dy + j < canvas.height; j++) {
    const sy = Math.floor((j * h) / dh);
    for (let i = Math.max(0, -dx); i < dw && dx + i < canvas.width; i++) {
      fn(sy * w + Math.floor((i * w) / dw), ((dy + j) * canvas.width + dx + i) * 3);
    }
  }
}
