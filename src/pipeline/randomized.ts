/**
 * Training data drawn afresh every epoch by domain randomization (src/data/randomize.ts): each simulated
 * subject (a tissue volume with its brain mask) gets a new random-contrast image per epoch, sliced and
 * preprocessed exactly as a stored scan is (all slices along axis 0, min-max, rotation, padding), so a
 * source model never sees the same contrast twice. Validation subjects get one fixed image each.
 */
import { ConvLoraError } from '../errors.js';
import type { ScanData } from '../data/cc359.js';
import { defaultHeader } from '../data/nifti-header.js';
import { preprocessImage, preprocessMask, sliceCount, sliceGeometry } from '../data/preprocess.js';
import { randomizeImage, type RandomizeOptions } from '../data/randomize.js';
import { hashSeed } from '../data/rng.js';
import type { TissueVolume } from '../data/tissue.js';

export interface RandomizedSet {
  /** Training subjects: a new image of each every epoch. */
  train: readonly TissueVolume[];
  /** Validation subjects (other people than the training ones): one fixed image each, for model selection. */
  val: readonly TissueVolume[];
  /** Slice edge length (the network's input size; a multiple of 8). */
  size: number;
  options?: RandomizeOptions;
  /** Name the model records as its source. Default 'randomized'. */
  name?: string;
}

/** One subject's image (drawn with `seed`) as preprocessed slices with their mask. */
export function randomizedScan(vol: TissueVolume, seed: number, size: number, stem: string, options: RandomizeOptions = {}): ScanData {
  const { image } = randomizeImage(vol, seed, options);
  const geometry = sliceGeometry(vol.dims, [0, vol.dims[0] - 1], size, stem);
  const [sx, sy, sz] = vol.spacing;
  return {
    stem, domain: 'randomized' as ScanData['domain'],
    images: preprocessImage(image, geometry),
    masks: preprocessMask(vol.brain, geometry),
    shape: [sliceCount(geometry), size, size],
    spacing: [sx, sz, sy],
    geometry,
    source: { dims: [...vol.dims], spacing: [...vol.spacing], affine: vol.affine.map((r) => [...r]), header: defaultHeader(1) },
  };
}

/** The training scans of one epoch: every training subject with a fresh image (seeded by seed, epoch, subject). */
export function randomizedEpoch(set: RandomizedSet, seed: number, epoch: number): ScanData[] {
  if (set.train.length === 0) throw new ConvLoraError('E_INVALID_ARG', 'Expected at least one training subject for domain randomization but received none');
  return set.train.map((v, i) => randomizedScan(v, hashSeed(seed, epoch, i), set.size, `train-${i}`, set.options));
}

/** The validation scans: one image per validation subject, the same for every epoch. */
export function randomizedValidation(set: RandomizedSet, seed: number): ScanData[] {
  if (set.val.length === 0) throw new ConvLoraError('E_INVALID_ARG', 'Expected at least one validation subject for domain randomization but received none');
  return set.val.map((v, i) => randomizedScan(v, hashSeed(seed, 0x7a1, i), set.size, `val-${i}`, set.options));
}
