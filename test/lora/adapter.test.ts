import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UNet2D } from '../../src/models/unet.js';
import { applyPlacement, planPlacement, loraLayers } from '../../src/lora/placement.js';
import { AdapterRegistry, extractAdapter, saveAdapter, loadAdapter, disposeAdapter, type AdapterConfig } from '../../src/lora/adapter.js';
import { reestimateBatchNorm, selectBatchNorms } from '../../src/lora/adabn.js';
import { manualSeed, noGrad } from '../../src/engine/runtime.js';
import { randn, uniform } from '../../src/engine/create.js';
import * as ops from '../../src/engine/ops.js';
import { tidy, liveTensors, type Tensor } from '../../src/engine/tensor.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir('convlora-adapter-');

/** Simulate adapting to a domain: randomise LoRA B, shift BN statistics; return the adapter. */
function fakeAdapt(model: UNet2D, reg: AdapterRegistry, domain: string, seed: number) {
  manualSeed(seed);
  reg.deactivate();
  const placement = planPlacement(model, 'convlora', 'all');
  applyPlacement(model, placement, domain);
  for (const [, l] of loraLayers(model)) tidy(() => ops.copy_(l.adapter(domain).b, ops.mul(randn(l.adapter(domain).b.shape), 0.05)));
  const batches = [uniform([4, 1, 32, 32], 0, 1).keep(), uniform([4, 1, 32, 32], 0.2, 1).keep()];
  reestimateBatchNorm(model, batches);
  batches.forEach((b) => b.dispose());
  const config: AdapterConfig = { format: 'convlora-adapter', version: 1, domain, method: 'convlora', blocks: 'all',
    lora: { rank: 2, alpha: 2, layout: 'loralib' }, placement, adabn: 'explicit', baseHash: reg.baseHash };
  return extractAdapter(model, config);
}

const run = (m: UNet2D, x: Tensor): Float32Array => noGrad(() => tidy(() => m.eval().forward(x).toFloat32()));

test('registry: A -> B -> A reproduces A bit for bit, base restores exactly, merged within 1e-5', async () => {
  const before = liveTensors();
  manualSeed(11);
  const model = new UNet2D({ filters: 8 });
  const reg = new AdapterRegistry(model);
  const x = uniform([2, 1, 32, 32]).keep();
  const base = run(model, x);
  const a = fakeAdapt(model, reg, 'A', 1);
  const b = fakeAdapt(model, reg, 'B', 2);
  const pathA = join(dir, 'A.safetensors');
  await saveAdapter(pathA, a);
  disposeAdapter(a);
  await reg.load('A', pathA);
  reg.add('B', b);
  reg.activate('A');
  const outA = run(model, x);
  assert.notDeepEqual(outA, base);
  reg.activate('B');
  const outB = run(model, x);
  assert.notDeepEqual(outB, outA);
  reg.activate('A');
  assert.deepEqual(run(model, x), outA, 'A after B is bit-identical');
  reg.activate(null);
  assert.deepEqual(run(model, x), base, 'base restored');
  reg.activate('A', { merge: true });
  const merged = run(model, x);
  let maxDiff = 0;
  for (let i = 0; i < merged.length; i++) maxDiff = Math.max(maxDiff, Math.abs(merged[i]! - outA[i]!));
  assert.ok(maxDiff < 1e-5 * Math.max(1, ...Array.from(outA, Math.abs)), `merged differs by ${maxDiff}`);
  reg.activate('B');
  assert.deepEqual(run(model, x), outB, 'switching from a merged A to B is exact');
  x.dispose();
  reg.dispose();
  model.dispose();
  assert.equal(liveTensors(), before);
});

test('adapter file holds LoRA, BN affine and all BN statistics; full-encoder file < 300 KB at 16 filters', async () => {
  const model = new UNet2D();
  const reg = new AdapterRegistry(model);
  const ad = fakeAdapt(model, reg, 'Philips_3', 5);
  const path = join(dir, 'philips3.safetensors');
  await saveAdapter(path, ad);
  const size = statSync(path).size;
  assert.ok(size < 300 * 1024, `adapter is ${size} bytes`);
  const back = await loadAdapter(path);
  const keys = [...back.tensors.keys()];
  assert.equal(keys.filter((k) => k.endsWith('.lora_A')).length, 28);
  assert.equal(keys.filter((k) => k.endsWith('running_mean')).length, selectBatchNorms(model).length);
  const loraAndAffine = [...back.tensors].filter(([k]) => !/running_|num_batches/.test(k)).reduce((n, [, t]) => n + t.size, 0);
  assert.equal(loraAndAffine, 57_714, 'the trainable parameters are exactly what the file carries besides statistics');
  assert.equal(back.config.domain, 'Philips_3');
  assert.equal(back.config.baseHash, reg.baseHash);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left behind');
  disposeAdapter(ad); disposeAdapter(back); reg.dispose(); model.dispose();
});

test('an adapter trained on another base model is refused with E_CHECKPOINT', async () => {
  manualSeed(21);
  const m1 = new UNet2D({ filters: 4 });
  const r1 = new AdapterRegistry(m1);
  const ad = fakeAdapt(m1, r1, 'X', 3);
  const path = join(dir, 'x.safetensors');
  await saveAdapter(path, ad);
  const m2 = new UNet2D({ filters: 4 }); // different random weights
  const r2 = new AdapterRegistry(m2);
  await assert.rejects(r2.load('X', path), (e: Error & { code?: string }) => e.code === 'E_CHECKPOINT' && /different base model/.test(e.message));
  disposeAdapter(ad); r1.dispose(); r2.dispose(); m1.dispose(); m2.dispose();
});

test('AdaBN re-estimation is the cumulative average of per-batch statistics (hand check on the first BN)', () => {
  // The first BN in forward order that sees the raw conv features is init_path.2.conv_path.0.bn; its
  // input is relu(conv(x)). With momentum null, after two batches the running mean is the plain average
  // of the two batch means (PyTorch's cumulative moving average), independent of the source statistics.
  manualSeed(4);
  const m = new UNet2D({ filters: 4 });
  const bn = m.getModule('init_path.2.conv_path.0.bn');
  const x1 = uniform([2, 1, 16, 16]).keep();
  const x2 = uniform([2, 1, 16, 16], 0.5, 2).keep();
  const feat = (x: Tensor): Float32Array => noGrad(() => tidy(() => ops.mean(ops.relu(m.getModule('init_path.0').forward(x)), [0, 2, 3]).toFloat32()));
  const m1 = feat(x1);
  const m2 = feat(x2);
  reestimateBatchNorm(m, [x1, x2], { layers: 'encoder' });
  const rm = bn.getBuffer('running_mean').toFloat32();
  for (let c = 0; c < 4; c++) assert.ok(Math.abs(rm[c]! - (m1[c]! + m2[c]!) / 2) < 1e-5, `channel ${c}`);
  assert.equal(m.training, true, 'modes restored');
  const decoderBn = m.getModule('up1.3').getBuffer('running_mean').toFloat32();
  assert.deepEqual(Array.from(decoderBn), [0, 0, 0, 0, 0, 0, 0, 0], "'encoder' selection leaves decoder statistics alone");
  x1.dispose(); x2.dispose(); m.dispose();
});
