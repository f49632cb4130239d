/**
 * Domain randomization (SynthSeg / SynthStrip style): a random-contrast image of a tissue volume, so a
 * network trained on such images cannot rely on any one scanner's intensities and has to learn shape.
 * Per image, in this order (units: voxels of the input grid unless stated):
 *   1. contrast:   each tissue gets a random mean in [0, 1] (air stays 0); with probability `physicsShare`
 *                  the means come from a caller-supplied realistic contrast instead (e.g. a scanner's
 *                  physics signals), jittered, so realistic contrasts are seen too;
 *   2. texture:    within-tissue Gaussian variation, sd a random share of the mean;
 *   3. resolution: with probability `lowResShare`, one random axis is box-averaged over 1-`maxThickness`
 *                  voxels and linearly interpolated back (thick slices, partial volume);
 *   4. blur:       separable Gaussian, sigma uniform in [0, `maxBlur`] per axis;
 *   5. bias:       multiplicative exp(smooth field), from a coarse random grid, log-sd up to `maxBias`;
 *   6. gamma:      (x / max)^exp(N(0, `gammaSd`)) on the normalised image;
 *   7. noise:      Rician (complex Gaussian, magnitude), sd up to `maxNoise` of the image maximum.
 * Ranges follow SynthSeg's brain_generator and neurite's labels_to_image (docs/mr-physics.md §5);
 * they are defaults, not tuned to any test.
 */
import { ConvLoraError } from '../../errors.js';
import { Rng } from '../rng.js';
import { resampleLinear } from '../image/resample.js';
import { TISSUES, mixSignals, type PerTissue, type TissueVolume } from './tissue.js';

export interface RandomizeOptions {
  /** Probability that the tissue means come from `realistic` (jittered) rather than uniform draws. Default 0.3. */
  physicsShare?: number;
  /** Realistic contrasts to draw from (per-tissue signals, any scale: normalised to their maximum). */
  realistic?: readonly PerTissue[];
  /** Within-tissue sd as a share of the tissue mean: uniform in [0, textureSd]. Default 0.1. */
  textureSd?: number;
  /** Probability of a thick-slice axis. Default 0.5. */
  lowResShare?: number;
  /** Largest slice thickness, voxels. Default 3. */
  maxThickness?: number;
  /** Largest Gaussian blur sigma, voxels. Default 1. */
  maxBlur?: number;
  /** Largest log-sd of the bias field. Default 0.4 (about 0.67-1.5 at one sd). */
  maxBias?: number;
  /** Sd of the log gamma exponent. Default 0.25. */
  gammaSd?: number;
  /** Largest noise sd as a share of the maximum. Default 0.08. */
  maxNoise?: number;
}

/** What was drawn, for logs and tests. */
export interface RandomizeDraw {
  means: PerTissue;
  realistic: boolean;
  thickAxis: number | null;
  thickness: number;
  blur: [number, number, number];
  biasSd: number;
  gamma: number;
  noise: number;
}

function share(name: string, v: number): number {
  if (!(v >= 0 && v <= 1)) throw new ConvLoraError('E_INVALID_ARG', `Expected a number in [0, 1] for \`${name}\` but received ${v}`);
  return v;
}

/** One random-contrast image of `vol` ([nx * ny * nz], axis 0 fastest, values >= 0, maximum about 1). */
export function randomizeImage(vol: Pick<TissueVolume, 'dims' | 'fractions'>, seed: number, o: RandomizeOptions = {}): { image: Float32Array; draw: RandomizeDraw } {
  const rng = new Rng(seed);
  const realistic = o.realistic ?? [];
  const useReal = realistic.length > 0 && rng.next() < share('physicsShare', o.physicsShare ?? 0.3);
  const means = {} as PerTissue;
  if (useReal) {
    const base = realistic[rng.int(realistic.length)]!;
    const top = Math.max(...TISSUES.map((t) => base[t]), 1e-9);
    for (const t of TISSUES) means[t] = Math.max(0, (base[t] / top) * Math.exp(0.15 * rng.normal()));
  } else {
    for (const t of TISSUES) means[t] = rng.next();
  }
  const d = degradeImage(mixSignals(vol, means), vol.dims, rng, o);
  return { image: d.image, draw: { means, realistic: useReal, ...d.draw } };
}

/** What degradeImage drew. */
export type DegradeDraw = Omit<RandomizeDraw, 'means' | 'realistic'>;

/**
 * Steps 2-7 of randomizeImage on an image already drawn (values >= 0; `img` may be modified): texture,
 * thick slices, blur, bias, gamma and Rician noise, drawn from `rng` in that order. Real images under
 * intensity augmentation and images synthesized from label maps (head-synthesis.ts) share it.
 */
export function degradeImage(img: Float32Array, dims: readonly [number, number, number], rng: Rng, o: RandomizeOptions = {}): { image: Float32Array; draw: DegradeDraw } {
  const n = img.length;
  // Texture: one Gaussian draw per voxel scaled by the voxel's mean (a tissue's sd is a share of its mean).
  const tex = rng.uniform(0, o.textureSd ?? 0.1);
  for (let i = 0; i < n; i++) img[i] = Math.max(0, img[i]! * (1 + tex * rng.normal()));

  let thickAxis: number | null = null, thickness = 1;
  if (rng.next() < share('lowResShare', o.lowResShare ?? 0.5)) {
    thickAxis = rng.int(3);
    thickness = rng.uniform(1, o.maxThickness ?? 3);
    img = thickSlices(img, dims, thickAxis, thickness);
  }
  const maxBlur = o.maxBlur ?? 1;
  const blur: [number, number, number] = [rng.uniform(0, maxBlur), rng.uniform(0, maxBlur), rng.uniform(0, maxBlur)];
  blur.forEach((s, a) => { if (s > 0.05) gaussianBlurAxis(img, dims, a, s); });

  const biasSd = rng.uniform(0, o.maxBias ?? 0.4);
  applyBias(img, dims, biasSd, rng);

  let max = 0;
  for (let i = 0; i < n; i++) if (img[i]! > max) max = img[i]!;
  const gamma = Math.exp((o.gammaSd ?? 0.25) * rng.normal());
  const noise = rng.uniform(0, o.maxNoise ?? 0.08);
  const inv = max > 0 ? 1 / max : 0;
  for (let i = 0; i < n; i++) {
    const v = Math.pow(img[i]! * inv, gamma);
    const re = v + noise * rng.normal(), im = noise * rng.normal();
    img[i] = Math.sqrt(re * re + im * im);
  }
  return { image: img, draw: { thickAxis, thickness, blur, biasSd, gamma, noise } };
}

/** Box-average `thickness` voxels along `axis` (a thick slice), then interpolate back to the grid. */
function thickSlices(img: Float32Array, dims: readonly [number, number, number], axis: number, thickness: number): Float32Array {
  const low = [...dims] as [number, number, number];
  const full = dims[axis]!;
  low[axis] = Math.max(2, Math.round(full / thickness));
  if (low[axis]! >= full) return img;
  // Linear down-sampling after a box of the slice thickness approximates the slice profile.
  gaussianBlurAxis(img, dims, axis, thickness / 2.355);
  return resampleLinear(resampleLinear(img, dims, low), low, dims);
}

/** In-place separable Gaussian along one axis (sigma in voxels, kernel truncated at 3 sigma, edges clamped). */
export function gaussianBlurAxis(img: Float32Array, dims: readonly [number, number, number], axis: number, sigma: number): void {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) { k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma)); sum += k[i + r]!; }
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  const [nx, ny, nz] = dims;
  const len = dims[axis]!, stride = axis === 0 ? 1 : axis === 1 ? nx : nx * ny;
  const line = new Float64Array(len);
  const starts: number[] = [];
  for (let z = 0; z < (axis === 2 ? 1 : nz); z++) for (let y = 0; y < (axis === 1 ? 1 : ny); y++) for (let x = 0; x < (axis === 0 ? 1 : nx); x++) starts.push(x + nx * (y + ny * z));
  for (const s of starts) {
    for (let i = 0; i < len; i++) line[i] = img[s + i * stride]!;
    for (let i = 0; i < len; i++) {
      let acc = 0;
      for (let j = -r; j <= r; j++) acc += k[j + r]! * line[Math.min(len - 1, Math.max(0, i + j))]!;
      img[s + i * stride] = acc;
    }
  }
}

/** Multiply by exp(field), the field trilinear from a 4 x 4 x 4 grid of N(0, sd) values. */
function applyBias(img: Float32Array, dims: readonly [number, number, number], sd: number, rng: Rng): void {
  const g = 4;
  const coarse = new Float32Array(g * g * g);
  for (let i = 0; i < coarse.length; i++) coarse[i] = sd * rng.normal();
  const field = resampleLinear(coarse, [g, g, g], dims);
  for (let i = 0; i < img.length; i++) img[i]! *= Math.exp(field[i]!);
}
