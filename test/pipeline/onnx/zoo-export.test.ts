// The zoo's other networks through `export` and `merge`: a checkpoint (with `arch`) plus a ConvLoRA + AdaBN
// adapter becomes one ONNX graph (MaxPool, Concat, LeakyRelu, ConvTranspose nodes) and one merged checkpoint
// whose logits equal the registry's unmerged LoRA forward (the oracle) within 1e-4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { modelSpec } from '../../../src/models/zoo.js';
import { BatchNorm2d } from '../../../src/nn/layers.js';
import { applyPlacement, loraLayers, planPlacement } from '../../../src/lora/placement.js';
import { AdapterRegistry, disposeAdapter, extractAdapter, saveAdapter, type AdapterConfig } from '../../../src/lora/adapter.js';
import { loadUnet, saveNetwork } from '../../../src/pipeline/models.js';
import { mergeCheckpoint, onnxBytes, ONNX_META } from '../../../src/pipeline/onnx/export.js';
import { OnnxSession } from '../../../src/pipeline/onnx/session.js';
import { manualSeed, noGrad } from '../../../src/engine/runtime.js';
import { randn, uniform } from '../../../src/engine/create.js';
import * as ops from '../../../src/engine/ops.js';
import { liveTensors, tidy, type Tensor } from '../../../src/engine/tensor.js';
import type { Module } from '../../../src/nn/module.js';
import { tempDir } from '../../helpers/tmp.js';

const set = (t: Tensor, v: () => Tensor): void => { noGrad(() => tidy(() => { ops.copy_(t, v()); })); };

function shuffleBatchNorms(model: Module): void {
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    const c = [m.numFeatures];
    set(m.buffer('running_mean'), () => ops.mul(randn(c), 0.3));
    set(m.buffer('running_var'), () => uniform(c, 0.5, 2));
  }
}

/** A base checkpoint of `arch` and an adapter with LoRA B and BN statistics moved, under `dir`. */
async function modelWithAdapter(arch: string, dir: string): Promise<{ base: string; adapter: string }> {
  manualSeed(5);
  const net = modelSpec(arch).create({ filters: 4 });
  shuffleBatchNorms(net);
  const base = join(dir, 'base.safetensors');
  await saveNetwork(base, net, { kind: 'unet2d', arch, filters: 4, size: 32, source: 'GE_3', orientation: 'RAS', spacing: [8, 8, 8] });
  const reg = new AdapterRegistry(net);
  const placement = planPlacement(net, 'convlora', 'all');
  applyPlacement(net, placement, 'target');
  for (const [, l] of loraLayers(net)) set(l.adapter('target').b, () => ops.mul(randn(l.adapter('target').b.shape), 0.1));
  shuffleBatchNorms(net);
  const config: AdapterConfig = { format: 'convlora-adapter', version: 1, domain: 'Philips_3', method: 'convlora', blocks: 'all',
    lora: { rank: 2, alpha: 2, layout: 'loralib' }, placement, adabn: 'explicit', baseHash: reg.baseHash };
  const a = extractAdapter(net, config);
  const adapter = join(dir, 'adapter.safetensors');
  try { await saveAdapter(adapter, a); } finally { disposeAdapter(a); reg.dispose(); net.dispose(); }
  return { base, adapter };
}

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

for (const arch of ['unet', 'basic-unet']) {
  test(`${arch}: ONNX export and merge of base + adapter equal the unmerged LoRA forward within 1e-4`, async () => {
    const live = liveTensors();
    const dir = tempDir(`convlora-zoo-export-${arch}-`);
    const files = await modelWithAdapter(arch, dir);
    const { model, info } = await loadUnet(files.base);
    assert.equal(info.arch, arch, 'the checkpoint records its architecture');
    assert.ok(modelSpec(arch).owns(model), `loadUnet builds a ${arch}`);
    const reg = new AdapterRegistry(model);
    await reg.load('target', files.adapter);
    reg.activate('target');
    manualSeed(9);
    const { x, y } = noGrad(() => tidy(() => {
      const t = uniform([2, 1, 32, 40]);
      return { x: t.toFloat32(), y: model.eval().forward(t).toFloat32() };
    }));
    reg.activate(null);
    manualSeed(9);
    const base = noGrad(() => tidy(() => model.eval().forward(uniform([2, 1, 32, 40])).toFloat32()));
    const scale = y.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(scale > 0.1, `logits are not trivially small (max |logit| ${scale})`);
    assert.ok(maxAbsDiff(base, y) > 0.05 * scale, `the adapter moves the logits (${maxAbsDiff(base, y)} of max |logit| ${scale})`);

    const exported = await onnxBytes({ model: files.base, adapter: files.adapter });
    assert.equal(exported.metadata[ONNX_META.divisor], '8');
    assert.equal(JSON.parse(exported.metadata[ONNX_META.modelInfo]!).arch, arch);
    const session = await OnnxSession.open(exported.bytes, { threads: 1 });
    try {
      const d = maxAbsDiff(await session.run(x, 2, 32, 40), y);
      assert.ok(d <= 1e-4, `onnx vs torch: max abs diff ${d}`);
    } finally { await session.dispose(); }

    const merged = join(dir, 'merged.safetensors');
    await mergeCheckpoint({ model: files.base, adapter: files.adapter, out: merged });
    const m = await loadUnet(merged);
    manualSeed(9);
    const z = noGrad(() => tidy(() => m.model.eval().forward(uniform([2, 1, 32, 40])).toFloat32()));
    assert.ok(maxAbsDiff(z, y) <= 1e-4, `merged checkpoint vs unmerged: ${maxAbsDiff(z, y)}`);
    m.model.dispose();
    reg.dispose();
    model.dispose();
    assert.equal(liveTensors(), live);
  });
}
