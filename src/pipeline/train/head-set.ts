/**
 * Real labelled heads for training a source model (the bundled model v2): a folder in the layout of
 * `../shared/data/ixi-hh-dev` (`t1/<ID>_T1.nii.gz`, `mask/<ID>_mask.nii.gz`, `labels/<ID>_DLMUSE.nii.gz`),
 * split by position, turned into the model's orientation. Every epoch each training head gives one new
 * image: the real T1 under intensity augmentation, or (with probability `synthShare`) an image synthesized
 * from its label map (data/simulation/head-synthesis.ts), both after a random affine (data/image/warp.ts); then slices of
 * every trained view (data/image/views.ts) that show the head. Validation heads are scored as `segment` predicts
 * (conform.ts, test-time AdaBN, views fused), on their real image and on one fixed synthetic image each.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ConvLoraError, checkInt, checkNumber } from '../../errors.js';
import type { Device } from '../../engine/tensor.js';
import { fusedMaskToInput, prepareForModel, type ModelGrid } from '../../data/image/conform.js';
import { brainOfLabels, headLabels, synthesizeHead, type HeadLabels, type SynthesisOptions } from '../../data/simulation/head-synthesis.js';
import type { Affine } from '../../data/nifti/affine.js';
import { readNifti } from '../../data/nifti/index.js';
import { axisCodes, reorientAffine, reorientData, reorientShape, reorientation } from '../../data/image/orientation.js';
import { preprocessImage, preprocessMask, sliceCount, sliceGeometry } from '../../data/image/preprocess.js';
import { degradeImage, type RandomizeOptions } from '../../data/simulation/randomize.js';
import { Rng, hashSeed } from '../../data/rng.js';
import { toView, viewDims, type ViewCount } from '../../data/image/views.js';
import { drawAffine, inverseAffine, warpLinear, warpNearest, type AffineRanges } from '../../data/image/warp.js';
import { snapshotBatchNorm } from '../../lora/adabn.js';
import { dice } from '../../metrics/index.js';
import type { SegmentationNet } from '../../models/zoo.js';
import type { BatchScan } from './dataset.js';
import { runSlices } from '../infer/predict.js';
import { headSlices } from '../scans.js';
import { testTimeAdaBN } from '../infer/test-time.js';

export interface LabelledHeadFiles { id: string; image: string; mask: string; labels: string }

/** The heads of a folder in the ixi-hh-dev layout, sorted by ID; E_DATA naming what is missing. */
export async function listLabelledHeads(root: string): Promise<LabelledHeadFiles[]> {
  const names = await readdir(join(root, 't1')).catch((err: Error) => {
    throw new ConvLoraError('E_IO', `Cannot read ${join(root, 't1')} (expected <root>/t1/<ID>_T1.nii.gz, mask/, labels/): ${err.message}`, { cause: err });
  });
  const ids = names.map((n) => /^(.+)_T1\.nii(\.gz)?$/.exec(n)?.[1]).filter((x): x is string => x !== undefined).sort();
  if (ids.length === 0) throw new ConvLoraError('E_DATA', `No <ID>_T1.nii.gz heads in ${join(root, 't1')}`);
  const masks = new Set(await readdir(join(root, 'mask')).catch(() => [] as string[]));
  const labels = new Set(await readdir(join(root, 'labels')).catch(() => [] as string[]));
  return ids.map((id) => {
    const image = names.find((n) => n.startsWith(`${id}_T1.nii`))!;
    const mask = [`${id}_mask.nii.gz`, `${id}_mask.nii`].find((n) => masks.has(n));
    const lab = [`${id}_DLMUSE.nii.gz`, `${id}_DLMUSE.nii`].find((n) => labels.has(n));
    if (mask === undefined || lab === undefined) throw new ConvLoraError('E_DATA', `Head ${id} in ${root} lacks its ${mask === undefined ? 'mask/<ID>_mask.nii.gz' : 'labels/<ID>_DLMUSE.nii.gz'}`);
    return { id, image: join(root, 't1', image), mask: join(root, 'mask', mask), labels: join(root, 'labels', lab) };
  });
}

/** The written split (docs/real-heads-split.md): by position in ID order, validation = index mod `every` = `offset`. */
export function splitHeads<T>(items: readonly T[], every = 3, offset = 2): { train: T[]; val: T[] } {
  checkInt('every', every, 2);
  checkInt('offset', offset, 0);
  return { train: items.filter((_, i) => i % every !== offset), val: items.filter((_, i) => i % every === offset) };
}

/** One head on the model's grid (its orientation; the voxel size must already be the model's). */
export interface LabelledHead {
  id: string;
  dims: [number, number, number];
  spacing: [number, number, number];
  affine: Affine;
  /** The real T1 (scaling applied). */
  image: Float32Array;
  /** Brain mask (0/1). */
  brain: Uint8Array;
  /** Label map for synthesis. */
  synth: HeadLabels;
}

/** Read one head and turn it into `grid`'s orientation. E_DATA when its voxel size is not the grid's (within 1 %). */
export async function loadLabelledHead(f: LabelledHeadFiles, grid: Pick<ModelGrid, 'orientation' | 'spacing'>): Promise<LabelledHead> {
  const [img, mask, lab] = await Promise.all([readNifti(f.image), readNifti(f.mask), readNifti(f.labels)]);
  const dims = img.dims.slice(0, 3) as [number, number, number];
  for (const [what, v] of [['mask', mask], ['labels', lab]] as const) {
    if (v.dims.slice(0, 3).join() !== dims.join()) throw new ConvLoraError('E_SHAPE', `${f.id}: ${what} dims [${v.dims.join(', ')}] differ from the T1's [${dims.join(', ')}]`);
  }
  const spacing0 = img.spacing.slice(0, 3) as [number, number, number];
  const r = grid.orientation === null ? null : reorientation(axisCodes(img.affine), grid.orientation);
  const turn = <T extends Float32Array | Uint8Array | Uint16Array>(d: T): T => (r === null ? d : reorientData(d, dims, r));
  const spacing = r === null ? spacing0 : reorientShape(spacing0, r);
  if (grid.spacing !== null && spacing.some((s, a) => Math.abs(s - grid.spacing![a]!) > 0.01 * grid.spacing![a]!)) {
    throw new ConvLoraError('E_DATA', `${f.id}: voxel size [${spacing.join(', ')}] mm is not the model's [${grid.spacing.join(', ')}] mm; resample the heads first`);
  }
  const image = turn(Float32Array.from(img.data));
  const brain = turn(Uint8Array.from(mask.data, (v) => (v > 0 ? 1 : 0)));
  const regions = turn(Uint16Array.from(lab.data, (v) => Math.max(0, Math.round(v))));
  const wdims = (r === null ? dims : reorientShape(dims, r)) as [number, number, number];
  return { id: f.id, dims: wdims, spacing, affine: r === null ? img.affine : reorientAffine(img.affine, dims, r), image, brain, synth: headLabels(image, regions, wdims) };
}

export interface HeadEpochOptions {
  /** Slice edge length. */
  size: number;
  /** Views trained on (1: axis 0; 3: all). */
  views: ViewCount;
  /** Head slices per view, per head and epoch. Default 24. */
  slicesPerView?: number;
  /** Probability of a synthetic image instead of the real one. Default 0.5. */
  synthShare?: number;
  affine?: AffineRanges;
  /** Degradations of the real image (randomize.ts). Default REAL_AUGMENT. */
  real?: RandomizeOptions;
  synth?: SynthesisOptions;
}

/**
 * Intensity augmentation of a real T1: milder than synthesis, the contrast kept (it is a real scan's).
 * No texture (a real image has its own); thick slices and blur for other resolutions; bias, gamma, noise.
 */
export const REAL_AUGMENT: RandomizeOptions = { textureSd: 0, lowResShare: 0.3, maxThickness: 3, maxBlur: 0.6, maxBias: 0.3, gammaSd: 0.2, maxNoise: 0.04 };

/** A real T1 scaled to its 99.5th percentile (clipped at 1.5), then degradeImage. */
export function augmentReal(image: Float32Array, dims: [number, number, number], rng: Rng, o: RandomizeOptions = REAL_AUGMENT): Float32Array {
  const nz: number[] = [];
  for (let i = 0; i < image.length; i += 7) if (image[i]! > 0) nz.push(image[i]!);
  nz.sort((a, b) => a - b);
  const top = nz.length === 0 ? 1 : nz[Math.floor(0.995 * (nz.length - 1))]! || 1;
  const img = new Float32Array(image.length);
  for (let i = 0; i < img.length; i++) img[i] = Math.min(1.5, Math.max(0, image[i]! / top));
  return degradeImage(img, dims, rng, o).image;
}

/** One head's training image and brain mask for an epoch (seeded by seed, epoch, head index). */
export function drawHead(h: LabelledHead, seed: number, epoch: number, index: number, o: HeadEpochOptions): { image: Float32Array; brain: Uint8Array; synthetic: boolean } {
  const rng = new Rng(hashSeed(seed, epoch, index, 0x4ead));
  const synthetic = rng.next() < checkNumber('synthShare', o.synthShare ?? 0.5, 0);
  const m = inverseAffine(drawAffine(rng, o.affine), h.dims);
  if (synthetic) {
    const labels = warpNearest(h.synth.labels, h.dims, m);
    return { image: synthesizeHead(h.synth, labels, rng, o.synth), brain: brainOfLabels({ labels, extra: h.synth.extra }), synthetic };
  }
  return { image: augmentReal(warpLinear(h.image, h.dims, m), h.dims, rng, o.real), brain: warpNearest(h.brain, h.dims, m), synthetic };
}

/**
 * The training scans of one epoch: per head, `slicesPerView` head slices of each view of a fresh image
 * (preprocessed as `segment` slices a scan: min-max over the volume, rotated, padded), all in one scan,
 * so a per-image batch (dataset.ts ScanBatches) mixes the views of one image.
 */
export function headEpochScans(heads: readonly LabelledHead[], seed: number, epoch: number, o: HeadEpochOptions): BatchScan[] {
  const per = checkInt('slicesPerView', o.slicesPerView ?? 24, 1);
  return heads.map((h, i) => {
    const { image, brain } = drawHead(h, seed, epoch, i, o);
    const rng = new Rng(hashSeed(seed, epoch, i, 0x51ce));
    const parts: { images: Float32Array; masks: Uint8Array; pick: number[] }[] = [];
    for (let v = 0; v < o.views; v++) {
      const d = viewDims(h.dims, v);
      const g = sliceGeometry(d, [0, d[0] - 1], o.size, h.id);
      const images = preprocessImage(toView(image, h.dims, v), g);
      const masks = preprocessMask(toView(brain, h.dims, v), g);
      const pick = rng.shuffle(headSlices(images, [sliceCount(g), o.size, o.size])).slice(0, per);
      parts.push({ images, masks, pick });
    }
    const plane = o.size * o.size;
    const total = parts.reduce((n, p) => n + p.pick.length, 0);
    const images = new Float32Array(total * plane), masks = new Uint8Array(total * plane);
    let at = 0;
    for (const p of parts) for (const k of p.pick) {
      images.set(p.images.subarray(k * plane, (k + 1) * plane), at * plane);
      masks.set(p.masks.subarray(k * plane, (k + 1) * plane), at * plane);
      at++;
    }
    return { stem: h.id, domain: 'heads', images, masks, shape: [total, o.size, o.size] as [number, number, number] };
  });
}

/** A head to score: an image on the head's grid and its brain mask. */
export interface ScoredHead { id: string; image: Float32Array; brain: Uint8Array; dims: [number, number, number]; spacing: [number, number, number]; affine: Affine }

/** The validation images: each head's real T1, and one synthetic image each (fixed by seed). */
export function validationHeads(heads: readonly LabelledHead[], seed: number, synth?: SynthesisOptions): { real: ScoredHead[]; synthetic: ScoredHead[] } {
  const base = (h: LabelledHead): Omit<ScoredHead, 'image' | 'id'> => ({ brain: h.brain, dims: h.dims, spacing: h.spacing, affine: h.affine });
  return {
    real: heads.map((h) => ({ id: h.id, image: h.image, ...base(h) })),
    synthetic: heads.map((h, i) => ({ id: `${h.id}-synthetic`, image: synthesizeHead(h.synth, h.synth.labels, new Rng(hashSeed(seed, 0x7a1, i)), synth), ...base(h), brain: brainOfLabels(h.synth) })),
  };
}

export interface ScoreViewsOptions { device?: Device; batchSize?: number; adabnSlices?: number }

/**
 * Dice of each head's mask predicted as `segment` predicts it with test-time AdaBN (statistics from the
 * head slices of every view the grid holds, at most `adabnSlices`), from view 0 alone (`one`) and from
 * every view fused (`fused`; equal to `one` for a one-view grid). The model's statistics are restored.
 */
export function scoreHeadViews(model: SegmentationNet, heads: readonly ScoredHead[], grid: ModelGrid, o: ScoreViewsOptions = {}): { one: number[]; fused: number[] } {
  const device = o.device ?? 'cpu', batchSize = o.batchSize ?? 16;
  const saved = snapshotBatchNorm(model);
  const one: number[] = [], fused: number[] = [];
  try {
    for (const h of heads) {
      const prep = prepareForModel({ dims: h.dims, spacing: h.spacing, affine: h.affine, data: h.image }, grid, { conform: 'never', what: h.id });
      testTimeAdaBN(model, prep.views, { device, ...(o.adabnSlices === undefined ? {} : { maxSlices: o.adabnSlices }) });
      model.eval();
      const logits = prep.views.map((v) => runSlices(v.images, v.shape, batchSize, device, (x) => [model.forward(x)])[0]!);
      saved.restore();
      one.push(dice(h.brain, fusedMaskToInput(prep, logits.slice(0, 1))));
      fused.push(logits.length === 1 ? one[one.length - 1]! : dice(h.brain, fusedMaskToInput(prep, logits)));
    }
  } finally {
    saved.dispose();
  }
  return { one, fused };
}
