/**
 * An exported U-Net (`convlora export`) in an onnxruntime session: the part shared by onnxruntime-node
 * (session.ts) and onnxruntime-web (the browser app), which have the same API. No Node module is
 * imported here; the runtime module is passed in.
 */
import type * as Ort from 'onnxruntime-common';
import { ConvLoraError, checkInt } from '../../errors.js';
import { readOnnxSummary, type OnnxSummary } from '../../nn/onnx.js';
import { modelGrid, type ModelGrid } from '../../data/image/conform.js';
import type { ModelInfo } from '../model-info.js';

/** The onnxruntime API both packages export (InferenceSession, Tensor). */
export interface OrtApi { InferenceSession: typeof Ort.InferenceSession; Tensor: typeof Ort.Tensor }

/** Metadata keys of an exported model (ONNX metadata_props). */
export const ONNX_META = {
  format: 'convlora.format', modelInfo: 'convlora.model_info', baseHash: 'convlora.base_hash', domain: 'convlora.domain',
  adapter: 'convlora.adapter', voxelSize: 'convlora.voxel_size_mm', orientation: 'convlora.orientation', sliceSize: 'convlora.slice_size',
  divisor: 'convlora.input_divisor', preprocessing: 'convlora.preprocessing', output: 'convlora.output',
} as const;
export const ONNX_FORMAT = 'convlora-onnx 1';

/** What an exported model's metadata says: the graph summary, the U-Net description and the scan grid it expects. */
export interface OnnxDescription { summary: OnnxSummary; info: ModelInfo; grid: ModelGrid }

/** Read an exported model's description; E_ONNX for bytes that are not ONNX or not written by `convlora export`. */
export function describeOnnx(bytes: Uint8Array, what = 'ONNX model', o: { statistics?: boolean } = {}): OnnxDescription {
  const summary = readOnnxSummary(bytes, what, o);
  const raw = summary.metadata[ONNX_META.modelInfo];
  let info: ModelInfo | null = null;
  try { info = JSON.parse(raw ?? 'null') as ModelInfo | null; } catch { /* reported below */ }
  if (info === null || typeof info !== 'object' || info.kind !== 'unet2d') {
    throw new ConvLoraError('E_ONNX', `${what} has no convlora U-Net description (metadata "${ONNX_META.modelInfo}"); write it with \`convlora export\``);
  }
  return { summary, info, grid: modelGrid(info) };
}

export interface OnnxModelOptions {
  what?: string;
  /** Intra-op threads (0: the runtime's default). Ignored by onnxruntime-web, which sets threads globally. */
  threads?: number;
  /** Execution providers; default ['cpu'] (onnxruntime-node); the browser passes ['wasm']. */
  providers?: string[];
  /** A statistics graph (several outputs: logits, then BatchNorm batch statistics), for test-time AdaBN. */
  statistics?: boolean;
}

export class OnnxModel {
  private constructor(private readonly ort: OrtApi, private readonly session: Ort.InferenceSession, readonly summary: OnnxSummary,
    readonly info: ModelInfo, readonly grid: ModelGrid) {}

  /** Open ONNX bytes written by `convlora export` in the given runtime. */
  static async create(ort: OrtApi, bytes: Uint8Array, o: OnnxModelOptions & { description?: OnnxDescription } = {}): Promise<OnnxModel> {
    const what = o.what ?? 'ONNX model';
    const threads = checkInt('threads', o.threads ?? 0, 0);
    const d = o.description ?? describeOnnx(bytes, what, o.statistics === true ? { statistics: true } : {});
    let session: Ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, { executionProviders: o.providers ?? ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    } catch (err) {
      throw new ConvLoraError('E_ONNX', `onnxruntime could not load ${what}: ${(err as Error).message}`, { cause: err });
    }
    return new OnnxModel(ort, session, d.summary, d.info, d.grid);
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

  /** The named outputs (float32) of a batch x [B, 1, H, W]. */
  async runOutputs(x: Float32Array, b: number, h: number, w: number, names: readonly string[]): Promise<Record<string, Float32Array>> {
    const input = new this.ort.Tensor('float32', x, [b, 1, h, w]);
    let out: Record<string, Ort.OnnxValue>;
    try {
      out = await this.session.run({ [this.summary.input]: input }, [...names]);
    } catch (err) {
      throw new ConvLoraError('E_ONNX', `onnxruntime failed on a batch [${b}, 1, ${h}, ${w}]: ${(err as Error).message}`, { cause: err });
    } finally { input.dispose(); }
    const res: Record<string, Float32Array> = {};
    for (const n of names) {
      const v = out[n];
      if (!(v?.data instanceof Float32Array)) throw new ConvLoraError('E_ONNX', `Expected a float32 output ${n} from the statistics graph but received ${v?.type ?? 'nothing'}`);
      res[n] = v.data.slice();
      v.dispose();
    }
    return res;
  }

  async dispose(): Promise<void> { await this.session.release(); }
}

