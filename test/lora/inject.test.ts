// ConvLoRA for a network convlora has never seen (defined only here, no zoo entry): adapters injected by
// name pattern into 3x3, strided grouped and 1x1 convs, trained, saved, reloaded into a fresh copy of the
// network through the registry, switched and merged. Trainable counts are derived by hand from the
// loralib shapes (convlora.ts): A [r*k, in*k], B [(out/groups)*k, r*k].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Module } from '../../src/nn/module.js';
import { BatchNorm2d, Conv2d } from '../../src/nn/layers.js';
import * as ops from '../../src/engine/ops.js';
import { tensor } from '../../src/engine/create.js';
import { Adam } from '../../src/engine/optim.js';
import { manualSeed, noGrad } from '../../src/engine/runtime.js';
import { liveTensors, tidy, type Tensor } from '../../src/engine/tensor.js';
import { injectAdapters, loraLayers, paramSummary } from '../../src/lora/placement.js';
import { AdapterRegistry, disposeAdapter, extractAdapter, saveAdapter, type AdapterConfig } from '../../src/lora/adapter.js';
import { Rng } from '../../src/data/rng.js';
import { tempDir } from '../helpers/tmp.js';

/** A small encoder-decoder-free CNN: 3x3 conv, BN, strided grouped 3x3 conv, BN, 1x1 conv, 1x1 head. */
class TinyNet extends Module {
  readonly stem = this.registerModule('stem', new Conv2d(1, 8, 3, { padding: 1 }));
  readonly bn1 = this.registerModule('bn1', new BatchNorm2d(8));
  readonly down = this.registerModule('down', new Conv2d(8, 8, 3, { stride: 2, padding: 1, groups: 2 }));
  readonly bn2 = this.registerModule('bn2', new BatchNorm2d(8));
  readonly mix = this.registerModule('mix', new Conv2d(8, 4, 1));
  readonly head = this.registerModule('head', new Conv2d(4, 1, 1));
  forward(x: Tensor): Tensor {
    const a = ops.relu(this.bn1.forward(this.stem.forward(x)));
    const b = ops.relu(this.bn2.forward(this.down.forward(a)));
    return this.head.forward(ops.relu(this.mix.forward(b)));
  }
}

function batch(seed: number): { x: Float32Array; y: Float32Array } {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: 4 * 16 * 16 }, () => rng.next());
  // Target on the 8 x 8 output grid: a bright-region detector the frozen net does not already compute.
  const y = new Float32Array(4 * 8 * 8);
  for (let b = 0; b < 4; b++) for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) y[(b * 8 + i) * 8 + j] = x[(b * 16 + 2 * i) * 16 + 2 * j]! > 0.5 ? 1 : 0;
  return { x, y };
}

test('injectAdapters on a network defined in the test: exact trainable counts, training, save, reload, switch and merge', async () => {
  const live = liveTensors();
  const dir = tempDir('convlora-inject-');
  manualSeed(11);
  const net = new TinyNet();
  const registry = new AdapterRegistry(net);
  const total = paramSummary(net).totalParams;
  const { placement, lora } = injectAdapters(net, { targetModules: ['stem', 'down', 'mix', 'head'], trainBatchNorm: true, rank: 2 });
  assert.deepEqual(placement.loraTargets, ['stem', 'down', 'mix', 'head']);
  assert.deepEqual(placement.trainableBatchNorms, ['bn1', 'bn2']);
  // stem: A [6, 3] + B [24, 6] = 162; down (groups 2): A [6, 24] + B [12, 6] = 216; mix (1x1): A [2, 8] + B [4, 2] = 24;
  // head (1x1): A [2, 4] + B [1, 2] = 10; BN gamma+beta 2 x 16 = 32.
  assert.equal(paramSummary(net).trainableParams, 162 + 216 + 24 + 10 + 32);
  assert.equal(paramSummary(net).totalParams, total + 162 + 216 + 24 + 10, 'the base parameters are unchanged; the adapters add theirs');

  const trainable = net.parameters().filter((t) => t.requiresGrad);
  const opt = new Adam(trainable, { lr: 5e-2 });
  net.train();
  const losses: number[] = [];
  for (let step = 0; step < 60; step++) {
    const { x, y } = batch(step % 3);
    losses.push(tidy(() => {
      opt.zeroGrad();
      const l = ops.bceWithLogits(net.forward(tensor(x, [4, 1, 16, 16])), tensor(y, [4, 1, 8, 8]));
      l.backward();
      opt.step();
      return l.item();
    }));
  }
  opt.dispose();
  assert.ok(losses.at(-1)! < losses[0]! - 0.05, `the adapters learn: loss ${losses[0]!.toFixed(3)} -> ${losses.at(-1)!.toFixed(3)}`);
  net.eval();
  const probe = batch(99).x;
  const out = (m: Module): Float32Array => noGrad(() => tidy(() => m.forward(tensor(probe, [4, 1, 16, 16])).toFloat32()));
  const trained = out(net);

  const config: AdapterConfig = { format: 'convlora-adapter', version: 1, domain: 'MyScanner', method: 'convlora', blocks: null, lora, placement, adabn: 'implicit', baseHash: registry.baseHash };
  const adapter = extractAdapter(net, config);
  const file = join(dir, 'tiny.safetensors');
  try { await saveAdapter(file, adapter); } finally { disposeAdapter(adapter); }

  // A fresh copy of the same base (same seed), never injected: the registry replays the placement.
  manualSeed(11);
  const fresh = new TinyNet();
  const reg2 = new AdapterRegistry(fresh);
  assert.equal(reg2.baseHash, registry.baseHash, 'the same base model');
  fresh.eval();
  const base = out(fresh);
  await reg2.load('MyScanner', file);
  reg2.activate('MyScanner');
  fresh.eval();
  const reloaded = out(fresh);
  let d = 0;
  for (let i = 0; i < trained.length; i++) d = Math.max(d, Math.abs(trained[i]! - reloaded[i]!));
  assert.ok(d < 1e-5, `reloaded adapter reproduces the trained network (max diff ${d})`);
  assert.ok(trained.some((v, i) => Math.abs(v - base[i]!) > 1e-3), 'and differs from the base');
  assert.equal(loraLayers(fresh).length, 4);

  reg2.activate('MyScanner', { merge: true });
  fresh.eval();
  const merged = out(fresh);
  d = 0;
  for (let i = 0; i < trained.length; i++) d = Math.max(d, Math.abs(trained[i]! - merged[i]!));
  assert.ok(d < 1e-4, `merged weights give the same output (max diff ${d})`);
  reg2.activate(null);
  fresh.eval();
  const back = out(fresh);
  assert.ok(back.every((v, i) => v === base[i]), 'switching back to the base restores it bit for bit');

  const other = new TinyNet();
  assert.throws(() => injectAdapters(other, { targetModules: /nothing/ }), (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG' && /No Conv2d matches/.test(e.message));
  other.dispose();
  registry.dispose(); reg2.dispose(); net.dispose(); fresh.dispose();
  assert.equal(liveTensors(), live, 'no native tensor leaked');
});
