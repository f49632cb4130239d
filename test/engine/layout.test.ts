/**
 * Convolution layout (issue 17): on the CPU, conv weights are channels-last by default and every
 * activation of the U-Net stays channels-last (one NCHW tensor in the chain makes later backward ops
 * mix layouts, about 10x slower); values equal the NCHW path's up to float32 summation order. And the
 * operator profiler counts what ran.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConvLoraError } from '../../src/errors.js';
import {
  getConvLayout, liveTensors, manualSeed, ops, profileOps, setConvLayout, tidy, uniform, type Tensor,
} from '../../src/engine/index.js';
import { Conv2d } from '../../src/nn/layers.js';
import { UNet2D } from '../../src/models/unet.js';
import { EarlySegHead } from '../../src/models/esh.js';
import { architectures, modelSpec } from '../../src/models/zoo.js';

type Layout = 'NCHW' | 'channels_last' | 'one channel';

/** Which layout a [B, C, H, W] tensor's strides describe. */
function layoutOf(t: Tensor): Layout {
  const [, c, h, w] = t.shape as [number, number, number, number];
  const s = t.strides;
  if (c === 1) return 'one channel';
  if (s[1] === 1 && s[3] === c && s[2] === w * c && s[0] === h * w * c) return 'channels_last';
  if (s[3] === 1 && s[2] === w && s[1] === h * w) return 'NCHW';
  throw new Error(`neither layout: strides ${s.join(',')}`);
}

function withLayout<T>(layout: 'auto' | 'channels_last' | 'contiguous', fn: () => T): T {
  const prev = setConvLayout(layout);
  try { return fn(); } finally { setConvLayout(prev); }
}

test('conv weights: channels-last on the CPU under auto, NCHW under contiguous; a bad layout is a coded error', () => {
  assert.equal(getConvLayout(), 'auto');
  const before = liveTensors();
  for (const [layout, want] of [['auto', 'channels_last'], ['channels_last', 'channels_last'], ['contiguous', 'NCHW']] as const) {
    const conv = withLayout(layout, () => new Conv2d(4, 8, 3));
    assert.equal(layoutOf(conv.weight), want, layout);
    conv.dispose();
  }
  assert.equal(liveTensors(), before);
  assert.throws(() => setConvLayout('nhwc' as never), (e: ConvLoraError) => e.code === 'E_INVALID_ARG' && /auto, channels_last, contiguous.*"nhwc"/.test(e.message));
  assert.equal(getConvLayout(), 'auto', 'a refused setting changes nothing');
});

test('every U-Net, ESH and zoo-network activation stays channels-last, the first layer included', () => {
  const before = liveTensors();
  manualSeed(1);
  const unet = new UNet2D({ filters: 4 });
  const esh = new EarlySegHead(32);
  const seen: string[] = [];
  for (const m of [unet, esh]) {
    for (const [name, mod] of m.namedModules()) {
      const f = mod.forward.bind(mod);
      mod.forward = (x: Tensor): Tensor => {
        const y = f(x);
        if (layoutOf(y) === 'NCHW') seen.push(`${name} (${mod.constructor.name})`);
        return y;
      };
    }
  }
  tidy(() => {
    const feats = unet.forwardFeatures(uniform([2, 1, 32, 32], 0, 1));
    assert.equal(layoutOf(feats.x0), 'channels_last');
    esh.forward(feats.x3);
  });
  assert.deepEqual(seen, [], 'modules that returned NCHW');
  unet.dispose();
  esh.dispose();
  // The zoo's other networks too (max pooling, transposed convs, concatenation skips).
  const zooSeen: string[] = [];
  for (const arch of architectures()) {
    const net = modelSpec(arch).create({ filters: 4 });
    for (const [name, mod] of net.namedModules()) {
      const f = mod.forward.bind(mod);
      mod.forward = (x: Tensor): Tensor => {
        const y = f(x);
        if (y.rank === 4 && layoutOf(y) === 'NCHW') zooSeen.push(`${arch}: ${name} (${mod.constructor.name})`);
        return y;
      };
    }
    tidy(() => { net.forward(uniform([2, 1, 32, 32], 0, 1)); });
    net.dispose();
  }
  assert.deepEqual(zooSeen, [], 'zoo modules that returned NCHW');
  assert.equal(liveTensors(), before);
});

/**
 * Train-mode BatchNorm makes this randomly initialised network's gradients sensitive to summation order
 * alone: measured at 16 filters, batch 8, 64 x 64, channels-last vs NCHW gradients differ by 5.1 % of
 * their norm in libtorch 1.13 here *and* in PyTorch 2.13's own channels_last (0.0509 vs 0.0508), and
 * channels-last with 1 vs 2 threads by 7.8 %. So the gradients are compared with BatchNorm in eval mode,
 * where every other op is the same and the orders' spread is ~1e-7 (1 vs 2 threads: 1.7e-7); the
 * train-mode forward is compared too.
 */
test('channels-last gives the NCHW path\'s loss (train mode) and gradients (eval-mode BatchNorm) up to float32 order', () => {
  const before = liveTensors();
  const run = (layout: 'channels_last' | 'contiguous', train: boolean): { loss: number; grads: Float32Array[] } => withLayout(layout, () => {
    manualSeed(3);
    const unet = new UNet2D({ filters: 8 });
    unet.train(train);
    try {
      return tidy(() => {
        manualSeed(4);
        const x = uniform([4, 1, 32, 32], 0, 1);
        const y = ops.to(ops.gt(uniform([4, 1, 32, 32], 0, 1), 0.5), { dtype: 'float32' });
        const loss = ops.bceWithLogits(unet.forward(x), y);
        loss.backward();
        return { loss: loss.item(), grads: unet.parameters().map((p) => p.grad!.data() as Float32Array) };
      });
    } finally { unet.dispose(); }
  });
  const relative = (a: Float32Array[], b: Float32Array[]): number => {
    let num = 0, den = 0;
    a.forEach((g, i) => g.forEach((v, j) => { const d = v - b[i]![j]!; num += d * d; den += b[i]![j]! ** 2; }));
    return Math.sqrt(num / den);
  };
  const [clTrain, nchwTrain] = [run('channels_last', true), run('contiguous', true)];
  assert.ok(Math.abs(clTrain.loss - nchwTrain.loss) < 1e-6, `train-mode loss ${clTrain.loss} vs ${nchwTrain.loss}`);
  const [cl, nchw] = [run('channels_last', false), run('contiguous', false)];
  assert.ok(Math.abs(cl.loss - nchw.loss) < 1e-6, `eval-mode loss ${cl.loss} vs ${nchw.loss}`);
  const d = relative(cl.grads, nchw.grads);
  assert.ok(d < 1e-5, `eval-mode gradients differ by ${d} of their norm`);
  assert.ok(nchw.grads.some((g) => g.some((v) => v !== 0)), 'the gradients are not all zero');
  assert.equal(liveTensors(), before);
});

test('profileOps counts the operators a function dispatches, backward included; misuse is a coded error', () => {
  const before = liveTensors();
  const { result, ops: rows } = profileOps(() => tidy(() => {
    const a = uniform([4, 4], 0, 1);
    a.requiresGrad = true;
    const s = ops.sum(ops.mul(ops.matmul(a, a), 2));
    s.backward();
    return s.item();
  }));
  assert.ok(Number.isFinite(result));
  const row = (name: string) => rows.find((r) => r.name === name);
  assert.equal(row('aten::mm')?.calls, 3, 'one mm forward, two in its backward (dA from both operands)');
  assert.ok((row('aten::sum')?.calls ?? 0) >= 1, 'the sum ran');
  for (const r of rows) assert.ok(r.selfMs >= 0 && r.totalMs >= r.selfMs - 1e-9, `${r.name}: total ${r.totalMs} < self ${r.selfMs}`);
  assert.ok(rows.every((r, i) => i === 0 || rows[i - 1]!.selfMs >= r.selfMs), 'sorted by self time');
  assert.throws(() => profileOps(() => profileOps(() => 1)), (e: ConvLoraError) => e.code === 'E_INVALID_ARG' && /already running/.test(e.message));
  assert.throws(() => profileOps(() => Promise.resolve(1)), (e: ConvLoraError) => e.code === 'E_INVALID_ARG' && /Promise/.test(e.message));
  assert.equal(profileOps(() => 7).result, 7, 'the profiler was stopped after each failure');
  assert.equal(liveTensors(), before);
});
