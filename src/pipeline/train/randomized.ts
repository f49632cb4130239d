/**
 * Training data drawn afresh every epoch by domain randomization (src/data/simulation/randomize.ts): each simulated
 * subject (a tissue volume with its brain mask) gets a new random-contrast image per epoch, sliced and
 * preprocessed exactly as a stored scan is (all slices along axis 0, min-max, rotation, padding), so a
 * source model never sees the same contrast twice. Validation subjects get one fixed image each.
 */
import { ConvLoraError, checkInt } from '../../errors.js';
import type { ScanData } from '../../data/scans/cc359.js';
import { defaultHeader } from '../../data/nifti/header.js';
import { preprocessImage, preprocessMask, sliceCount, sliceGeometry } from '../../data/image/preprocess.js';
import { randomizeImage, type RandomizeOptions } from '../../data/simulation/randomize.js';
import { Rng, hashSeed } from '../../data/rng.js';
import type { TissueVolume } from '../../data/simulation/tissue.js';
import { CC359_DOMAINS } from '../../data/scans/cc359.js';
import { loadColin27 } from '../../data/simulation/colin27/anatomy.js';
import { scannerSignals } from '../../data/simulation/physics-scanners.js';
import { ANATOMY_KINDS, simulatedSubject, type AnatomyKind } from '../../data/simulation/simulated-subjects.js';
import { headSlices } from '../scans.js';

export interface RandomizedSet {
  /** Training subjects: a new image of each every epoch. */
  train: readonly TissueVolume[];
  /** Validation subjects (other people than the training ones): one fixed image each, for model selection. */
  val: readonly TissueVolume[];
  /** Slice edge length (the network's input size; a multiple of 8). */
  size: number;
  options?: RandomizeOptions;
  /** Randomization of the validation images (default `options`), e.g. realistic scanner contrasts only. */
  valOptions?: RandomizeOptions;
  /**
   * Slices drawn at random from each training subject per epoch (default: all). Fewer slices of more
   * contrasts per epoch: on a CPU an epoch over every slice of 40 subjects takes about ten minutes.
   */
  slicesPerSubject?: number;
  /** Name the model records as its source. Default 'randomized'. */
  name?: string;
  /**
   * How training batches are formed: 'per-image' (default) takes every batch from one subject's image,
   * so BatchNorm trains on one image's statistics, as test-time AdaBN sees at inference, and draws
   * the `slicesPerSubject` from the slices that show the head (`headSlices`, the rule test-time AdaBN
   * uses); 'mixed' shuffles the slices of all subjects together (every batch mixes contrasts), from
   * all slices.
   */
  batches?: RandomizedBatching;
}

export const RANDOMIZED_BATCHING = ['per-image', 'mixed'] as const;
export type RandomizedBatching = typeof RANDOMIZED_BATCHING[number];

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
  return set.train.map((v, i) => {
    const scan = randomizedScan(v, hashSeed(seed, epoch, i), set.size, `train-${i}`, set.options);
    const from = (set.batches ?? 'per-image') === 'per-image' ? headSlices(scan.images, scan.shape) : null;
    return set.slicesPerSubject === undefined && from === null ? scan : sliceSubset(scan, set.slicesPerSubject ?? Infinity, hashSeed(seed, epoch, i, 5), from);
  });
}

/** `count` slices of a scan drawn without replacement from `from` (default all; all of them when fewer), in slice order. */
function sliceSubset(scan: ScanData, count: number, seed: number, from: number[] | null = null): ScanData {
  const [S, H, W] = scan.shape;
  const pool = from ?? Array.from({ length: S }, (_, k) => k);
  if (from === null && count >= S) return scan;
  const picked = new Rng(seed).shuffle(pool.slice()).slice(0, count).sort((a, b) => a - b);
  const plane = H * W;
  const n = picked.length;
  const images = new Float32Array(n * plane), masks = new Uint8Array(n * plane);
  picked.forEach((k, j) => {
    images.set(scan.images.subarray(k * plane, (k + 1) * plane), j * plane);
    masks.set(scan.masks.subarray(k * plane, (k + 1) * plane), j * plane);
  });
  return { ...scan, images, masks, shape: [n, H, W] };
}

/** The validation scans: one image per validation subject, the same for every epoch. */
export function randomizedValidation(set: RandomizedSet, seed: number): ScanData[] {
  if (set.val.length === 0) throw new ConvLoraError('E_INVALID_ARG', 'Expected at least one validation subject for domain randomization but received none');
  return set.val.map((v, i) => randomizedScan(v, hashSeed(seed, 0x7a1, i), set.size, `val-${i}`, set.valOptions ?? set.options));
}

export interface SimulatedSetOptions {
  /** Anatomy models, used in turn. Default both: Colin27 (real anatomy, deformed) and the procedural head. */
  anatomy?: readonly AnatomyKind[];
  /** Training subjects. Default 40. */
  subjects?: number;
  /** Validation subjects (other seeds). Default 8. */
  valSubjects?: number;
  /** Isotropic voxel size, mm. Default 2 (128 x 128 slices over CC359's 256 mm field of view). */
  voxel?: number;
  /** Slices per training subject per epoch (RandomizedSet.slicesPerSubject); default all. */
  slicesPerSubject?: number;
  /** RandomizedSet.batches; default 'per-image'. */
  batches?: RandomizedBatching;
  seed?: number;
  onSubject?: (done: number, total: number) => void;
}

/**
 * Simulated subjects for `train-source` with domain randomization: training images are random contrasts
 * (and, for 30 %, jittered contrasts of the six physics scanners); validation images are the six
 * physics scanners' contrasts only, with their noise and bias ranges randomized: model selection looks
 * at realistic simulated scans, never at a real one.
 */
export async function simulatedSet(o: SimulatedSetOptions = {}): Promise<RandomizedSet> {
  const anatomy = o.anatomy ?? ANATOMY_KINDS;
  if (anatomy.length === 0 || anatomy.some((a) => !ANATOMY_KINDS.includes(a))) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected a non-empty list of ${ANATOMY_KINDS.join(', ')} for \`anatomy\` but received ${JSON.stringify(anatomy)}`);
  }
  const batches = o.batches ?? 'per-image';
  if (!RANDOMIZED_BATCHING.includes(batches)) throw new ConvLoraError('E_INVALID_ARG', `Expected ${RANDOMIZED_BATCHING.join(' or ')} for \`batches\` but received ${JSON.stringify(batches)}`);
  const count = checkInt('subjects', o.subjects ?? 40, 1), valCount = checkInt('valSubjects', o.valSubjects ?? 8, 1);
  const voxel = o.voxel ?? 2, seed = checkInt('seed', o.seed ?? 42, 0);
  const colin = anatomy.includes('colin27') ? await loadColin27() : undefined;
  const make = (i: number, salt: number): TissueVolume => simulatedSubject(anatomy[i % anatomy.length]!, hashSeed(seed, salt, i), { voxel }, colin);
  const train: TissueVolume[] = [], val: TissueVolume[] = [];
  for (let i = 0; i < count + valCount; i++) {
    if (i < count) train.push(make(i, 1)); else val.push(make(i - count, 2));
    o.onSubject?.(i + 1, count + valCount);
  }
  const realistic = CC359_DOMAINS.map((d) => scannerSignals(d));
  const size = Math.ceil(train[0]!.dims[0] / 8) * 8;
  return {
    train, val, size, name: `randomized ${anatomy.join('+')} ${voxel} mm`, batches,
    ...(o.slicesPerSubject === undefined ? {} : { slicesPerSubject: checkInt('slicesPerSubject', o.slicesPerSubject, 1) }),
    options: { realistic, physicsShare: 0.3 },
    valOptions: { realistic, physicsShare: 1, lowResShare: 0, textureSd: 0.03, gammaSd: 0 },
  };
}
