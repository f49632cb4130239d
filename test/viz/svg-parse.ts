/**
 * A strict little reader for the SVG our figures write, written apart from src/viz/svg.ts so that the
 * tests do not read the figures back through the code that wrote them: elements, attributes and text;
 * a tag that is not closed in order, an unknown entity or text outside the root element is an error.
 */
import assert from 'node:assert/strict';
import { decodePng, type DecodedPng } from './decode-png.js';

export interface SvgElement {
  name: string;
  attrs: Record<string, string>;
  children: SvgElement[];
  /** The character data directly inside the element, entities decoded. */
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: '\'' };

function decode(s: string): string {
  return s.replace(/&(#\d+|#x[0-9a-f]+|\w+);/gi, (_, e: string) => {
    if (e.startsWith('#x') || e.startsWith('#X')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(Number(e.slice(1)));
    const v = ENTITIES[e];
    assert.ok(v !== undefined, `unknown entity &${e};`);
    return v;
  });
}

/** Parse an SVG document; returns its root element (which must be <svg>). */
export function parseSvg(doc: string): SvgElement {
  const stack: SvgElement[] = [];
  let root: SvgElement | undefined;
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>|([^<]+)/g;
  let end = 0;
  for (const m of doc.matchAll(tag)) {
    assert.equal(m.index, end, `unparsable SVG at ${end}: ${JSON.stringify(doc.slice(end, end + 40))}`);
    end = m.index + m[0].length;
    const [, closing, name, attrText, selfClosing, text] = m;
    if (text !== undefined) {
      const top = stack.at(-1);
      if (top === undefined) assert.match(text, /^\s*$/, 'text outside the root element');
      else top.text += decode(text);
      continue;
    }
    if (closing === '/') {
      const open = stack.pop();
      assert.equal(open?.name, name, `</${name!}> closes <${open?.name ?? 'nothing'}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      assert.equal(attrs[a[1]!], undefined, `attribute ${a[1]!} twice on <${name!}>`);
      attrs[a[1]!] = decode(a[2]!);
    }
    const el: SvgElement = { name: name!, attrs, children: [], text: '' };
    const parent = stack.at(-1);
    if (parent === undefined) {
      assert.equal(root, undefined, 'a second root element');
      root = el;
    } else {
      parent.children.push(el);
    }
    if (selfClosing !== '/') stack.push(el);
  }
  assert.equal(end, doc.length, 'the document ends inside a tag');
  assert.equal(stack.length, 0, `unclosed <${stack.at(-1)?.name ?? ''}>`);
  assert.ok(root !== undefined && root.name === 'svg', 'the root element is <svg>');
  return root;
}

/** Every element under `el` (depth first, in document order) that passes `pred`. */
export function findAll(el: SvgElement, pred: (e: SvgElement) => boolean): SvgElement[] {
  const out: SvgElement[] = [];
  const visit = (e: SvgElement): void => {
    if (pred(e)) out.push(e);
    e.children.forEach(visit);
  };
  el.children.forEach(visit);
  return out;
}

export const hasClass = (e: SvgElement, cls: string): boolean => (e.attrs.class ?? '').split(/\s+/).includes(cls);

/** A numeric attribute. */
export function attr(e: SvgElement, name: string): number {
  const v = e.attrs[name];
  assert.ok(v !== undefined, `<${e.name}> has no ${name}`);
  return Number(v);
}

/** The <text> elements of a class, as { text, x, y, anchor }. */
export function texts(root: SvgElement, cls?: string): { text: string; x: number; y: number; anchor: string }[] {
  return findAll(root, (e) => e.name === 'text' && (cls === undefined || hasClass(e, cls)))
    .map((e) => ({ text: e.text, x: attr(e, 'x'), y: attr(e, 'y'), anchor: e.attrs['text-anchor'] ?? 'start' }));
}

/** The one embedded PNG of a figure, decoded, with where it is drawn. */
export function embeddedPng(root: SvgElement): { png: DecodedPng; x: number; y: number; width: number; height: number } {
  const images = findAll(root, (e) => e.name === 'image');
  assert.equal(images.length, 1, 'one embedded raster');
  const img = images[0]!;
  const href = img.attrs.href ?? '';
  const prefix = 'data:image/png;base64,';
  assert.ok(href.startsWith(prefix), 'a PNG data URI');
  const png = decodePng(new Uint8Array(Buffer.from(href.slice(prefix.length), 'base64')));
  return { png, x: attr(img, 'x'), y: attr(img, 'y'), width: attr(img, 'width'), height: attr(img, 'height') };
}
