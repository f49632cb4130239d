/**
 * Training images drawn from a real head's label map, as SynthStrip made its training images: the
 * brain's regions come from a segmentation (DLMUSE's regions), everything else in the head from
 * clustering the real image's intensities outside the brain; each draw gives every class a random
 * intensity, then the image goes through the same degradations as domain randomization
 * (randomize.ts degradeImage: texture, thick slices, blur, bias, gamma, Rician noise).
 *
 * Label map of a head (Uint16, one per voxel):
 *   0                    air (outside the head),
 *   1 .. extra           extra-cerebral classes, by intensity (k-means of the real image outside the brain),
 *   extra + 1 ..         one label per brain region; each region belongs to one of `brainClasses` classes
 *                        (k-means of the regions' mean real intensities: roughly CSF, grey, white matter).
 * The brain mask is exactly the labels above `extra`.
 */
import { ConvLoraError } from '../../errors.js';
import { cleanBrainMask } from '../image/morphology.js';
import { degradeImage, type RandomizeOptions } from './randomize.js';
import type { Rng } from '../rng.js';

export interface HeadLabels {
  dims: [number, number, number];
  /** Per voxel: 0 air, 1..extra extra-cerebral classes, extra+1.. brain regions. */
  labels: Uint16Array;
  /** Number of extra-cerebral classes. */
  extra: number;
  /** Class of each label (index = label): 0 air, 1..extra itself, then extra + 1 + brain class. */
  classOf: Int32Array;
  /** Number of classes in all (air, extra-cerebral, brain classes). */
  classes: number;
}

export interface LabelOptions {
  /** Extra-cerebral intensity classes. Default 5 (dark bone and CSF, muscle, skin, marrow, fat). */
  extra?: number;
  /** Brain region classes. Default 3 (CSF and ventricles, grey matter, white matter). */
  brainClasses?: number;
}

/**
 * 1D k-means of `values` (weights optional) into k sorted centres, started at quantiles; returns the
 * centres in increasing order. Deterministic; 30 Lloyd iterations are plenty in one dimension.
 */
export function kmeans1d(values: ArrayLike<number>, k: number, weights?: ArrayLike<number>): number[] {
  const n = values.length;
  if (n === 0) throw new ConvLoraError('E_DATA', 'Expected values to cluster but received none');
  const sorted = Float64Array.from(values).sort();
  let c = Array.from({ length: k }, (_, i) => sorted[Math.min(n - 1, Math.floor(((i + 0.5) / k) * n))]!);
  for (let it = 0; it < 30; it++) {
    const sum = new Float64Array(k), cnt = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const v = values[i]!, w = weights?.[i] ?? 1;
      let best = 0;
      for (let j = 1; j < k; j++) if (Math.abs(v - c[j]!) < Math.abs(v - c[best]!)) best = j;
      sum[best]! += v * w; cnt[best]! += w;
    }
    const next = c.map((x, j) => (cnt[j]! > 0 ? sum[j]! / cnt[j]! : x));
    if (next.every((x, j) => x === c[j])) break;
    c = next;
  }
  return c.sort((a, b) => a - b);
}

function nearest(v: number, centres: readonly number[]): number {
  let best = 0;
  for (let j = 1; j < centres.length; j++) if (Math.abs(v - centres[j]!) < Math.abs(v - centres[best]!)) best = j;
  return best;
}

/**
 * The label map of a real head: `image` its T1 (any scale), `regions` its brain segmentation (0 outside
 * the brain, region numbers inside), all [nx, ny, nz] on one grid. The head is the largest component of
 * the voxels brighter than a quarter of the brain's median, holes filled, plus the brain.
 */
export function headLabels(image: ArrayLike<number>, regions: ArrayLike<number>, dims: [number, number, number], o: LabelOptions = {}): HeadLabels {
  const n = dims[0] * dims[1] * dims[2];
  if (image.length !== n || regions.length !== n) {
    throw new ConvLoraError('E_SHAPE', `Expected ${n} voxels in the image and the regions for dims [${dims.join(', ')}] but received ${image.length} and ${regions.length}`);
  }
  const extra = o.extra ?? 5, brainClasses = o.brainClasses ?? 3;
  const inBrain: number[] = [];
  for (let v = 0; v < n; v++) if (regions[v]! > 0) inBrain.push(image[v]!);
  if (inBrain.length === 0) throw new ConvLoraError('E_DATA', 'Expected a brain segmentation with at least one labelled voxel but received none');
  inBrain.sort((a, b) => a - b);
  const level = inBrain[inBrain.length >> 1]! / 4;
  const fg = new Uint8Array(n);
  for (let v = 0; v < n; v++) fg[v] = image[v]! > level || regions[v]! > 0 ? 1 : 0;
  const head = cleanBrainMask(fg, dims);

  const outside: number[] = [];
  for (let v = 0; v < n; v++) if (head[v] === 1 && regions[v]! === 0) outside.push(image[v]!);
  const extraCentres = outside.length >= extra ? kmeans1d(outside, extra) : Array.from({ length: extra }, (_, i) => i);

  // Brain regions: compact labels, each classed by its mean real intensity.
  const ids = new Map<number, number>();
  const sums: number[] = [], counts: number[] = [];
  for (let v = 0; v < n; v++) {
    const r = regions[v]!;
    if (r <= 0) continue;
    let id = ids.get(r);
    if (id === undefined) { id = ids.size; ids.set(r, id); sums.push(0); counts.push(0); }
    sums[id]! += image[v]!; counts[id]! += 1;
  }
  const means = sums.map((s, i) => s / counts[i]!);
  const brainCentres = kmeans1d(means, Math.min(brainClasses, means.length), counts);
  const labels = new Uint16Array(n);
  for (let v = 0; v < n; v++) {
    if (regions[v]! > 0) labels[v] = extra + 1 + ids.get(regions[v]!)!;
    else if (head[v] === 1) labels[v] = 1 + nearest(image[v]!, extraCentres);
  }
  const classOf = new Int32Array(extra + 1 + ids.size);
  for (let l = 0; l <= extra; l++) classOf[l] = l;
  means.forEach((m, id) => { classOf[extra + 1 + id] = extra + 1 + nearest(m, brainCentres); });
  return { dims, labels, extra, classOf, classes: extra + 1 + brainCentres.length };
}

/** The brain mask of a label map: labels above `extra`. */
export function brainOfLabels(h: Pick<HeadLabels, 'labels' | 'extra'>): Uint8Array {
  const out = new Uint8Array(h.labels.length);
  for (let v = 0; v < out.length; v++) out[v] = h.labels[v]! > h.extra ? 1 : 0;
  return out;
}

export interface SynthesisOptions extends RandomizeOptions {
  /** Probability that every brain region gets its own random intensity instead of its class's. Default 0.2. */
  regionShare?: number;
  /** Sd of a region's intensity around its class's, as a share of it. Default 0.1. */
  regionSd?: number;
  /** Largest mean intensity of air. Default 0.1 (air is dark in every MR contrast, but not always black). */
  maxAir?: number;
}

/**
 * One random-contrast image of a label map (`labels` may be a warped copy of `h.labels`): class means
 * uniform in [0, 1] (air in [0, maxAir]), each brain region jittered around its class (or, with
 * probability regionShare, drawn on its own), then degradeImage. Values >= 0.
 */
export function synthesizeHead(h: HeadLabels, labels: Uint16Array, rng: Rng, o: SynthesisOptions = {}): Float32Array {
  const classMean = Array.from({ length: h.classes }, (_, c) => (c === 0 ? rng.uniform(0, o.maxAir ?? 0.1) : rng.next()));
  const own = rng.next() < (o.regionShare ?? 0.2);
  const sd = o.regionSd ?? 0.1;
  const mean = new Float32Array(h.classOf.length);
  for (let l = 0; l < mean.length; l++) {
    const c = h.classOf[l]!;
    mean[l] = l <= h.extra ? classMean[c]! : own ? rng.next() : Math.max(0, classMean[c]! * (1 + sd * rng.normal()));
  }
  const img = new Float32Array(labels.length);
  for (let v = 0; v < img.length; v++) img[v] = mean[labels[v]!]!;
  return degradeImage(img, h.dims, rng, o).image;
}
