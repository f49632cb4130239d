/**
 * The one segmentation chain of `segment` (CLI and library, both engines) and the browser app, with no
 * Node module and no engine: a backend (backend.ts) gives logits of batches of slices and fits itself to
 * a scan; everything else is here, in small steps:
 *   1. prepare:  orient, conform, slice every view the model was trained on (data/image/conform.ts);
 *   2. fit:      the backend's fit to the scan (adapter choice, test-time AdaBN);
 *   3. predict:  logits of each view `segment` uses (the model's `inferenceViews`, view 0 alone by default);
 *   4. map back: the views' probabilities fused and taken onto the scan's own grid (conform.ts), the mask
 *                cleaned (largest component, holes filled) unless told not to;
 *   5. check:    what may be wrong with the mask (segment-checks.ts), as warnings.
 */
import { checkInt, ConvLoraError } from '../../errors.js';
import {
  DEFAULT_CLEANUP, DEFAULT_CONFORM, fusedMaskToInput, fusedProbabilitiesToInput, maskToInput, prepareForModel, probabilitiesToInput,
  type ConformMode, type PreparedScan,
} from '../../data/image/conform.js';
import { cleanBrainMask } from '../../data/image/morphology.js';
import type { NiftiVolume } from '../../data/nifti/bytes.js';
import { maskChecks, spacingWarning } from './segment-checks.js';
import { probabilities, runSlicesAsync } from './slices.js';
import type { FitOutcome, ScanBackend } from './backend.js';

export interface ScanOptions {
  /** Name of the scan in messages. */
  what?: string;
  /** Turn the scan into the model's training orientation first (default true). */
  reorient?: boolean;
  /** Resampling to the model's voxel size (conform.ts); default DEFAULT_CONFORM. */
  conform?: ConformMode;
  /** Slices per forward pass (integer >= 1; default 16). */
  batchSize?: number;
  /** Clean the mask (largest component, holes filled); default DEFAULT_CLEANUP. */
  cleanup?: boolean;
  /** Also return the fused probabilities on the scan's grid (never cleaned). */
  prob?: boolean;
  /** Views to predict and fuse: 1 (view 0) or the model's trained views; default the model's `inferenceViews`, else 1. */
  views?: number;
  /** Called after each batch with the slices predicted and their total. */
  onProgress?: (done: number, total: number) => void;
}

export interface ScanSegmentation<C = unknown> {
  prep: PreparedScan;
  /** The mask (0/1) on the scan's own grid, cleaned unless `cleanup` was false. */
  mask: Uint8Array;
  /** Probabilities on the scan's grid (with `prob`), else null. */
  prob: Float32Array | null;
  brainVoxels: number;
  brainMl: number;
  /** Views predicted and fused. */
  views: number;
  fit: FitOutcome<C>;
  warnings: string[];
}

/** The views `segment` predicts for a model: `asked`, else what it records (`inferenceViews`), within what it was trained on. */
export function inferenceViews(backend: Pick<ScanBackend, 'grid' | 'info'>, asked?: number): number {
  const trained = backend.grid.views ?? 1;
  const v = asked ?? (backend.info.inferenceViews === 3 ? 3 : 1);
  if (v !== 1 && v !== trained) throw new ConvLoraError('E_INVALID_ARG', `Expected 1${trained === 1 ? '' : ` or ${trained}`} for \`views\` (the model was trained on ${trained} view${trained === 1 ? '' : 's'}) but received ${JSON.stringify(asked)}`);
  return Math.min(v, trained);
}

/** Check the options every caller of segmentScan passes (library-side, coded errors naming the option). */
export function checkScanOptions(o: ScanOptions): void {
  if (o.batchSize !== undefined) checkInt('batchSize', o.batchSize, 1);
  for (const k of ['reorient', 'cleanup', 'prob'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new ConvLoraError('E_INVALID_ARG', `Expected true or false for \`${k}\` but received ${JSON.stringify(o[k])}`);
  }
  if (o.conform !== undefined && !['auto', 'always', 'never'].includes(o.conform)) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected 'auto', 'always' or 'never' for \`conform\` but received ${JSON.stringify(o.conform)}`);
  }
  if (o.views !== undefined && o.views !== 1 && o.views !== 3) throw new ConvLoraError('E_INVALID_ARG', `Expected 1 or 3 for \`views\` but received ${JSON.stringify(o.views)}`);
}

/** Segment one decoded scan with `backend` (steps 1-5 above). */
export async function segmentScan<C>(img: Pick<NiftiVolume, 'dims' | 'spacing' | 'affine' | 'data'>, backend: ScanBackend<C>, o: ScanOptions = {}): Promise<ScanSegmentation<C>> {
  checkScanOptions(o);
  const what = o.what ?? 'scan';
  const views = inferenceViews(backend, o.views);
  const batchSize = o.batchSize ?? 16;
  const prep = prepareForModel(img, backend.grid, { reorient: o.reorient !== false, conform: o.conform ?? DEFAULT_CONFORM, what });
  const warnings: string[] = [];
  const push = (w: string | null): void => { if (w !== null) warnings.push(w); };
  push(spacingWarning(prep, backend.grid.spacing));

  const fit = await backend.fit(prep);
  warnings.push(...fit.warnings);
  const logits: Float32Array[] = [];
  try {
    const total = prep.views.slice(0, views).reduce((n, v) => n + v.shape[0], 0);
    let done = 0;
    for (const v of prep.views.slice(0, views)) {
      logits.push(await runSlicesAsync(v.images, v.shape, batchSize, async (x, b, h, w) => {
        const out = await backend.logits(x, b, h, w);
        done += b;
        o.onProgress?.(done, total);
        return out;
      }));
    }
  } finally {
    await backend.release();
  }
  const dims = [img.dims[0]!, img.dims[1]!, img.dims[2]!] as [number, number, number];
  // One view: exactly the mapping every one-view model has always had (threshold on the network's grid).
  const raw = views === 1 ? maskToInput(prep, logits[0]!) : fusedMaskToInput(prep, logits);
  const mask = (o.cleanup ?? DEFAULT_CLEANUP) ? cleanBrainMask(raw, dims) : raw;
  const prob = o.prob !== true ? null : views === 1 ? probabilitiesToInput(prep, probabilities(logits[0]!)) : fusedProbabilitiesToInput(prep, logits);
  let brainVoxels = 0;
  for (let i = 0; i < mask.length; i++) brainVoxels += mask[i]!;
  const voxelMl = img.spacing.slice(0, 3).reduce((a, b) => a * b, 1) / 1000;
  const brainMl = brainVoxels * voxelMl;
  warnings.push(...maskChecks(raw, mask, dims, voxelMl));
  return { prep, mask, prob, brainVoxels, brainMl, views, fit, warnings };
}
