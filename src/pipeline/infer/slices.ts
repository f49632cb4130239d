/** Engine-free work on slice logits (no Node module, no libtorch): shared by `segment` and the browser app. */
import { checkInt } from '../../errors.js';
import type { OptionTable } from '../../options.js';
import { headSpan } from '../../data/image/head-span.js';
import { Rng, hashSeed } from '../../data/rng.js';

/** Binary mask (logit > 0, i.e. sigmoid > 0.5) of logits. */
export function maskOfLogits(logits: Float32Array): Uint8Array {
  const m = new Uint8Array(logits.length);
  for (let i = 0; i < logits.length; i++) m[i] = logits[i]! > 0 ? 1 : 0;
  return m;
}

/** Sigmoid probabilities of logits. */
export function probabilities(logits: Float32Array): Float32Array {
  const p = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) p[i] = 1 / (1 + Math.exp(-logits[i]!));
  return p;
}

/**
 * The engine-free form of runSlices for one output: `fn` gets each batch of slices as a row-major
 * [B, 1, H, W] array (a view, B <= batchSize) and returns its logits [B, 1, H, W]; the results are
 * gathered into [S, H, W]. Used by engines that are not libtorch (onnxruntime).
 */
export async function runSlicesAsync(images: Float32Array, shape: readonly [number, number, number], batchSize: number,
  fn: (x: Float32Array, b: number, h: number, w: number) => Promise<Float32Array>): Promise<Float32Array> {
  checkInt('batchSize', batchSize, 1);
  const [S, H, W] = shape;
  const plane = H * W;
  const out = new Float32Array(S * plane);
  for (let s = 0; s < S; s += batchSize) {
    const b = Math.min(batchSize, S - s);
    out.set(await fn(images.subarray(s * plane, (s + b) * plane), b, H, W), s * plane);
  }
  return out;
}

/**
 * Test-time AdaBN's numeric options, one table for libtorch (test-time.ts) and onnxruntime
 * (pipeline/onnx/adabn.ts), so both engines estimate alike: batches of the source model's training batch size.
 */
export const TEST_TIME_OPTIONS = {
  batchSize: { default: 32, min: 1, integer: true },
  seed: { default: 42, min: 0, integer: true },
} as const satisfies OptionTable;

/** Slices of one or more views [S, H, W] (a scan's views, or several scans of one scanner). */
export interface SliceStack { images: Float32Array; shape: readonly [number, number, number] }

export interface AdaBNPlanOptions {
  /** Seed of the shuffle. */
  seed: number;
  /** 'head' (default): each stack's head span only (data/image/head-span.ts); 'all': every slice. */
  span?: 'head' | 'all';
  /** Keep at most this many slices of the shuffled order (default: all). */
  maxSlices?: number;
}

/**
 * The slices test-time AdaBN estimates from, as [stack, slice] pairs in the order they are batched: the
 * head span of every stack, shuffled once with (seed, 0), cut to `maxSlices`. libtorch (test-time.ts) and
 * onnxruntime (pipeline/onnx/adabn.ts) both batch this list, so their statistics agree.
 */
export function adabnSlicePlan(stacks: readonly SliceStack[], o: AdaBNPlanOptions): (readonly [number, number])[] {
  const refs = stacks.flatMap((s, i) => {
    const [lo, hi] = o.span === 'all' ? [0, s.shape[0] - 1] : headSpan(s.images, s.shape);
    return Array.from({ length: hi - lo + 1 }, (_, k) => [i, lo + k] as const);
  });
  new Rng(hashSeed(o.seed, 0)).shuffle(refs);
  if (o.maxSlices !== undefined) refs.splice(checkInt('maxSlices', o.maxSlices, 1));
  return refs;
}

/** One batch [B, 1, H, W] of the planned slices `refs[from, from + count)`. */
export function gatherSlices(stacks: readonly SliceStack[], refs: readonly (readonly [number, number])[], from: number, count: number): Float32Array {
  const [, H, W] = stacks[0]!.shape, plane = H * W;
  const chunk = refs.slice(from, from + count);
  const x = new Float32Array(chunk.length * plane);
  chunk.forEach(([i, k], b) => x.set(stacks[i]!.images.subarray(k * plane, (k + 1) * plane), b * plane));
  return x;
}
