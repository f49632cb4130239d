/**
 * Logits of slices through onnxruntime-node on the CPU, the other engine of `segment`. onnxruntime is
 * an optional dependency, imported on first use: the libtorch path never loads it, and an install
 * without it fails here with E_NATIVE_LOAD (detail E_ONNXRUNTIME_MISSING), not at start-up.
 */
import { readFile } from 'node:fs/promises';
import type * as Ort from 'onnxruntime-node';
import { ConvLoraError, checkInt } from '../errors.js';
import { readOnnxSummary, type OnnxSummary } from '../nn/onnx.js';
import type { ModelGrid } from '../data/conform.js';
import { ONNX_META, onnxBytes } from './export.js';
import { modelGrid, type ModelInfo } from './models.js';

type OrtModule = typeof Ort;
const loaded = new Map<string, Promise<OrtModule>>();

/** Import onnxruntime-node (or another module with its API, by specifier) once; E_NATIVE_LOAD when it cannot be. */
export function loadOnnxRuntime(specifier = 'onnxruntime-node'): Promise<OrtModule> {
  let p = loaded.get(specifier);
  if (p === undefined) {
    p = (import(specifier) as Promise<OrtModule & { default?: OrtModule }>).then((m) => m.default ?? m, (err: Error) => {
      loaded.delete(specifier);
      throw new ConvLoraError('E_NATIVE_LOAD', [
        `Could not load ${specifier} for the ONNX engine: ${err.message}`,
        'Possible solutions:',
        '- install it: npm install onnxruntime-node@1.30.0 (with ONNXRUNTIME_NODE_INSTALL=skip nothing is downloaded; its CPU binaries are in the npm package)',
        "- or run the model through libtorch (engine 'torch')",
      ].join('\n'), { cause: err, detail: 'E_ONNXRUNTIME_MISSING' });
    });
    loaded.set(specifier, p);
  }
  return p;
}

/** An exported U-Net in an onnxruntime session, with what its metadata says about the training scans. */
export class OnnxSession {
  private constructor(private readonly ort: OrtModule, private readonly session: Ort.InferenceSession, readonly summary: OnnxSummary,
    readonly info: ModelInfo, readonly grid: ModelGrid) {}

  /**
   * Open ONNX bytes written by `convlora export` (or onnxBytes). `threads`: onnxruntime's intra-op
   * threads (0: its default, one per core). Throws E_ONNX for bytes that are not such a model,
   * E_NATIVE_LOAD when onnxruntime-node is missing.
   */
  static async open(bytes: Uint8Array, o: { what?: string; threads?: number; runtime?: string } = {}): Promise<OnnxSession> {
    const what = o.what ?? 'ONNX model';
    const threads = checkInt('threads', o.threads ?? 0, 0);
    const summary = readOnnxSummary(bytes, what);
    const raw = summary.metadata[ONNX_META.modelInfo];
    let info: ModelInfo | null = null;
    try { info = JSON.parse(raw ?? 'null') as ModelInfo | null; } catch { /* reported below */ }
    if (info === null || typeof info !== 'object' || info.kind !== 'unet2d') {
      throw new ConvLoraError('E_ONNX', `${what} has no convlora U-Net description (metadata "${ONNX_META.modelInfo}"); write it with \`convlora export\``);
    }
    const ort = await loadOnnxRuntime(o.runtime);
    let session: Ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    } catch (err) {
      throw new ConvLoraError('E_ONNX', `onnxruntime could not load ${what}: ${(err as Error).message}`, { cause: err });
    }
    return new OnnxSession(ort, session, summary, info, modelGrid(info));
  }

  /** Logits [B, 1, H, W] of a batch of slices x [B, 1, H, W] (row-major float32). */
  async run(x: Float32Array, b: number, h: number, w: number): Promise<Float32Array> {
    if (x.length !== b * h * w) throw new ConvLoraError('E_SHAPE', `Expected ${b * h * w} values for a batch [${b}, 1, ${h}, ${w}] but received ${x.length}`);
    const k = Number(this.summary.metadata[ONNX_META.divisor] ?? 1);
    if (h % k !== 0 || w % k !== 0) throw new ConvLoraError('E_SHAPE', `Expected height and width divisible by ${k} but received [${h}, ${w}]`);
    const input = new this.ort.Tensor('float32', x, [b, 1, h, w]);
    let out: Ort.OnnxValue | undefined;
    try {
      out = (await this.session.run({ [this.summary.input]: input }))[this.summary.output];
    } catch (err) {
      throw new ConvLoraError('E_ONNX', `onnxruntime failed on a batch [${b}, 1, ${h}, ${w}]: ${(err as Error).message}`, { cause: err });
    } finally { input.dispose(); }
    const data = out?.data;
    if (!(data instanceof Float32Array) || data.length !== b * h * w) {
      throw new ConvLoraError('E_SHAPE', `Expected float32 logits [${b}, 1, ${h}, ${w}] from the ONNX model but received ${out?.type ?? 'nothing'} [${out?.dims?.join(', ') ?? ''}]`);
    }
    const copy = data.slice();
    out!.dispose();
    return copy;
  }

  async dispose(): Promise<void> { await this.session.release(); }
}

/** Engines that compute `segment`'s logits; everything else in `segment` is the same for both. */
export type Engine = 'torch' | 'onnx';
export const ENGINES: readonly Engine[] = ['torch', 'onnx'];

/** True for a path that names an ONNX file (by extension) rather than a safetensors checkpoint. */
export function isOnnxPath(path: string): boolean { return path.toLowerCase().endsWith('.onnx'); }

/**
 * An ONNX session for `segment`: an .onnx file as it is, or a checkpoint (with an adapter) exported in
 * memory first (that path needs libtorch). An .onnx file already holds its adapter, so one given with it
 * is refused.
 */
export async function openOnnxModel(o: { model: string; adapter?: string; threads?: number }): Promise<OnnxSession> {
  if (!isOnnxPath(o.model)) {
    const { bytes } = await onnxBytes({ model: o.model, ...(o.adapter === undefined ? {} : { adapter: o.adapter }) });
    return OnnxSession.open(bytes, { what: o.model, ...(o.threads === undefined ? {} : { threads: o.threads }) });
  }
  if (o.adapter !== undefined) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected no \`adapter\` with an ONNX model (its adapter is merged at export) but received ${JSON.stringify(o.adapter)} with ${JSON.stringify(o.model)}`);
  }
  let bytes: Uint8Array;
  try { bytes = await readFile(o.model); } catch (err) {
    throw new ConvLoraError('E_IO', `Could not read ${o.model}: ${(err as Error).message}`, { cause: err });
  }
  return OnnxSession.open(bytes, { what: o.model, ...(o.threads === undefined ? {} : { threads: o.threads }) });
}
