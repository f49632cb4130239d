/** One training epoch over shuffled batches: the step every stage shares (zero grad, loss, backward, Adam). */
import { ConvLoraError } from '../errors.js';
import { tensor } from '../engine/create.js';
import type { Adam } from '../engine/optim.js';
import { tidy, type Device, type Tensor } from '../engine/tensor.js';
import type { Batch } from '../data/sampler.js';
import type { BatchSource } from './dataset.js';
import type { Reporter } from './events.js';

/**
 * Run epoch `epoch` (0-based) of `batches`: for each batch, `loss(x, batch)` with x [B, 1, H, W] on
 * `device` gives a scalar loss tensor that is back-propagated before an optimizer step. Reports
 * epoch-start and per-step events; returns the mean loss. A non-finite loss stops training (E_NATIVE).
 * `afterStep` runs after every optimizer step (a weight EMA's update).
 */
export async function trainEpoch(batches: BatchSource, epoch: number, epochs: number, opt: Adam, device: Device, stage: string,
  report: Reporter, loss: (x: Tensor, batch: Batch) => Tensor, afterStep?: () => void): Promise<number> {
  report({ type: 'epoch-start', stage, epoch: epoch + 1, epochs, steps: batches.steps });
  let sum = 0;
  let n = 0;
  for await (const b of batches.epoch(epoch)) {
    const value = tidy(() => {
      opt.zeroGrad();
      // The inner scope drops our handles on the forward intermediates before backward: the autograd graph
      // keeps only what backward needs (as PyTorch frees what Python no longer references), so the peak
      // holds one graph, not the graph plus every intermediate.
      const l = tidy(() => loss(tensor(b.x, b.shape, { device }), b));
      l.backward();
      opt.step();
      afterStep?.();
      return l.item();
    });
    if (!Number.isFinite(value)) throw new ConvLoraError('E_NATIVE', `Training diverged in ${stage}: loss ${value} at epoch ${epoch + 1}`);
    sum += value;
    n += 1;
    report({ type: 'step', stage, epoch: epoch + 1, step: n, steps: batches.steps, loss: value });
  }
  return sum / n;
}
