/**
 * Evaluating mask files: a predicted and a ground-truth NIfTI mask, or two directories of them.
 * Kept apart from the command so that later commands (evaluate with a model) can reuse it.
 */
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { CC359_DOMAINS } from '../data/cc359.js';
import { readNifti, type NiftiVolume } from '../data/nifti.js';
import { ConvLoraError } from '../errors.js';
import { evaluateMasks, type MaskMetrics } from './evaluate.js';
import type { CaseMetrics } from './aggregate.js';

/** A mask pair on one grid, as the metric API takes it (C order). */
export interface MaskPair {
  gt: NiftiVolume['data'];
  pred: NiftiVolume['data'];
  /** C-order shape: the NIfTI dims reversed ([nz, ny, nx]). */
  shape: number[];
  /** mm per axis in the same order: the GT header's spacing reversed. */
  spacing: number[];
}

/** Metrics of one file pair with what they were computed on. */
export interface FilePairMetrics extends MaskMetrics {
  shape: number[];
  spacing: number[];
  gtVoxels: number;
  predVoxels: number;
}

/** Relative spacing difference accepted between the two headers (pixdim is float32). */
const SPACING_RTOL = 1e-5;

/** NIfTI dims without trailing singleton axes beyond the third ([x, y, z, 1] -> [x, y, z]). */
function maskDims(vol: NiftiVolume, path: string): number[] {
  const dims = [...vol.dims];
  while (dims.length > 3 && dims[dims.length - 1] === 1) dims.pop();
  if (dims.length < 2 || dims.length > 3) {
    throw new ConvLoraError('E_SHAPE', `Expected a 2D or 3D mask in ${path} but received dims [${vol.dims.join(', ')}]`);
  }
  return dims;
}

/**
 * Check that two mask volumes share a grid and view them in C order. The GT header's spacing is
 * used; a shape mismatch or a spacing mismatch beyond float32 rounding is an E_SHAPE error.
 */
export function pairVolumes(pred: NiftiVolume, gt: NiftiVolume, predPath: string, gtPath: string): MaskPair {
  const pd = maskDims(pred, predPath);
  const gd = maskDims(gt, gtPath);
  if (pd.length !== gd.length || pd.some((d, i) => d !== gd[i])) {
    throw new ConvLoraError('E_SHAPE', `Expected ${predPath} to have the dims of ${gtPath}, [${gd.join(', ')}], but received [${pd.join(', ')}]`);
  }
  const gs = gt.spacing.slice(0, gd.length);
  const ps = pred.spacing.slice(0, gd.length);
  if (!gs.every((s) => s > 0 && Number.isFinite(s))) {
    throw new ConvLoraError('E_NIFTI', `Expected positive voxel sizes in the header of ${gtPath} but received [${gs.join(', ')}]`, { detail: 'E_SPACING' });
  }
  if (gs.some((s, i) => !(Math.abs(s - (ps[i] ?? NaN)) <= SPACING_RTOL * Math.max(1, s)))) {
    throw new ConvLoraError(
      'E_SHAPE',
      `Expected ${predPath} to have the spacing of ${gtPath}, [${gs.join(', ')}] mm, but received [${ps.join(', ')}] mm`,
      { detail: 'E_SPACING' },
    );
  }
  return { gt: gt.data, pred: pred.data, shape: [...gd].reverse(), spacing: [...gs].reverse() };
}

/** Read both masks (NaN/Inf voxels count as background) and pair them. */
export async function loadMaskPair(predPath: string, gtPath: string): Promise<MaskPair> {
  const [pred, gt] = await Promise.all([readNifti(predPath, { nonFinite: 'zero' }), readNifti(gtPath, { nonFinite: 'zero' })]);
  return pairVolumes(pred, gt, predPath, gtPath);
}

function foreground(data: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) if ((data[i] as number) > 0) n++;
  return n;
}

/** Surface Dice (at `tolerance` mm), Dice, HD95 and ASSD of a predicted mask file against its GT file. */
export async function evaluateMaskFiles(predPath: string, gtPath: string, options: { tolerance?: number } = {}): Promise<FilePairMetrics> {
  const pair = await loadMaskPair(predPath, gtPath);
  const metrics = evaluateMasks(pair.gt, pair.pred, { shape: pair.shape, spacing: pair.spacing, tolerance: options.tolerance ?? 1 });
  return { ...metrics, shape: pair.shape, spacing: pair.spacing, gtVoxels: foreground(pair.gt), predVoxels: foreground(pair.pred) };
}

const NIFTI_NAME = /\.nii(\.gz)?$/;

/** Case id of a mask file: the name without `.nii(.gz)` and without a trailing `_ss` (CC359 masks). */
export function caseIdOf(file: string): string {
  return basename(file).replace(NIFTI_NAME, '').replace(/_ss$/, '');
}

/**
 * CC359 domain of a case id such as `CC0001_philips_15_55_M` (-> `Philips_15`) or a phantom's
 * `PH0001_ge_3`; `unknown` when the id names none.
 */
export function domainOfCase(id: string): string {
  const m = /_(ge|philips|siemens)_(15|3)(?:_|$)/i.exec(id);
  if (m === null) return 'unknown';
  const name = `${m[1] ?? ''}_${m[2] ?? ''}`.toLowerCase();
  return CC359_DOMAINS.find((d) => d.toLowerCase() === name) ?? 'unknown';
}

export interface FilePairing {
  pairs: { id: string; domain: string; pred: string; gt: string }[];
  /** Case ids found only among the predictions / only among the ground truths. */
  onlyPred: string[];
  onlyGt: string[];
}

async function niftiFiles(dir: string): Promise<Map<string, string>> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    throw new ConvLoraError('E_IO', `Could not list ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const byId = new Map<string, string>();
  for (const name of names.filter((n) => NIFTI_NAME.test(n)).sort()) {
    const id = caseIdOf(name);
    if (byId.has(id)) throw new ConvLoraError('E_DATA', `Expected one mask per case in ${dir} but ${byId.get(id) ?? ''} and ${name} are both case ${JSON.stringify(id)}`);
    byId.set(id, join(dir, name));
  }
  return byId;
}

/** Match the NIfTI files of two directories by case id (see caseIdOf), sorted by id. */
export async function pairMaskDirs(predDir: string, gtDir: string): Promise<FilePairing> {
  const [preds, gts] = await Promise.all([niftiFiles(predDir), niftiFiles(gtDir)]);
  const pairs = [...gts.keys()].filter((id) => preds.has(id)).sort()
    .map((id) => ({ id, domain: domainOfCase(id), pred: preds.get(id) ?? '', gt: gts.get(id) ?? '' }));
  return {
    pairs,
    onlyPred: [...preds.keys()].filter((id) => !gts.has(id)).sort(),
    onlyGt: [...gts.keys()].filter((id) => !preds.has(id)).sort(),
  };
}

/** Evaluate every matched pair in turn; `onCase` sees each result as it comes (for progress). */
export async function evaluateMaskDirs(
  pairing: FilePairing,
  options: { tolerance?: number } = {},
  onCase?: (done: number, result: CaseMetrics) => void,
): Promise<CaseMetrics[]> {
  const out: CaseMetrics[] = [];
  for (const p of pairing.pairs) {
    const m = await evaluateMaskFiles(p.pred, p.gt, options);
    const record: CaseMetrics = { id: p.id, domain: p.domain, surfaceDice: m.surfaceDice, dice: m.dice, hd95: m.hd95, assd: m.assd };
    out.push(record);
    onCase?.(out.length, record);
  }
  return out;
}
