/**
 * A Colin27 subject acquired by one of the six simulated scanners, on that domain's phantom grid: the
 * procedural head of phantom.ts replaced by real anatomy. Tissue fractions (anatomy.ts) are weighted
 * by the preset's tissue levels (physics or calibrated, white matter = 1), then the preset's
 * acquisition (scanner.ts: contrast curve, bias, Rician noise, stored type) is applied.
 */
import { checkInt } from '../../../errors.js';
import { CC359_DOMAINS, type Domain } from '../../scans/cc359.js';
import { colin27Subject, type Colin27Anatomy } from './anatomy.js';
import type { PoseOptions } from './pose.js';
import type { NiftiWriteInput } from '../../nifti/index.js';
import { defaultHeader } from '../../nifti/header.js';
import { phantomGrid, phantomSliceRange, type ScannerPreset } from '../presets.js';
import { Rng, hashSeed } from '../../rng.js';
import { acquire } from '../scanner.js';
import { mixSignals, type PerTissue } from '../tissue.js';

type Vec3 = [number, number, number];

/**
 * A preset's levels per tissue class: scalp and orbital fat are one class here (`fat`, at the scalp's
 * level); without a skin level (the calibrated presets) skin takes the scalp's, as when those presets
 * were calibrated (their scalp fat reaches the surface).
 */
export function presetSignals(preset: Pick<ScannerPreset, 'levels'>): PerTissue {
  const l = preset.levels;
  return { csf: l.csf, gm: l.gm, wm: l.wm, fat: l.scalp, muscle: l.muscle, skin: l.skin ?? l.scalp, bone: l.bone, marrow: l.marrow, vitreous: l.vitreous };
}

export interface Colin27ScanOptions {
  /** Phantom edge length (voxels for the 256 mm field of view). Default 64. */
  size?: number;
  seed?: number;
  /** The subject's index within its domain (a different pose and acquisition per index). */
  index?: number;
  pose?: PoseOptions;
}

/**
 * One scan of `domain` with a Colin27 subject: pose from hashSeed(seed, domain, index), brain centroid
 * at the middle of the domain's slice range along axis 0 and at the preset's field-of-view offsets along
 * axes 1 and 2 (as phantomVolume places its heads), acquisition from hashSeed(seed, domain, index, 1).
 * Affine: axis-aligned RAS mm. Returns the stored image and the ground-truth brain mask.
 */
export function colin27Scan(anatomy: Colin27Anatomy, domain: Domain, preset: ScannerPreset, opts: Colin27ScanOptions = {}): { image: NiftiWriteInput; mask: NiftiWriteInput } {
  const size = checkInt('size', opts.size ?? 64, 16);
  const seed = checkInt('seed', opts.seed ?? 0);
  const index = checkInt('index', opts.index ?? 0, 0);
  const { dims, spacing } = phantomGrid(domain, size, preset);
  const [lo, hi] = phantomSliceRange(domain, size, preset);
  const c: Vec3 = [(lo + hi) / 2, (dims[1] - 1) / 2, (dims[2] - 1) / 2];
  const origin: Vec3 = [-c[0] * spacing[0], 6 - c[1] * spacing[1], preset.fovCenterZ - c[2] * spacing[2]];
  const d = CC359_DOMAINS.indexOf(domain);
  const poseSeed = hashSeed(seed, d, index);
  // The same few-mm placement jitter as the procedural heads.
  const rng = new Rng(hashSeed(poseSeed, 2));
  const center: Vec3 = [rng.uniform(-2, 2), rng.uniform(-4, 4), rng.uniform(-4, 4)];
  const vol = colin27Subject(anatomy, { dims, spacing, origin }, { ...opts.pose, seed: poseSeed, center });
  const levels = mixSignals(vol, presetSignals(preset));
  const centerVoxel = center.map((x, a) => (x - origin[a]!) / spacing[a]!);
  const stored = acquire(levels, preset, { dims, spacing, centerVoxel, seed: hashSeed(seed, d, index, 1) });
  const image: NiftiWriteInput = { dims, data: stored.data, datatype: stored.datatype, affine: vol.affine, spacing };
  if (stored.sclSlope !== 1) image.header = { ...defaultHeader(1), datatype: stored.datatype, sclSlope: stored.sclSlope };
  return { image, mask: { dims, data: vol.brain, affine: vol.affine, spacing } };
}
