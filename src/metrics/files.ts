/**
 * Evaluating mask files: a predicted and a ground-truth NIfTI mask, or two directories of them.
 * Kept apart from the command so that later commands (evaluate with a model) can reuse it.
 */
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { CC359_DOMAINS } from '../data/scans/cc359.js';
import { readNifti, type NiftiVolume } from '../data/nifti/index.js';
import { ConvLoraError } from '../errors.js';
import { evaluateMasks, type MaskMetrics } from './mask-metrics.js';
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

/**
 * The mask a file holds, by the suffix of its name (see caseFile): a probability map (`_prob`) is
 * foreground above 0.5, as `segment` thresholds it; a skull-stripped scan (`_brain`) wherever it is not
 * 0 (intensities may be negative); anything else wherever it is > 0, which the metrics assume.
 */
function asMask(vol: NiftiVolume, path: string): NiftiVolume {
  const { suffix } = caseFile(path);
  if (suffix === '_prob') return { ...vol, data: Uint8Array.from(vol.data, (v) => (v > 0.5 ? 1 : 0)) };
  if (suffix === '_brain') return { ...vol, data: Uint8Array.from(vol.data, (v) => (v !== 0 ? 1 : 0)) };
  return vol;
}

/** Read both masks (NaN/Inf voxels count as background; see asMask for `_prob` and `_brain` files) and pair them. */
export async function loadMaskPair(predPath: string, gtPath: string): Promise<MaskPair> {
  const [pred, gt] = await Promise.all([readNifti(predPath, { nonFinite: 'zero' }), readNifti(gtPath, { nonFinite: 'zero' })]);
  return pairVolumes(asMask(pred, predPath), asMask(gt, gtPath), predPath, gtPath);
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

/**
 * Suffixes our commands write after a case id, in the order a case's files are preferred when a folder
 * holds several: `segment`'s mask, CC359's and the phantom generator's masks, a plain name, then
 * `segment --prob`'s probabilities and `segment --brain`'s skull-stripped scan.
 */
export const CASE_SUFFIXES = ['_mask', '_ss', '', '_prob', '_brain'] as const;
export type CaseSuffix = (typeof CASE_SUFFIXES)[number];
const SUFFIX_RE = /^(.*?)(_mask|_ss|_prob|_brain)?$/;

/** Case id and suffix of a file: `IXI012_mask.nii.gz` is case `IXI012`, suffix `_mask` (one suffix is removed). */
export function caseFile(file: string): { id: string; suffix: CaseSuffix } {
  const m = SUFFIX_RE.exec(basename(file).replace(NIFTI_NAME, ''));
  const suffix = (m?.[2] ?? '') as CaseSuffix;
  return { id: m?.[1] || basename(file), suffix };
}

/** Case id of a mask file: the name without `.nii(.gz)` and one trailing `_mask`, `_prob`, `_brain` or `_ss`. */
export function caseIdOf(file: string): string {
  return caseFile(file).id;
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
  /** Every NIfTI file left out, sorted by case id, with why: no file of its case on the other side, or another file of its case is scored. */
  unpaired: { file: string; reason: string }[];
}

/** A folder's NIfTI files by case id: the preferred file of each case (CASE_SUFFIXES order) and the others. */
async function niftiFiles(dir: string): Promise<{ byId: Map<string, string>; setAside: FilePairing['unpaired'] }> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    throw new ConvLoraError('E_IO', `Could not list ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const rank = (name: string): number => CASE_SUFFIXES.indexOf(caseFile(name).suffix);
  const byId = new Map<string, string>();
  const setAside: FilePairing['unpaired'] = [];
  for (const name of names.filter((n) => NIFTI_NAME.test(n)).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1))) {
    const id = caseIdOf(name);
    const chosen = byId.get(id);
    if (chosen === undefined) { byId.set(id, join(dir, name)); continue; }
    if (rank(chosen) === rank(name)) {
      throw new ConvLoraError('E_DATA', `Expected one file per case and kind in ${dir} but ${basename(chosen)} and ${name} are both case ${JSON.stringify(id)}`);
    }
    setAside.push({ file: join(dir, name), reason: `case ${id} is scored with ${chosen}` });
  }
  return { byId, setAside };
}

/**
 * Match the NIfTI files of two directories by case id (see caseFile: `<id>`, `<id>_mask`, `_ss`, `_prob`
 * or `_brain`), sorted by id. A folder holding several files of a case uses one, in CASE_SUFFIXES order.
 */
export async function pairMaskDirs(predDir: string, gtDir: string): Promise<FilePairing> {
  const [preds, gts] = await Promise.all([niftiFiles(predDir), niftiFiles(gtDir)]);
  const pairs = [...gts.byId.keys()].filter((id) => preds.byId.has(id)).sort()
    .map((id) => ({ id, domain: domainOfCase(id), pred: preds.byId.get(id) ?? '', gt: gts.byId.get(id) ?? '' }));
  const alone = (mine: Map<string, string>, other: Map<string, string>, otherDir: string): FilePairing['unpaired'] =>
    [...mine].filter(([id]) => !other.has(id)).map(([id, file]) => ({ file, reason: `no file of case ${id} in ${otherDir}` }));
  const unpaired = [...preds.setAside, ...gts.setAside, ...alone(preds.byId, gts.byId, gtDir), ...alone(gts.byId, preds.byId, predDir)]
    .map((u) => ({ ...u, id: caseIdOf(u.file) }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.file < b.file ? -1 : 1))
    .map(({ file, reason }) => ({ file, reason }));
  return {
    pairs,
    onlyPred: [...preds.byId.keys()].filter((id) => !gts.byId.has(id)).sort(),
    onlyGt: [...gts.byId.keys()].filter((id) => !preds.byId.has(id)).sort(),
    unpaired,
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
