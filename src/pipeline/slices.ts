/** Engine-free work on slice logits (no Node module, no libtorch): shared by `segment` and the browser app. */

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
  const [S, H, W] = shape;
  const plane = H * W;
  const out = new Float32Array(S * plane);
  for (let s = 0; s < S; s += batchSize) {
    const b = Math.min(batchSize, S - s);
    out.set(await fn(images.subarray(s * plane, (s + b) * plane), b, H, W), s * plane);
  }
  return out;
}
