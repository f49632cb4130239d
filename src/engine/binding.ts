/**
 * The one typed interface to the native addon. Tensors cross it as integer handles into a native
 * table of at::Tensor; every function may throw a ConvLoraError built natively (the addon is given
 * the class at load time), so errors carry a code and the caller's JS stack.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { ConvLoraError } from '../errors.js';

export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';
export type Handle = number;
/** -1 stands for "no tensor" wherever a handle is optional. */
export const NONE = -1;

/**
 * Ops cross the boundary by name; native/ops.cc and native/tensor.cc look them up and reject an
 * unknown name with E_INVALID_ARG (never running another op).
 */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'gt' | 'lt' | 'ge' | 'le' | 'eq' | 'ne' | 'maximum' | 'minimum' | 'pow' | 'logicalAnd' | 'logicalOr';
export type UnaryOp = 'relu' | 'sigmoid' | 'neg' | 'exp' | 'log' | 'abs' | 'sqrt' | 'tanh' | 'floor' | 'round' | 'logicalNot' | 'sign' | 'isFinite' | 'square';
export type ReduceOp = 'sum' | 'mean' | 'amax' | 'amin';
export type DeriveOp = 'detach' | 'clone' | 'contiguous' | 'channels_last';
export type InplaceOp = 'copy' | 'add' | 'addScalar' | 'mul' | 'fill' | 'zero' | 'channelsLast';

export interface NativeBinding {
  setErrorClass(ctor: new (code: string, message: string) => Error): void;
  fromBuffer(data: ArrayBufferView, shape: number[], dtype: DType, device: string): Handle;
  toBuffer(h: Handle): Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
  dispose(h: Handle): void;
  liveCount(): number;
  shape(h: Handle): number[];
  /** Element strides per dimension. */
  strides(h: Handle): number[];
  dtype(h: Handle): DType;
  device(h: Handle): string;
  item(h: Handle): number;
  full(shape: number[], value: number, dtype: DType, device: string): Handle;
  /** kind 0: uniform [a, b); kind 1: normal(mean a, std b). */
  random(kind: 0 | 1, shape: number[], a: number, b: number, dtype: DType, device: string): Handle;
  manualSeed(seed: number | bigint): void;
  /** libtorch's operator profiler on the calling thread (native/profile.cc). */
  profilerStart(): void;
  /** Rows [name, calls, total us, self us] per operator since profilerStart. */
  profilerStop(): [string, number, number, number][];
  setRequiresGrad(h: Handle, on: boolean): void;
  requiresGrad(h: Handle): boolean;
  grad(h: Handle): Handle;
  zeroGrad(hs: Handle[]): void;
  backward(h: Handle, grad: Handle, retainGraph: boolean): void;
  setGradEnabled(on: boolean): boolean;
  isGradEnabled(): boolean;
  derive(h: Handle, op: DeriveOp): Handle;
  to(h: Handle, dtype: DType, device: string): Handle;
  /** copy (src), add (src, alpha = scalar), addScalar (scalar), mul (scalar), fill (scalar), zero; never recorded by autograd. */
  inplace(op: InplaceOp, dst: Handle, src: Handle, scalar: number): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaDeviceCount(): number;
  setCudnnBenchmark(on: boolean): void;
  /** Returns the previous setting. */
  setCudnnTF32(on: boolean): boolean;
  synchronize(device: string): void;
  version(): { config: string; parallel: string };
  binary(op: BinaryOp, a: Handle, b: Handle): Handle;
  /** maximum/minimum with a scalar are clamp_min/clamp_max; rsub is s - a. */
  binaryScalar(op: BinaryOp | 'rsub', a: Handle, s: number): Handle;
  unary(op: UnaryOp, a: Handle): Handle;
  reduce(op: ReduceOp, a: Handle, dims: number[] | null, keepdim: boolean): Handle;
  argmax(a: Handle, dim: number | null, keepdim: boolean): Handle;
  reshape(a: Handle, shape: number[]): Handle;
  view(a: Handle, shape: number[]): Handle;
  permute(a: Handle, dims: number[]): Handle;
  expand(a: Handle, shape: number[]): Handle;
  slice(a: Handle, dim: number, start: number, end: number, step: number): Handle;
  indexSelect(a: Handle, dim: number, index: Handle): Handle;
  join(op: 'cat' | 'stack', hs: Handle[], dim: number): Handle;
  matmul(a: Handle, b: Handle): Handle;
  where(cond: Handle, a: Handle, b: Handle): Handle;
  /** op 0 pixel_shuffle, 1 pixel_unshuffle. */
  shuffle(op: 0 | 1, a: Handle, r: number): Handle;
  conv2d(x: Handle, w: Handle, b: Handle, stride: number[], padding: number[], dilation: number[], groups: number): Handle;
  convTranspose2d(x: Handle, w: Handle, b: Handle, stride: number[], padding: number[], outputPadding: number[], groups: number, dilation: number[]): Handle;
  batchNorm(x: Handle, w: Handle, b: Handle, rm: Handle, rv: Handle, training: boolean, momentum: number, eps: number): Handle;
  upsampleBilinear(x: Handle, outH: number, outW: number, alignCorners: boolean): Handle;
  maxPool2d(x: Handle, kernel: number, stride: number): Handle;
  bceWithLogits(logits: Handle, target: Handle, weight: Handle, reduction: 0 | 1 | 2): Handle;
  /** Whether native/dist.cc was compiled with Gloo (scripts/build-native.mjs found gloo's headers). */
  distAvailable(): boolean;
  /** Whether the addon told glibc to keep freed memory in the heap (native/common.cc; CONVLORA_MALLOC=system: no). */
  mallocRetains: boolean;
  /** Rendezvous through a TCPStore hosted by rank 0 at addr:port, then a Gloo group; iface '' picks the device by address. */
  distInit(rank: number, worldSize: number, masterAddr: string, masterPort: number, timeoutMs: number, iface: string): void;
  /** In place over every rank; tensors are flattened into one buffer per dtype. 'avg' divides the sum by the world size. */
  distAllReduce(hs: Handle[], op: 'sum' | 'avg' | 'max' | 'min'): void;
  distBroadcast(hs: Handle[], root: number): void;
  distBarrier(): void;
  distDestroy(): void;
  /** [rank, worldSize] of the live group, or null. */
  distInfo(): [number, number] | null;
  distSyncBatchNorm(x: number, weight: number, bias: number, runningMean: number, runningVar: number, momentum: number, eps: number): number;
  adamStep(params: Handle[], expAvg: Handle[], expAvgSq: Handle[], steps: Float64Array, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number): void;
}

/** Built natively on error: `new ConvLoraError(code, message)`. */
class NativeError extends ConvLoraError {
  constructor(code: string, message: string) {
    super(code as ConvLoraError['code'], message);
  }
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Where the addon may be, in the order tried. */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  if (env.CONVLORA_ADDON) out.push(resolve(env.CONVLORA_ADDON));
  out.push(join(packageRoot, 'build', 'Release', 'convlora.node'));
  return out;
}

let cached: NativeBinding | undefined;

/**
 * Threads at load: CONVLORA_THREADS, else the machine's available cores (libtorch would otherwise
 * use 1 thread on some VMs). An invalid CONVLORA_THREADS falls back to the core count.
 */
function defaultThreads(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.CONVLORA_THREADS);
  return Number.isInteger(n) && n >= 1 ? n : os.availableParallelism();
}

/** Load the addon once; on failure explain what was tried and how to fix it. */
export function native(): NativeBinding {
  if (cached !== undefined) return cached;
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) {
      tried.push(`${path}: not found`);
      continue;
    }
    try {
      const b = require(path) as NativeBinding;
      b.setErrorClass(NativeError);
      b.setNumThreads(defaultThreads());
      cached = b;
      return b;
    } catch (err) {
      tried.push(`${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new ConvLoraError(
    'E_NATIVE_LOAD',
    [
      'Could not load the convlora native addon (libtorch engine).',
      'Tried:',
      ...tried.map((t) => `  - ${t}`),
      'Possible solutions:',
      '  - Install libtorch and build tools: `apt-get install -y libtorch-dev g++` (Debian 12), then `npm run build:native`.',
      '  - For another libtorch (e.g. CUDA, from a PyTorch install): `LIBTORCH=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))") npm run build:native`.',
      '  - If libtorch moved since the build, rebuild with `npm run build:native`, or point CONVLORA_ADDON at a built convlora.node.',
    ].join('\n'),
  );
}

/** What the loaded addon was built against (build/Release/convlora.json), if recorded. */
export function buildInfo(): { libtorch: string; cuda: boolean; abi: string } | undefined {
  const path = join(packageRoot, 'build', 'Release', 'convlora.json');
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as { libtorch: string; cuda: boolean; abi: string };
}
