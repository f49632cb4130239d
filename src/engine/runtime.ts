/** Process-wide engine settings: threads, seeds, grad mode, devices. */
import { ConvLoraError, checkInt, describe } from '../errors.js';
import { native } from './binding.js';
import type { Device } from './tensor.js';

/** Set the intra-op thread count (at load it is CONVLORA_THREADS or the number of cores). */
export function setThreads(n: number): void {
  checkInt('threads', n, 1);
  native().setNumThreads(n);
}

export function getThreads(): number { return native().getNumThreads(); }

/** Seed libtorch's global generators (CPU and, when present, CUDA). */
export function manualSeed(seed: number): void {
  checkInt('seed', seed, 0);
  native().manualSeed(seed);
}

/** Run `fn` with autograd recording off (like torch.no_grad()). */
export function noGrad<T>(fn: () => T): T {
  const prev = native().setGradEnabled(false);
  try {
    return fn();
  } finally {
    native().setGradEnabled(prev);
  }
}

/** Run `fn` with autograd recording on (undoing an enclosing noGrad). */
export function enableGrad<T>(fn: () => T): T {
  const prev = native().setGradEnabled(true);
  try {
    return fn();
  } finally {
    native().setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean { return native().isGradEnabled(); }

export function cudaDeviceCount(): number { return native().cudaDeviceCount(); }
export function cudaAvailable(): boolean { return cudaDeviceCount() > 0; }

/** Validate a device name: 'cpu', 'cuda' or 'cuda:N' (and that CUDA exists when asked for). */
export function resolveDevice(name: string): Device {
  if (name === 'cpu') return 'cpu';
  const m = /^cuda(?::(\d+))?$/.exec(name);
  if (m === null) throw new ConvLoraError('E_INVALID_ARG', `Expected "cpu", "cuda" or "cuda:N" for \`device\` but received ${describe(name)}`);
  const count = cudaDeviceCount();
  const index = m[1] === undefined ? 0 : Number(m[1]);
  if (count === 0) {
    throw new ConvLoraError('E_INVALID_ARG', 'Device "cuda" was requested but this convlora build has no CUDA GPU available. Build against a CUDA libtorch (see README: LIBTORCH) on a machine with an NVIDIA GPU.');
  }
  if (index >= count) throw new ConvLoraError('E_INVALID_ARG', `Expected a CUDA index < ${count} for \`device\` but received ${describe(name)}`);
  native().setCudnnBenchmark(true);
  return name as Device;
}

/**
 * Allow TF32 in cuDNN convolutions. libtorch's default (like PyTorch's) is on: faster on Ampere and
 * newer GPUs, but inputs are rounded to 10 mantissa bits (~1e-3 relative error). Turn it off for
 * float32 results that agree with the CPU's. Returns the previous setting; no effect on CPU.
 */
export function setCudnnTF32(on: boolean): boolean {
  if (typeof on !== 'boolean') throw new ConvLoraError('E_INVALID_ARG', `Expected a boolean for \`on\` but received ${describe(on)}`);
  return native().setCudnnTF32(on);
}

/**
 * Memory layout of convolution weights (and so of the activations they produce): 'channels_last' (NHWC
 * strides, PyTorch's torch.channels_last), 'contiguous' (NCHW) or 'auto': channels_last on the CPU, where
 * oneDNN's convolutions and their backward run faster in it (BENCHMARKS.md, issue 17: the U-Net training
 * step 0.85x of NCHW on libtorch 1.13), NCHW on CUDA, where float32 cuDNN does not gain from it. Values
 * are the same in either layout up to float32 summation order. Read when a convolution is built; the
 * default comes from CONVLORA_CONV_LAYOUT, else 'auto'.
 */
export type ConvLayout = 'auto' | 'channels_last' | 'contiguous';
const LAYOUTS: readonly ConvLayout[] = ['auto', 'channels_last', 'contiguous'];
let convLayout: ConvLayout = checkLayout(process.env.CONVLORA_CONV_LAYOUT ?? 'auto', 'CONVLORA_CONV_LAYOUT');

function checkLayout(l: unknown, what: string): ConvLayout {
  if (!LAYOUTS.includes(l as ConvLayout)) throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${LAYOUTS.join(', ')} for \`${what}\` but received ${describe(l)}`);
  return l as ConvLayout;
}

/** Set the layout of convolution weights built from now on; returns the previous setting. */
export function setConvLayout(layout: ConvLayout): ConvLayout {
  const prev = convLayout;
  convLayout = checkLayout(layout, 'layout');
  return prev;
}

export function getConvLayout(): ConvLayout { return convLayout; }

/** Whether a convolution built now on `device` keeps its weight channels-last. */
export function convChannelsLast(device: Device): boolean {
  return convLayout === 'channels_last' || (convLayout === 'auto' && device === 'cpu');
}

/** Wait for queued device work (timing); no-op on CPU. */
export function synchronize(device: Device): void { native().synchronize(device); }
