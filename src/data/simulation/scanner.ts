/**
 * The acquisition half of a simulated scanner: contrast curve, bias field, Rician noise and the stored
 * intensity scale/datatype. Works on phantom renderings and, through a tissue-level transfer curve, on
 * real T1 volumes ("real anatomy, simulated scanners").
 */
import { ConvLoraError } from '../../errors.js';
import type { NiftiData } from '../nifti/codec.js';
import { Rng } from '../rng.js';
import type { ScannerPreset } from './presets.js';

/** Stored voxels and the header fields that describe them. */
export interface StoredIntensities {
  data: NiftiData;
  datatype: number;
  sclSlope: number;
}

export interface AcquireOptions {
  dims: readonly number[];
  /** Voxel size, mm. */
  spacing: readonly number[];
  /** Voxel (fractional index) at the centre of the bias field: the head centre. */
  centerVoxel: readonly number[];
  seed: number;
}

/**
 * Apply the preset's contrast curve, bias field (its pattern plus a seeded subject-specific part),
 * Rician noise and intensity scale to levels (white matter ~ 1, file order). Returns stored values.
 * With gamma 1 the levels may be signed (physics signals); the magnitude is taken after the noise.
 */
export function acquire(levels: Float32Array, preset: ScannerPreset, opts: AcquireOptions): StoredIntensities {
  const [nx = 1, ny = 1, nz = 1] = opts.dims;
  const [sx = 1, sy = 1, sz = 1] = opts.spacing;
  const [cx = 0, cy = 0, cz = 0] = opts.centerVoxel;
  if (levels.length !== nx * ny * nz) throw new ConvLoraError('E_SHAPE', `Expected ${nx * ny * nz} voxels for dims [${opts.dims.join(', ')}] but received ${levels.length}`);
  const rng = new Rng(opts.seed);
  let c = preset.bias.pattern.map((p) => preset.bias.strength * (p + 0.3 * rng.normal()));
  let offset = 0;
  if (preset.bias.range !== undefined) ({ c, offset } = fitBiasRange(c, preset.bias.range));
  const sigma = preset.noise;
  const out = new Float32Array(levels.length);
  // A range-fitted (physics) field has no earlier files to reproduce, so it is factored per row:
  // exp(a + b x + c6 x^2) = exp(a + b x0) * exp(b dx)^i * exp(c6 x^2), one exp per row, not per voxel.
  const factored = preset.bias.range !== undefined;
  const xs = Float64Array.from({ length: nx }, (_, i) => ((i - cx) * sx) / 100);
  const gx = xs.map((x) => Math.exp(c[6]! * x * x));
  const field = new Float64Array(nx);
  let at = 0;
  for (let k = 0; k < nz; k++) {
    const z = ((k - cz) * sz) / 100;
    for (let j = 0; j < ny; j++) {
      const y = ((j - cy) * sy) / 100;
      const partial = c[1]! * y + c[2]! * z + c[4]! * y * z + c[7]! * y * y + c[8]! * z * z - offset;
      if (factored) {
        const b = c[0]! + c[3]! * y + c[5]! * z;
        const step = Math.exp((b * sx) / 100);
        let f = Math.exp(partial + b * xs[0]!);
        for (let i = 0; i < nx; i++, f *= step) field[i] = f * gx[i]!;
      } else {
        for (let i = 0; i < nx; i++) {
          const x = xs[i]!;
          field[i] = Math.exp(partial + c[0]! * x + c[3]! * x * y + c[5]! * x * z + c[6]! * x * x);
        }
      }
      for (let i = 0; i < nx; i++, at++) {
        // Gamma 1 keeps the sign: physics signals are signed (tissue read before its inversion null).
        const l = levels[at]!;
        const v = (preset.gamma === 1 ? l : Math.pow(Math.max(0, l), preset.gamma)) * field[i]!;
        const re = v + sigma * rng.normal(), im = sigma * rng.normal();
        out[at] = Math.sqrt(re * re + im * im);
      }
    }
  }
  return store(out, preset);
}

/** Bias polynomial terms [x, y, z, xy, yz, xz, x^2, y^2, z^2] at a point (coordinates in units of 100 mm). */
function biasTerms(x: number, y: number, z: number): number[] {
  return [x, y, z, x * y, y * z, x * z, x * x, y * y, z * z];
}

// Points filling a brain-sized ellipsoid (semi-axes 65 x 80 x 60 mm around the head centre, 100 mm
// units), on which a field's range is measured: a grid inside plus a spiral of points on the surface,
// where a quadratic field takes its extremes unless it has one inside.
const BRAIN_AXES = [0.65, 0.8, 0.6] as const;
const BRAIN_POINTS: number[][] = [];
for (let i = -6; i <= 6; i++) for (let j = -6; j <= 6; j++) for (let k = -6; k <= 6; k++) {
  if (i * i + j * j + k * k <= 36) BRAIN_POINTS.push(biasTerms((BRAIN_AXES[0] * i) / 6, (BRAIN_AXES[1] * j) / 6, (BRAIN_AXES[2] * k) / 6));
}
for (let n = 0; n < 400; n++) {
  const u = 1 - (2 * n + 1) / 400, r = Math.sqrt(1 - u * u), phi = n * Math.PI * (3 - Math.sqrt(5));
  BRAIN_POINTS.push(biasTerms(BRAIN_AXES[0] * r * Math.cos(phi), BRAIN_AXES[1] * r * Math.sin(phi), BRAIN_AXES[2] * u));
}

/**
 * Rescale log-field coefficients so the field's max/min over the brain is (1 + range/2) / (1 - range/2),
 * centred on 1 (geometric mean of the extremes): BrainWeb's "INU 20 %" is a field of 0.9-1.1.
 */
export function fitBiasRange(c: readonly number[], range: number): { c: number[]; offset: number } {
  if (!(range >= 0 && range < 2)) throw new ConvLoraError('E_INVALID_ARG', `Expected a number in [0, 2) for \`bias.range\` but received ${range}`);
  let lo = Infinity, hi = -Infinity;
  for (const t of BRAIN_POINTS) {
    const p = t.reduce((s, term, i) => s + term * (c[i] ?? 0), 0);
    lo = Math.min(lo, p);
    hi = Math.max(hi, p);
  }
  if (!(hi - lo > 1e-12)) return { c: c.map(() => 0), offset: 0 };
  const k = Math.log((1 + range / 2) / (1 - range / 2)) / (hi - lo);
  return { c: c.map((x) => x * k), offset: (k * (hi + lo)) / 2 };
}

const STORE_RANGE: Record<number, [number, number]> = { 2: [0, 255], 4: [-32768, 32767], 512: [0, 65535] };

/** Scale to the preset's stored units; integer types round and saturate as a scanner's converter would. */
function store(values: Float32Array, preset: ScannerPreset): StoredIntensities {
  const slope = preset.sclSlope ?? 1;
  const k = preset.scale / slope;
  const range = STORE_RANGE[preset.datatype];
  if (range === undefined) {
    for (let i = 0; i < values.length; i++) values[i] = values[i]! * k;
    return { data: values, datatype: preset.datatype, sclSlope: slope };
  }
  const data = preset.datatype === 2 ? new Uint8Array(values.length) : preset.datatype === 4 ? new Int16Array(values.length) : new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = Math.min(range[1], Math.max(range[0], Math.round(values[i]! * k)));
  return { data, datatype: preset.datatype, sclSlope: slope };
}

/** Value at quantile q (0..1) of the selected voxels. */
function quantiles(data: ArrayLike<number>, select: (i: number) => boolean, qs: number[]): number[] {
  const vals: number[] = [];
  for (let i = 0; i < data.length; i++) if (select(i)) vals.push(data[i]!);
  if (vals.length === 0) throw new ConvLoraError('E_DATA', 'No voxels to estimate tissue levels from (empty mask?)');
  const sorted = Float64Array.from(vals).sort();
  return qs.map((q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
}

/**
 * Map a real T1 volume to a preset's tissue levels: reference CSF, grey and white matter intensities
 * are the 8th, 40th and 85th percentiles inside the brain mask (CSF, cortex and white matter make up
 * roughly those shares of a T1 brain), the brightest voxel (scalp fat) maps to the preset's scalp
 * level, and values in between are interpolated linearly.
 */
export function realToLevels(data: NiftiData, brainMask: ArrayLike<number>, preset: ScannerPreset): Float32Array {
  if (brainMask.length !== data.length) throw new ConvLoraError('E_SHAPE', `Mask has ${brainMask.length} voxels but the image has ${data.length}`);
  const [csf = 0, gm = 0, wm = 0] = quantiles(data, (i) => brainMask[i]! > 0, [0.08, 0.4, 0.85]);
  let max = wm;
  for (let i = 0; i < data.length; i++) if (data[i]! > max) max = data[i]!;
  const l = preset.levels;
  const xs = [0, csf, gm, wm, Math.max(max, wm + 1e-6)];
  const ys = [0, l.csf, l.gm, l.wm, l.scalp];
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    let s = 1;
    while (s < xs.length - 1 && v > xs[s]!) s++;
    const x0 = xs[s - 1]!, x1 = xs[s]!;
    const t = x1 > x0 ? Math.min(1, Math.max(0, (v - x0) / (x1 - x0))) : 1;
    out[i] = ys[s - 1]! + t * (ys[s]! - ys[s - 1]!);
  }
  return out;
}

/** Real anatomy, simulated scanner: realToLevels then acquire, centred on the volume. */
export function simulateScanner(
  vol: { data: NiftiData; dims: readonly number[]; spacing: readonly number[] },
  brainMask: ArrayLike<number>,
  preset: ScannerPreset,
  seed: number,
): StoredIntensities {
  const centerVoxel = vol.dims.slice(0, 3).map((d) => (d - 1) / 2);
  return acquire(realToLevels(vol.data, brainMask, preset), preset, { dims: vol.dims, spacing: vol.spacing, centerVoxel, seed });
}
