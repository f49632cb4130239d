/**
 * A random pose of the Colin27 head: rotation, per-axis scaling and a smooth nonlinear deformation
 * (a cubic B-spline displacement field on a coarse control lattice). Seeded and deterministic.
 *
 * Coordinates: a world point p (mm) of the subject maps to template world mm
 *   q = c + y + d(y),   y = S^-1 R^T (p - center)
 * where c is the template's brain centroid, R the rotation, S = diag(scale) and d the displacement
 * (mm, a function of the centred, unrotated, unscaled position y). Sampling the template at q for every
 * voxel of a grid needs no inversion, and the brain mask goes through the same map as the tissues.
 */
import { checkNumber } from '../../../errors.js';
import { Rng } from '../../rng.js';

type Vec3 = [number, number, number];

/** B-spline displacement: coefficients (mm) on a lattice of nodes -reach..reach per axis, `spacing` mm apart. */
export interface Warp {
  spacing: number;
  reach: number;
  /** [3, (2 reach + 1)^3], component-major, x fastest within a component. */
  coeffs: Float32Array;
}

export interface ColinPose {
  /** Template-to-world rotation, 3 x 3 row-major. */
  rotation: number[];
  /** Size factors along the template's x, y, z. */
  scale: Vec3;
  warp: Warp | null;
}

export interface PoseOptions {
  /**
   * Range of the global size factor. Default [0.85, 1]: +-8 % about 0.925, because the template is
   * MNI-sized (its brain mask holds 1737 ml) and most adults' intracranial volumes are smaller
   * (about 1100-1800 ml): 0.925^3 x 1737 ml = 1375 ml.
   */
  scale?: [number, number];
  /** Extra per-axis factor in [1 - anisotropy, 1 + anisotropy]. Default 0.02: head shapes differ a little. */
  anisotropy?: number;
  /** Rotation about each axis drawn in +-rotationDeg degrees. Default 10. */
  rotationDeg?: number;
  /** SD (mm) of the displacement coefficients. Default 2.5: displacements of a few mm. */
  warpMm?: number;
  /** Control spacing (mm). Default 32: deformations on the scale of lobes, not gyri. */
  warpSpacing?: number;
}

/** No rotation, scaling or deformation: the template as it is. */
export const IDENTITY_POSE: ColinPose = Object.freeze({ rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1], scale: [1, 1, 1], warp: null }) as ColinPose;

/** Half-width (mm) of the lattice around the brain centroid: the whole template head (+-110 mm) and more. */
const HEAD_REACH_MM = 128;
/** Coefficients are clamped to this many SDs. */
const CLAMP_SD = 2.5;

/** R = Rz Ry Rx (radians), row-major. */
export function rotationMatrix(ax: number, ay: number, az: number): number[] {
  const [ca, sa, cb, sb, cc, sc] = [Math.cos(ax), Math.sin(ax), Math.cos(ay), Math.sin(ay), Math.cos(az), Math.sin(az)];
  return [
    cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa,
    sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa,
    -sb, cb * sa, cb * ca,
  ];
}

/**
 * Draw a pose. The coefficient clamp (2.5 SD) must stay below 0.4 x the control spacing: under that
 * bound a cubic B-spline deformation is injective (Rueckert et al. 2006, after Choi & Lee 2000), so
 * no tissue folds over itself.
 */
export function drawColinPose(seed: number, opts: PoseOptions = {}): ColinPose {
  const [lo, hi] = opts.scale ?? [0.85, 1];
  checkNumber('scale[0]', lo, 0.5, 2);
  checkNumber('scale[1]', hi, lo, 2);
  const aniso = checkNumber('anisotropy', opts.anisotropy ?? 0.02, 0, 0.5);
  const rot = checkNumber('rotationDeg', opts.rotationDeg ?? 10, 0, 180);
  const spacing = checkNumber('warpSpacing', opts.warpSpacing ?? 32, 8, 256);
  const warpMm = checkNumber('warpMm', opts.warpMm ?? 2.5, 0, (0.4 * spacing) / CLAMP_SD);
  const rng = new Rng(seed);
  const deg = Math.PI / 180;
  const s = rng.uniform(lo, hi);
  const pose: ColinPose = {
    rotation: rotationMatrix(rng.uniform(-rot, rot) * deg, rng.uniform(-rot, rot) * deg, rng.uniform(-rot, rot) * deg),
    scale: [0, 1, 2].map(() => s * rng.uniform(1 - aniso, 1 + aniso)) as Vec3,
    warp: null,
  };
  if (warpMm > 0) {
    const reach = Math.ceil(HEAD_REACH_MM / spacing);
    const m = 2 * reach + 1;
    const coeffs = new Float32Array(3 * m * m * m);
    const lim = CLAMP_SD * warpMm;
    for (let i = 0; i < coeffs.length; i++) coeffs[i] = Math.max(-lim, Math.min(lim, warpMm * rng.normal()));
    pose.warp = { spacing, reach, coeffs };
  }
  return pose;
}

/** Cubic B-spline basis, support |u| < 2. */
function bspline(u: number): number {
  const a = Math.abs(u);
  if (a < 1) return 2 / 3 - a * a + (a * a * a) / 2;
  if (a < 2) return ((2 - a) ** 3) / 6;
  return 0;
}

/** A displacement field sampled on a regular grid over y (mm), for trilinear lookup in the render loop. */
export interface DenseWarp {
  /** y of sample 0 on every axis (mm); samples are `step` mm apart, `n` per axis. */
  start: number;
  step: number;
  n: number;
  /** [3, n^3], component-major, x fastest. */
  field: Float32Array;
}

/**
 * Evaluate the B-spline on a grid of `step` mm covering its whole support (the lattice plus two
 * spacings), by three separable passes: nodes x -> samples x, then y, then z. Outside it d = 0.
 */
export function denseWarp(warp: Warp, step = 4): DenseWarp {
  const { spacing: h, reach } = warp;
  const m = 2 * reach + 1;
  const half = (reach + 2) * h;
  const n = Math.floor((2 * half) / step) + 1;
  const start = -half;
  // basis[s * m + node]: weight of lattice node `node` at sample s (same on every axis).
  const basis = new Float64Array(n * m);
  for (let s = 0; s < n; s++) for (let node = 0; node < m; node++) basis[s * m + node] = bspline((start + s * step) / h - (node - reach));
  const field = new Float32Array(3 * n * n * n);
  const a = new Float64Array(n * m * m), b = new Float64Array(n * n * m);
  for (let c = 0; c < 3; c++) {
    const coef = warp.coeffs.subarray(c * m * m * m, (c + 1) * m * m * m);
    a.fill(0);
    b.fill(0);
    for (let z = 0; z < m; z++) for (let y = 0; y < m; y++) for (let x = 0; x < m; x++) {
      const v = coef[x + m * (y + m * z)]!;
      if (v === 0) continue;
      for (let s = 0; s < n; s++) { const w = basis[s * m + x]!; if (w !== 0) a[s + n * (y + m * z)]! += w * v; }
    }
    for (let z = 0; z < m; z++) for (let y = 0; y < m; y++) for (let t = 0; t < n; t++) {
      const w = basis[t * m + y]!;
      if (w === 0) continue;
      for (let s = 0; s < n; s++) b[s + n * (t + n * z)]! += w * a[s + n * (y + m * z)]!;
    }
    const out = field.subarray(c * n * n * n, (c + 1) * n * n * n);
    for (let u = 0; u < n; u++) for (let z = 0; z < m; z++) {
      const w = basis[u * m + z]!;
      if (w === 0) continue;
      for (let st = 0; st < n * n; st++) out[st + n * n * u]! += w * b[st + n * n * z]!;
    }
  }
  return { start, step, n, field };
}

/** Displacement (mm) at y by trilinear lookup in a dense field; 0 outside it. */
export function warpAt(d: DenseWarp, y0: number, y1: number, y2: number, out: Float64Array): void {
  const fx = (y0 - d.start) / d.step, fy = (y1 - d.start) / d.step, fz = (y2 - d.start) / d.step;
  const n = d.n;
  if (!(fx >= 0 && fy >= 0 && fz >= 0 && fx < n - 1 && fy < n - 1 && fz < n - 1)) { out[0] = 0; out[1] = 0; out[2] = 0; return; }
  const i = Math.floor(fx), j = Math.floor(fy), k = Math.floor(fz);
  const wx = fx - i, wy = fy - j, wz = fz - k;
  const o = i + n * (j + n * k), nn = n * n * n;
  for (let c = 0; c < 3; c++) {
    const f = d.field, b = c * nn + o;
    const c00 = f[b]! + wx * (f[b + 1]! - f[b]!);
    const c01 = f[b + n]! + wx * (f[b + n + 1]! - f[b + n]!);
    const c10 = f[b + n * n]! + wx * (f[b + n * n + 1]! - f[b + n * n]!);
    const c11 = f[b + n * n + n]! + wx * (f[b + n * n + n + 1]! - f[b + n * n + n]!);
    const c0 = c00 + wy * (c01 - c00), c1 = c10 + wy * (c11 - c10);
    out[c] = c0 + wz * (c1 - c0);
  }
}
