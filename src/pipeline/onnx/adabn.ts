/**
 * Test-time AdaBN outside libtorch (onnxruntime-node or -web): the same re-estimation as
 * pipeline/infer/test-time.ts, on an exported model's statistics graph (export.ts `statistics`,
 * models/unet-onnx.ts): every BatchNorm there normalizes with its batch's statistics and outputs them,
 * as PyTorch's training-mode forward does. The scan's head slices (headSpan) are shuffled with the same
 * seed and cut into the same batches as testTimeAdaBN's, each layer's running mean and variance are the
 * average of its batch statistics over the batches (PyTorch's cumulative average, momentum None), and
 * they are written into a copy of the inference graph's running-statistics initializers. No Node module.
 */
import onnxProto from 'onnx-proto';
import { ConvLoraError } from '../../errors.js';
import { optionValue } from '../../options.js';
import { ADABN_LAYERS_KEY } from '../../nn/onnx.js';
import type { OnnxModel } from './model.js';
import { adabnSlicePlan, gatherSlices, TEST_TIME_OPTIONS, type SliceStack } from '../infer/slices.js';

const { onnx } = onnxProto;

/** One BatchNorm layer of a statistics graph (its metadata). */
export interface AdaBNLayer { path: string; mean: string; var: string; channels: number; runningMean: string; runningVar: string }

/** The layers a statistics graph re-estimates; E_ONNX when its metadata does not list them. */
export function adabnLayers(metadata: Record<string, string>, what = 'statistics graph'): AdaBNLayer[] {
  let layers: AdaBNLayer[] | null = null;
  try { layers = JSON.parse(metadata[ADABN_LAYERS_KEY] ?? 'null') as AdaBNLayer[] | null; } catch { /* reported below */ }
  if (!Array.isArray(layers) || layers.length === 0 || layers.some((l) => typeof l?.mean !== 'string' || typeof l.var !== 'string' || !(l.channels > 0))) {
    throw new ConvLoraError('E_ONNX', `${what} lists no BatchNorm statistics (metadata "${ADABN_LAYERS_KEY}"); write it with \`convlora export\``);
  }
  return layers;
}

export interface OnnxAdaBNOptions { batchSize?: number; seed?: number; /** As test-time.ts `maxSlices`. */ maxSlices?: number }

/** Running statistics re-estimated on one scan's slices [S, H, W]: initializer name -> values. */
export async function estimateStatistics(stats: Pick<OnnxModel, 'runOutputs' | 'summary'>, images: Float32Array, shape: readonly [number, number, number],
  o: OnnxAdaBNOptions = {}): Promise<{ values: Map<string, Float32Array>; slices: number; batches: number }> {
  return estimateStatisticsOf(stats, [{ images, shape }], o);
}

/**
 * Running statistics re-estimated on slices of several stacks (a scan's views): the slices of
 * slices.ts adabnSlicePlan, in batches of batchSize, as testTimeAdaBN batches them.
 */
export async function estimateStatisticsOf(stats: Pick<OnnxModel, 'runOutputs' | 'summary'>, stacks: readonly SliceStack[],
  o: OnnxAdaBNOptions = {}): Promise<{ values: Map<string, Float32Array>; slices: number; batches: number }> {
  const batchSize = optionValue('batchSize', o.batchSize, TEST_TIME_OPTIONS.batchSize);
  const seed = optionValue('seed', o.seed, TEST_TIME_OPTIONS.seed);
  const layers = adabnLayers(stats.summary.metadata);
  const [, H, W] = stacks[0]!.shape;
  const refs = adabnSlicePlan(stacks, { seed, ...(o.maxSlices === undefined ? {} : { maxSlices: o.maxSlices }) });
  const sums = layers.map((l) => ({ mean: new Float64Array(l.channels), var: new Float64Array(l.channels) }));
  const names = layers.flatMap((l) => [l.mean, l.var]);
  let batches = 0;
  for (let at = 0; at < refs.length; at += batchSize) {
    const b = Math.min(batchSize, refs.length - at);
    const out = await stats.runOutputs(gatherSlices(stacks, refs, at, batchSize), b, H, W, names);
    layers.forEach((l, i) => {
      const m = out[l.mean]!, v = out[l.var]!;
      const acc = sums[i]!;
      for (let c = 0; c < l.channels; c++) { acc.mean[c] = acc.mean[c]! + m[c]!; acc.var[c] = acc.var[c]! + v[c]!; }
    });
    batches++;
  }
  const values = new Map<string, Float32Array>();
  layers.forEach((l, i) => {
    values.set(l.runningMean, Float32Array.from(sums[i]!.mean, (s) => s / batches));
    values.set(l.runningVar, Float32Array.from(sums[i]!.var, (s) => s / batches));
  });
  return { values, slices: refs.length, batches };
}

/** A copy of ONNX model bytes with the named float32 initializers replaced (same shapes); E_ONNX for a name it lacks. */
export function withInitializers(bytes: Uint8Array, values: ReadonlyMap<string, Float32Array>, what = 'ONNX model'): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  const inits = new Map((m.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  for (const [name, v] of values) {
    const t = inits.get(name);
    const size = (t?.dims ?? []).reduce((a: number, d) => a * Number(d), 1);
    if (t === undefined || size !== v.length) throw new ConvLoraError('E_ONNX', `${what} has no initializer ${name} of ${v.length} values to re-estimate; export the model and its statistics graph together`);
    t.rawData = new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
    t.floatData = [];
  }
  return onnx.ModelProto.encode(m).finish();
}

/**
 * The inference graph fitted to one scan: statistics re-estimated with `stats`, written into a copy of
 * `bytes`, opened with `open` (onnxruntime-node or -web). The caller disposes the returned model.
 */
export async function adaptToScan<M>(stats: Pick<OnnxModel, 'runOutputs' | 'summary'>, bytes: Uint8Array, images: Float32Array, shape: readonly [number, number, number],
  open: (bytes: Uint8Array) => Promise<M>, o: OnnxAdaBNOptions & { what?: string } = {}): Promise<{ model: M; slices: number; batches: number }> {
  return adaptToViews(stats, bytes, [{ images, shape }], open, o);
}

/** adaptToScan over several stacks of slices (a scan's views; estimateStatisticsOf). */
export async function adaptToViews<M>(stats: Pick<OnnxModel, 'runOutputs' | 'summary'>, bytes: Uint8Array, stacks: readonly SliceStack[],
  open: (bytes: Uint8Array) => Promise<M>, o: OnnxAdaBNOptions & { what?: string } = {}): Promise<{ model: M; slices: number; batches: number }> {
  const est = await estimateStatisticsOf(stats, stacks, o);
  return { model: await open(withInitializers(bytes, est.values, o.what)), slices: est.slices, batches: est.batches };
}
