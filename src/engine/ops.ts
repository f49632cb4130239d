/**
 * Functional tensor ops. Shapes follow PyTorch (NCHW for images). Each op returns a new Tensor
 * that joins the current tidy scope; nothing here mutates its inputs except the `*_` in-place ops,
 * which never record autograd history.
 */
import { ConvLoraError, checkInt, describe } from '../errors.js';
import { native, NONE, type BinaryOp, type DType, type ReduceOp, type UnaryOp } from './binding.js';
import { Tensor, type Device } from './tensor.js';

function binary(op: BinaryOp, a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') {
    // maximum/minimum with a scalar are clamp_min/clamp_max natively.
    return new Tensor(native().binaryScalar(op, a.handle, b));
  }
  return new Tensor(native().binary(op, a.handle, b.handle));
}

export const add = (a: Tensor, b: Tensor | number): Tensor => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor | number): Tensor => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor | number): Tensor => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor | number): Tensor => binary('div', a, b);
export const gt = (a: Tensor, b: Tensor | number): Tensor => binary('gt', a, b);
export const lt = (a: Tensor, b: Tensor | number): Tensor => binary('lt', a, b);
export const ge = (a: Tensor, b: Tensor | number): Tensor => binary('ge', a, b);
export const le = (a: Tensor, b: Tensor | number): Tensor => binary('le', a, b);
export const eq = (a: Tensor, b: Tensor | number): Tensor => binary('eq', a, b);
export const ne = (a: Tensor, b: Tensor | number): Tensor => binary('ne', a, b);
export const maximum = (a: Tensor, b: Tensor | number): Tensor => binary('maximum', a, b);
export const minimum = (a: Tensor, b: Tensor | number): Tensor => binary('minimum', a, b);
export const pow = (a: Tensor, b: Tensor | number): Tensor => binary('pow', a, b);
/** s - a */
export const rsub = (s: number, a: Tensor): Tensor => new Tensor(native().binaryScalar('rsub', a.handle, s));

const unary = (op: UnaryOp) => (a: Tensor): Tensor => new Tensor(native().unary(op, a.handle));
export const relu = unary('relu');
export const sigmoid = unary('sigmoid');
export const neg = unary('neg');
export const exp = unary('exp');
export const log = unary('log');
export const abs = unary('abs');
export const sqrt = unary('sqrt');
export const tanh = unary('tanh');
export const floor = unary('floor');
export const round = unary('round');
export const logicalNot = unary('logicalNot');
export const sign = unary('sign');
export const isFinite = unary('isFinite');
export const square = unary('square');

function reduce(op: ReduceOp, a: Tensor, dims?: number | number[], keepdim = false): Tensor {
  const d = dims === undefined ? null : Array.isArray(dims) ? dims : [dims];
  return new Tensor(native().reduce(op, a.handle, d, keepdim));
}
/** Sum over `dims` (all when omitted). */
export const sum = (a: Tensor, dims?: number | number[], keepdim = false): Tensor => reduce('sum', a, dims, keepdim);
export const mean = (a: Tensor, dims?: number | number[], keepdim = false): Tensor => reduce('mean', a, dims, keepdim);
export const amax = (a: Tensor, dims?: number | number[], keepdim = false): Tensor => reduce('amax', a, dims, keepdim);
export const amin = (a: Tensor, dims?: number | number[], keepdim = false): Tensor => reduce('amin', a, dims, keepdim);
export const argmax = (a: Tensor, dim?: number, keepdim = false): Tensor =>
  new Tensor(native().argmax(a.handle, dim ?? null, keepdim));

export const reshape = (a: Tensor, shape: number[]): Tensor => new Tensor(native().reshape(a.handle, shape));
/** A view sharing storage (fails on non-contiguous input, like PyTorch's view). */
export const view = (a: Tensor, shape: number[]): Tensor => new Tensor(native().view(a.handle, shape));
export const permute = (a: Tensor, dims: number[]): Tensor => new Tensor(native().permute(a.handle, dims));
export const expand = (a: Tensor, shape: number[]): Tensor => new Tensor(native().expand(a.handle, shape));
export function transpose(a: Tensor, d0: number, d1: number): Tensor {
  const dims = Array.from({ length: a.rank }, (_, i) => i);
  const n = a.rank;
  const i0 = d0 < 0 ? d0 + n : d0;
  const i1 = d1 < 0 ? d1 + n : d1;
  dims[i0] = i1;
  dims[i1] = i0;
  return permute(a, dims);
}
/** a[start:end:step] along `dim` (a view). */
export const slice = (a: Tensor, dim: number, start: number, end: number, step = 1): Tensor =>
  new Tensor(native().slice(a.handle, dim, start, end, step));
export const indexSelect = (a: Tensor, dim: number, index: Tensor): Tensor =>
  new Tensor(native().indexSelect(a.handle, dim, index.handle));
export const cat = (ts: Tensor[], dim = 0): Tensor => new Tensor(native().join('cat', ts.map((t) => t.handle), dim));
export const stack = (ts: Tensor[], dim = 0): Tensor => new Tensor(native().join('stack', ts.map((t) => t.handle), dim));
export const matmul = (a: Tensor, b: Tensor): Tensor => new Tensor(native().matmul(a.handle, b.handle));
export const where = (cond: Tensor, a: Tensor, b: Tensor): Tensor => new Tensor(native().where(cond.handle, a.handle, b.handle));
/** [B, C*r*r, H, W] -> [B, C, H*r, W*r] */
export const pixelShuffle = (a: Tensor, r: number): Tensor => new Tensor(native().shuffle(0, a.handle, r));
/** [B, C, H*r, W*r] -> [B, C*r*r, H, W] */
export const pixelUnshuffle = (a: Tensor, r: number): Tensor => new Tensor(native().shuffle(1, a.handle, r));

export const detach = (a: Tensor): Tensor => new Tensor(native().derive(a.handle, 'detach'));
export const clone = (a: Tensor): Tensor => new Tensor(native().derive(a.handle, 'clone'));
export const contiguous = (a: Tensor): Tensor => new Tensor(native().derive(a.handle, 'contiguous'));
/** The same values with NHWC strides (PyTorch's channels_last memory format); shape unchanged. */
export const channelsLast = (a: Tensor): Tensor => new Tensor(native().derive(a.handle, 'channels_last'));
/** Cast and/or move; differentiable. */
export const to = (a: Tensor, opts: { dtype?: DType; device?: Device }): Tensor =>
  new Tensor(native().to(a.handle, opts.dtype ?? a.dtype, opts.device ?? a.device));

/** dst <- src (no autograd). */
export const copy_ = (dst: Tensor, src: Tensor): void => native().inplace('copy', dst.handle, src.handle, 0);
/** dst <- dst + alpha * src (no autograd). */
export const addInPlace = (dst: Tensor, src: Tensor, alpha = 1): void => native().inplace('add', dst.handle, src.handle, alpha);
/** dst <- dst * s (no autograd). */
/** dst += s, in place, without autograd. */
export const addScalarInPlace = (dst: Tensor, s: number): void => native().inplace('addScalar', dst.handle, NONE, s);
export const mulInPlace = (dst: Tensor, s: number): void => native().inplace('mul', dst.handle, NONE, s);
export const fill_ = (dst: Tensor, s: number): void => native().inplace('fill', dst.handle, NONE, s);
export const zero_ = (dst: Tensor): void => native().inplace('zero', dst.handle, NONE, 0);
/** Give `dst` NHWC strides in place (same tensor, same values), as module.to(memory_format=torch.channels_last) does to 4-D weights. */
export const channelsLast_ = (dst: Tensor): void => native().inplace('channelsLast', dst.handle, NONE, 0);

export type Pair = number | [number, number];
const pair = (name: string, v: Pair, min: number): [number, number] => {
  const p: [number, number] = typeof v === 'number' ? [v, v] : v;
  if (p.length !== 2) throw new ConvLoraError('E_INVALID_ARG', `Expected a number or [h, w] for \`${name}\` but received ${describe(v)}`);
  checkInt(name, p[0], min);
  checkInt(name, p[1], min);
  return p;
};

export interface Conv2dOptions { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number }

/** x [B, Cin, H, W], w [Cout, Cin/groups, kh, kw], bias [Cout] -> [B, Cout, H', W'] */
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): Tensor {
  return new Tensor(native().conv2d(x.handle, w.handle, bias === null ? NONE : bias.handle,
    pair('stride', o.stride ?? 1, 1), pair('padding', o.padding ?? 0, 0), pair('dilation', o.dilation ?? 1, 1), o.groups ?? 1));
}

export interface ConvTranspose2dOptions extends Conv2dOptions { outputPadding?: Pair }

/** x [B, Cin, H, W], w [Cin, Cout/groups, kh, kw] -> [B, Cout, H', W'] */
export function convTranspose2d(x: Tensor, w: Tensor, bias: Tensor | null = null, o: ConvTranspose2dOptions = {}): Tensor {
  return new Tensor(native().convTranspose2d(x.handle, w.handle, bias === null ? NONE : bias.handle,
    pair('stride', o.stride ?? 1, 1), pair('padding', o.padding ?? 0, 0), pair('outputPadding', o.outputPadding ?? 0, 0),
    o.groups ?? 1, pair('dilation', o.dilation ?? 1, 1)));
}

export interface BatchNormOptions {
  weight?: Tensor | null; bias?: Tensor | null; runningMean?: Tensor | null; runningVar?: Tensor | null;
  training: boolean; momentum: number; eps: number;
}

/**
 * Batch normalization over [B, C, ...]. In training mode the batch statistics normalize and the running
 * buffers (when given) are updated in place: r <- (1 - momentum) r + momentum * batch (unbiased variance).
 */
export function batchNorm(x: Tensor, o: BatchNormOptions): Tensor {
  const h = (t: Tensor | null | undefined): number => (t === null || t === undefined ? NONE : t.handle);
  return new Tensor(native().batchNorm(x.handle, h(o.weight), h(o.bias), h(o.runningMean), h(o.runningVar), o.training, o.momentum, o.eps));
}

/** Max over k x k windows with stride `stride` (default k), no padding: [B, C, H, W] -> [B, C, H', W'] (PyTorch's max_pool2d). */
export function maxPool2d(x: Tensor, kernel: number, stride = kernel): Tensor {
  return new Tensor(native().maxPool2d(x.handle, checkInt('kernel', kernel, 1), checkInt('stride', stride, 1)));
}

/** Bilinear resize of [B, C, H, W] to [B, C, outH, outW] (align_corners false unless asked). */
export function interpolateBilinear(x: Tensor, size: [number, number], alignCorners = false): Tensor {
  return new Tensor(native().upsampleBilinear(x.handle, checkInt('size[0]', size[0], 1), checkInt('size[1]', size[1], 1), alignCorners));
}

/** Binary cross-entropy on logits with (soft) targets in [0, 1]; reduction 'mean' by default. */
export function bceWithLogits(logits: Tensor, target: Tensor, opts: { weight?: Tensor; reduction?: 'none' | 'mean' | 'sum' } = {}): Tensor {
  const red = { none: 0, mean: 1, sum: 2 }[opts.reduction ?? 'mean'] as 0 | 1 | 2;
  return new Tensor(native().bceWithLogits(logits.handle, target.handle, opts.weight === undefined ? NONE : opts.weight.handle, red));
}
