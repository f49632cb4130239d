/**
 * AdaBN (docs/method.md §4): target-domain BatchNorm statistics.
 * - reestimateBatchNorm: explicit pass. Resets the selected BN layers' running statistics and
 *   recomputes them as a cumulative average (momentum null) over the given target batches, with
 *   the selected layers in train mode and every other layer in eval mode; no gradients.
 * - setImplicitAdaBN: the authors' implicit mode, where BN layers stay in train mode during adaptation
 *   and update their running statistics with momentum 0.1 from the source statistics.
 */
import { ConvLoraError, describe } from '../errors.js';
import { noGrad } from '../engine/runtime.js';
import { clone, copy_ } from '../engine/ops.js';
import { tidy, type Tensor } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/layers.js';
import { specOf } from '../models/zoo.js';

export type BatchNormSelection = 'all' | 'encoder' | ((path: string) => boolean);

/** BN layers of a model selected by 'all', 'encoder' (a zoo network's encoder blocks, from its spec) or a path predicate. */
export function selectBatchNorms(model: Module, which: BatchNormSelection = 'all'): [string, BatchNorm2d][] {
  let pred: (p: string) => boolean;
  if (which === 'all') pred = () => true;
  else if (which === 'encoder') {
    const blocks = specOf(model).encoderBlocks;
    pred = (p) => blocks.some((b) => p === b || p.startsWith(`${b}.`));
  }
  else if (typeof which === 'function') pred = which;
  else throw new ConvLoraError('E_INVALID_ARG', `Expected 'all', 'encoder' or a function for \`layers\` but received ${describe(which)}`);
  return model.namedModules().filter((e): e is [string, BatchNorm2d] => e[1] instanceof BatchNorm2d && pred(e[0]));
}

/**
 * Recompute running statistics of the selected BN layers over `batches` ([B, C, H, W] inputs fed
 * through `forward`, default model.forward). Restores every layer's mode and momentum afterwards.
 * Returns the number of batches used.
 */
export function reestimateBatchNorm(model: Module, batches: Iterable<Tensor>, opts: { layers?: BatchNormSelection; forward?: (x: Tensor) => unknown } = {}): number {
  const selected = selectBatchNorms(model, opts.layers ?? 'all');
  const modes = model.namedModules().map(([, m]) => [m, m.training] as const);
  const momenta = selected.map(([, bn]) => bn.momentum);
  const forward = opts.forward ?? ((x: Tensor) => model.forward(x));
  let count = 0;
  try {
    model.eval();
    for (const [, bn] of selected) { bn.resetRunningStats(); bn.momentum = null; bn.training = true; }
    for (const x of batches) {
      noGrad(() => tidy(() => { forward(x); }));
      count += 1;
    }
  } finally {
    for (const [m, on] of modes) m.training = on;
    selected.forEach(([, bn], i) => { bn.momentum = momenta[i] ?? 0.1; });
  }
  if (count === 0) throw new ConvLoraError('E_INVALID_ARG', 'AdaBN re-estimation received no batches');
  return count;
}

/** Implicit AdaBN: put the selected BN layers in train mode (running stats updated with `momentum`). */
export function setImplicitAdaBN(model: Module, opts: { layers?: BatchNormSelection; momentum?: number } = {}): void {
  for (const [, bn] of selectBatchNorms(model, opts.layers ?? 'all')) {
    bn.training = true;
    bn.momentum = opts.momentum ?? 0.1;
  }
}

/** Copies of every BatchNorm layer's running statistics and batch count, to put back later. */
export interface BatchNormSnapshot {
  /** Copy the saved statistics back into the model's buffers. */
  restore(): void;
  /** Free the copies. */
  dispose(): void;
}

/** Snapshot the running mean, variance and num_batches_tracked of every BatchNorm layer of `model`. */
export function snapshotBatchNorm(model: Module): BatchNormSnapshot {
  const pairs = selectBatchNorms(model).flatMap(([, bn]) =>
    (['running_mean', 'running_var', 'num_batches_tracked'] as const).map((n) => [bn.buffer(n), clone(bn.buffer(n)).keep()] as const));
  return {
    restore: () => { for (const [dst, src] of pairs) copy_(dst, src); },
    dispose: () => { for (const [, t] of pairs) t.dispose(); },
  };
}
