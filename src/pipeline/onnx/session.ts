/**
 * Logits of slices through onnxruntime-node on the CPU, the other engine of `segment`. onnxruntime is
 * an optional dependency, imported on first use: the libtorch path never loads it, and an install
 * without it fails here with E_NATIVE_LOAD (detail E_ONNXRUNTIME_MISSING), not at start-up.
 */
import { readFile } from 'node:fs/promises';
import type * as Ort from 'onnxruntime-node';
import { ConvLoraError, checkInt } from '../../errors.js';
import { existsSync } from 'node:fs';
import { onnxBytes, statisticsPath } from './export.js';
import { OnnxModel, describeOnnx } from './model.js';

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

/** An exported U-Net in an onnxruntime-node session (OnnxModel, model.ts). */
export type OnnxSession = OnnxModel;
export const OnnxSession = {
  /**
   * Open ONNX bytes written by `convlora export` (or onnxBytes). `threads`: onnxruntime's intra-op
   * threads (0: its default, one per core). Throws E_ONNX for bytes that are not such a model,
   * E_NATIVE_LOAD when onnxruntime-node is missing.
   */
  async open(bytes: Uint8Array, o: { what?: string; threads?: number; runtime?: string } = {}): Promise<OnnxModel> {
    checkInt('threads', o.threads ?? 0, 0);
    const description = describeOnnx(bytes, o.what);
    const ort = await loadOnnxRuntime(o.runtime);
    return OnnxModel.create(ort, bytes, { description, ...(o.what === undefined ? {} : { what: o.what }), ...(o.threads === undefined ? {} : { threads: o.threads }) });
  },
};

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
  return (await openOnnxWithStatistics({ ...o, statistics: false })).session;
}

/** An ONNX model for `segment` with what test-time AdaBN needs: its bytes and its statistics graph (null without one). */
export interface OnnxWithStatistics { session: OnnxModel; bytes: Uint8Array; stats: OnnxModel | null }

/**
 * openOnnxModel, plus the statistics graph when the model has one: `<model>.stats.onnx` next to an
 * .onnx file (written by `convlora export` for a model that predicts with test-time AdaBN), or exported
 * in memory with a checkpoint that records `inference: 'adabn'`.
 */
export async function openOnnxWithStatistics(o: { model: string; adapter?: string; threads?: number; statistics?: boolean }): Promise<OnnxWithStatistics> {
  const wanted = o.statistics !== false;
  const threads = o.threads === undefined ? {} : { threads: o.threads };
  let bytes: Uint8Array, statsBytes: Uint8Array | null = null;
  if (!isOnnxPath(o.model)) {
    const r = await onnxBytes({ model: o.model, ...(o.adapter === undefined ? {} : { adapter: o.adapter }), ...(wanted ? {} : { statistics: false }) });
    bytes = r.bytes;
    statsBytes = r.statistics;
  } else {
    if (o.adapter !== undefined) {
      throw new ConvLoraError('E_INVALID_ARG', `Expected no \`adapter\` with an ONNX model (its adapter is merged at export) but received ${JSON.stringify(o.adapter)} with ${JSON.stringify(o.model)}`);
    }
    const read = async (p: string): Promise<Uint8Array> => {
      try { return await readFile(p); } catch (err) { throw new ConvLoraError('E_IO', `Could not read ${p}: ${(err as Error).message}`, { cause: err }); }
    };
    bytes = await read(o.model);
    const sp = statisticsPath(o.model);
    if (wanted && existsSync(sp)) statsBytes = await read(sp);
  }
  const session = await OnnxSession.open(bytes, { what: o.model, ...threads });
  if (statsBytes === null) return { session, bytes, stats: null };
  try {
    const ort = await loadOnnxRuntime();
    const stats = await OnnxModel.create(ort, statsBytes, { what: isOnnxPath(o.model) ? statisticsPath(o.model) : `${o.model} (statistics graph)`, statistics: true, ...threads });
    return { session, bytes, stats };
  } catch (err) { await session.dispose(); throw err; }
}
