/**
 * Modules as ONNX nodes. An exporter walks a module tree exactly as its forward() does, one emitter
 * per module class: an emitter gets the module, the name of its input value and the module's path,
 * and returns the name of its output value. Emitters are looked up by the module's exact class, so a
 * subclass or wrapper (a LoRA layer) without its own emitter is an error, never exported as its base.
 * Inference semantics only: BatchNorm uses its running statistics and must be in eval mode.
 */
import { ConvLoraError } from '../errors.js';
import type { Tensor } from '../engine/tensor.js';
import type { Module } from './module.js';
import { BatchNorm2d, Conv2d, ConvTranspose2d, Identity, LeakyReLU, MaxPool2d, NamedSequential, ReLU, Sequential } from './layers.js';
import { OnnxGraph } from './onnx.js';

// Emitters are registered per class and only ever called with an instance of that class.
type ModuleClass<M extends Module> = abstract new (...args: never[]) => M;
export type Emitter<M extends Module> = (m: M, x: string, path: string, ex: OnnxExporter) => string;
export interface EmitterEntry { cls: ModuleClass<Module>; emit: Emitter<Module> }

/** Register an emitter for a class (typed at the call site, stored erased). */
export function emitter<M extends Module>(cls: ModuleClass<M>, emit: Emitter<M>): EmitterEntry {
  return { cls, emit: emit as Emitter<Module> };
}

/** A BatchNorm layer of a statistics graph: its path, and the graph outputs holding its batch statistics. */
export interface BatchStatsOutput { path: string; mean: string; var: string; channels: number }

export class OnnxExporter {
  readonly graph = new OnnxGraph();
  readonly #emitters = new Map<unknown, Emitter<Module>>();
  /**
   * Null for an inference graph. For a statistics graph (test-time AdaBN outside libtorch), every
   * BatchNorm normalizes with its batch's statistics, as in training mode, and the batch mean and
   * unbiased variance of its input become graph outputs, listed here in forward order.
   */
  readonly batchStats: BatchStatsOutput[] | null;

  constructor(extra: readonly EmitterEntry[] = [], o: { batchStats?: boolean } = {}) {
    for (const e of [...LAYER_EMITTERS, ...extra]) this.#emitters.set(e.cls, e.emit);
    this.batchStats = o.batchStats === true ? [] : null;
  }

  /** Emit `m` (at `path`) applied to the value `x`; returns the output value's name. */
  emit(m: Module, x: string, path: string): string {
    const e = this.#emitters.get(m.constructor);
    if (e === undefined) throw new ConvLoraError('E_INVALID_ARG', `No ONNX mapping for module ${m.constructor.name} at ${JSON.stringify(path)}`);
    return e(m, x, path, this);
  }

  /** Emit the child `name` of `m` (looked up at export time: a wrapper may have replaced it). */
  emitChild(m: Module, name: string, x: string, path: string): string {
    const c = m.child(name);
    if (c === undefined) throw new ConvLoraError('E_INVALID_ARG', `No module ${JSON.stringify(name)} under ${JSON.stringify(path)}`);
    return this.emit(c, x, join(path, name));
  }

  /** A float32 initializer holding a copy of `t` (any device). */
  weight(t: Tensor, hint: string): string {
    if (t.dtype !== 'float32') throw new ConvLoraError('E_DTYPE', `Expected a float32 tensor for ${hint} but received ${t.dtype}`);
    return this.graph.initializer(hint, t.shape, t.toFloat32());
  }
}

export function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

/** Conv with the geometry of `conv` and an explicit weight value (the base weight, or a merged one). */
export function emitConv(ex: OnnxExporter, conv: Conv2d, x: string, path: string, weight: string): string {
  const k = conv.kernelSize;
  const inputs = [x, weight];
  if (conv.bias !== null) inputs.push(ex.weight(conv.bias, `${path}.bias`));
  return ex.graph.node('Conv', inputs, {
    kernel_shape: [k, k], strides: [conv.stride, conv.stride], pads: [conv.padding, conv.padding, conv.padding, conv.padding],
    dilations: [conv.dilation, conv.dilation], group: conv.groups,
  }, path);
}

/** ConvTranspose with the geometry of `conv` and an explicit weight value; ONNX's weight layout [in, out/groups, k, k] is PyTorch's. */
export function emitConvTranspose(ex: OnnxExporter, conv: ConvTranspose2d, x: string, path: string, weight: string): string {
  const k = conv.kernelSize, p = conv.padding;
  const inputs = [x, weight];
  if (conv.bias !== null) inputs.push(ex.weight(conv.bias, `${path}.bias`));
  return ex.graph.node('ConvTranspose', inputs, {
    kernel_shape: [k, k], strides: [conv.stride, conv.stride], pads: [p, p, p, p], output_padding: [conv.outputPadding, conv.outputPadding],
    // Written only when not ONNX's defaults, so the U-Net's graphs stay as they were.
    ...(conv.dilation === 1 ? {} : { dilations: [conv.dilation, conv.dilation] }), ...(conv.groups === 1 ? {} : { group: conv.groups }),
  }, path);
}

/**
 * BatchNorm with the batch's own statistics (PyTorch's training-mode forward): y = (x - mean) /
 * sqrt(var + eps) * weight + bias with mean and biased var over (batch, height, width); also outputs the
 * mean and the unbiased var (var * n / (n - 1), n = batch * height * width), which PyTorch's running
 * statistics average.
 */
function emitBatchStatsNorm(ex: OnnxExporter, m: BatchNorm2d, x: string, path: string, outputs: BatchStatsOutput[]): string {
  const g = ex.graph, c = m.numFeatures;
  const w = m.getParameter('weight'), b = m.getParameter('bias');
  const scale = g.initializer(`${path}.weight_c11`, [1, c, 1, 1], w === null ? new Float32Array(c).fill(1) : w.toFloat32());
  const shift = g.initializer(`${path}.bias_c11`, [1, c, 1, 1], b === null ? new Float32Array(c) : b.toFloat32());
  const reduce = { axes: [0, 2, 3], keepdims: 1 };
  const mean = g.node('ReduceMean', [x], reduce, `${path}.batch_mean`);
  const d = g.node('Sub', [x, mean], {}, `${path}.centred`);
  const v = g.node('ReduceMean', [g.node('Mul', [d, d], {}, `${path}.squared`)], reduce, `${path}.batch_var_biased`);
  const eps = g.initializer(`${path}.eps`, [], Float32Array.of(m.eps));
  const norm = g.node('Div', [d, g.node('Sqrt', [g.node('Add', [v, eps], {}, `${path}.var_eps`)], {}, `${path}.std`)], {}, `${path}.normed`);
  const y = g.node('Add', [g.node('Mul', [norm, scale], {}, `${path}.scaled`), shift], {}, path);
  // n = Size(x) / C values per channel; the unbiased variance is var * n / (n - 1).
  const n = g.node('Div', [g.node('Cast', [g.node('Size', [x], {}, `${path}.size`)], { to: 1 }, `${path}.size_f`), g.initializer(`${path}.channels`, [], Float32Array.of(c))], {}, `${path}.count`);
  const factor = g.node('Div', [n, g.node('Sub', [n, g.initializer(`${path}.one`, [], Float32Array.of(1))], {}, `${path}.count_m1`)], {}, `${path}.bessel`);
  const unbiased = g.node('Mul', [v, factor], {}, `${path}.batch_var`);
  outputs.push({ path, mean, var: unbiased, channels: c });
  return y;
}

const LAYER_EMITTERS: EmitterEntry[] = [
  emitter(Conv2d, (m, x, path, ex) => emitConv(ex, m, x, path, ex.weight(m.weight, `${path}.weight`))),
  emitter(ConvTranspose2d, (m, x, path, ex) => emitConvTranspose(ex, m, x, path, ex.weight(m.weight, `${path}.weight`))),
  emitter(BatchNorm2d, (m, x, path, ex) => {
    if (ex.batchStats !== null) return emitBatchStatsNorm(ex, m, x, path, ex.batchStats);
    if (m.training || !m.useRunningStats) {
      throw new ConvLoraError('E_INVALID_ARG', `Expected BatchNorm2d at ${JSON.stringify(path)} in eval mode with running statistics but received training ${m.training}, useRunningStats ${m.useRunningStats}`);
    }
    const c = m.numFeatures;
    const w = m.getParameter('weight'), b = m.getParameter('bias');
    const scale = w === null ? ex.graph.initializer(`${path}.weight`, [c], new Float32Array(c).fill(1)) : ex.weight(w, `${path}.weight`);
    const shift = b === null ? ex.graph.initializer(`${path}.bias`, [c], new Float32Array(c)) : ex.weight(b, `${path}.bias`);
    const inputs = [x, scale, shift, ex.weight(m.buffer('running_mean'), `${path}.running_mean`), ex.weight(m.buffer('running_var'), `${path}.running_var`)];
    // training_mode 0 (the default): y = (x - mean) / sqrt(var + eps) * scale + B with the given statistics.
    return ex.graph.node('BatchNormalization', inputs, { epsilon: { float: m.eps } }, path);
  }),
  emitter(ReLU, (_m, x, path, ex) => ex.graph.node('Relu', [x], {}, path === '' ? 'relu' : `${path}.relu`)),
  emitter(Identity, (_m, x) => x),
  emitter(Sequential, (m, x, path, ex) => {
    let y = x;
    for (const [name] of m.children()) y = ex.emitChild(m, name, y, path);
    return y;
  }),
  emitter(NamedSequential, (m, x, path, ex) => {
    let y = x;
    for (const [name] of m.children()) y = ex.emitChild(m, name, y, path);
    return y;
  }),
  emitter(LeakyReLU, (m, x, path, ex) => ex.graph.node('LeakyRelu', [x], { alpha: { float: m.slope } }, `${path}.leaky_relu`)),
  emitter(MaxPool2d, (m, x, path, ex) => ex.graph.node('MaxPool', [x], { kernel_shape: [m.kernelSize, m.kernelSize], strides: [m.kernelSize, m.kernelSize] }, `${path}.max_pool`)),
];
