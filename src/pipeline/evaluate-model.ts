/** Stage 4: per-volume Surface Dice and Dice of a model (optionally with a domain adapter) on a domain's split. */
import { ConvLoraError } from '../errors.js';
import type { Device } from '../engine/tensor.js';
import type { Domain } from '../data/scans/cc359.js';
import { DEFAULT_CONFORM, maskToInput, type ConformMode } from '../data/image/conform.js';
import { readNifti } from '../data/nifti/index.js';
import { evaluateMasks } from '../metrics/index.js';
import { aggregate, type AggregateRow, type CaseMetrics } from '../metrics/aggregate.js';
import { AdapterRegistry } from '../lora/adapter.js';
import { checkData, loadScans, openDomain } from './train/dataset.js';
import { loadUnet, modelGrid } from './models.js';
import { runSlices } from './infer/predict.js';
import { openScanSet, prepareUserScan, type ScanSource } from './scans.js';
import { scoreScans, TOLERANCE_MM } from './train/score.js';

export interface EvaluateModelOptions {
  unet: string;
  adapter?: string;
  data: string;
  domain: Domain;
  split?: 'train' | 'val' | 'test';
  tolerance?: number;
  device?: Device;
  batchSize?: number;
}

export interface DomainEvaluation { domain: Domain; split: string; adapter: string | null; cases: CaseMetrics[]; summary: AggregateRow }

export async function evaluateModel(o: EvaluateModelOptions): Promise<DomainEvaluation> {
  const device = o.device ?? 'cpu';
  const split = o.split ?? 'test';
  await checkData(o.data, [o.domain]);
  const { model } = await loadUnet(o.unet, device);
  const registry = new AdapterRegistry(model);
  try {
    if (o.adapter !== undefined) {
      await registry.load(o.domain, o.adapter);
      registry.activate(o.domain, { merge: true });
    }
    const d = await openDomain(o.data, o.domain, o.domain === 'GE_3' ? 'source' : 'target');
    const scans = await loadScans(d.split[split], d.info);
    const cases = scoreScans(model, scans, device, o.batchSize ?? 32, o.tolerance ?? TOLERANCE_MM);
    return { domain: o.domain, split, adapter: o.adapter ?? null, cases, summary: aggregate(cases).overall };
  } finally {
    registry.dispose();
    model.dispose();
  }
}

export interface EvaluateScansOptions {
  unet: string;
  adapter?: string;
  /** A user's scans (folder, files, patterns or a BIDS scanner group); those without a mask are skipped. */
  source: ScanSource;
  tolerance?: number;
  device?: Device;
  batchSize?: number;
  /** Resampling rule (conform.ts); default DEFAULT_CONFORM, as `segment`. */
  conform?: ConformMode;
}

export interface ScansEvaluation {
  scanner: string | null;
  adapter: string | null;
  cases: CaseMetrics[];
  summary: AggregateRow;
  /** Scans without a mask (not scored). */
  skipped: string[];
}

/**
 * A model (and adapter) on a user's own labelled scans: each scan is segmented exactly as `segment`
 * does, the mask brought back onto the scan's grid, and scored there against the scan's mask with the
 * scan's header spacing (mm). E_DATA when no scan has a mask; E_SHAPE naming both files when a mask's
 * grid differs from its scan's.
 */
export async function evaluateScans(o: EvaluateScansOptions): Promise<ScansEvaluation> {
  const device = o.device ?? 'cpu';
  const tolerance = o.tolerance ?? TOLERANCE_MM;
  const set = await openScanSet({ oneScanner: false, ...o.source });
  const labelled = set.scans.filter((s) => s.maskPath !== null);
  const skipped = set.scans.filter((s) => s.maskPath === null).map((s) => s.imagePath);
  if (labelled.length === 0) {
    throw new ConvLoraError('E_DATA', `No scan of ${set.inputs.join(', ')} has a mask (<name>_mask.nii[.gz] beside it${o.source.masks === undefined ? '' : ` or a mask in ${o.source.masks}`}): nothing to score`, { detail: 'E_DATA_NO_MASKS' });
  }
  const { model, info } = await loadUnet(o.unet, device);
  const registry = new AdapterRegistry(model);
  try {
    if (o.adapter !== undefined) {
      await registry.load('target', o.adapter);
      registry.activate('target', { merge: true });
    }
    model.eval();
    const grid = modelGrid(info);
    const cases: CaseMetrics[] = [];
    for (const scan of labelled) {
      const { volume, prep } = await prepareUserScan(scan, grid, o.conform ?? DEFAULT_CONFORM);
      const [logits] = runSlices(prep.images, prep.shape, o.batchSize ?? 32, device, (x) => [model.forward(x)]);
      const pred = maskToInput(prep, logits!);
      const gt = await readNifti(scan.maskPath!, { nonFinite: 'zero' });
      if (gt.dims.slice(0, 3).join(',') !== volume.dims.slice(0, 3).join(',')) {
        throw new ConvLoraError('E_SHAPE', `Mask ${scan.maskPath} has dims [${gt.dims.join(', ')}] but scan ${scan.imagePath} has [${volume.dims.join(', ')}]`);
      }
      // NIfTI is x-fastest: the C-order shape and spacing are the file's reversed.
      const m = evaluateMasks(gt.data, pred, { shape: volume.dims.slice(0, 3).reverse(), spacing: volume.spacing.slice(0, 3).reverse(), tolerance });
      cases.push({ id: scan.stem, domain: set.scanner ?? 'scans', ...m });
    }
    return { scanner: set.scanner, adapter: o.adapter ?? null, cases, summary: aggregate(cases).overall, skipped };
  } finally {
    registry.dispose();
    model.dispose();
  }
}
