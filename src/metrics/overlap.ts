import type { BinaryMask } from './surfels.js';

/**
 * Volumetric Dice 2|G ∩ P| / (|G| + |P|) of two binarized masks of the same length.
 * NaN when both are empty (undefined), 0 when exactly one is.
 */
export function diceOfBinary(gt: BinaryMask, pred: BinaryMask): number {
  const a = gt.mask;
  const b = pred.mask;
  let both = 0;
  for (let i = 0; i < a.length; i++) both += (a[i] as number) & (b[i] as number);
  return (2 * both) / (gt.count + pred.count);
}
