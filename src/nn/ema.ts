/**
 * An exponential moving average of a model's weights (Polyak averaging; timm's ModelEma, the mean
 * teacher's teacher): a shadow copy of the model whose parameters follow
 *
 *   shadow <- decay * shadow + (1 - decay) * param
 *
 * after every optimizer step, so it averages the last ~1 / (1 - decay) steps' weights and smooths the
 * step-to-step (and, with per-image batches, contrast-to-contrast) noise of the live weights.
 *
 * Buffers (BatchNorm's running_mean, running_var, num_batches_tracked) are **copied** from the live
 * model, not averaged: they are already a momentum average of the live model's batch statistics, an
 * average of them would lag further behind the weights for no gain, and the integer count cannot be
 * averaged. They describe the live weights' activations, not exactly the shadow's; a model that predicts
 * with test-time AdaBN (the bundled one) re-estimates them on each scan anyway, so only the
 * stored-statistics mode ('eval') sees that approximation.
 *
 * The update runs in place without autograd (ops' `*_` calls): it allocates no tensor.
 */
import { ConvLoraError } from '../errors.js';
import { addInPlace, copy_, mulInPlace } from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import type { Module } from './module.js';

/** Check an EMA decay: a number strictly between 0 and 1 (E_INVALID_ARG naming the value otherwise). */
export function checkEmaDecay(decay: unknown): number {
  if (typeof decay !== 'number' || !Number.isFinite(decay) || decay <= 0 || decay >= 1) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected a number with 0 < decay < 1 for \`ema\` but received ${typeof decay === 'number' ? String(decay) : JSON.stringify(decay) ?? String(decay)}`);
  }
  return decay;
}

export class ModelEma<M extends Module> {
  readonly decay: number;
  /** The averaged model (frozen: no parameter needs a gradient). Owned: dispose() frees it. */
  readonly shadow: M;
  readonly #params: [Tensor, Tensor][];
  readonly #buffers: [Tensor, Tensor][];

  /**
   * `shadow` is a freshly built model of the same architecture as `live`; it starts as a copy of `live`'s
   * current parameters and buffers (timm's ModelEma does the same).
   */
  constructor(live: M, shadow: M, decay: number) {
    this.decay = checkEmaDecay(decay);
    this.shadow = shadow;
    shadow.freeze();
    const pair = (own: [string, Tensor][], theirs: [string, Tensor][], what: string): [Tensor, Tensor][] => {
      const map = new Map(theirs);
      if (map.size !== own.length) throw new ConvLoraError('E_INVALID_ARG', `The EMA shadow has ${map.size} ${what}, the model ${own.length}`);
      return own.map(([name, t]) => {
        const s = map.get(name);
        if (s === undefined || s.shape.join() !== t.shape.join()) throw new ConvLoraError('E_INVALID_ARG', `The EMA shadow does not match the model at ${name}`);
        return [s, t];
      });
    };
    this.#params = pair(live.namedParameters(), shadow.namedParameters(), 'parameters');
    this.#buffers = pair(live.namedBuffers(), shadow.namedBuffers(), 'buffers');
    this.copyFrom();
  }

  /** Set the shadow to the live model's current weights and buffers. */
  copyFrom(): void {
    for (const [s, p] of [...this.#params, ...this.#buffers]) copy_(s, p);
  }

  /** One EMA step (call after every optimizer step): parameters averaged, buffers copied. */
  update(): void {
    const a = 1 - this.decay;
    for (const [s, p] of this.#params) {
      mulInPlace(s, this.decay);
      addInPlace(s, p, a);
    }
    for (const [s, b] of this.#buffers) copy_(s, b);
  }

  dispose(): void { this.shadow.dispose(); }
}
