import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { ConvLoraError } from '../../src/errors.js';

/** test/fixtures/<rel>; tests run from dist/test/data, fixtures stay in the source tree. */
export function fixture(...rel: string[]): string {
  return join(fileURLToPath(new URL('../../../test/fixtures/', import.meta.url)), ...rel);
}

export function readJson<T>(...rel: string[]): T {
  return JSON.parse(readFileSync(fixture(...rel), 'utf8')) as T;
}

export { tempDir } from '../helpers/tmp.js';

/** Assert a ConvLoraError with this code (and detail sub-code, and message pattern). */
export function isCoded(code: string, detail?: string, message?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof ConvLoraError, `expected ConvLoraError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (detail !== undefined) assert.equal(err.detail, detail, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}

export function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => { m = Math.max(m, Math.abs(v - (b[i]?.[j] ?? NaN))); }));
  return Number.isNaN(m) ? Infinity : m;
}
