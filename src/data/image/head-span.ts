import { ConvLoraError } from '../../errors.js';

/**
 * The head's slices of slices [S, H, W]: the inclusive span from the first to the last slice whose mean
 * intensity is at least half the largest slice mean. Scans are sliced as stored, with empty slices
 * beyond the head that a domain's training slice range leaves out, and that the BatchNorm statistics of
 * the source model and of every adapter therefore never saw.
 */
export function headSpan(images: Float32Array, shape: readonly [number, number, number]): [number, number] {
  const [S, H, W] = shape;
  if (S < 1) throw new ConvLoraError('E_SHAPE', 'Expected at least one slice but received 0');
  const plane = H * W;
  const means = Array.from({ length: S }, (_, s) => {
    let sum = 0;
    for (let i = s * plane; i < (s + 1) * plane; i++) sum += images[i]!;
    return sum / plane;
  });
  const top = Math.max(...means);
  return [means.findIndex((m) => m >= top / 2), S - 1 - [...means].reverse().findIndex((m) => m >= top / 2)];
}
