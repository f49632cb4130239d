/**
 * Stage 2: train an early segmentation head on the frozen source U-Net (eval mode), BCE against the
 * ground truth; keep the epoch with the best source-validation Surface Dice (docs/method.md §5).
 * kind 'esh' reads the encoder output (the paper's method); 'udas' reads the first encoder block (UDAS
 * baseline); which feature that is, its channels and stride, is the network's spec's (models/zoo.ts).
 */
import { join } from 'node:path';
import { defaultsOf, optionValue, type OptionTable } from '../../options.js';
import { tensor } from '../../engine/create.js';
import * as ops from '../../engine/ops.js';
import { Adam } from '../../engine/optim.js';
import { manualSeed, noGrad } from '../../engine/runtime.js';
import type { Device } from '../../engine/tensor.js';
import type { Domain } from '../../data/scans/cc359.js';
import { Batches, loadScans, openDomain } from './dataset.js';
import { createHead, loadUnet, saveNetwork, type HeadKind } from '../models.js';
import { headInput, specOf } from '../../models/zoo.js';
import { resumeRun, writeRunState } from './runstate.js';
import { trainEpoch } from './loop.js';
import { headSurfaceDice, TOLERANCE_MM } from './score.js';
import { silent, type Reporter } from '../events.js';
import type { DataParallel } from '../dist/parallel.js';

export interface TrainHeadOptions {
  data: string;
  unet: string;
  out: string;
  kind?: HeadKind;
  source?: Domain;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  device?: Device;
  resume?: boolean;
  /** Surface Dice tolerance (mm) for picking the best epoch; default 1. */
  tolerance?: number;
  report?: Reporter;
  /** Data-parallel training over a process group (pipeline/dist/parallel.ts); rank 0 alone validates and writes. */
  parallel?: DataParallel | null;
}

export interface HeadEpoch { epoch: number; loss: number; valSurfaceDice: number; best: boolean }

/**
 * Stage 2's numeric options (docs/method.md §5): the head trains 20 epochs with the source model's Adam
 * settings; one table for the library, the CLI and config files.
 */
export const HEAD_OPTIONS = {
  epochs: { default: 20, min: 1, integer: true },
  batchSize: { default: 32, min: 1, integer: true },
  lr: { default: 1e-3, min: 0 },
  seed: { default: 42, min: 0, integer: true },
  /** Surface Dice tolerance (mm) for picking the best epoch: the paper's 1 mm. */
  tolerance: { default: TOLERANCE_MM, min: 0 },
} as const satisfies OptionTable;

export const HEAD_DEFAULTS = { kind: 'esh' as HeadKind, ...defaultsOf(HEAD_OPTIONS) };

/** A head training's settings, validated and defaulted once (HEAD_OPTIONS). */
export interface HeadSettings { kind: HeadKind; epochs: number; batchSize: number; lr: number; seed: number; tolerance: number; device: Device }

/** Validate and default every option of trainHead (E_INVALID_ARG naming the option). */
export function headSettings(o: TrainHeadOptions): HeadSettings {
  const T = HEAD_OPTIONS;
  return {
    kind: o.kind ?? HEAD_DEFAULTS.kind, epochs: optionValue('epochs', o.epochs, T.epochs), batchSize: optionValue('batchSize', o.batchSize, T.batchSize),
    lr: optionValue('lr', o.lr, T.lr), seed: optionValue('seed', o.seed, T.seed), tolerance: optionValue('tolerance', o.tolerance, T.tolerance), device: o.device ?? 'cpu',
  };
}

export async function trainHead(o: TrainHeadOptions): Promise<{ checkpoint: string; history: HeadEpoch[]; bestEpoch: number }> {
  const { kind, epochs, batchSize, lr, seed, tolerance, device } = headSettings(o);
  const dp = o.parallel ?? null;
  dp?.checkDevice(device);
  const main = dp === null || dp.main;
  const report = main ? o.report ?? silent : silent;
  const stage = `train-${kind}`;
  const runDir = join(o.out, `${kind}-run`);
  const { model: unet, info } = await loadUnet(o.unet, device);
  const source = o.source ?? (info.source as Domain | undefined) ?? 'GE_3';
  unet.eval().freeze();
  const d = await openDomain(o.data, source, 'source');
  const train = await loadScans(d.split.train, d.info);
  const val = await loadScans(d.split.val, d.info);
  manualSeed(seed);
  const spec = specOf(unet);
  const head = createHead(kind, info.filters, device, spec.arch);
  const opt = new Adam(head.parameters(), { lr });
  const checkpoint = join(o.out, `${kind}.safetensors`);
  const fingerprint = { data: o.data, unet: o.unet, kind, batchSize, lr, seed };
  const meta = { kind: 'head' as const, head: kind, arch: spec.arch, filters: info.filters, size: d.info.size, source };
  try {
    const { history, start } = await resumeRun<HeadEpoch>(runDir, o.resume === true, fingerprint, head, opt,
      (message) => report({ type: 'stage', stage, message }));
    dp?.broadcastState([head]);
    let best = Math.max(-Infinity, ...history.map((h) => h.valSurfaceDice).filter((v) => !Number.isNaN(v)));
    const batches = new Batches(train, d.info, { batchSize, seed, dropLast: false });
    for (let epoch = start; epoch < epochs; epoch++) {
      const t0 = Date.now();
      head.train();
      const loss = await trainEpoch(batches, epoch, epochs, opt, device, stage, report, (x, b) => {
        const f = noGrad(() => unet.forwardFeatures(x)); // the U-Net is frozen: no graph through it
        return ops.bceWithLogits(head.forward(headInput(spec, kind, f)), tensor(b.y, b.shape, { device }));
      }, { parallel: dp, syncBatchNorm: [head] });
      if (!main) {
        // Rank 0 validates and writes; the others wait for it with the same weights.
        history.push({ epoch: epoch + 1, loss, valSurfaceDice: NaN, best: false });
        dp!.barrier();
        continue;
      }
      const sds = headSurfaceDice(unet, head, kind, val, device, batchSize, tolerance);
      const isBest = sds > best;
      if (isBest) {
        best = sds;
        await saveNetwork(checkpoint, head, { ...meta, epoch: epoch + 1, valSurfaceDice: sds });
      }
      history.push({ epoch: epoch + 1, loss, valSurfaceDice: sds, best: isBest });
      await writeRunState(runDir, { stage, fingerprint, epochsDone: epoch + 1, history }, head, opt);
      report({ type: 'epoch-end', stage, epoch: epoch + 1, epochs, loss, metric: sds, metricName: 'val SDS', best: isBest, seconds: (Date.now() - t0) / 1000 });
      dp?.barrier();
    }
    // Validation SDS undefined in every epoch (empty masks): keep the last epoch rather than nothing.
    if (main && !history.some((h) => h.best)) await saveNetwork(checkpoint, head, { ...meta, epoch: epochs, valSurfaceDice: NaN });
    const bestEpoch = history.reduce((b, h) => (h.best ? h.epoch : b), 0);
    dp?.barrier(); // the checkpoint is written before any rank reads it
    return { checkpoint, history, bestEpoch };
  } finally {
    unet.dispose();
    head.dispose();
    opt.dispose();
  }
}
