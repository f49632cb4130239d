/** Tensor creation: from typed arrays, constants and seeded random distributions. */
import { ConvLoraError, checkInt, describe } from '../errors.js';
import { native, type DType } from './binding.js';
import { Tensor, type Device } from './tensor.js';

export interface CreateOptions { dtype?: DType; device?: Device; requiresGrad?: boolean }

function checkShape(shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) throw new ConvLoraError('E_INVALID_ARG', `Expected an array of integers >= 0 for \`shape\` but received ${describe(shape)}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ConvLoraError('E_INVALID_ARG', `Expected an array of integers >= 0 for \`shape\` but received ${describe(shape)}`);
    }
  }
  return shape.slice();
}

function dtypeOf(data: ArrayBufferView): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'uint8';
  throw new ConvLoraError('E_DTYPE', `Unsupported typed array ${Object.prototype.toString.call(data)}; use Float32Array, Float64Array, BigInt64Array, Int32Array or Uint8Array`);
}

/** Truthiness as PyTorch casts to bool: any non-zero value (NaN included) is true. */
const toBool = (v: number): number => (v !== 0 ? 1 : 0);

/** PyTorch truncates floats toward zero when building an integer tensor; NaN/Inf cannot be stored. */
function toInt64(v: number): bigint {
  if (!Number.isFinite(v)) throw new ConvLoraError('E_DTYPE', `Cannot store ${v} in an int64 tensor`);
  return BigInt(Math.trunc(v));
}

function finish(h: number, o: CreateOptions): Tensor {
  const t = new Tensor(h);
  if (o.requiresGrad === true) t.requiresGrad = true;
  return t;
}

/**
 * A tensor holding a copy of `data` (C-order) with `shape`. The dtype follows the array type unless
 * `dtype` is 'bool' with a Uint8Array, or a number[] is given (float32 by default).
 */
export function tensor(data: ArrayBufferView | number[], shape: readonly number[], o: CreateOptions = {}): Tensor {
  const s = checkShape(shape);
  const n = s.reduce((a, b) => a * b, 1);
  let buf: ArrayBufferView;
  let dtype: DType;
  if (Array.isArray(data)) {
    dtype = o.dtype ?? 'float32';
    buf = dtype === 'float64' ? Float64Array.from(data) : dtype === 'int64' ? BigInt64Array.from(data, (v) => toInt64(v))
      : dtype === 'int32' ? Int32Array.from(data) : dtype === 'uint8' ? Uint8Array.from(data)
      : dtype === 'bool' ? Uint8Array.from(data, toBool) : Float32Array.from(data);
  } else {
    buf = data;
    dtype = dtypeOf(data);
    if (o.dtype === 'bool' && dtype === 'uint8') {
      dtype = 'bool';
      // The bytes are copied raw, and a bool byte other than 0/1 is an invalid value for libtorch.
      if ((data as Uint8Array).some((v) => v > 1)) buf = Uint8Array.from(data as Uint8Array, toBool);
    } else if (o.dtype !== undefined && o.dtype !== dtype) {
      throw new ConvLoraError('E_DTYPE', `Expected a typed array for dtype ${o.dtype} but received ${Object.prototype.toString.call(data)}`);
    }
  }
  const len = (buf as unknown as { length: number }).length;
  if (len !== n) throw new ConvLoraError('E_SHAPE', `Data of length ${len} does not fit shape [${s.join(', ')}] (${n} elements)`);
  return finish(native().fromBuffer(buf, s, dtype, o.device ?? 'cpu'), o);
}

export function full(shape: readonly number[], value: number, o: CreateOptions = {}): Tensor {
  return finish(native().full(checkShape(shape), value, o.dtype ?? 'float32', o.device ?? 'cpu'), o);
}
export const zeros = (shape: readonly number[], o: CreateOptions = {}): Tensor => full(shape, 0, o);
export const ones = (shape: readonly number[], o: CreateOptions = {}): Tensor => full(shape, 1, o);
export const scalar = (value: number, o: CreateOptions = {}): Tensor => full([], value, o);

/** Uniform on [low, high) from the global (seeded) generator. */
export function uniform(shape: readonly number[], low = 0, high = 1, o: CreateOptions = {}): Tensor {
  return finish(native().random(0, checkShape(shape), low, high, o.dtype ?? 'float32', o.device ?? 'cpu'), o);
}
/** Normal(mean, std) from the global (seeded) generator. */
export function randn(shape: readonly number[], o: CreateOptions & { mean?: number; std?: number } = {}): Tensor {
  return finish(native().random(1, checkShape(shape), o.mean ?? 0, o.std ?? 1, o.dtype ?? 'float32', o.device ?? 'cpu'), o);
}

/** fan_in of a weight: shape[1] * prod(shape[2:]) (PyTorch's convention). */
export function fanIn(shape: readonly number[]): number {
  if (shape.length < 2) throw new ConvLoraError('E_SHAPE', `fan_in needs a weight of rank >= 2 but received shape [${shape.join(', ')}]`);
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

/**
 * Kaiming-uniform init as torch.nn.init.kaiming_uniform_(w, a) with leaky_relu gain:
 * bound = sqrt(2 / (1 + a^2)) * sqrt(3 / fan_in). With a = sqrt(5) (PyTorch's conv default) the bound is 1/sqrt(fan_in).
 */
export function kaimingUniform(shape: readonly number[], a = Math.sqrt(5), o: CreateOptions = {}): Tensor {
  const gain = Math.sqrt(2 / (1 + a * a));
  const bound = gain * Math.sqrt(3 / fanIn(shape));
  return uniform(shape, -bound, bound, o);
}

/** arange(n) as int64 or float32. */
export function arange(n: number, o: CreateOptions = {}): Tensor {
  checkInt('n', n, 0);
  const dtype = o.dtype ?? 'int64';
  const data = dtype === 'int64' ? BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) : Float32Array.from({ length: n }, (_, i) => i);
  return tensor(data, [n], { ...o, dtype });
}
