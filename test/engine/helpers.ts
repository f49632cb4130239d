/**
 * Test helpers for the engine: a minimal safetensors reader for the committed PyTorch fixtures
 * (kept here so engine tests do not depend on src/nn), and closeness assertions.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kaimingUniform, noGrad, ones, ops, tensor, Tensor, tidy, uniform, zeros, type Device } from '../../src/engine/index.js';

/** Repository root, from dist/test/engine/ (compiled) or test/engine/ (source). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), import.meta.url.includes('/dist/') ? '../../..' : '../..');

export interface RawTensor {
  dtype: 'float32' | 'float64' | 'int64';
  shape: number[];
  data: Float32Array | Float64Array | BigInt64Array;
}

const CODES = {
  F32: { dtype: 'float32', bytes: 4, make: (b: ArrayBuffer) => new Float32Array(b) },
  F64: { dtype: 'float64', bytes: 8, make: (b: ArrayBuffer) => new Float64Array(b) },
  I64: { dtype: 'int64', bytes: 8, make: (b: ArrayBuffer) => new BigInt64Array(b) },
} as const;

/** Read a safetensors file (F32/F64/I64 only) into typed arrays; checks that offsets tile the buffer. */
export function readSafetensors(path: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  assert.equal(os.endianness(), 'LE', 'safetensors stores little-endian data');
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.toString('utf8', 8, 8 + n)) as Record<string, unknown>;
  const base = 8 + n;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const entries = Object.entries(header).filter(([k]) => k !== '__metadata__') as
    [string, { dtype: keyof typeof CODES; shape: number[]; data_offsets: [number, number] }][];
  entries.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  const tensors = new Map<string, RawTensor>();
  let expectedStart = 0;
  for (const [name, e] of entries) {
    const code = CODES[e.dtype];
    assert.ok(code !== undefined, `${name}: unsupported dtype ${e.dtype}`);
    const [begin, end] = e.data_offsets;
    assert.equal(begin, expectedStart, `${name}: offsets must tile the buffer`);
    assert.equal(end - begin, e.shape.reduce((a, b) => a * b, 1) * code.bytes, `${name}: extent does not match shape`);
    expectedStart = end;
    // Copy into a fresh ArrayBuffer: the file's Buffer may not be aligned for 8-byte views.
    const ab = bytes.buffer.slice(bytes.byteOffset + base + begin, bytes.byteOffset + base + end);
    tensors.set(name, { dtype: code.dtype, shape: e.shape, data: code.make(ab) });
  }
  assert.equal(base + expectedStart, bytes.length, 'buffer must end at the end of the file');
  return { tensors, metadata };
}

/** An engine tensor holding a copy of a fixture tensor. */
export function fromRaw(r: RawTensor): Tensor {
  return tensor(r.data, r.shape);
}

function toNumbers(d: ArrayLike<number> | BigInt64Array): Float64Array {
  return d instanceof BigInt64Array ? Float64Array.from(d, (v) => Number(v)) : Float64Array.from(d);
}

/**
 * Tolerance rule (parity with PyTorch): max|ours - ref| <= rtol * max(max|ref|, floor).
 * Relative to the largest reference magnitude, so a few float32 ulps of reordered summation pass
 * while any real error does not; the floor (default 1e-2, i.e. an absolute 1e-7 at rtol 1e-5)
 * only matters for tensors that are nearly zero everywhere. NaN or Inf must match exactly.
 */
export function assertClose(actual: Tensor | ArrayLike<number>, expected: RawTensor | ArrayLike<number>, label: string,
  o: { rtol?: number; floor?: number; shape?: boolean } = {}): void {
  const rtol = o.rtol ?? 1e-5;
  const floor = o.floor ?? 1e-2;
  let a: Float64Array;
  if (actual instanceof Tensor) {
    if (!('length' in expected) && o.shape !== false) assert.deepEqual(actual.shape, expected.shape, `${label}: shape`);
    a = toNumbers(actual.data() as ArrayLike<number> | BigInt64Array);
  } else {
    a = toNumbers(actual);
  }
  const e = toNumbers('length' in expected ? expected : expected.data as ArrayLike<number> | BigInt64Array);
  assert.equal(a.length, e.length, `${label}: element count`);
  let maxRef = 0;
  let maxDiff = 0;
  let worst = -1;
  for (let i = 0; i < e.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (!Number.isFinite(y) || !Number.isFinite(x)) {
      assert.ok(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)), `${label}: element ${i} is ${x}, expected ${y}`);
      continue;
    }
    maxRef = Math.max(maxRef, Math.abs(y));
    const d = Math.abs(x - y);
    if (d > maxDiff) { maxDiff = d; worst = i; }
  }
  const tol = rtol * Math.max(maxRef, floor);
  assert.ok(maxDiff <= tol,
    `${label}: max |diff| ${maxDiff.toExponential(3)} > ${tol.toExponential(3)} (rtol ${rtol} of max |ref| ${maxRef.toExponential(3)}); ` +
    `worst at ${worst}: got ${a[worst]}, expected ${e[worst]}`);
}

/** Exact equality of integer/boolean values (bool read as 0/1). */
export function assertExact(actual: Tensor, expected: RawTensor, label: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${label}: shape`);
  assert.deepEqual(Array.from(toNumbers(actual.data() as ArrayLike<number> | BigInt64Array)),
    Array.from(toNumbers(expected.data as ArrayLike<number> | BigInt64Array)), label);
}

/** A tensor's values as plain numbers (int64 converted, bool as 0/1). */
export function values(t: Tensor): number[] {
  const d = t.data();
  return d instanceof BigInt64Array ? Array.from(d, (v) => Number(v)) : Array.from(d);
}

/** Resident set size in MiB. */
export function rssMiB(): number {
  return process.memoryUsage.rss() / (1 << 20);
}

/** A small segmentation-like conv net for training-loop tests: parameters and BN buffers, all kept. */
export interface SmallNet { params: Tensor[]; buffers: Tensor[] }

/** Seeded by the global generator (call manualSeed first); on the CPU. */
export function makeSmallNet(channels: number): SmallNet {
  const c = channels;
  const conv = (cout: number, cin: number, k: number): Tensor[] => [kaimingUniform([cout, cin, k, k]), uniform([cout], -0.1, 0.1)];
  const params = [
    ...conv(c, 1, 3), ones([c]), zeros([c]), // conv1 + bn1 affine
    ...conv(c, c, 3), ones([c]), zeros([c]), // conv2 (stride 2) + bn2 affine
    ...conv(1, c, 1), // 1x1 head
  ];
  for (const p of params) p.keep().requiresGrad = true;
  const buffers = [zeros([c]), ones([c]), zeros([c]), ones([c])].map((t) => t.keep());
  return { params, buffers };
}

/** The same net with copies of every tensor on `device` (parameters are fresh leaves). */
export function copySmallNet(net: SmallNet, device: Device): SmallNet {
  // clone: to() returns the tensor itself when it is already there (as in PyTorch).
  const copy = (t: Tensor): Tensor => noGrad(() => tidy(() => ops.clone(ops.to(t, { device })))).keep();
  const params = net.params.map(copy);
  for (const p of params) p.requiresGrad = true;
  return { params, buffers: net.buffers.map(copy) };
}

/** x [B, 1, H, W] -> logits [B, 1, H, W] (H, W even); BN in training mode updates the buffers. */
export function smallNetForward(net: SmallNet, x: Tensor): Tensor {
  const [w1, b1, g1, be1, w2, b2, g2, be2, w3, b3] = net.params as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
  const [rm1, rv1, rm2, rv2] = net.buffers as [Tensor, Tensor, Tensor, Tensor];
  const bn = (h: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor): Tensor =>
    ops.batchNorm(h, { weight, bias, runningMean, runningVar, training: true, momentum: 0.1, eps: 1e-5 });
  const [, , h, w] = x.shape as [number, number, number, number];
  const h1 = ops.relu(bn(ops.conv2d(x, w1, b1, { padding: 1 }), g1, be1, rm1, rv1)); // [B, C, H, W]
  const h2 = ops.relu(bn(ops.conv2d(h1, w2, b2, { padding: 1, stride: 2 }), g2, be2, rm2, rv2)); // [B, C, H/2, W/2]
  const y = ops.conv2d(h2, w3, b3); // [B, 1, H/2, W/2]
  return ops.interpolateBilinear(y, [h, w]); // [B, 1, H, W]
}

export function disposeSmallNet(net: SmallNet): void {
  for (const t of [...net.params, ...net.buffers]) t.dispose();
}
