// The weight EMA (nn/ema.ts): the update against a hand derivation, buffers copied, range checks, no leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../../src/engine/create.js';
import { copy_ } from '../../src/engine/ops.js';
import * as ops from '../../src/engine/ops.js';
import { Adam } from '../../src/engine/optim.js';
import { liveTensors, tidy, type Tensor } from '../../src/engine/tensor.js';
import { BatchNorm2d, Conv2d, Sequential } from '../../src/nn/layers.js';
import { checkEmaDecay, ModelEma } from '../../src/nn/ema.js';

/** A 1x1 convolution (weight, bias) then a BatchNorm over one channel: four parameters, three buffers. */
const tiny = (): Sequential => new Sequential(new Conv2d(1, 1, 1, { bias: true }), new BatchNorm2d(1));
const set = (t: Tensor, v: number): void => tidy(() => copy_(t, tensor([v], t.shape)));
const value = (m: Sequential, name: string): number => m.stateDict().get(name)!.item();
const PARAMS = ['0.weight', '0.bias', '1.weight', '1.bias'];

test('EMA update: shadow = decay * shadow + (1 - decay) * param, by hand over three steps; buffers copied', () => {
  const live0 = liveTensors();
  const live = tiny(), shadow = tiny();
  const sd = live.stateDict();
  // Dyadic values and decay 0.75, so every step below is exact in float32.
  const start = [1, 2, -4, 0.5];
  PARAMS.forEach((k, i) => set(sd.get(k)!, start[i]!));
  const ema = new ModelEma(live, shadow, 0.75);
  assert.deepEqual(PARAMS.map((k) => value(shadow, k)), start, 'the shadow starts as a copy of the live model');
  assert.equal(shadow.parameters().some((p) => p.requiresGrad), false, 'the shadow is frozen');
  const steps = [[3, 6, 0, 2.5], [-1, 2, 4, 0.5], [2, -2, 8, 1]];
  // By hand: step 1: 0.75 * 1 + 0.25 * 3 = 1.5; 0.75 * 2 + 0.25 * 6 = 3; 0.75 * -4 + 0 = -3; 0.375 + 0.625 = 1.
  //          step 2: 1.125 - 0.25 = 0.875; 2.25 + 0.5 = 2.75; -2.25 + 1 = -1.25; 0.75 + 0.125 = 0.875.
  //          step 3: 0.65625 + 0.5 = 1.15625; 2.0625 - 0.5 = 1.5625; -0.9375 + 2 = 1.0625; 0.65625 + 0.25 = 0.90625.
  const expected = [[1.5, 3, -3, 1], [0.875, 2.75, -1.25, 0.875], [1.15625, 1.5625, 1.0625, 0.90625]];
  steps.forEach((vals, s) => {
    PARAMS.forEach((k, i) => set(sd.get(k)!, vals[i]!));
    set(sd.get('1.running_mean')!, 10 + s);
    set(sd.get('1.running_var')!, 20 + s);
    ops.addScalarInPlace(sd.get('1.num_batches_tracked')!, 7);
    ema.update();
    assert.deepEqual(PARAMS.map((k) => value(shadow, k)), expected[s], `step ${s + 1}`);
    assert.deepEqual(PARAMS.map((k) => value(live, k)), vals, 'the live model is not touched');
    assert.equal(value(shadow, '1.running_mean'), 10 + s, 'BatchNorm statistics are copied, not averaged');
    assert.equal(value(shadow, '1.running_var'), 20 + s);
    assert.equal(value(shadow, '1.num_batches_tracked'), 7 * (s + 1));
  });
  ema.dispose();
  live.dispose();
  assert.equal(liveTensors(), live0, 'no tensor leaked');
});

test('EMA after real Adam steps matches the recursion computed in float32 from the live weights', () => {
  const live0 = liveTensors();
  const live = tiny(), shadow = tiny();
  const opt = new Adam(live.parameters(), { lr: 0.05 });
  const decay = 0.9;
  const ema = new ModelEma(live, shadow, decay);
  const f = Math.fround;
  let ref = PARAMS.map((k) => value(live, k));
  const x = tensor(Float32Array.from({ length: 2 * 9 }, (_, i) => Math.sin(i) * 3), [2, 1, 3, 3]).keep();
  const y = tensor(Float32Array.from({ length: 2 * 9 }, (_, i) => (i % 3 === 0 ? 1 : 0)), [2, 1, 3, 3]).keep();
  for (let s = 0; s < 4; s++) {
    tidy(() => {
      opt.zeroGrad();
      ops.bceWithLogits(live.forward(x), y).backward();
      opt.step();
      ema.update();
    });
    const p = PARAMS.map((k) => value(live, k));
    ref = ref.map((r, i) => f(f(decay * r) + f(f(1 - decay) * p[i]!)));
    const got = PARAMS.map((k) => value(shadow, k));
    got.forEach((g, i) => assert.ok(Math.abs(g - ref[i]!) <= 1e-6 * Math.max(1, Math.abs(ref[i]!)), `step ${s + 1}, ${PARAMS[i]}: ${g} vs ${ref[i]}`));
    assert.notDeepEqual(got, p, 'the average lags the live weights');
  }
  x.dispose(); y.dispose();
  ema.dispose(); opt.dispose(); live.dispose();
  assert.equal(liveTensors(), live0, 'no tensor leaked');
});

test('EMA decay must lie strictly between 0 and 1: coded E_INVALID_ARG naming the value', () => {
  for (const bad of [0, 1, -0.5, 1.5, Number.NaN, Infinity]) {
    assert.throws(() => checkEmaDecay(bad), (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG' && e.message.includes(String(bad)), String(bad));
  }
  assert.throws(() => checkEmaDecay('0.9'), (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG' && e.message.includes('"0.9"'));
  assert.equal(checkEmaDecay(0.999), 0.999);
  const live0 = liveTensors();
  const a = tiny(), b = tiny();
  assert.throws(() => new ModelEma(a, b, 1), (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG');
  a.dispose(); b.dispose();
  assert.equal(liveTensors(), live0);
});
