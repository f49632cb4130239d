/**
 * Adapt the source U-Net to a user's own scanner from unlabelled scans (a plain folder or a BIDS
 * scanner group), outside the CC359 layout. Every scan is checked before anything is trained (pipeline/scans.ts),
 * then prepared exactly as `segment` prepares it (the model's orientation, resampled when the voxel
 * size is far from the model's: DEFAULT_CONFORM, every slice, the model's slice size).
 *
 * Adaptation learns from the prepared slices that show the head (pipeline/scans.ts headSlices), not from the
 * slices of air beyond it: the source model was trained, and its BatchNorm statistics measured, within
 * CC359's slice ranges, which keep the head; statistics re-estimated over every slice of a 64^3 phantom
 * (a third of them air) cut `segment`'s Surface Dice on held-out scans from 0.76 to 0.22 (see
 * test/pipeline/train/adapt-scans.test.ts). `slices: 'all'` learns from every slice.
 *
 * A seeded share of the scans (HOLD_OUT: 10 %, at least 1) is held out for the label-free model
 * selection (head/final agreement); the others train the adapter. Masks, if any, are never read. The
 * adapter file records the name, the scanner key, the scans and their preparation (`trainedOn`).
 */
import { ConvLoraError, checkInt, invalidArg } from '../../errors.js';
import { Rng, hashSeed } from '../../data/rng.js';
import { DEFAULT_CONFORM, type ConformMode } from '../../data/image/conform.js';
import { checkDomainName } from '../../data/scans/names.js';
import { holdOut } from '../../data/scans/splits.js';
import { AdapterRegistry, disposeAdapter, saveAdapter, type AdapterTrainingData } from '../../lora/adapter.js';
import { adaptDomain, type AdaptEpoch, type AdaptOptions, type AdaptScan, type AdaptSelection } from './adapt.js';
import { SPLIT_SEED } from './dataset.js';
import { loadHead, loadUnet, modelGrid } from '../models.js';
import { adaptScanOf, fileOf, headSlices, keepSlices, openScanSet, prepareUserScan, type PreparedUserScan, type ScanSource } from '../scans.js';
import type { UserScan } from '../../data/scans/folder.js';
import type { ModelGrid } from '../../data/image/conform.js';
import { silent } from '../events.js';

/** Share of a user's scans held out for model selection: 10 % (as the CC359 targets' validation split), at least 1. */
export const HOLD_OUT = 0.1;

export interface AdaptScansOptions extends Omit<AdaptOptions, 'target' | 'trainedOn'> {
  source: ScanSource;
  /** Source U-Net checkpoint. */
  unet: string;
  /** Early head checkpoint; needed by the methods that train against one (convlora, udas, udas-convlora). */
  head?: string;
  /** The adapter's name (its domain); default: the scanner key of the scans' sidecars. */
  name?: string;
  /** Adapter file to write (atomically), or a function of the adapter's name giving it. */
  out: string | ((name: string) => string);
  /** Held out for model selection: a count (>= 1) or a fraction in (0, 1); default HOLD_OUT. */
  holdOut?: number;
  /** Resampling rule (conform.ts); default DEFAULT_CONFORM, the one `segment` uses. */
  conform?: ConformMode;
  /**
   * Which prepared slices adaptation learns from: 'head' (default: those showing the head, pipeline/scans.ts
   * headSlices, as CC359's slice ranges keep for the source model) or 'all' (every slice `segment` sees).
   */
  slices?: 'head' | 'all';
  /**
   * Learn from at most this many of each training scan's slices (a seeded draw; default all): a three-view
   * model has three times the slices of a one-view one, and a few dozen per view already cover a scan.
   */
  slicesPerScan?: number;
}

export interface AdaptScansResult {
  adapter: string;
  name: string;
  scanner: string | null;
  train: string[];
  selection: string[];
  bestEpoch: number;
  history: AdaptEpoch[];
  /** 'start' when the guard kept the starting model (adapt.ts AdaptResult.kept). */
  kept: 'start' | 'adapted';
  select: AdaptSelection;
}

/**
 * One scan read and prepared as `segment` prepares it, as adaptation learns from it: the head slices of
 * every view the model was trained on (one for most models), stacked; `slices: 'all'` keeps every slice.
 */
export async function prepareAdaptScan(scan: UserScan, grid: ModelGrid, conform: ConformMode, slices: 'head' | 'all', name: string): Promise<{ prep: PreparedUserScan; scan: AdaptScan }> {
  const p = await prepareUserScan(scan, grid, conform);
  let a = adaptScanOf(p, name);
  if (slices === 'head') {
    const parts = p.prep.views.map((v) => keepSlices({ ...a, images: v.images, shape: v.shape }, headSlices(v.images, v.shape)));
    if (parts.every((x) => x.shape[0] === 0)) throw new ConvLoraError('E_DATA', `${scan.imagePath} shows no head: every voxel is at the intensity of its darkest`, { detail: 'E_DATA_BLANK' });
    a = parts.length === 1 ? parts[0]! : stackSlices(parts);
  } else if (p.prep.views.length > 1) a = stackSlices(p.prep.views.map((v) => ({ ...a, images: v.images, shape: v.shape })));
  return { prep: p, scan: a };
}

/** At most `count` of a scan's slices, drawn with a seed fixed by the scan's position, kept in order. */
function subsample(a: AdaptScan, count: number, index: number): AdaptScan {
  if (a.shape[0] <= count) return a;
  const picked = new Rng(hashSeed(SPLIT_SEED, index, 0x5b)).shuffle(Array.from({ length: a.shape[0] }, (_, k) => k)).slice(0, count).sort((x, y) => x - y);
  return keepSlices(a, picked);
}

/** Scans of one volume (its views) stacked into one, in order. */
function stackSlices(parts: readonly AdaptScan[]): AdaptScan {
  const [, H, W] = parts[0]!.shape, plane = H * W;
  const total = parts.reduce((n, x) => n + x.shape[0], 0);
  const images = new Float32Array(total * plane);
  let at = 0;
  for (const x of parts) { images.set(x.images, at * plane); at += x.shape[0]; }
  return { ...parts[0]!, images, shape: [total, H, W] };
}

export async function adaptScans(o: AdaptScansOptions): Promise<AdaptScansResult> {
  const report = o.report ?? silent;
  const device = o.device ?? 'cpu';
  const conform = o.conform ?? DEFAULT_CONFORM;
  const slices = o.slices ?? 'head';
  if (slices !== 'head' && slices !== 'all') invalidArg('slices', "'head' or 'all'", slices);
  const given = o.name === undefined ? undefined : checkDomainName(o.name, 'name');
  const set = await openScanSet(o.source);
  const name = given ?? set.scanner;
  if (name === null) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected \`name\` for the scans of ${set.inputs.join(', ')} (they have no sidecars to name their scanner) but received none`);
  }
  const what = set.scanner === null ? name : `scanner ${set.scanner}`;
  const split = holdOut(set.scans, o.holdOut ?? HOLD_OUT, SPLIT_SEED, what);
  const roleOf = new Map([...split.train.map((s) => [s.stem, 'train'] as const), ...split.val.map((s) => [s.stem, 'selection'] as const)]);
  report({ type: 'stage', stage: 'adapt', message: `${set.scans.length} scans of ${what}: ${split.train.length} to train, ${split.val.length} held out for model selection (${split.val.map(fileOf).join(', ')})` });

  const { model, info } = await loadUnet(o.unet, device);
  const registry = new AdapterRegistry(model);
  let head: Awaited<ReturnType<typeof loadHead>>['head'] | null = null;
  try {
    if (o.head !== undefined) head = (await loadHead(o.head, device, info)).head;
    const grid = modelGrid(info);
    const train: AdaptScan[] = [], val: AdaptScan[] = [];
    const records: AdapterTrainingData['scans'] = [];
    for (const [i, scan] of set.scans.entries()) {
      const { prep: p, scan: a } = await prepareAdaptScan(scan, grid, conform, slices, name);
      const role = roleOf.get(scan.stem)!;
      (role === 'train' ? train : val).push(role === 'train' && o.slicesPerScan !== undefined ? subsample(a, checkInt('slicesPerScan', o.slicesPerScan, 1), i) : a);
      records.push({ file: fileOf(scan), role, orientation: p.prep.inputCodes, voxelSize: [...set.headers[i]!.spacing], resampled: p.prep.resampled !== null, slices: a.shape[0] });
    }
    const resampled = records.filter((r) => r.resampled).length;
    if (resampled > 0) report({ type: 'stage', stage: 'adapt', message: `${resampled} of ${records.length} scans resampled to the model's ${grid.spacing?.join(' x ')} mm voxels, as \`segment\` will` });
    const trainedOn: AdapterTrainingData = {
      kind: set.kind, inputs: set.inputs, scanner: set.scanner, count: records.length, scans: records,
      preparation: { conform, orientation: grid.orientation, voxelSize: grid.spacing === null ? null : [...grid.spacing], size: grid.size, slices },
    };
    const { source: _s, unet: _u, head: _h, name: _n, out: _o, holdOut: _k, conform: _c, slices: _l, slicesPerScan: _p, ...adaptOpts } = o;
    // 'teacher' on a model that predicts with test-time AdaBN per scan (the bundled ones) adapts per scan, unless told otherwise.
    const perScan = o.perScan ?? (o.method === 'teacher' && info.inference === 'adabn' && (o.adabn ?? 'none') === 'none');
    const r = await adaptDomain(registry, head, train, val, { size: grid.size }, { ...adaptOpts, target: name, device, trainedOn,
      ...(perScan ? { perScan, ...(typeof info.adabnSlices === 'number' ? { adabnSlices: info.adabnSlices } : {}) } : {}) });
    const out = typeof o.out === 'string' ? o.out : o.out(name);
    try {
      if (o.parallel === undefined || o.parallel === null || o.parallel.main) await saveAdapter(out, r.adapter);
    } finally {
      disposeAdapter(r.adapter);
    }
    return { adapter: out, name, scanner: set.scanner, train: split.train.map(fileOf), selection: split.val.map(fileOf), bestEpoch: r.bestEpoch, history: r.history, kept: r.kept, select: r.select };
  } finally {
    head?.dispose();
    registry.dispose();
    model.dispose();
  }
}
