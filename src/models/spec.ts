/**
 * What the adaptation code needs to know about an architecture, in one object per architecture (as
 * PEFT keeps its per-model target lists apart from its LoRA code): which encoder blocks the method's
 * placements adapt and which convs and BatchNorms inside them train, which features the early
 * segmentation heads read, the input size divisor, and how the network is written as ONNX.
 * The registry of specs is models/zoo.ts; this file holds only the types.
 */
import type { Device, Tensor } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { Conv2d } from '../nn/layers.js';
import type { EmitterEntry } from '../nn/onnx-layers.js';

/** Final logits [B, out, H, W] plus named intermediate features (the early heads' taps). */
export type Features = { logits: Tensor } & { [tap: string]: Tensor };

/** A segmentation network of the zoo: a module with named encoder blocks and feature taps. */
export interface SegmentationNet extends Module {
  readonly filters: number;
  /** Logits and every tap the spec names, from one forward pass. */
  forwardFeatures(x: Tensor): Features;
  /** The first `blocks` encoder blocks only (spec.encoderBlocks order): x [B, 1, H, W] -> their output. */
  encode(x: Tensor, blocks: number): Tensor;
}

/** Early head kinds (pipeline/model-info.ts's HeadKind): 'esh' reads the encoder output, 'udas' the first block. */
export type TapKind = 'esh' | 'udas';

/** The zoo's LoRA target rule: every Conv2d with a kernel above 1 x 1 in the adapted blocks (not 1x1 shortcuts, not transposed convs). */
export const convKernelAbove1 = (_path: string, conv: Module): boolean => conv instanceof Conv2d && conv.kernelSize > 1;

/** A feature an early head reads: its name in forwardFeatures, its channels at `filters`, and its stride (down-sampling). */
export interface HeadTap { feature: string; channels: (filters: number) => number; stride: number }

export interface ModelOptions { filters?: number; inChannels?: number; outChannels?: number; device?: Device }

export interface ModelSpec {
  /** Registry name, recorded in checkpoints (metadata `arch`). */
  readonly arch: string;
  /** One line for `summary` and usage. */
  readonly title: string;
  /** Default initial filter count (the paper's U-Net: 16). */
  readonly defaultFilters: number;
  create(o?: ModelOptions): SegmentationNet;
  /** Whether `m` is a network of this architecture. */
  owns(m: Module): m is SegmentationNet;
  /** Encoder blocks in forward order: placements '1', '1-2', '1-3', 'all' adapt the first 1, 2, 3, all of them. */
  readonly encoderBlocks: readonly string[];
  /** Encoder blocks whose BatchNorm inputs fingerprint a scanner (the cheap, contrast-sensitive early ones). */
  readonly statisticsBlocks: readonly string[];
  /** Whether the conv at `path` (inside an adapted block; `conv` is the base conv, unwrapped) gets LoRA. */
  loraTarget(path: string, conv: Module): boolean;
  /** Whether the BatchNorm at `path` (inside an adapted block) trains its affine parameters with the adapters. */
  adaptedBatchNorm(path: string): boolean;
  /** The block the UDAS baseline trains fully (the first encoder block). */
  readonly udasBlock: string;
  readonly taps: Readonly<Record<TapKind, HeadTap>>;
  /** Height and width of inputs must be multiples of this (the product of the down-sampling strides). */
  readonly divisor: number;
  /** Emitters for the architecture's own module classes (nn/onnx-layers.ts maps the plain layers). */
  readonly onnxEmitters: readonly EmitterEntry[];
  /** The output channels of a network (for the ONNX graph's output shape). */
  outChannels(m: SegmentationNet): number;
}
