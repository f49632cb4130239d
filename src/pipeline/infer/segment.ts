/**
 * `segment`: any T1 NIfTI in, brain mask (or probabilities) out on the input's grid and affine. The
 * scan is prepared as data/image/conform.ts does (turned into the model's training orientation, resampled
 * to its training voxel size when far from it, sliced like training data) and the prediction turned
 * back. On the way, the model can be fitted to the scan without training:
 *  - an adapter file (merged into the weights for speed);
 *  - test-time AdaBN (test-time.ts): BatchNorm statistics re-estimated on the scan itself, or on a
 *    whole folder taken as one scanner; with an adapter, on top of it (its weights kept, its
 *    statistics replaced by the scan's);
 *  - an automatic choice among adapter files (adapter-choice.ts), per scan, falling back to
 *    test-time AdaBN when none is close.
 * The network runs on libtorch (engine 'torch') or onnxruntime (engine 'onnx': an .onnx file from
 * `convlora export`, or a checkpoint exported in memory); only the logits of each batch of slices
 * differ between them, every other step above and below is this file's, shared. The ONNX engine has
 * no BatchNorm inputs to measure, so it runs without the adapter choice, test-time AdaBN and the
 * distribution warning.
 * Nothing but the masks is written. Every result carries warnings (segment-checks.ts) when the mask
 * may be wrong. A directory of scans runs with the model loaded once; a scan that fails is reported
 * and the rest go on.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { checkShard, shardItems, type Shard } from '../dist/shard.js';
import { ConvLoraError, checkInt, invalidArg } from '../../errors.js';
import type { Device } from '../../engine/tensor.js';
import { readNifti, readNiftiHeader, writeNifti, type NiftiVolume } from '../../data/nifti/index.js';
import { DEFAULT_CONFORM, prepareForModel, type ConformMode, type ModelGrid, type PreparedScan } from '../../data/image/conform.js';
import { AdapterRegistry, disposeAdapter, loadAdapter } from '../../lora/adapter.js';
import { loadUnet, modelGrid } from '../models.js';
import { OnnxSession, openOnnxWithStatistics, ENGINES, type Engine } from '../onnx/session.js';
import type { AdapterChoice, Candidate } from './adapter-choice.js';
import type { TestTimeResult } from './test-time.js';
import { adapterFiles } from './adapter-list.js';
import { checkScanOptions, segmentScan } from './core.js';
import { OnnxBackend } from './onnx.js';
import { TorchBackend } from './torch.js';

export interface SegmenterOptions {
  model: string;
  /** One domain adapter file to apply. */
  adapter?: string;
  /** A folder of adapter files (or a list of files) to choose from per scan; excludes `adapter` and `adabn`. */
  adapters?: string | readonly string[];
  /**
   * Test-time AdaBN: re-estimate the BatchNorm statistics on the scan(s) before predicting. Default:
   * what the model records as its best inference mode (`inference: 'adabn'`, chosen on simulated
   * validation scans by randomized training), per scan, when no adapter is given; otherwise off.
   */
  adabn?: boolean;
  /** Seed of test-time AdaBN's slice shuffle (default TEST_TIME_SEED). */
  seed?: number;
  prob?: boolean;
  device?: Device;
  batchSize?: number;
  /** Turn the input into the model's training orientation first (default true). */
  reorient?: boolean;
  /**
   * Resample the input (trilinear) to the model's training voxel size before slicing, and the
   * probabilities back: true 'always', false 'never', default DEFAULT_CONFORM ('auto': when any voxel
   * dimension differs by more than CONFORM_TOLERANCE).
   */
  conform?: boolean | ConformMode;
  /** What computes the logits: 'torch' (libtorch, the default) or 'onnx' (onnxruntime-node on the CPU). */
  engine?: Engine;
  /** onnxruntime's intra-op threads (engine 'onnx'; default 0: one per core). */
  threads?: number;
  /**
   * Clean the mask on the scan's grid (data/image/morphology.ts cleanBrainMask): keep the largest connected
   * component and fill enclosed holes. Default DEFAULT_CLEANUP (on). Probabilities (`prob`) are never cleaned.
   */
  cleanup?: boolean;
  /** Views to predict and fuse (infer/core.ts): 1 or the model's trained views; default the model's record. */
  views?: number;
}

const isBool = (v: unknown): boolean => v === undefined || typeof v === 'boolean';
const isPath = (v: unknown): boolean => typeof v === 'string' && v !== '';

/** Every public option of Segmenter.open, checked once in the library (coded errors naming the option). */
export function checkSegmenterOptions(o: SegmenterOptions): void {
  if (typeof o !== 'object' || o === null) invalidArg('options', 'an options object', o);
  if (!isPath(o.model)) invalidArg('model', 'a model file path', o.model);
  if (o.adapter !== undefined && !isPath(o.adapter)) invalidArg('adapter', 'an adapter file path', o.adapter);
  if (o.adapters !== undefined && !isPath(o.adapters) && !(Array.isArray(o.adapters) && o.adapters.every(isPath))) invalidArg('adapters', 'a folder or a list of adapter files', o.adapters);
  for (const k of ['adabn', 'prob', 'reorient', 'cleanup'] as const) if (!isBool(o[k])) invalidArg(k, 'true or false', o[k]);
  if (o.seed !== undefined) checkInt('seed', o.seed, 0);
  if (o.threads !== undefined) checkInt('threads', o.threads, 0);
  if (o.device !== undefined && !(typeof o.device === 'string' && /^(cpu|cuda(:\d+)?)$/.test(o.device))) invalidArg('device', "'cpu', 'cuda' or 'cuda:N'", o.device);
  if (o.engine !== undefined && !ENGINES.includes(o.engine)) invalidArg('engine', "'torch' or 'onnx'", o.engine);
  if (o.conform !== undefined && typeof o.conform !== 'boolean' && !['auto', 'always', 'never'].includes(o.conform)) invalidArg('conform', "true, false, 'auto', 'always' or 'never'", o.conform);
  checkScanOptions({ ...(o.batchSize === undefined ? {} : { batchSize: o.batchSize }), ...(o.views === undefined ? {} : { views: o.views }) });
}

function conformMode(c: boolean | ConformMode | undefined): ConformMode {
  return c === true ? 'always' : c === false ? 'never' : c ?? DEFAULT_CONFORM;
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
  /** The adapter file applied (given, or chosen), or null. */
  adapter: string | null;
  /** The automatic choice (adapters given), or null. */
  choice: AdapterChoice | null;
  /** Test-time AdaBN, when it ran for this scan (per scan, or once for its folder), or null. */
  adabn: TestTimeResult | null;
  /** Distance of the scan from the model's training scans and the farthest of those (null: the model has no fingerprint). */
  distribution: { distance: number; threshold: number } | null;
  /** Views predicted and fused. */
  views: number;
  /** Reasons the mask may be wrong (segment-checks.ts); empty when none. */
  warnings: string[];
}

/** A model (and its adapters) loaded once, segmenting one scan per call. Call dispose() after. */
export class Segmenter {
  private constructor(private readonly o: SegmenterOptions, private readonly backend: TorchBackend | OnnxBackend, private readonly files: Map<string, string>,
    private readonly close: () => void) {}

  get grid(): ModelGrid { return this.backend.grid; }

  static async open(o: SegmenterOptions): Promise<Segmenter> {
    checkSegmenterOptions(o);
    if (o.adapters !== undefined && o.adapter !== undefined) throw new ConvLoraError('E_INVALID_ARG', 'Expected either `adapter` or `adapters` but received both');
    if (o.adapters !== undefined && o.adabn === true) throw new ConvLoraError('E_INVALID_ARG', 'Expected either `adapters` (which falls back to test-time AdaBN by itself) or `adabn` but received both');
    const engine = o.engine ?? 'torch';
    if (engine === 'onnx') return Segmenter.openOnnx(o);
    if (engine !== 'torch') throw new ConvLoraError('E_INVALID_ARG', `Expected 'torch' or 'onnx' for \`engine\` but received ${JSON.stringify(engine)}`);
    const files = o.adapters === undefined ? [] : await adapterFiles(o.adapters);
    const { model, info } = await loadUnet(o.model, o.device ?? 'cpu');
    const registry = new AdapterRegistry(model);
    try {
      const grid = modelGrid(info);
      if (conformMode(o.conform) === 'always' && grid.spacing === null) {
        throw new ConvLoraError('E_CHECKPOINT', `${o.model} does not record the voxel size it was trained at, so scans cannot be resampled to it`);
      }
      if (o.adapter !== undefined) await registry.load('target', o.adapter);
      const candidates: Candidate[] = [];
      const byName = new Map<string, string>();
      if (files.length > 0) {
        candidates.push({ name: 'source', domain: typeof info.source === 'string' ? info.source : null, adapter: null, fingerprint: (info.fingerprint ?? null) as Candidate['fingerprint'] });
        // Candidates are named by file name, or by the path as given when two files share a name.
        const unique = new Set(files.map((f) => basename(f))).size === files.length;
        for (const f of files) {
          const name = unique ? basename(f) : f;
          const a = await loadAdapter(f);
          try { registry.add(name, a, f); } catch (err) { disposeAdapter(a); throw err; }
          byName.set(name, f);
          candidates.push({ name, domain: a.config.domain, adapter: name, fingerprint: a.config.fingerprint ?? null });
        }
      }
      if (o.adapter !== undefined) byName.set('target', o.adapter);
      model.eval();
      const backend = new TorchBackend(registry, grid, info, o.adapter === undefined ? null : 'target', candidates,
        { ...(o.adabn === undefined ? {} : { adabn: o.adabn }), ...(o.seed === undefined ? {} : { seed: o.seed }), ...(o.device === undefined ? {} : { device: o.device }), adapted: o.adapter !== undefined || o.adapters !== undefined });
      return new Segmenter(o, backend, byName, () => backend.dispose());
    } catch (err) {
      registry.dispose();
      model.dispose();
      throw err;
    }
  }

  private static async openOnnx(o: SegmenterOptions): Promise<Segmenter> {
    const refuse = (what: string, value: unknown): never => {
      throw new ConvLoraError('E_INVALID_ARG', `Expected engine 'torch' for ${what} (it measures BatchNorm inputs, which an ONNX graph does not expose) but received engine 'onnx' with ${JSON.stringify(value)}`);
    };
    if (o.adapters !== undefined) refuse('`adapters`', o.adapters);
    if (o.adabn === true) refuse('`adabn`', o.adabn);
    if (o.device !== undefined && o.device !== 'cpu') throw new ConvLoraError('E_INVALID_ARG', `Expected device 'cpu' with engine 'onnx' but received ${JSON.stringify(o.device)}`);
    const m = await openOnnxWithStatistics({ model: o.model, ...(o.adapter === undefined ? {} : { adapter: o.adapter }), ...(o.threads === undefined ? {} : { threads: o.threads }) });
    const session = m.session;
    const close = (): void => {
      // onnxruntime releases a session asynchronously; nothing waits on it, and a failure there changes no result.
      session.dispose().catch(() => undefined);
      m.stats?.dispose().catch(() => undefined);
    };
    if (conformMode(o.conform) === 'always' && session.grid.spacing === null) {
      close();
      throw new ConvLoraError('E_CHECKPOINT', `${o.model} does not record the voxel size it was trained at, so scans cannot be resampled to it`);
    }
    const open = (b: Uint8Array): Promise<OnnxSession> => OnnxSession.open(b, { what: o.model, ...(o.threads === undefined ? {} : { threads: o.threads }) });
    const backend = new OnnxBackend(session, {
      adabn: m.stats === null ? null : { stats: m.stats, bytes: m.bytes, open }, what: o.model,
      ...(o.adabn === false ? { useAdaBN: false } : {}), ...(o.seed === undefined ? {} : { seed: o.seed }),
    });
    return new Segmenter(o, backend, new Map(o.adapter === undefined ? [] : [['target', o.adapter]]), close);
  }

  private async read(input: string): Promise<NiftiVolume> {
    const header = await readNiftiHeader(input);
    const dims = header.dim.slice(1, 1 + (header.dim[0] ?? 0));
    if (dims.length < 3 || dims.slice(3).some((d) => d !== 1)) {
      throw new ConvLoraError('E_SHAPE', `Expected a 3D volume in ${input} but received dims [${dims.join(', ')}]`);
    }
    return readNifti(input);
  }

  /**
   * Test-time AdaBN over several scans taken as one scanner (a folder): statistics re-estimated once
   * over all their slices, then used for every later segment() call. Scans that cannot be read are
   * returned as failures and left out.
   */
  async adaptToScans(inputs: readonly string[]): Promise<{ result: TestTimeResult; failures: SegmentFailure[] }> {
    if (!(this.backend instanceof TorchBackend)) throw new ConvLoraError('E_INVALID_ARG', "Expected engine 'torch' for test-time AdaBN over a folder but received engine 'onnx'");
    const preps: PreparedScan[] = [];
    const failures: SegmentFailure[] = [];
    for (const input of inputs) {
      try { preps.push(prepareForModel(await this.read(input), this.grid, { reorient: this.o.reorient !== false, conform: conformMode(this.o.conform), what: input })); } catch (err) { failures.push(failure(input, err)); }
    }
    if (preps.length === 0) throw new ConvLoraError('E_DATA', `None of the ${inputs.length} scans could be read for test-time AdaBN`);
    return { result: this.backend.adaptToScans(preps), failures };
  }

  async segment(input: string, output: string, brainOutput?: string): Promise<SegmentResult> {
    const t0 = Date.now();
    const o = this.o;
    const img = await this.read(input);
    const r = await segmentScan(img, this.backend, {
      what: input, reorient: o.reorient !== false, conform: conformMode(o.conform), prob: o.prob === true,
      ...(o.batchSize === undefined ? {} : { batchSize: o.batchSize }), ...(o.cleanup === undefined ? {} : { cleanup: o.cleanup }), ...(o.views === undefined ? {} : { views: o.views }),
    });
    const data = r.prob ?? r.mask;
    await writeNifti(output, { dims: img.dims, spacing: img.spacing, affine: img.affine, header: img.header, data, datatype: o.prob === true ? 16 : 2 });
    if (brainOutput !== undefined) {
      // The scan itself (same datatype and scaling) with the non-brain voxels zeroed, like BET's output image.
      const stripped = img.data.slice();
      for (let i = 0; i < stripped.length; i++) if (r.mask[i] === 0) stripped[i] = 0;
      await writeNifti(brainOutput, { dims: img.dims, spacing: img.spacing, affine: img.affine, header: img.header, data: stripped, datatype: img.datatype });
    }
    const choice = (r.fit.choice ?? null) as AdapterChoice | null;
    return { input, output, brain: brainOutput ?? null, voxels: data.length, brainVoxels: r.brainVoxels, brainMl: r.brainMl, seconds: (Date.now() - t0) / 1000,
      orientation: { input: r.prep.inputCodes, model: this.grid.orientation, reoriented: r.prep.turn !== null }, resampled: r.prep.resampled,
      adapter: r.fit.adapter === null ? null : this.files.get(r.fit.adapter) ?? null, choice, adabn: r.fit.adabn, distribution: r.fit.distribution, views: r.views, warnings: r.warnings };
  }

  dispose(): void {
    this.close();
  }
}

export async function segmentFile(o: SegmentOptions): Promise<SegmentResult> {
  if (!isPath(o?.input)) invalidArg('input', 'a scan file path', o?.input);
  if (!isPath(o.output)) invalidArg('output', 'an output file path', o.output);
  if (o.brain !== undefined && !isPath(o.brain)) invalidArg('brain', 'an output file path', o.brain);
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

function failure(input: string, err: unknown): SegmentFailure {
  return { input, code: err instanceof ConvLoraError ? err.code : 'E_IO', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Every `.nii`/`.nii.gz` in `inputDir` (sorted by name) to `outputDir/<stem>_mask.nii.gz` (and, with
 * `brainDir`, the skull-stripped scan to `brainDir/<stem>_brain.nii.gz`), the model loaded once. With
 * `adabn`, the folder is taken as one scanner: test-time AdaBN over all its scans, then each predicted.
 * A scan that fails is recorded with its error code and the others go on.
 */
export async function segmentDirectory(o: SegmenterOptions & { inputDir: string; outputDir: string; brainDir?: string; shard?: Shard; skipExisting?: boolean; onScan?: (done: number, total: number, r: SegmentResult | SegmentFailure) => void }):
  Promise<{ results: SegmentResult[]; failures: SegmentFailure[]; skipped: string[]; scans: number }> {
  if (!isPath(o?.inputDir)) invalidArg('inputDir', 'a folder path', o?.inputDir);
  if (!isPath(o.outputDir)) invalidArg('outputDir', 'a folder path', o.outputDir);
  if (o.brainDir !== undefined && !isPath(o.brainDir)) invalidArg('brainDir', 'a folder path', o.brainDir);
  if (!isBool(o.skipExisting)) invalidArg('skipExisting', 'true or false', o.skipExisting);
  if (o.onScan !== undefined && typeof o.onScan !== 'function') invalidArg('onScan', 'a function', o.onScan);
  checkSegmenterOptions(o);
  const shard = o.shard === undefined ? null : checkShard(o.shard);
  const names = (await readdir(o.inputDir).catch((err: Error) => { throw new ConvLoraError('E_IO', `Cannot read the folder ${o.inputDir}: ${err.message}`, { cause: err }); }))
    .filter((n) => NIFTI_NAME.test(n)).sort();
  if (names.length === 0) throw new ConvLoraError('E_DATA', `No .nii or .nii.gz files in ${o.inputDir}`);
  const outs = new Map<string, string>();
  for (const n of names) {
    const out = outputName(n, o.prob === true);
    if (outs.has(out)) throw new ConvLoraError('E_DATA', `${outs.get(out)} and ${n} in ${o.inputDir} would both be written to ${out}`);
    outs.set(out, n);
  }
  // This task's scans; the others' names still go into the folder statistics below, so every shard
  // normalizes with the statistics an unsharded run would use and writes the masks it would write.
  const assigned = shard === null ? names : shardItems(names, shard);
  // A folder run again after an interruption: scans whose outputs all exist are done (every file is
  // written under a temporary name and renamed, so an existing output is a complete one).
  const done = (n: string): boolean => existsSync(join(o.outputDir, outputName(n, o.prob === true)))
    && (o.brainDir === undefined || existsSync(join(o.brainDir, brainName(n))));
  const skipped = o.skipExisting === true ? assigned.filter(done).map((n) => join(o.inputDir, n)) : [];
  const mine = o.skipExisting === true ? assigned.filter((n) => !done(n)) : assigned;
  if (mine.length === 0) return { results: [], failures: [], skipped, scans: assigned.length };
  const s = await Segmenter.open(o);
  const results: SegmentResult[] = [];
  const failures: SegmentFailure[] = [];
  const report = (r: SegmentResult | SegmentFailure): void => o.onScan?.(results.length + failures.length, mine.length, r);
  try {
    let inputs = mine.map((n) => join(o.inputDir, n));
    if (o.adabn === true) {
      const pre = await s.adaptToScans(names.map((n) => join(o.inputDir, n)));
      for (const f of pre.failures) if (inputs.includes(f.input)) { failures.push(f); report(f); }
      inputs = inputs.filter((i) => !pre.failures.some((f) => f.input === i));
    }
    for (const input of inputs) {
      try {
        const r = await s.segment(input, join(o.outputDir, outputName(input, o.prob === true)), o.brainDir === undefined ? undefined : join(o.brainDir, brainName(input)));
        results.push(r);
        report(r);
      } catch (err) {
        const f = failure(input, err);
        failures.push(f);
        report(f);
      }
    }
  } finally {
    s.dispose();
  }
  return { results, failures, skipped, scans: assigned.length };
}
