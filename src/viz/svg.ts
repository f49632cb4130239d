/**
 * SVG figures: shapes and text as elements, so that text stays text (sharp at any zoom, searchable, in the
 * viewer's own font) and a chart is a few kilobytes. A raster (slices of a scan) goes in as an embedded PNG.
 *
 * Coordinates are user units of a viewBox the size of the figure (one unit = one CSS pixel at 100 %).
 * A text's y is its baseline, as in SVG itself.
 */
import type { Rgb } from './canvas.js';

/** Fonts of every text, widest first: DejaVu Sans is what Debian and most Linux viewers have. */
export const FONT_FAMILY = 'DejaVu Sans, Verdana, Arial, Helvetica, sans-serif';

/**
 * Width of `text` at font size `size`, for layout decisions only (does a label fit a bar, a column?). The
 * viewer lays the text out in its own font, so this is an estimate: 0.62 em per character, about the
 * average advance of DejaVu Sans and Verdana, the widest of the fonts above, so that it errs wide and a label
 * judged to fit does fit.
 */
export function textWidth(text: string, size: number): number {
  return 0.62 * size * [...text].length;
}

/** `text` shortened with an ellipsis until textWidth fits `maxWidth` (the whole text when it fits). */
export function fitText(text: string, size: number, maxWidth: number): string {
  if (textWidth(text, size) <= maxWidth) return text;
  const chars = [...text];
  while (chars.length > 0 && textWidth(`${chars.join('')}…`, size) > maxWidth) chars.pop();
  return chars.length === 0 ? '' : `${chars.join('')}…`;
}

/** The baseline that puts a line of text of `size` with its top at `top` (ascent ~0.8 em). */
export const baselineBelow = (top: number, size: number): number => top + 0.8 * size;

/** The baseline that centres capitals and digits of `size` on `y` (cap height ~0.72 em). */
export const baselineCentred = (y: number, size: number): number => y + 0.36 * size;

/** Escape text for XML character data and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;' })[c]!);
}

/** A number as an attribute: at most two decimals, no trailing zeros, no "-0". */
export function num(n: number): string {
  const r = Math.round(n * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

/** `#rrggbb` of an RGB triple. */
export function hex(c: Rgb): string {
  return `#${c.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;
}

export type Attrs = Record<string, string | number | undefined>;

function attrs(a: Attrs): string {
  return Object.entries(a)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : escapeXml(v)}"`)
    .join('');
}

export interface TextOptions {
  size: number;
  color: Rgb;
  /** Which point of the text x names: its start (default), middle or end. */
  anchor?: 'start' | 'middle' | 'end';
  /** Degrees, about (x, y); -90 reads bottom to top. */
  rotate?: number;
  bold?: boolean;
  className?: string;
}

/** An SVG document built element by element; `toString()` gives the file's text. */
export class Svg {
  private readonly parts: string[] = [];
  private readonly open: string[] = [];

  constructor(readonly width: number, readonly height: number, opts: { title?: string; background?: Rgb } = {}) {
    const root = attrs({ width, height, viewBox: `0 0 ${num(width)} ${num(height)}`, 'font-family': FONT_FAMILY });
    this.parts.push(`<svg xmlns="http://www.w3.org/2000/svg"${root}>`);
    if (opts.title !== undefined) this.parts.push(`<title>${escapeXml(opts.title)}</title>`);
    if (opts.background !== undefined) this.rect(0, 0, width, height, opts.background);
  }

  /** Start a group; every element until the matching `end()` belongs to it. */
  group(a: Attrs): this {
    this.parts.push(`<g${attrs(a)}>`);
    this.open.push('g');
    return this;
  }

  end(): this {
    const tag = this.open.pop();
    if (tag === undefined) throw new Error('Svg.end() without an open group');
    this.parts.push(`</${tag}>`);
    return this;
  }

  /** A filled rectangle; `tooltip` becomes its <title> (shown on hover). */
  rect(x: number, y: number, w: number, h: number, fill: Rgb, extra: Attrs = {}, tooltip?: string): this {
    const a = attrs({ x, y, width: w, height: h, fill: hex(fill), ...extra });
    this.parts.push(tooltip === undefined ? `<rect${a}/>` : `<rect${a}><title>${escapeXml(tooltip)}</title></rect>`);
    return this;
  }

  /** An unfilled rectangle outline. */
  outline(x: number, y: number, w: number, h: number, stroke: Rgb, extra: Attrs = {}): this {
    this.parts.push(`<rect${attrs({ x, y, width: w, height: h, fill: 'none', stroke: hex(stroke), ...extra })}/>`);
    return this;
  }

  line(x0: number, y0: number, x1: number, y1: number, stroke: Rgb, extra: Attrs = {}): this {
    this.parts.push(`<line${attrs({ x1: x0, y1: y0, x2: x1, y2: y1, stroke: hex(stroke), ...extra })}/>`);
    return this;
  }

  text(x: number, y: number, text: string, o: TextOptions): this {
    const a = attrs({
      class: o.className, x, y, 'font-size': o.size, fill: hex(o.color),
      'text-anchor': o.anchor === undefined || o.anchor === 'start' ? undefined : o.anchor,
      'font-weight': o.bold === true ? 'bold' : undefined,
      transform: o.rotate === undefined ? undefined : `rotate(${num(o.rotate)} ${num(x)} ${num(y)})`,
    });
    this.parts.push(`<text${a}>${escapeXml(text)}</text>`);
    return this;
  }

  /** An embedded PNG drawn at (x, y), w x h units, its pixels kept square and unsmoothed. */
  png(x: number, y: number, w: number, h: number, png: Uint8Array, extra: Attrs = {}): this {
    const href = `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64')}`;
    const a = attrs({ x, y, width: w, height: h, preserveAspectRatio: 'none', style: 'image-rendering:pixelated', ...extra, href });
    this.parts.push(`<image${a}/>`);
    return this;
  }

  toString(): string {
    if (this.open.length > 0) throw new Error(`Svg.toString() with ${this.open.length} group(s) still open`);
    return `${this.parts.join('\n')}\n</svg>\n`;
  }
}
