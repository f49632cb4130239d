/** Adam with PyTorch's semantics (torch.optim.Adam, amsgrad off, L2 weight decay). */
import { ConvLoraError, checkNumber } from '../errors.js';
import { copy_ } from './ops.js';
import { native } from './binding.js';
import { zeros } from './create.js';
import type { Tensor } from './tensor.js';

export interface AdamState { step: number; steps: number[]; expAvg: Tensor[]; expAvgSq: Tensor[] }

export interface AdamOptions { lr?: number; betas?: [number, number]; eps?: number; weightDecay?: number }

export class Adam {
  readonly params: Tensor[];
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  /** Number of step() calls. */
  stepCount = 0;
  /** Per-parameter step counts, as PyTorch keeps them: a parameter without a gradient at a step keeps its count. */
  private readonly steps: Float64Array;
  private readonly expAvg: Tensor[];
  private readonly expAvgSq: Tensor[];

  /** Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0, as in PyTorch. */
  constructor(params: Tensor[], o: AdamOptions = {}) {
    this.params = params.slice();
    this.lr = checkNumber('lr', o.lr ?? 1e-3, 0);
    this.betas = [checkNumber('betas[0]', o.betas?.[0] ?? 0.9, 0, 1), checkNumber('betas[1]', o.betas?.[1] ?? 0.999, 0, 1)];
    this.eps = checkNumber('eps', o.eps ?? 1e-8, 0);
    this.weightDecay = checkNumber('weightDecay', o.weightDecay ?? 0, 0);
    this.expAvg = this.params.map((p) => zeros(p.shape, { dtype: p.dtype, device: p.device }).keep());
    this.expAvgSq = this.params.map((p) => zeros(p.shape, { dtype: p.dtype, device: p.device }).keep());
    this.steps = new Float64Array(this.params.length);
  }

  /** Drop all gradients (set_to_none, PyTorch's default). */
  zeroGrad(): void {
    native().zeroGrad(this.params.map((p) => p.handle));
  }

  step(): void {
    this.stepCount += 1;
    native().adamStep(this.params.map((p) => p.handle), this.expAvg.map((t) => t.handle), this.expAvgSq.map((t) => t.handle),
      this.steps, this.lr, this.betas[0], this.betas[1], this.eps, this.weightDecay);
  }

  /** Optimizer state (for checkpoints), in parameter order: step() calls, per-parameter step counts, moments. */
  state(): AdamState {
    return { step: this.stepCount, steps: Array.from(this.steps), expAvg: this.expAvg, expAvgSq: this.expAvgSq };
  }

  /**
   * Restore state saved with state() (resume): moments are copied into this optimizer's buffers. Without
   * `steps` (checkpoints written before per-parameter counts) every parameter gets `step`.
   */
  loadState(st: Omit<AdamState, 'steps'> & { steps?: number[] | undefined }): void {
    if (st.steps !== undefined && (!Array.isArray(st.steps) || st.steps.length !== this.params.length || !st.steps.every((n) => Number.isInteger(n) && n >= 0))) {
      throw new ConvLoraError('E_CHECKPOINT', `Expected ${this.params.length} non-negative integer step counts in the optimizer state but received ${JSON.stringify(st.steps)}`);
    }
    if (st.expAvg.length !== this.params.length || st.expAvgSq.length !== this.params.length) {
      throw new ConvLoraError('E_CHECKPOINT', `Optimizer state has ${st.expAvg.length} moments for ${this.params.length} parameters`);
    }
    st.expAvg.forEach((t, i) => copy_(this.expAvg[i]!, t));
    st.expAvgSq.forEach((t, i) => copy_(this.expAvgSq[i]!, t));
    this.stepCount = st.step;
    this.steps.set(st.steps ?? this.params.map(() => st.step));
  }

  dispose(): void {
    for (const t of [...this.expAvg, ...this.expAvgSq]) t.dispose();
  }
}
