import assert from 'node:assert/strict';
import type { Tensor } from '../../src/engine/tensor.js';

/**
 * Relative closeness: max |a - b| <= tol * max(max |b|, 1e-3). The floor keeps near-zero references
 * (e.g. tiny gradients) from demanding absurd absolute precision.
 */
export function assertClose(actual: Tensor | Float32Array, expected: Tensor | Float32Array, tol: number, what: string): void {
  const a = actual instanceof Float32Array ? actual : actual.toFloat32();
  const b = expected instanceof Float32Array ? expected : expected.toFloat32();
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  assert.ok(Number.isFinite(maxDiff) && maxDiff <= tol * Math.max(maxRef, 1e-3), `${what}: max diff ${maxDiff} > ${tol} x ${maxRef}`);
}
