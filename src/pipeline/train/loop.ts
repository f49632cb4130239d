/** One training epoch over shuffled batches: the step every stage shares (zero grad, loss, backward, Adam). */
import { ConvLoraError } from '../../errors.js';
import { tensor } from '../../engine/create.js';
import * as ops from '../../engine/ops.js';
import type { Adam } from '../../engine/optim.js';
import { tidy, type Device, type Tensor } from '../../engine/tensor.js';
import type { Batch } from '../../data/scans/sampler.js';
import type { BatchSource } from './dataset.js';
import type { Reporter } from '../events.js';
import type { Module } from '../../nn/module.js';
import type { DataParallel } from '../dist/parallel.js';

/** What else a training epoch does: a weight EMA's update after each step, data parallelism. */
export interface EpochExtras {
  /** Runs after every optimizer step (a weight EMA's update). */
  afterStep?: () => void;
  /** Split every batch over the process group's ranks and all-reduce the gradients (pipeline/dist/parallel.ts). */
  parallel?: DataParallel | null;
  /** With `parallel`: the modules whose BatchNorm layers normalize with the global batch's statistics during the epoch. */
  syncBatchNorm?: readonly Module[];
}

/**
 * Run epoch `epoch` (0-based) of `batches`: for each batch, `loss(x, batch)` with x [B, 1, H, W] on
 * `device` gives a scalar loss tensor that is back-propagated before an optimizer step. Reports
 * epoch-start and per-step events; returns the mean loss. A non-finite loss stops training (E_NATIVE).
 * Data-parallel: each rank computes the loss of its rows of the batch, scaled by its share, and the
 * reported loss is the global batch's.
 */
export async function trainEpoch(batches: BatchSource, epoch: number, epochs: number, opt: Adam, device: Device, stage: string,
  report: Reporter, loss: (x: Tensor, batch: Batch) => Tensor, extras: EpochExtras = {}): Promise<number> {
  const dp = extras.parallel ?? null;
  report({ type: 'epoch-start', stage, epoch: epoch + 1, epochs, steps: batches.steps });
  let sum = 0;
  let n = 0;
  if (dp !== null) dp.syncBatchNorm(extras.syncBatchNorm ?? [], true);
  try {
    for await (const whole of batches.epoch(epoch)) {
      const part = dp === null ? null : dp.shard(whole);
      const b = part?.batch ?? whole;
      const value = tidy(() => {
        opt.zeroGrad();
        // The inner scope drops our handles on the forward intermediates before backward: the autograd graph
        // keeps only what backward needs (as PyTorch frees what Python no longer references), so the peak
        // holds one graph, not the graph plus every intermediate.
        const l = tidy(() => {
          const v = loss(tensor(b.x, b.shape, { device }), b);
          return part === null ? v : ops.mul(v, part.share);
        });
        l.backward();
        const v = dp === null ? l.item() : dp.reduceGradients(opt.params, l.item());
        opt.step();
        extras.afterStep?.();
        return v;
      });
      if (!Number.isFinite(value)) throw new ConvLoraError('E_NATIVE', `Training diverged in ${stage}: loss ${value} at epoch ${epoch + 1}`);
      sum += value;
      n += 1;
      report({ type: 'step', stage, epoch: epoch + 1, step: n, steps: batches.steps, loss: value });
    }
  } finally {
    if (dp !== null) dp.syncBatchNorm(extras.syncBatchNorm ?? [], false);
  }
  return sum / n;
}
