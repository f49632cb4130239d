/** Batched inference over preprocessed slices, without gradients. */
import { checkInt } from '../../errors.js';
import { tensor } from '../../engine/create.js';
import { noGrad } from '../../engine/runtime.js';
import { tidy, type Device, type Tensor } from '../../engine/tensor.js';

/**
 * Run `fn` over slices [S, H, W] in batches of `batchSize` (as [B, 1, H, W] inputs) and gather each of
 * its outputs (each [B, 1, H, W]) into a Float32Array [S, H, W]. Returns one array per output.
 */
export function runSlices(images: Float32Array, shape: readonly [number, number, number], batchSize: number, device: Device,
  fn: (x: Tensor) => Tensor[]): Float32Array[] {
  checkInt('batchSize', batchSize, 1);
  const [S, H, W] = shape;
  const plane = H * W;
  let outs: Float32Array[] = [];
  for (let s = 0; s < S; s += batchSize) {
    const b = Math.min(batchSize, S - s);
    const results = noGrad(() => tidy(() => {
      const x = tensor(images.subarray(s * plane, (s + b) * plane), [b, 1, H, W], { device });
      return fn(x).map((t) => t.toFloat32());
    }));
    if (outs.length === 0) outs = results.map(() => new Float32Array(S * plane));
    results.forEach((r, i) => outs[i]!.set(r, s * plane));
  }
  return outs;
}

export { maskOfLogits, probabilities, runSlicesAsync } from './slices.js';
