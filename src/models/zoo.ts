/**
 * The model zoo: one spec per architecture (models/spec.ts), looked up by name (`--arch`, a checkpoint's
 * `arch` metadata) or by model. Placement, AdaBN, early heads, scoring, `summary` and the CLI read what
 * they need about a network from here and nowhere else.
 *   dart-unet   the paper's residual U-Net (DART20), the default; checkpoints without `arch` are this one
 *   unet        a plain U-Net in the style of Ronneberger et al. with BatchNorm (models/plain-unet.ts)
 *   basic-unet  a MONAI-BasicUNet-like network with BatchNorm and LeakyReLU (models/basic-unet.ts)
 */
import { ConvLoraError, describe } from '../errors.js';
import type { Module } from '../nn/module.js';
import { DEFAULT_NETWORK_ARCH } from '../nn/checkpoint.js';
import { BatchNorm2d } from '../nn/layers.js';
import { ENCODER_BLOCKS, STATISTICS_BLOCKS, UNet2D } from './unet.js';
import { UNET_DIVISOR, UNET_EMITTERS } from './unet-onnx.js';
import { networkToOnnx, type OnnxExportOptions } from './onnx-net.js';
import { PLAIN_UNET } from './plain-unet.js';
import { BASIC_UNET } from './basic-unet.js';
import type { Tensor } from '../engine/tensor.js';
import { convKernelAbove1, type Features, type ModelSpec, type SegmentationNet, type TapKind } from './spec.js';

export type { Features, ModelSpec, SegmentationNet, TapKind } from './spec.js';

/** The architecture of checkpoints that do not record one (nn/checkpoint.ts), and `--arch`'s default. */
export const DEFAULT_ARCH = DEFAULT_NETWORK_ARCH;


const DART_UNET: ModelSpec = {
  arch: DEFAULT_ARCH,
  title: 'Residual U-Net (DART20)',
  defaultFilters: 16,
  create: (o = {}) => new UNet2D(o),
  owns: (m): m is UNet2D => m instanceof UNet2D,
  encoderBlocks: ENCODER_BLOCKS,
  statisticsBlocks: STATISTICS_BLOCKS,
  // docs/method.md §3: the 3x3 convs and the stride-2 2x2 convs, never the 1x1 shortcuts or ConvTranspose.
  loraTarget: convKernelAbove1,
  // The BatchNorms inside the blocks' ResBlocks, not the leading BN of a down block.
  adaptedBatchNorm: (path) => path.includes('.conv_path.'),
  udasBlock: 'init_path',
  taps: { udas: { feature: 'x0', channels: (f) => f, stride: 1 }, esh: { feature: 'x3', channels: (f) => 8 * f, stride: 8 } },
  divisor: UNET_DIVISOR,
  onnxEmitters: UNET_EMITTERS,
  outChannels: (m) => (m.getModule('out_path.2') as BatchNorm2d).numFeatures,
};

const ZOO = new Map<string, ModelSpec>([DART_UNET, PLAIN_UNET, BASIC_UNET].map((s) => [s.arch, s]));

/** Add an architecture to the zoo (the built-in ones register themselves below). */
export function registerModelSpec(spec: ModelSpec): void {
  if (ZOO.has(spec.arch)) throw new ConvLoraError('E_INVALID_ARG', `Expected a new architecture name for \`arch\` but received ${describe(spec.arch)}, which is registered`);
  ZOO.set(spec.arch, spec);
}

/** Registered architecture names, the default first. */
export function architectures(): string[] { return [...ZOO.keys()]; }

/** The spec of architecture `arch` (E_INVALID_ARG naming the known ones). */
export function modelSpec(arch: unknown): ModelSpec {
  const s = typeof arch === 'string' ? ZOO.get(arch) : undefined;
  if (s === undefined) throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${architectures().join(', ')} for \`arch\` but received ${describe(arch)}`);
  return s;
}

/** The spec of a zoo network (E_INVALID_ARG for a network outside the zoo: use injectAdapters for those). */
export function specOf(model: Module): ModelSpec {
  for (const s of ZOO.values()) if (s.owns(model)) return s;
  throw new ConvLoraError('E_INVALID_ARG', `Expected a network of the model zoo (${architectures().join(', ')}) but received a ${model.constructor.name}; adapt other networks with injectAdapters`);
}

/** The network of a zoo model spec, narrowed (E_INVALID_ARG otherwise). */
export function asSegmentationNet(model: Module): SegmentationNet {
  const s = specOf(model);
  if (!s.owns(model)) throw new ConvLoraError('E_INVALID_ARG', `Not a ${s.arch} network`);
  return model;
}

/** The feature an early head of `kind` reads, from a forwardFeatures result. */
export function headInput(spec: ModelSpec, kind: TapKind, f: Features): Tensor {
  const t = f[spec.taps[kind].feature];
  if (t === undefined) throw new ConvLoraError('E_INVALID_ARG', `The ${spec.arch} forward has no feature ${JSON.stringify(spec.taps[kind].feature)} for the ${kind} head`);
  return t;
}

/** `model` as ONNX through its spec's emitters (export, `segment --engine onnx`). */
export function modelToOnnx(model: SegmentationNet, o: OnnxExportOptions): Uint8Array {
  const s = specOf(model);
  return networkToOnnx(model, { emitters: s.onnxEmitters, outChannels: s.outChannels(model), filters: model.filters, title: s.title, divisor: s.divisor }, o);
}
