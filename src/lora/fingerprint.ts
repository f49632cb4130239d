/**
 * What a scanner looks like to a network: the per-channel mean and variance of the inputs of the
 * BatchNorm layers in the early encoder (the model spec's `statisticsBlocks`), and the per-channel means over a
 * STATISTICS_GRID x STATISTICS_GRID grid of cells of the slice (where in the slice the channel fires:
 * a receive coil's bias pattern, the field of view, the head's position), measured with the network in
 * eval mode on a few slices of a scan. A *fingerprint* is that measurement under the source model, one
 * entry per training volume of a domain, so that the spread within one scanner is known as well as its centre.
 * Adapters store the fingerprint of their target's training volumes, the source checkpoint that of the
 * source's; `adapter-choice.ts` compares scans against them.
 */
import { ConvLoraError, checkInt } from '../errors.js';
import { tensor } from '../engine/create.js';
import * as ops from '../engine/ops.js';
import { noGrad } from '../engine/runtime.js';
import { tidy, type Device, type Tensor } from '../engine/tensor.js';
import { BatchNorm2d } from '../nn/layers.js';
import { specOf, type SegmentationNet } from '../models/zoo.js';

/**
 * Slices per scan the statistics are measured on: one batch. The mean of 8 evenly spaced slices of a
 * head is a stable estimate of its channel statistics, and 8 slices cost 1/8 of a 64-slice phantom's
 * forward passes and 1/20-1/30 of a CC359 volume's, through two of the network's eight blocks.
 */
export const STATISTICS_SLICES = 8;

/**
 * Cells per side of the grid the spatial means are taken over. 2 x 2 quarters: on the phantom demos'
 * validation scans (seeds 42 and 123), a 4 x 4 grid separated the scanners no better, and the global
 * means and variances alone confused the scanners of similar contrast (docs/segment.md).
 */
export const STATISTICS_GRID = 2;

/**
 * Per-channel statistics of one layer's input: mean and (population) variance over the batch and the
 * plane, and `grid`, the channel's mean over each cell of a STATISTICS_GRID x STATISTICS_GRID grid of
 * the plane, channel-major ([C][row][column], C * GRID^2 numbers).
 */
export interface LayerStatistics { mean: number[]; var: number[]; grid: number[] }

/** Per-channel mean and variance alone (a BatchNorm layer's running statistics have no grid). */
export type ChannelMoments = Pick<LayerStatistics, 'mean' | 'var'>;

/** Statistics of the inputs of `layers` (BN module paths, forward order), one entry per layer. */
export interface ScanStatistics { layers: string[]; stats: LayerStatistics[] }

/**
 * A domain's fingerprint: the source model's grid means (`gridFeatures`) on each of its training
 * volumes, at most FINGERPRINT_VOLUMES of them. Only the grid means are kept: they are what the
 * adapter choice compares (a channel's global mean is the mean of its cells), and each stored number
 * adds to every adapter file.
 */
export interface Fingerprint {
  /** 2: grid means per volume (version 1, per-channel means and variances, is no longer read). */
  version: 2;
  /** STATISTICS_GRID when measured. */
  grid: number;
  layers: string[];
  /** Channels of each layer: a volume holds channels[k] * grid^2 numbers for layer k, in layer order. */
  channels: number[];
  /** Slices per volume (STATISTICS_SLICES, fewer for short volumes). */
  slices: number;
  /** One feature vector per volume (`gridFeatures`). */
  volumes: number[][];
}

/**
 * Volumes a fingerprint keeps at most (evenly spaced over the training volumes): enough to estimate a
 * scanner's centre and, pooled over scanners, the spread within one (16 x 6 scanners - 6 = 90 degrees of
 * freedom), while a 16-filter U-Net's fingerprint stays near 100 KB of JSON.
 */
export const FINGERPRINT_VOLUMES = 16;

/** The feature vector of a scan or volume: every layer's grid means, concatenated in layer order. */
export function gridFeatures(stats: readonly LayerStatistics[]): number[] {
  return stats.flatMap((l) => l.grid);
}

/** The BatchNorm layers whose inputs are measured: those inside the spec's statisticsBlocks, in forward order. */
export function statisticsLayers(model: SegmentationNet): [string, BatchNorm2d][] {
  const blocks = specOf(model).statisticsBlocks;
  return model.namedModules().filter((e): e is [string, BatchNorm2d] =>
    e[1] instanceof BatchNorm2d && blocks.some((b) => e[0].startsWith(`${b}.`)));
}

export { headSpan } from '../data/image/head-span.js';
import { headSpan } from '../data/image/head-span.js';

/**
 * `count` evenly spaced slice indices inside the head (headSpan), so that statistics are taken from the
 * head alike at adaptation and at `segment` time.
 */
export function statisticSlices(images: Float32Array, shape: readonly [number, number, number], count = STATISTICS_SLICES): number[] {
  checkInt('count', count, 1);
  const [lo, hi] = headSpan(images, shape);
  const n = Math.min(count, hi - lo + 1);
  return Array.from({ length: n }, (_, i) => lo + Math.floor(((i + 0.5) * (hi - lo + 1)) / n));
}

/**
 * Per-channel mean and (population) variance of every statistics layer's input, over the given slices
 * of slices [S, H, W] (default: statisticSlices), with `model` in eval mode and only its first
 * statisticsBlocks (spec) run. The model's train/eval modes are restored afterwards.
 */
export function bnInputStatistics(model: SegmentationNet, images: Float32Array, shape: readonly [number, number, number],
  opts: { slices?: readonly number[]; device?: Device; batchSize?: number } = {}): ScanStatistics {
  const [S, H, W] = shape;
  const plane = H * W;
  const slices = opts.slices ?? statisticSlices(images, shape);
  const batchSize = checkInt('batchSize', opts.batchSize ?? STATISTICS_SLICES, 1);
  for (const s of slices) if (!Number.isInteger(s) || s < 0 || s >= S) throw new ConvLoraError('E_INVALID_ARG', `Expected slice indices in [0, ${S - 1}] for \`slices\` but received ${s}`);
  if (slices.length === 0) throw new ConvLoraError('E_INVALID_ARG', 'Expected at least one slice for `slices` but received none');
  const layers = statisticsLayers(model);
  const nBlocks = specOf(model).statisticsBlocks.length;
  // Running sums per layer: count, sum of batch means x n, and the pooled second moment (Chan et al.).
  const G = STATISTICS_GRID;
  const acc = layers.map(() => ({ n: 0, mean: [] as number[], m2: [] as number[], grid: [] as number[] }));
  const modes = model.namedModules().map(([, m]) => [m, m.training] as const);
  model.eval();
  layers.forEach(([, bn], k) => {
    bn.inputTap = (x: Tensor) => {
      const [B, C, h, w] = x.shape as [number, number, number, number];
      if (h % G !== 0 || w % G !== 0) throw new ConvLoraError('E_SHAPE', `Expected the input of ${layers[k]![0]} to divide into a ${G} x ${G} grid but received ${h} x ${w}`);
      const nb = B * h * w;
      // Cell means weighted by the batch size, so that chunks add up like the global mean does.
      const cells = Array.from(ops.reshape(ops.mean(ops.reshape(x, [B, C, G, h / G, G, w / G]), [0, 3, 5]), [C * G * G]).toFloat32());
      const m = ops.mean(x, [0, 2, 3], true);
      const bm = Array.from(ops.reshape(m, [x.shape[1]!]).toFloat32());
      const bv = Array.from(ops.mean(ops.square(ops.sub(x, m)), [0, 2, 3]).toFloat32());
      const a = acc[k]!;
      a.grid = a.n === 0 ? cells.map((v) => v * nb) : a.grid.map((g, i) => g + cells[i]! * nb);
      if (a.n === 0) { a.mean = bm; a.m2 = bv.map((v) => v * nb); a.n = nb; return; }
      const n = a.n + nb;
      a.mean = a.mean.map((mu, c) => {
        const d = bm[c]! - mu;
        a.m2[c] = a.m2[c]! + bv[c]! * nb + (d * d * a.n * nb) / n;
        return mu + (d * nb) / n;
      });
      a.n = n;
    };
  });
  try {
    for (let at = 0; at < slices.length; at += batchSize) {
      const chunk = slices.slice(at, at + batchSize);
      const x = new Float32Array(chunk.length * plane);
      chunk.forEach((s, b) => x.set(images.subarray(s * plane, (s + 1) * plane), b * plane));
      noGrad(() => tidy(() => { model.encode(tensor(x, [chunk.length, 1, H, W], { device: opts.device ?? 'cpu' }), nBlocks); }));
    }
  } finally {
    for (const [, bn] of layers) bn.inputTap = null;
    for (const [m, on] of modes) m.training = on;
  }
  return { layers: layers.map(([p]) => p), stats: acc.map((a) => ({ mean: a.mean, var: a.m2.map((v) => v / a.n), grid: a.grid.map((g) => g / a.n) })) };
}

/** The running statistics (mean, variance) of the statistics layers, as the model holds them now. */
export function runningStatistics(model: SegmentationNet): { layers: string[]; stats: ChannelMoments[] } {
  const layers = statisticsLayers(model);
  return {
    layers: layers.map(([p]) => p),
    stats: layers.map(([, bn]) => ({ mean: Array.from(bn.buffer('running_mean').toFloat32()), var: Array.from(bn.buffer('running_var').toFloat32()) })),
  };
}

/** Five significant digits: far below the spread within a scanner, and the JSON stays small. */
const round = (xs: number[]): number[] => xs.map((x) => Number(x.toPrecision(5)));

/**
 * The fingerprint of a domain from its (preprocessed) training volumes, under `model` (the source
 * model, in eval mode), or null when there are no volumes. Beyond FINGERPRINT_VOLUMES volumes, evenly
 * spaced ones are measured.
 */
export function fingerprintScans(model: SegmentationNet, scans: readonly { images: Float32Array; shape: [number, number, number] }[], opts: { device?: Device } = {}): Fingerprint | null {
  if (scans.length === 0) return null;
  const n = Math.min(scans.length, FINGERPRINT_VOLUMES);
  const picked = Array.from({ length: n }, (_, i) => scans[Math.floor((i * scans.length) / n)]!);
  let slices = STATISTICS_SLICES, layers: string[] = [], channels: number[] = [];
  const volumes = picked.map((s) => {
    const at = statisticSlices(s.images, s.shape);
    slices = Math.min(slices, at.length);
    const st = bnInputStatistics(model, s.images, s.shape, { slices: at, ...(opts.device === undefined ? {} : { device: opts.device }) });
    layers = st.layers;
    channels = st.stats.map((l) => l.mean.length);
    return round(gridFeatures(st.stats));
  });
  return { version: 2, grid: STATISTICS_GRID, layers, channels, slices, volumes };
}
