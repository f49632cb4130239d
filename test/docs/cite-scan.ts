/**
 * Finds the repository paths that comments and Markdown cite, and names those that do not exist, so that a
 * reader who clones the repository can follow every citation (issue 26, item 4).
 *
 * What counts as a citation:
 * - a path under a top-level folder of the repository (`docs/method.md`, `src/data/image/conform.ts`,
 *   `test/fixtures/models/`), anywhere in a comment or a Markdown file. Inside src/ a path may be relative
 *   to src/ (`data/image/conform.ts`), and a benchmark may be named without its extension (`bench/engine`);
 *   `{a,b}` and `*` are expanded, and a path that ends in a placeholder (`zoo-<arch>.json`) must match the
 *   start of a file name;
 * - a bare Markdown file name (`segment.md`), resolved beside the citing file, at the root or in docs/;
 * - a relative link or image in Markdown (`](colin27.png)`), resolved beside the Markdown file;
 * - a Markdown document cited by a path that climbs out with `../`: resolved beside the citing file, it must
 *   stay inside the repository (data kept beside the checkout, such as `../shared/data/...`, is not a citation);
 * - a section, written as a Markdown path and a number or range (`docs/method.md §3`, `docs/method.md §3-5`):
 *   the document must have a heading with that number (`## 3. ...`). A section sign with no file name before
 *   it is reported too, as nobody can tell which document it means.
 * Only comments are read in code (strings are data: paths a command writes, not citations).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';

export interface Problem {
  /** The citing file, relative to the root, with its 1-based line. */
  file: string;
  line: number;
  cited: string;
  why: string;
}

/** Folders whose names start a cited path. */
const TOP = ['src', 'test', 'bench', 'tools', 'scripts', 'docs', 'native', 'app', 'models', 'data'];
/** Folders scanned for citing files (with the Markdown files at the root and under models/ and data/). */
const SCANNED = ['src', 'test', 'bench', 'tools', 'scripts', 'docs', 'native', 'app', '.ci', 'models', 'data'];
/** Never scanned: dependencies, build output, generated results and binary fixtures. */
const SKIP = new Set(['node_modules', 'dist', 'build', '.git', '__pycache__', 'fixtures', 'results', '.gpu']);

/**
 * Names that look like citations but are files our commands write, or placeholders in a usage line:
 * they need not exist in the repository.
 */
export const GENERATED_UNDER = ['bench/results/']; // every benchmark writes its JSON there (git-ignored)
export const GENERATED = new Set([
  'table.md', // written by `convlora experiment` and `convlora demo` beside results.json
  'FILE_BASE.md', // bench/adapter-choice's output name, a placeholder in its usage line
]);

const CODE = new Set(['.ts', '.mjs', '.js', '.cc', '.h', '.css']);
const HASH = new Set(['.py', '.sh', '']);

/** One stretch of cited text: its offset in the file and the text. */
interface Span { at: number; text: string }

/**
 * The comments of a C-family or JavaScript source: `//` and `/* ... *\/`, skipping string, template and
 * regular-expression literals so that `'src/**\/*.ts'` in a string is not read as a comment.
 */
export function cComments(src: string): Span[] {
  const out: Span[] = [];
  let i = 0;
  let prev = ''; // the last significant character of code, to tell a regular expression from a division
  while (i < src.length) {
    const c = src[i]!;
    const n = src[i + 1];
    if (c === '/' && n === '/') {
      const end = src.indexOf('\n', i);
      const stop = end === -1 ? src.length : end;
      out.push({ at: i + 2, text: src.slice(i + 2, stop) });
      i = stop;
    } else if (c === '/' && n === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end === -1 ? src.length : end;
      out.push({ at: i + 2, text: src.slice(i + 2, stop) });
      i = stop + 2;
    } else if (c === '\'' || c === '"' || c === '`') {
      i = skipQuoted(src, i, c);
      prev = c;
    } else if (c === '/' && (prev === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev))) {
      i = skipRegex(src, i);
      prev = '/';
    } else {
      if (!/\s/.test(c)) prev = c;
      i++;
    }
  }
  return out;
}

function skipQuoted(src: string, i: number, q: string): number {
  let j = i + 1;
  while (j < src.length && src[j] !== q) {
    if (src[j] === '\\') j++;
    else if (q !== '`' && src[j] === '\n') break; // an unterminated quote (e.g. an apostrophe in C++): stop at the line
    j++;
  }
  return j + 1;
}

function skipRegex(src: string, i: number): number {
  let j = i + 1;
  let inClass = false;
  while (j < src.length && src[j] !== '\n') {
    const c = src[j];
    if (c === '\\') j++;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) return j + 1;
    j++;
  }
  return j;
}

/** `#` comments of a shell or Python file, and Python's triple-quoted docstrings. */
export function hashComments(src: string, python: boolean): Span[] {
  const out: Span[] = [];
  for (const m of src.matchAll(/(^|[ \t])#(.*)$/gm)) out.push({ at: m.index + m[1]!.length + 1, text: m[2]! });
  if (python) for (const m of src.matchAll(/"""([\s\S]*?)"""/g)) out.push({ at: m.index + 3, text: m[1]! });
  return out;
}

/** The cited text of a file of this name: all of a Markdown file, the comments of code, nothing of data. */
export function citedSpans(path: string, src: string): Span[] {
  const ext = extname(path);
  if (ext === '.md') return [{ at: 0, text: src }];
  if (CODE.has(ext)) return cComments(src);
  if (HASH.has(ext)) return hashComments(src, ext === '.py').sort((a, b) => a.at - b.at);
  if (ext === '.html') return [...src.matchAll(/<!--([\s\S]*?)-->/g)].map((m) => ({ at: m.index + 4, text: m[1]! }));
  return [];
}

const PATH = new RegExp(`(?<![\\w./$<{@~-])((?:${TOP.join('|')})/[\\w./*{},-]*)(<?)`, 'g');
const BARE_MD = /(?<![\w./$<{-])([\w.-]+\.md)\b/g;
const LINK = /!?\[[^\]]*\]\(([^)\s]+)\)/g;
const UP = /(?<![\w./-])((?:\.\.\/)+[\w./-]*\.md)\b/g;
const SECTION = /(?:([\w./-]+\.md)\s+)?§\s?(\d+)(?:\s?-\s?(\d+))?/g;

/** `a{b,c}d` -> [abd, acd]. */
function expandBraces(p: string): string[] {
  const m = /\{([^{}]*)\}/.exec(p);
  if (m === null) return [p];
  return m[1]!.split(',').flatMap((alt) => expandBraces(p.slice(0, m.index) + alt + p.slice(m.index + m[0].length)));
}

/** Does `pattern` (with `*`, or a trailing placeholder when `prefix`) name something under `base`? */
function matches(base: string, pattern: string, prefix: boolean): boolean {
  const p = pattern.replace(/\/+$/, '');
  if (!p.includes('*') && !prefix) {
    const full = join(base, p);
    if (existsSync(full)) return true;
    // A benchmark or script named without its extension, or a compiled name for a TypeScript source.
    if (['.ts', '.mjs', '.js', '.py', '.sh'].some((e) => existsSync(full + e))) return true;
    return p.endsWith('.js') && existsSync(join(base, p.slice(0, -3) + '.ts'));
  }
  // Walk the pattern one segment at a time so that `*` and a placeholder match within one folder.
  const parts = p.split('/');
  let dirs = [base];
  parts.forEach((part, k) => {
    const last = k === parts.length - 1;
    const re = new RegExp(`^${part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}${last && prefix ? '' : '$'}`);
    dirs = dirs.flatMap((d) => {
      if (!isDir(d)) return [];
      return readdirSync(d).filter((e) => re.test(e)).map((e) => join(d, e));
    });
  });
  return dirs.length > 0;
}

function isDir(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}

/** The headings numbered `N.` in a Markdown file. */
function sectionNumbers(file: string): Set<number> {
  const out = new Set<number>();
  for (const m of readFileSync(file, 'utf8').matchAll(/^#+\s+(\d+)\./gm)) out.add(Number(m[1]));
  return out;
}

/** Every broken citation in one file's text; `file` is relative to `root`. */
export function checkFile(root: string, file: string, src: string): Problem[] {
  const problems: Problem[] = [];
  const here = dirname(join(root, file));
  const lineOf = (offset: number): number => src.slice(0, offset).split('\n').length;
  const bases = [root, here, join(root, 'src')];
  const report = (offset: number, cited: string, why: string): void => {
    if (GENERATED.has(cited) || GENERATED_UNDER.some((d) => cited.startsWith(d))) return;
    problems.push({ file, line: lineOf(offset), cited, why });
  };
  const resolveMd = (name: string): string | undefined =>
    [join(here, name), join(root, name), join(root, 'docs', name)].find((p) => existsSync(p));

  for (const span of citedSpans(file, src)) {
    for (const m of span.text.matchAll(PATH)) {
      const cited = m[1]!.replace(/[.,:;]+$/, '');
      const placeholder = m[2] === '<';
      if (cited.endsWith('/') && !placeholder && cited.split('/').length === 2 && TOP.includes(cited.slice(0, -1))) continue;
      const ok = expandBraces(cited).every((p) => bases.some((b) => matches(b, p, placeholder)));
      if (!ok) report(span.at + m.index, cited, 'no such path');
    }
    for (const m of span.text.matchAll(UP)) {
      const target = join(here, m[1]!);
      const inside = !relative(root, target).startsWith('..');
      if (!inside) report(span.at + m.index, m[1]!, 'outside the repository');
      else if (!existsSync(target)) report(span.at + m.index, m[1]!, 'no such path');
    }
    for (const m of span.text.matchAll(BARE_MD)) {
      if (resolveMd(m[1]!) === undefined) report(span.at + m.index, m[1]!, 'no such Markdown file');
    }
    if (file.endsWith('.md')) {
      for (const m of span.text.matchAll(LINK)) {
        const target = m[1]!.replace(/#.*$/, '');
        if (target === '' || /^[a-z]+:/i.test(target)) continue;
        if (!existsSync(join(here, target))) report(span.at + m.index, target, 'broken link');
      }
    }
    for (const m of span.text.matchAll(SECTION)) {
      const name = m[1];
      if (name === undefined) {
        report(span.at + m.index, m[0], 'a section without the file it is in (write FILE.md §N)');
        continue;
      }
      const target = resolveMd(name);
      if (target === undefined) continue; // already reported as a missing file
      const have = sectionNumbers(target);
      const wanted = m[3] === undefined ? [Number(m[2])] : [Number(m[2]), Number(m[3])];
      const missing = wanted.filter((n) => !have.has(n));
      if (missing.length > 0) report(span.at + m.index, m[0], `${name} has no section ${missing.join(', ')}`);
    }
  }
  return problems;
}

function* walk(dir: string): Generator<string> {
  if (!isDir(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

/** The files whose citations are checked, relative to `root`, sorted. */
export function citingFiles(root: string): string[] {
  const files = new Set<string>();
  for (const top of SCANNED) {
    for (const p of walk(join(root, top))) {
      const rel = relative(root, p).split(sep).join('/');
      // Under models/ and data/ only the Markdown is ours to cite from; the rest is weights and data.
      if ((top === 'models' || top === 'data') && extname(p) !== '.md') continue;
      if (extname(p) === '.md' || CODE.has(extname(p)) || HASH.has(extname(p)) || extname(p) === '.html') files.add(rel);
    }
  }
  for (const e of readdirSync(root)) if (e.endsWith('.md')) files.add(e);
  return [...files].sort();
}

/** Every broken citation in the repository at `root`. */
export function checkRepository(root: string): Problem[] {
  return citingFiles(root).flatMap((f) => checkFile(root, f, readFileSync(join(root, f), 'utf8')));
}
