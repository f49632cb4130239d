/**
 * `segment`: any T1 NIfTI in, brain mask (or probabilities) out on the input's grid and affine. The
 * volume is first turned (axes permuted and flipped, no interpolation) into the voxel orientation the
 * model was trained on, when the model records it and the input's affine differs; then it is
 * preprocessed like training data (all slices along axis 0, min-max, rotation, padding to the model's
 * slice size). The prediction is turned back onto the input's grid. The adapter, if any, is merged into
 * the weights for speed. A directory of scans runs with the model loaded once; a scan that fails is
 * reported and the rest go on.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ConvLoraError } from '../errors.js';
import type { Device } from '../engine/tensor.js';
import { readNifti, readNiftiHeader, writeNifti } from '../data/nifti.js';
import { maskToInput, prepareForModel, probabilitiesToInput, type ConformMode, type ModelGrid } from '../data/conform.js';
import { AdapterRegistry } from '../lora/adapter.js';
import { loadUnet, modelGrid } from './models.js';
import { probabilities, runSlices } from './predict.js';

export interface SegmenterOptions {
  model: string;
  adapter?: string;
  prob?: boolean;
  device?: Device;
  batchSize?: number;
  /** Turn the input into the model's training orientation first (default true). */
  reorient?: boolean;
  /**
   * Resample the input (trilinear) to the model's training voxel size before slicing, and the
   * probabilities back to the input grid (default false: the paper's pipeline slices as stored).
   */
  conform?: boolean | ConformMode;
}

/** true: 'always'; false or unset: 'never' (the paper's pipeline slices every scan as stored). */
function conformMode(c: boolean | ConformMode | undefined): ConformMode {
  return c === true ? 'always' : c === false || c === undefined ? 'never' : c;
}

export interface SegmentOptions extends SegmenterOptions {
  input: string;
  output: string;
  /** Also write the skull-stripped scan here: the input with every voxel outside the mask set to 0. */
  brain?: string;
}

export interface SegmentResult {
  input: string; output: string; brain: string | null; voxels: number; brainVoxels: number; brainMl: number; seconds: number;
  /** Axis codes of the input and of the model's training volumes (null: unknown), and whether the input was turned. */
  orientation: { input: string | null; model: string | null; reoriented: boolean };
  /** Voxel sizes (mm, model axes) the scan was resampled from and to, or null when it was not. */
  resampled: { from: number[]; to: number[] } | null;
}

/** A model (with its adapter merged) loaded once, segmenting one scan per call. Call dispose() after. */
export class Segmenter {
  private constructor(private readonly o: SegmenterOptions, private readonly registry: AdapterRegistry, readonly grid: ModelGrid) {}

  static async open(o: SegmenterOptions): Promise<Segmenter> {
    const { model, info } = await loadUnet(o.model, o.device ?? 'cpu');
    const registry = new AdapterRegistry(model);
    try {
      const grid = modelGrid(info);
      if (conformMode(o.conform) === 'always' && grid.spacing === null) {
        throw new ConvLoraError('E_CHECKPOINT', `${o.model} does not record the voxel size it was trained at, so --conform cannot be used with it (retrain it with this version, or leave --conform out)`);
      }
      if (o.adapter !== undefined) {
        await registry.load('target', o.adapter);
        registry.activate('target', { merge: true });
      }
      model.eval();
      return new Segmenter(o, registry, grid);
    } catch (err) {
      registry.dispose();
      model.dispose();
      throw err;
    }
  }

  async segment(input: string, output: string, brainOutput?: string): Promise<SegmentResult> {
    const t0 = Date.now();
    const o = this.o;
    const header = await readNiftiHeader(input);
    const dims = header.dim.slice(1, 1 + (header.dim[0] ?? 0));
    if (dims.length < 3 || dims.slice(3).some((d) => d !== 1)) {
      throw new ConvLoraError('E_SHAPE', `Expected a 3D volume in ${input} but received dims [${dims.join(', ')}]`);
    }
    const img = await readNifti(input);
    const prep = prepareForModel(img, this.grid, { reorient: o.reorient !== false, conform: conformMode(o.conform), what: input });
    const model = this.registry.model;
    const [logits] = runSlices(prep.images, prep.shape, o.batchSize ?? 16, o.device ?? 'cpu', (x) => [model.forward(x)]);
    const inputMask = maskToInput(prep, logits!);
    const data = o.prob === true ? probabilitiesToInput(prep, probabilities(logits!)) : inputMask;
    await writeNifti(output, { dims: img.dims, spacing: img.spacing, affine: img.affine, header: img.header, data, datatype: o.prob === true ? 16 : 2 });
    if (brainOutput !== undefined) {
      // The scan itself (same datatype and scaling) with the non-brain voxels zeroed, like BET's output image.
      const stripped = img.data.slice();
      for (let i = 0; i < stripped.length; i++) if (inputMask[i] === 0) stripped[i] = 0;
      await writeNifti(brainOutput, { dims: img.dims, spacing: img.spacing, affine: img.affine, header: img.header, data: stripped, datatype: img.datatype });
    }
    const brain = inputMask.reduce((n, v) => n + v, 0);
    const voxelMl = img.spacing.slice(0, 3).reduce((a, b) => a * b, 1) / 1000;
    return { input, output, brain: brainOutput ?? null, voxels: data.length, brainVoxels: brain, brainMl: brain * voxelMl, seconds: (Date.now() - t0) / 1000,
      orientation: { input: prep.inputCodes, model: this.grid.orientation, reoriented: prep.turn !== null }, resampled: prep.resampled };
  }

  dispose(): void {
    const model = this.registry.model;
    this.registry.dispose();
    model.dispose();
  }
}

export async function segmentFile(o: SegmentOptions): Promise<SegmentResult> {
  const s = await Segmenter.open(o);
  try {
    return await s.segment(o.input, o.output, o.brain);
  } finally {
    s.dispose();
  }
}

const NIFTI_NAME = /^(.*)\.nii(\.gz)?$/;

/** `scan.nii.gz` -> `scan`. */
function stemOf(input: string): string {
  const m = NIFTI_NAME.exec(basename(input));
  return m === null ? basename(input) : m[1]!;
}

/** Output name for an input scan in directory mode: `<stem>_mask.nii.gz` (or `_prob`). */
export function outputName(input: string, prob: boolean): string {
  return `${stemOf(input)}_${prob ? 'prob' : 'mask'}.nii.gz`;
}

/** Skull-stripped image name for an input scan in directory mode: `<stem>_brain.nii.gz`. */
export function brainName(input: string): string {
  return `${stemOf(input)}_brain.nii.gz`;
}

export interface SegmentFailure { input: string; code: string; message: string }

/**
 * Every `.nii`/`.nii.gz` in `inputDir` (sorted by name) to `outputDir/<stem>_mask.nii.gz` (and, with
 * `brainDir`, the skull-stripped scan to `brainDir/<stem>_brain.nii.gz`), the model loaded once. A scan that fails is recorded with its error code and the others go on.
 */
export async function segmentDirectory(o: SegmenterOptions & { inputDir: string; outputDir: string; brainDir?: string; onScan?: (done: number, total: number, r: SegmentResult | SegmentFailure) => void }):
  Promise<{ results: SegmentResult[]; failures: SegmentFailure[] }> {
  const names = (await readdir(o.inputDir).catch((err: Error) => { throw new ConvLoraError('E_IO', `Cannot read the folder ${o.inputDir}: ${err.message}`, { cause: err }); }))
    .filter((n) => NIFTI_NAME.test(n)).sort();
  if (names.length === 0) throw new ConvLoraError('E_DATA', `No .nii or .nii.gz files in ${o.inputDir}`);
  const outs = new Map<string, string>();
  for (const n of names) {
    const out = outputName(n, o.prob === true);
    if (outs.has(out)) throw new ConvLoraError('E_DATA', `${outs.get(out)} and ${n} in ${o.inputDir} would both be written to ${out}`);
    outs.set(out, n);
  }
  const s = await Segmenter.open(o);
  const results: SegmentResult[] = [];
  const failures: SegmentFailure[] = [];
  try {
    for (const n of names) {
      const input = join(o.inputDir, n);
      try {
        const r = await s.segment(input, join(o.outputDir, outputName(n, o.prob === true)), o.brainDir === undefined ? undefined : join(o.brainDir, brainName(n)));
        results.push(r);
        o.onScan?.(results.length + failures.length, names.length, r);
      } catch (err) {
        const f = { input, code: err instanceof ConvLoraError ? err.code : 'E_IO', message: err instanceof Error ? err.message : String(err) };
        failures.push(f);
        o.onScan?.(results.length + failures.length, names.length, f);
      }
    }
  } finally {
    s.dispose();
  }
  return { results, failures };
}

/** True when `path` is an existing directory. */
export async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((st) => st.isDirectory(), () => false);
}
