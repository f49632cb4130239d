// Adam keeps one step count per parameter, as torch.optim.Adam does: a parameter that has no gradient at
// a step is skipped and keeps its count, so its first update later is a first step (bias corrections
// 1 - beta1 and 1 - beta2), of size lr * g / (|g| + eps). Expected values are derived by hand below
// from Adam's update rule (Kingma & Ba, Algorithm 1; PyTorch's eps placement), in float64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Adam, liveTensors, ops, tensor, tidy, type Tensor } from '../../src/engine/index.js';

const lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;

/** Hand-derived Adam on one scalar: the parameter after each of `gs` steps starting at p0. */
function adamByHand(p0: number, gs: number[]): number {
  let p = p0, m = 0, v = 0;
  gs.forEach((g, i) => {
    const t = i + 1;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    p -= (lr / (1 - b1 ** t)) * m / (Math.sqrt(v) / Math.sqrt(1 - b2 ** t) + eps);
  });
  return p;
}

/** One step where the loss is sum(g_i * p_i) over the parameters listed (others get no gradient). */
function step(opt: Adam, ps: Tensor[], grads: (number | null)[]): void {
  tidy(() => {
    opt.zeroGrad();
    const terms = ps.flatMap((p, i) => (grads[i] === null ? [] : [ops.mul(p, grads[i]!)]));
    ops.sum(terms.reduce((a, b) => ops.add(a, b))).backward();
    opt.step();
  });
}

const value = (t: Tensor): number => (t.data() as Float64Array)[0]!;

test('a parameter without a gradient keeps its own step count (first update is lr * sign(g))', () => {
  const before = liveTensors();
  const a = tensor([1.5], [1], { dtype: 'float64' }).keep();
  const b = tensor([-0.5], [1], { dtype: 'float64' }).keep();
  a.requiresGrad = true;
  b.requiresGrad = true;
  const opt = new Adam([a, b], { lr, betas: [b1, b2], eps });
  step(opt, [a, b], [0.3, null]);
  assert.equal(value(b), -0.5, 'b had no gradient: unchanged');
  step(opt, [a, b], [-0.2, 0.7]);
  step(opt, [a, b], [0.1, 0.4]);
  assert.ok(Math.abs(value(a) - adamByHand(1.5, [0.3, -0.2, 0.1])) < 1e-12, `a: ${value(a)} vs ${adamByHand(1.5, [0.3, -0.2, 0.1])}`);
  // b's steps are its 1st and 2nd (-0.51951), not the optimizer's 2nd and 3rd (a shared count gives -0.51561).
  assert.ok(Math.abs(value(b) - adamByHand(-0.5, [0.7, 0.4])) < 1e-12, `b: ${value(b)} vs ${adamByHand(-0.5, [0.7, 0.4])}`);
  assert.deepEqual(opt.state().steps, [3, 2]);
  assert.equal(opt.state().step, 3);
  opt.dispose();
  a.dispose();
  b.dispose();
  assert.equal(liveTensors(), before);
});

test('loadState restores per-parameter counts; a checkpoint without them gives every parameter `step`', () => {
  const before = liveTensors();
  const make = (): [Tensor, Tensor, Adam] => {
    const a = tensor([1.5], [1], { dtype: 'float64' }).keep();
    const b = tensor([-0.5], [1], { dtype: 'float64' }).keep();
    a.requiresGrad = true;
    b.requiresGrad = true;
    return [a, b, new Adam([a, b], { lr, betas: [b1, b2], eps })];
  };
  const [a, b, opt] = make();
  step(opt, [a, b], [0.3, null]);
  const [a2, b2_, opt2] = make();
  ops.copy_(a2, a);
  opt2.loadState(opt.state());
  assert.deepEqual(opt2.state().steps, [1, 0]);
  step(opt2, [a2, b2_], [-0.2, 0.7]);
  assert.ok(Math.abs(value(b2_) - adamByHand(-0.5, [0.7])) < 1e-12);
  const { steps: _legacy, ...old } = opt.state();
  opt2.loadState(old);
  assert.deepEqual(opt2.state().steps, [1, 1]);
  assert.throws(() => opt2.loadState({ ...old, steps: [1] }), (e: Error & { code?: string }) => e.code === 'E_CHECKPOINT');
  assert.throws(() => opt2.loadState({ ...old, steps: 5 as unknown as number[] }), (e: Error & { code?: string }) => e.code === 'E_CHECKPOINT');
  assert.throws(() => opt2.loadState({ ...old, steps: [1, -1] }), (e: Error & { code?: string }) => e.code === 'E_CHECKPOINT');
  for (const o of [opt, opt2]) o.dispose();
  for (const t of [a, b, a2, b2_]) t.dispose();
  assert.equal(liveTensors(), before);
});
