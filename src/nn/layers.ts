/** Layers with PyTorch's parameter names, shapes and default initialisation. */
import { ConvLoraError, checkInt, checkNumber } from '../errors.js';
import { fanIn, full, kaimingUniform, uniform, zeros, ones } from '../engine/create.js';
import * as ops from '../engine/ops.js';
import { tidy, type Tensor, type Device } from '../engine/tensor.js';
import { convChannelsLast } from '../engine/runtime.js';
import { syncBatchNorm } from '../engine/dist.js';
import { Module } from './module.js';

export interface ConvOptions {
  stride?: number; padding?: number; dilation?: number; groups?: number; bias?: boolean; device?: Device;
}

/** Conv2d: weight [out, in/groups, k, k], optional bias [out]; PyTorch init (Kaiming-uniform a=sqrt 5). */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly groups: number;
  readonly #channelsLast: boolean;

  constructor(inChannels: number, outChannels: number, kernelSize: number, o: ConvOptions = {}) {
    super();
    this.inChannels = checkInt('inChannels', inChannels, 1);
    this.outChannels = checkInt('outChannels', outChannels, 1);
    this.kernelSize = checkInt('kernelSize', kernelSize, 1);
    this.stride = checkInt('stride', o.stride ?? 1, 1);
    this.padding = checkInt('padding', o.padding ?? 0, 0);
    this.dilation = checkInt('dilation', o.dilation ?? 1, 1);
    this.groups = checkInt('groups', o.groups ?? 1, 1);
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ConvLoraError('E_INVALID_ARG', `Expected \`groups\` to divide in (${inChannels}) and out (${outChannels}) channels but received ${this.groups}`);
    }
    const shape = [outChannels, inChannels / this.groups, kernelSize, kernelSize];
    const dev = o.device === undefined ? {} : { device: o.device };
    const weight = kaimingUniform(shape, Math.sqrt(5), dev);
    // The layout travels with the weight (loading copies values into it, optimizers keep it).
    this.#channelsLast = convChannelsLast(o.device ?? 'cpu');
    if (this.#channelsLast) ops.channelsLast_(weight);
    this.registerParameter('weight', weight);
    const bound = 1 / Math.sqrt(fanIn(shape));
    this.registerParameter('bias', o.bias === true ? uniform([outChannels], -bound, bound, dev) : null);
  }

  get weight(): Tensor { return this.getParameter('weight')!; }
  get bias(): Tensor | null { return this.getParameter('bias'); }

  /** Convolve with an explicit weight (used by LoRA layers to run W + delta with this geometry). */
  convolve(x: Tensor, weight: Tensor): Tensor {
    const y = ops.conv2d(x, weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
    // A weight with one input channel per group has the same strides in both layouts, so libtorch treats it
    // (and a one-channel input) as NCHW and returns NCHW: the network's first layer. Its output is made
    // channels-last here, or every later layer would mix layouts, and mixed-layout elementwise backward ops
    // (ReLU, BatchNorm) run about 10x slower than same-layout ones (measured in libtorch 2.13).
    return this.#channelsLast && weight.shape[1] === 1 ? ops.channelsLast(y) : y;
  }

  forward(x: Tensor): Tensor { return this.convolve(x, this.weight); }
}

/** ConvTranspose2d: weight [in, out/groups, k, k]. PyTorch computes fan_in from dim 1 for init. */
export class ConvTranspose2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly outputPadding: number;
  readonly dilation: number;
  readonly groups: number;

  constructor(inChannels: number, outChannels: number, kernelSize: number, o: ConvOptions & { outputPadding?: number } = {}) {
    super();
    this.inChannels = checkInt('inChannels', inChannels, 1);
    this.outChannels = checkInt('outChannels', outChannels, 1);
    this.kernelSize = checkInt('kernelSize', kernelSize, 1);
    this.stride = checkInt('stride', o.stride ?? 1, 1);
    this.padding = checkInt('padding', o.padding ?? 0, 0);
    this.outputPadding = checkInt('outputPadding', o.outputPadding ?? 0, 0);
    this.dilation = checkInt('dilation', o.dilation ?? 1, 1);
    this.groups = checkInt('groups', o.groups ?? 1, 1);
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ConvLoraError('E_INVALID_ARG', `Expected \`groups\` to divide in (${inChannels}) and out (${outChannels}) channels but received ${this.groups}`);
    }
    const shape = [inChannels, outChannels / this.groups, kernelSize, kernelSize];
    const dev = o.device === undefined ? {} : { device: o.device };
    this.registerParameter('weight', kaimingUniform(shape, Math.sqrt(5), dev));
    const bound = 1 / Math.sqrt(fanIn(shape));
    this.registerParameter('bias', o.bias === true ? uniform([outChannels], -bound, bound, dev) : null);
  }

  get weight(): Tensor { return this.getParameter('weight')!; }
  get bias(): Tensor | null { return this.getParameter('bias'); }

  /** Transposed convolution with an explicit weight [in, out/groups, k, k] (LoRA layers run W + delta with this geometry). */
  convolve(x: Tensor, w: Tensor): Tensor {
    const bias = this.bias;
    if (this.kernelSize === this.stride && this.padding === 0 && this.outputPadding === 0 && this.groups === 1 && this.dilation === 1) {
      // Non-overlapping k x k stride-k transposed conv = 1x1 conv to out*k*k channels, then depth-to-space.
      // libtorch's CPU kernel for this case is 1.6-2.8x slower (measured at the U-Net's shapes); results agree
      // within float32 rounding. W [in, out, k, k] -> [out*k*k, in, 1, 1] with channel o*k*k + i*k + j, which
      // is pixel_shuffle's order.
      const [cin, cout, k] = w.shape as [number, number, number, number];
      const w1 = ops.reshape(ops.permute(w, [1, 2, 3, 0]), [cout * k * k, cin, 1, 1]);
      const y = ops.pixelShuffle(ops.conv2d(x, w1), k);
      return bias === null ? y : ops.add(y, ops.reshape(bias, [1, cout, 1, 1]));
    }
    return ops.convTranspose2d(x, w, bias, { stride: this.stride, padding: this.padding, outputPadding: this.outputPadding, dilation: this.dilation, groups: this.groups });
  }

  forward(x: Tensor): Tensor { return this.convolve(x, this.weight); }
}

export interface BatchNormOptions { eps?: number; momentum?: number | null; affine?: boolean; device?: Device }

/**
 * BatchNorm2d over [B, C, H, W] with running statistics (buffers running_mean, running_var,
 * num_batches_tracked). momentum null means a cumulative average (factor 1 / num_batches_tracked),
 * which is what the explicit AdaBN re-estimation uses.
 */
export class BatchNorm2d extends Module {
  readonly numFeatures: number;
  eps: number;
  momentum: number | null;
  /** When false, normalize with batch statistics even in eval mode and never update the buffers. */
  useRunningStats = true;
  /**
   * Called with every input [B, C, H, W] before it is normalized (null: none). Lets a caller measure
   * the statistics a layer sees (adapter choice, scanner fingerprints) without a second code path.
   */
  inputTap: ((x: Tensor) => void) | null = null;
  /**
   * Normalize training batches with the statistics of the global batch over the process group's ranks
   * (SyncBatchNorm; engine/dist.ts). Set by data-parallel training for its training steps only: every
   * rank must then run this layer's forward in the same order, so evaluation leaves it off.
   */
  syncStats = false;

  constructor(numFeatures: number, o: BatchNormOptions = {}) {
    super();
    this.numFeatures = checkInt('numFeatures', numFeatures, 1);
    this.eps = checkNumber('eps', o.eps ?? 1e-5, 0);
    this.momentum = o.momentum === undefined ? 0.1 : o.momentum === null ? null : checkNumber('momentum', o.momentum, 0, 1);
    const dev = o.device === undefined ? {} : { device: o.device };
    const affine = o.affine ?? true;
    this.registerParameter('weight', affine ? ones([numFeatures], dev) : null);
    this.registerParameter('bias', affine ? zeros([numFeatures], dev) : null);
    this.registerBuffer('running_mean', zeros([numFeatures], dev));
    this.registerBuffer('running_var', ones([numFeatures], dev));
    this.registerBuffer('num_batches_tracked', full([], 0, { ...dev, dtype: 'int64' }));
  }

  buffer(name: 'running_mean' | 'running_var' | 'num_batches_tracked'): Tensor { return this.getBuffer(name); }

  /** Reset running statistics to mean 0, variance 1, count 0 (PyTorch's reset_running_stats). */
  resetRunningStats(): void {
    ops.zero_(this.buffer('running_mean'));
    ops.fill_(this.buffer('running_var'), 1);
    ops.zero_(this.buffer('num_batches_tracked'));
  }

  /** Training-mode batches seen since the last reset: the num_batches_tracked buffer, the one copy of it. */
  get batchesTracked(): number { return this.buffer('num_batches_tracked').item(); }

  forward(x: Tensor): Tensor {
    this.inputTap?.(x);
    const weight = this.getParameter('weight');
    const bias = this.getParameter('bias');
    const track = this.training && this.useRunningStats;
    let factor = 0;
    if (track) {
      // Counted in the buffer itself, so loads and copies of it need no re-sync; it is read back only
      // for a cumulative average (momentum null), the explicit re-estimation, not in every training step.
      const count = this.buffer('num_batches_tracked');
      ops.addScalarInPlace(count, 1);
      factor = this.momentum ?? 1 / count.item();
    }
    const useBatch = this.training || !this.useRunningStats;
    if (track && this.syncStats) {
      return syncBatchNorm(x, { weight, bias, runningMean: this.buffer('running_mean'), runningVar: this.buffer('running_var'), momentum: factor, eps: this.eps });
    }
    return ops.batchNorm(x, {
      weight, bias,
      runningMean: useBatch && !track ? null : this.buffer('running_mean'),
      runningVar: useBatch && !track ? null : this.buffer('running_var'),
      training: useBatch, momentum: factor, eps: this.eps,
    });
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor { return ops.relu(x); }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor { return x; }
}

/** Children named '0', '1', ... applied in order. */
export class Sequential extends Module {
  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }

  /**
   * Each child runs in its own tidy scope and the previous child's output is released once consumed, so
   * memory follows PyTorch's: a forward intermediate lives only while something needs it (the autograd
   * graph keeps its own references to what backward needs).
   */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const [, m] of this.children()) {
      const prev = y;
      y = tidy(() => m.forward(prev));
      if (prev !== x && prev !== y && !prev.isKept) prev.dispose();
    }
    return y;
  }
}

/** LeakyReLU: x for x >= 0, slope * x below (PyTorch's default slope 0.01; MONAI's BasicUNet uses 0.1). */
export class LeakyReLU extends Module {
  readonly slope: number;
  constructor(slope = 0.01) {
    super();
    this.slope = checkNumber('slope', slope, 0, 1);
  }
  // max(x, slope * x) is leaky ReLU for 0 <= slope <= 1.
  forward(x: Tensor): Tensor { return ops.maximum(x, ops.mul(x, this.slope)); }
}

/**
 * Max pooling with a k x k window and stride k (the U-Nets' down-sampling): [B, C, H, W] -> [B, C, H/k, W/k].
 * H and W must be multiples of k (E_SHAPE otherwise).
 */
export class MaxPool2d extends Module {
  readonly kernelSize: number;
  constructor(kernelSize = 2) {
    super();
    this.kernelSize = checkInt('kernelSize', kernelSize, 1);
  }
  forward(x: Tensor): Tensor {
    const k = this.kernelSize;
    const [, , h, w] = x.shape as [number, number, number, number];
    if (x.rank !== 4 || h % k !== 0 || w % k !== 0) throw new ConvLoraError('E_SHAPE', `Expected [B, C, H, W] with H and W multiples of ${k} for max pooling but received [${x.shape.join(', ')}]`);
    // libtorch's max_pool2d: keeps a channels-last input channels-last (a reshape-and-amax copied it to NCHW,
    // and every layer after it mixed layouts) and breaks ties as PyTorch does.
    return ops.maxPool2d(x, k);
  }
}

/** Children with names, applied in order (PyTorch's Sequential over an OrderedDict): readable paths such as `down_1.convs.conv_0.conv`. */
export class NamedSequential extends Sequential {
  constructor(layers: readonly (readonly [string, Module])[]) {
    super();
    for (const [name, m] of layers) this.registerModule(name, m);
  }
}
