/**
 * Six simulated scanners named like CC359's domains. Each differs in T1 tissue contrast (scalp fat
 * brighter or darker than white matter, CSF and grey-matter levels), contrast curve, bias-field strength
 * and pattern, Rician noise, voxel size (and so partial volume), head coverage and stored intensity
 * scale/datatype. Levels are relative to white matter = 1 before the intensity scale.
 *
 * Calibration: the levels and bias strengths of the five targets were set (2026-11-26) so that U-Nets
 * trained on the GE_3 phantoms (64^3, three seeds) lose about as much Surface Dice at one voxel on each
 * target as the paper's source model does on CC359 at 1 mm (its Table 1 Source column: GE 1.5 0.734,
 * Philips 1.5 0.871, Philips 3 0.618, Siemens 1.5 0.825, Siemens 3 0.843). Only the unadapted source
 * model was looked at; docs/data.md has the table.
 *
 * Phantom geometry: a `size` phantom has voxels of 256/size mm times the preset's voxel factors, so the
 * field of view stays about 256 mm like CC359's. Slice ranges are CC359's (docs/method.md §6) scaled by
 * size/256, and the head is centred on its range along axis 0, as CC359's heads sit in theirs.
 */
import { CC359_SLICE_RANGES, type Domain } from '../scans/cc359.js';

/** Tissue levels (white matter = 1). */
export interface TissueLevels {
  scalp: number;
  muscle: number;
  bone: number;
  marrow: number;
  csf: number;
  gm: number;
  wm: number;
  vitreous: number;
  orbitFat: number;
  /**
   * Skin, the outermost 2 mm of the head. The physics scanners set it; without it (the calibrated
   * presets) the scalp fat reaches the surface, as when those presets were calibrated.
   */
  skin?: number;
}

export interface ScannerPreset {
  domain: Domain;
  levels: TissueLevels;
  /** Output intensity = level^gamma: the contrast curve of the sequence. */
  gamma: number;
  /** Rician noise sigma, as a fraction of white matter. */
  noise: number;
  /**
   * Multiplicative bias field exp(strength * polynomial); `pattern` is the scanner's fixed part. With
   * `range`, each subject's field is rescaled to that peak-to-peak range over the brain (BrainWeb's INU
   * convention: 0.2 is 0.9-1.1).
   */
  bias: { strength: number; pattern: [number, number, number, number, number, number, number, number, number]; range?: number };
  /** Voxel size factors along axes 0, 1, 2 (1 = 256/size mm). */
  voxel: [number, number, number];
  /** Field of view along axes 1 and 2 as a fraction of 256 mm (head coverage). */
  coverage: [number, number];
  /** FOV centre along axis 2 (inferior-superior) relative to the brain centre, mm: lower sees more neck. */
  fovCenterZ: number;
  /** Stored value = level * scale (then divided by sclSlope when set), rounded for integer types. */
  scale: number;
  datatype: number;
  sclSlope?: number;
}

// Bias pattern coefficients multiply [x, y, z, xy, yz, xz, x^2, y^2, z^2] with coordinates in units of 100 mm.
export const SCANNER_PRESETS: Readonly<Record<Domain, ScannerPreset>> = {
  GE_3: {
    domain: 'GE_3', levels: { scalp: 0.78, muscle: 0.38, bone: 0.05, marrow: 0.45, csf: 0.12, gm: 0.55, wm: 1, vitreous: 0.1, orbitFat: 0.85 },
    gamma: 1, noise: 0.02, bias: { strength: 0.12, pattern: [0.2, -0.3, 0.5, 0, 0, 0, -0.4, 0, -0.3] },
    voxel: [1, 1, 1], coverage: [1, 1], fovCenterZ: -30, scale: 2500, datatype: 4,
  },
  GE_15: {
    domain: 'GE_15', levels: { scalp: 0.9, muscle: 0.45, bone: 0.12, marrow: 0.65, csf: 0.32, gm: 0.7, wm: 1, vitreous: 0.28, orbitFat: 0.95 },
    gamma: 0.85, noise: 0.045, bias: { strength: 0.25, pattern: [0, 0.5, -0.6, 0.2, 0, 0, 0.3, -0.5, 0] },
    voxel: [1, 1, 1], coverage: [1, 0.9], fovCenterZ: -20, scale: 1000, datatype: 4,
  },
  Philips_15: {
    domain: 'Philips_15', levels: { scalp: 1.1, muscle: 0.4, bone: 0.05, marrow: 0.65, csf: 0.07, gm: 0.47, wm: 1, vitreous: 0.06, orbitFat: 1.15 },
    gamma: 1.15, noise: 0.03, bias: { strength: 0.3, pattern: [-0.4, 0, 0.3, 0, 0.3, 0, 0, -0.3, -0.5] },
    voxel: [1, 0.94, 0.94], coverage: [0.94, 0.94], fovCenterZ: -22, scale: 1800, datatype: 512, sclSlope: 0.5,
  },
  Philips_3: {
    domain: 'Philips_3', levels: { scalp: 1.2, muscle: 0.5, bone: 0.15, marrow: 0.85, csf: 0.22, gm: 0.6, wm: 1, vitreous: 0.2, orbitFat: 1.25 },
    gamma: 1, noise: 0.035, bias: { strength: 0.3, pattern: [0, -0.4, 0.9, 0, 0.2, 0, -0.6, -0.2, 0.4] },
    voxel: [1, 1, 1], coverage: [1, 1], fovCenterZ: -35, scale: 1, datatype: 16,
  },
  Siemens_15: {
    domain: 'Siemens_15', levels: { scalp: 1.05, muscle: 0.5, bone: 0.1, marrow: 0.65, csf: 0.28, gm: 0.72, wm: 1, vitreous: 0.25, orbitFat: 1.1 },
    gamma: 0.8, noise: 0.05, bias: { strength: 0.25, pattern: [0.5, 0.3, 0, 0, 0, 0.4, 0, 0, -0.6] },
    voxel: [1, 1, 1], coverage: [1, 0.85], fovCenterZ: -18, scale: 600, datatype: 512,
  },
  Siemens_3: {
    domain: 'Siemens_3', levels: { scalp: 1.1, muscle: 0.42, bone: 0.05, marrow: 0.6, csf: 0.15, gm: 0.58, wm: 1, vitreous: 0.12, orbitFat: 1.15 },
    gamma: 1.1, noise: 0.025, bias: { strength: 0.3, pattern: [0, 0.6, 0.6, 0, -0.3, 0, -0.3, -0.4, 0.2] },
    voxel: [1.33, 1, 1], coverage: [1, 1], fovCenterZ: -15, scale: 170, datatype: 2,
  },
};

/** Grid of a phantom volume: dims, voxel size (mm), and axis-0 slice range. */
export interface PhantomGrid {
  dims: [number, number, number];
  spacing: [number, number, number];
  sliceRange: [number, number];
}

/** Geometry fields of a preset (voxel factors and coverage); default: the domain's `levels` preset. */
export type PresetGeometry = Pick<ScannerPreset, 'voxel' | 'coverage'>;

/** CC359's slice range scaled by size/256 and clamped to the phantom's axis 0. */
export function phantomSliceRange(domain: Domain, size: number, preset: PresetGeometry = SCANNER_PRESETS[domain]): [number, number] {
  const nx = phantomGrid(domain, size, preset).dims[0];
  const [lo, hi] = CC359_SLICE_RANGES[domain];
  const f = size / 256;
  return [Math.min(nx - 1, Math.round(lo * f)), Math.min(nx - 1, Math.round(hi * f))];
}

/** Dims and spacing of a `size` phantom under a domain's preset (voxel factors and coverage applied). */
export function phantomGrid(domain: Domain, size: number, preset: PresetGeometry = SCANNER_PRESETS[domain]): Omit<PhantomGrid, 'sliceRange'> {
  const p = preset;
  const base = 256 / size;
  const spacing = p.voxel.map((f) => f * base) as [number, number, number];
  const dims: [number, number, number] = [
    Math.round(size / p.voxel[0]),
    Math.round((size * p.coverage[0]) / p.voxel[1]),
    Math.round((size * p.coverage[1]) / p.voxel[2]),
  ];
  return { dims, spacing };
}
