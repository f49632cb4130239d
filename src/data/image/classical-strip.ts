/**
 * A classical skull-stripping baseline, to put a network's numbers on real heads in context:
 *   1. three-class Otsu thresholds of the head's intensities (voxels above 5 % of the 99.5th percentile:
 *      the head, not the air): dark (CSF, bone), middle (brain parenchyma), bright (fat); the lower
 *      threshold keeps parenchyma and fat and drops the dark shell between them;
 *   2. erosion by `erodeMm` (cuts the thin bridges between brain and scalp through the dark skull),
 *   3. the largest 6-connected component (the brain), 4. dilation by the same radius, 5. hole filling.
 * Its parameters are fixed a priori (radius 4 mm: about the skull's thickness), not tuned on any head.
 * Plain TypeScript on arrays (x fastest).
 */
import { distanceMap, fillHoles, largestComponent } from './morphology.js';

type Dims = readonly [number, number, number];

/** Otsu's thresholds of `values` into `classes` (2 or 3) over 256 bins between their minimum and maximum. */
export function otsuThresholds(values: ArrayLike<number>, classes: 2 | 3 = 2): number[] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) { const v = values[i]!; if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!(hi > lo)) return classes === 2 ? [lo] : [lo, lo];
  const bins = 256, hist = new Float64Array(bins), w = (hi - lo) / bins;
  for (let i = 0; i < values.length; i++) hist[Math.min(bins - 1, Math.floor((values[i]! - lo) / w))]! += 1;
  // Prefix sums of counts and first moments: a class [a, b) has weight P[b] - P[a], mean (S[b] - S[a]) / weight.
  const P = new Float64Array(bins + 1), S = new Float64Array(bins + 1);
  for (let b = 0; b < bins; b++) { P[b + 1] = P[b]! + hist[b]!; S[b + 1] = S[b]! + b * hist[b]!; }
  const term = (a: number, b: number): number => { const p = P[b]! - P[a]!; return p > 0 ? (S[b]! - S[a]!) ** 2 / p : 0; };
  // Maximising the between-class variance is maximising the sum of weight * mean^2 over the classes.
  let best = -1, t1 = 1, t2 = bins;
  if (classes === 2) {
    for (let a = 1; a < bins; a++) { const v = term(0, a) + term(a, bins); if (v > best) { best = v; t1 = a; } }
    return [lo + t1 * w];
  }
  for (let a = 1; a < bins - 1; a++) for (let b = a + 1; b < bins; b++) {
    const v = term(0, a) + term(a, b) + term(b, bins);
    if (v > best) { best = v; t1 = a; t2 = b; }
  }
  return [lo + t1 * w, lo + t2 * w];
}

/** Brain mask of a T1 head by threshold + morphology + largest component (see the file comment). */
export function classicalBrainMask(data: ArrayLike<number>, dims: Dims, spacing: readonly [number, number, number], erodeMm = 4): Uint8Array {
  const n = dims[0] * dims[1] * dims[2];
  const sorted = Float32Array.from(data).sort();
  const top = sorted[Math.min(n - 1, Math.floor(0.995 * n))]!;
  const head: number[] = [];
  for (let i = 0; i < n; i++) if (data[i]! > 0.05 * top) head.push(data[i]!);
  const [t] = otsuThresholds(head, 3) as [number, number];
  const bright = new Uint8Array(n), dark = new Uint8Array(n);
  for (let i = 0; i < n; i++) { bright[i] = data[i]! > t ? 1 : 0; dark[i] = 1 - bright[i]!; }
  // Erosion: voxels farther than erodeMm from any dark voxel; dilation: within erodeMm of the kept part.
  const toDark = distanceMap(dark, dims, spacing);
  const core = new Uint8Array(n);
  for (let i = 0; i < n; i++) core[i] = toDark[i]! > erodeMm ? 1 : 0;
  const brain = largestComponent(core, dims);
  const toBrain = distanceMap(brain, dims, spacing);
  const grown = new Uint8Array(n);
  for (let i = 0; i < n; i++) grown[i] = toBrain[i]! <= erodeMm && bright[i] === 1 ? 1 : 0;
  return fillHoles(grown, dims);
}
