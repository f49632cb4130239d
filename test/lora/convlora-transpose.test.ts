// LoRA on ConvTranspose2d (weight [in, out/groups, k, k]): a fresh adapter is an exact identity, merge
// equals the unmerged forward, unmerge restores the weight bit for bit, and the gradients of A and B agree
// with the chain rule through the base weight's gradient (delta is added to W, so dL/d delta = dL/dW).
// The PyTorch twin (test/models/zoo-parity.test.ts) checks the same layer against torch's conv_transpose2d.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BatchNorm2d, Conv2d, ConvTranspose2d } from '../../src/nn/layers.js';
import { AdapterRegistry, disposeAdapter, extractAdapter, saveAdapter, type AdapterConfig } from '../../src/lora/adapter.js';
import { Adam } from '../../src/engine/optim.js';
import { Rng } from '../../src/data/rng.js';
import { tempDir } from '../helpers/tmp.js';
import { LoRAConvTranspose2d } from '../../src/lora/convlora.js';
import { injectAdapters, loraLayers, paramSummary } from '../../src/lora/placement.js';
import { Module } from '../../src/nn/module.js';
import { manualSeed, noGrad } from '../../src/engine/runtime.js';
import { randn, tensor } from '../../src/engine/create.js';
import * as ops from '../../src/engine/ops.js';
import { tidy, liveTensors, type Tensor } from '../../src/engine/tensor.js';
import { assertClose } from '../helpers/compare.js';

function randomiseB(layer: LoRAConvTranspose2d, name = 'default'): void {
  const { b } = layer.adapter(name);
  tidy(() => ops.copy_(b, ops.mul(randn(b.shape), 0.1)));
}

const geometries = [
  { name: '2x2 stride 2 (the U-Net up-sampling, depth-to-space path)', cin: 8, cout: 4, k: 2, o: { stride: 2 } },
  { name: '3x3 stride 2 padding 1 output padding 1 with bias', cin: 4, cout: 6, k: 3, o: { stride: 2, padding: 1, outputPadding: 1, bias: true } },
  { name: '3x3 groups 2', cin: 4, cout: 6, k: 3, o: { padding: 1, groups: 2 } },
  { name: '3x3 dilation 2', cin: 3, cout: 5, k: 3, o: { padding: 2, dilation: 2 } },
];

for (const g of geometries) {
  for (const layout of ['loralib', 'peft'] as const) {
    if (layout === 'peft' && 'groups' in g.o) continue;
    test(`LoRA on ConvTranspose2d ${g.name} (${layout}): identity when fresh, merge == unmerged, exact unmerge`, () => {
      manualSeed(2);
      const before = liveTensors();
      const conv = new ConvTranspose2d(g.cin, g.cout, g.k, g.o);
      const layer = new LoRAConvTranspose2d(conv);
      const x = randn([2, g.cin, 6, 6]).keep();
      const original = conv.weight.toFloat32();
      noGrad(() => tidy(() => {
        const base = conv.forward(x);
        layer.addAdapter('default', { rank: 2, alpha: 4, layout });
        assert.deepEqual(layer.delta().shape, conv.weight.shape, 'delta has the transposed kernel layout');
        assert.deepEqual(layer.forward(x).toFloat32(), base.toFloat32(), 'fresh adapter (B = 0) changes nothing');
        randomiseB(layer);
        const unmerged = layer.forward(x);
        assert.notDeepEqual(unmerged.toFloat32(), base.toFloat32(), 'a trained adapter changes the output');
        layer.merge();
        layer.merge();
        assertClose(layer.forward(x), unmerged, 1e-5, 'merged vs unmerged');
        layer.unmerge();
        layer.unmerge();
        assert.deepEqual(conv.weight.toFloat32(), original, 'unmerge restores the original weight bit for bit');
        layer.merge({ safe: true });
        assertClose(layer.forward(x), unmerged, 1e-5, 'safe merge');
        layer.unmerge();
      }));
      x.dispose();
      layer.dispose();
      assert.equal(liveTensors(), before);
    });
  }
}

test('LoRA on ConvTranspose2d, peft layout: forward = base(x) + scale * convT_B(convT_A(x))', () => {
  manualSeed(3);
  const before = liveTensors();
  const conv = new ConvTranspose2d(3, 4, 3, { stride: 2, padding: 1, outputPadding: 1 });
  const layer = new LoRAConvTranspose2d(conv);
  layer.addAdapter('p', { rank: 2, alpha: 6, layout: 'peft' });
  randomiseB(layer, 'p');
  const { a, b } = layer.adapter('p');
  assert.deepEqual([a.shape, b.shape], [[3, 2, 3, 3], [2, 4, 1, 1]]);
  noGrad(() => tidy(() => {
    const x = randn([1, 3, 5, 5]);
    const z = ops.convTranspose2d(x, a, null, { stride: 2, padding: 1, outputPadding: 1 }); // [1, r, 10, 10]
    const twoConvs = ops.add(conv.forward(x), ops.mul(ops.convTranspose2d(z, b), 3));
    assertClose(layer.forward(x), twoConvs, 1e-5, 'peft delta of a transposed conv');
  }));
  layer.dispose();
  assert.equal(liveTensors(), before);
});

test('LoRA on ConvTranspose2d: A and B gradients follow the chain rule from the base weight gradient', () => {
  manualSeed(4);
  const before = liveTensors();
  const conv = new ConvTranspose2d(4, 6, 3, { stride: 2, padding: 1, outputPadding: 1 });
  const layer = new LoRAConvTranspose2d(conv);
  layer.addAdapter('default', { rank: 2, alpha: 3, layout: 'loralib' });
  randomiseB(layer);
  conv.weight.requiresGrad = true;
  const { a, b } = layer.adapter('default');
  tidy(() => {
    const x = randn([2, 4, 5, 5]);
    const target = randn([2, 6, 10, 10]);
    ops.sum(ops.mul(layer.forward(x), target)).backward();
    // delta = scale * view(B @ A, W.shape), so dL/d(B @ A) = scale * view(dL/dW, [out*k, in*k]) with scale = alpha / r.
    const gw = ops.mul(ops.reshape(conv.weight.grad!, [6 * 3, 4 * 3]), 1.5);
    assertClose(b.grad!, ops.matmul(gw, ops.transpose(a, 0, 1)), 1e-5, 'dL/dB = G A^T');
    assertClose(a.grad!, ops.matmul(ops.transpose(b, 0, 1), gw), 1e-5, 'dL/dA = B^T G');
  });
  layer.dispose();
  assert.equal(liveTensors(), before);
});

/** A strided conv down, BatchNorm, and a transposed conv back up (a one-level encoder-decoder), defined only here. */
class UpNet extends Module {
  readonly down = this.registerModule('down', new Conv2d(1, 4, 2, { stride: 2 }));
  readonly bn = this.registerModule('bn', new BatchNorm2d(4));
  readonly up = this.registerModule('up', new ConvTranspose2d(4, 1, 2, { stride: 2, bias: true }));
  forward(x: Tensor): Tensor { return this.up.forward(ops.relu(this.bn.forward(this.down.forward(x)))); }
}

function batch(seed: number): { x: Float32Array; y: Float32Array } {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: 4 * 8 * 8 }, () => rng.next());
  // Target: the brighter of each pixel's horizontal pair, a full-resolution map the frozen net does not compute.
  const y = x.map((v, i) => (v > x[i ^ 1]! ? 1 : 0));
  return { x, y };
}

test('injectAdapters on a network with a ConvTranspose2d (defined in the test): exact counts, training, save, reload, switch and merge', async () => {
  const live = liveTensors();
  const dir = tempDir('convlora-inject-transpose-');
  manualSeed(12);
  const net = new UpNet();
  const registry = new AdapterRegistry(net);
  const { placement, lora, layers } = injectAdapters(net, { targetModules: ['down', 'up'], trainBatchNorm: ['bn'], rank: 2 });
  assert.ok(layers[1] instanceof LoRAConvTranspose2d);
  // down (Conv2d k = 2): A [r*k, in*k] = [4, 2], B [out*k, r*k] = [8, 4]: 8 + 32; up (ConvTranspose2d k = 2,
  // weight [4, 1, 2, 2]): A [4, 8], B [2, 4]: 32 + 8; BN gamma + beta: 8.
  assert.equal(paramSummary(net).trainableParams, 40 + 40 + 8);
  const opt = new Adam(net.parameters().filter((t) => t.requiresGrad), { lr: 5e-2 });
  net.train();
  const losses: number[] = [];
  for (let step = 0; step < 40; step++) {
    const { x, y } = batch(step % 3);
    losses.push(tidy(() => {
      opt.zeroGrad();
      const l = ops.bceWithLogits(net.forward(tensor(x, [4, 1, 8, 8])), tensor(y, [4, 1, 8, 8]));
      l.backward();
      opt.step();
      return l.item();
    }));
  }
  opt.dispose();
  assert.ok(losses.at(-1)! < losses[0]! - 0.02, `the adapters learn: loss ${losses[0]!.toFixed(3)} -> ${losses.at(-1)!.toFixed(3)}`);
  net.eval();
  const probe = batch(99).x;
  const out = (m: Module): Float32Array => noGrad(() => tidy(() => m.forward(tensor(probe, [4, 1, 8, 8])).toFloat32()));
  const trained = out(net);
  const config: AdapterConfig = { format: 'convlora-adapter', version: 1, domain: 'MyScanner', method: 'convlora', blocks: null, lora, placement, adabn: 'implicit', baseHash: registry.baseHash };
  const adapter = extractAdapter(net, config);
  const file = join(dir, 'up.safetensors');
  try { await saveAdapter(file, adapter); } finally { disposeAdapter(adapter); }

  manualSeed(12);
  const fresh = new UpNet();
  const reg2 = new AdapterRegistry(fresh);
  fresh.eval();
  const base = out(fresh);
  await reg2.load('MyScanner', file);
  reg2.activate('MyScanner');
  fresh.eval();
  assertClose(out(fresh), trained, 1e-5, 'reloaded adapter');
  assert.ok(loraLayers(fresh).some(([p, l]) => p === 'up' && l instanceof LoRAConvTranspose2d), 'the registry wrapped the transposed conv again');
  assert.ok(trained.some((v, i) => Math.abs(v - base[i]!) > 1e-3), 'the adapter changes the output');
  reg2.activate('MyScanner', { merge: true });
  fresh.eval();
  assertClose(out(fresh), trained, 1e-4, 'merged');
  reg2.activate(null);
  fresh.eval();
  assert.ok(out(fresh).every((v, i) => v === base[i]), 'switching back to the base restores it bit for bit');
  registry.dispose(); reg2.dispose(); net.dispose(); fresh.dispose();
  assert.equal(liveTensors(), live, 'no native tensor leaked');
});
