// The model zoo's other networks against independent PyTorch twins: tools/zoo_reference.py defines the
// plain U-Net and the BasicUNet-like network, an ESH and loralib LoRA for Conv2d and ConvTranspose2d in
// PyTorch, loads our exported weights (zoo-<arch>.weights.safetensors, tools/make-zoo-fixture.mjs) strictly
// by name and writes its outputs, gradients and placement counts (zoo-<arch>.reference.safetensors, with
// its provenance in the metadata). CI has no Python torch: this test reads only the committed fixtures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadSafetensors } from '../../src/nn/safetensors.js';
import { headInput, modelSpec } from '../../src/models/zoo.js';
import { createHead } from '../../src/pipeline/models.js';
import { applyPlacement, planPlacement, loraLayers, paramSummary, type Blocks, type Method } from '../../src/lora/placement.js';
import { BatchNorm2d } from '../../src/nn/layers.js';
import { LoRAConvTranspose2d } from '../../src/lora/convlora.js';
import { tidy, liveTensors, dispose, type Tensor } from '../../src/engine/tensor.js';
import * as ops from '../../src/engine/ops.js';
import { noGrad } from '../../src/engine/runtime.js';
import { assertClose } from '../helpers/compare.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/models/${name}`, import.meta.url));
const ARCHS = ['unet', 'basic-unet'] as const;

async function setup(arch: string) {
  const w = await loadSafetensors(fixture(`zoo-${arch}.weights.safetensors`));
  const ref = await loadSafetensors(fixture(`zoo-${arch}.reference.safetensors`));
  const spec = modelSpec(arch);
  const net = spec.create({ filters: 4 });
  const esh = createHead('esh', 4, 'cpu', arch);
  const targets = JSON.parse(w.metadata.loraTargets!) as string[];
  applyPlacement(net, { loraTargets: targets, trainableBatchNorms: [], fullyTrainable: [] }, 'default', { rank: 2, alpha: 4, layout: 'loralib' });
  const pick = (prefix: string): Map<string, Tensor> => new Map([...w.tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
  net.loadStateDict(pick('net.'), { strict: true });
  esh.loadStateDict(pick('esh.'), { strict: true });
  const r = (k: string): Tensor => { const t = ref.tensors.get(k); assert.ok(t, `reference has ${k}`); return t; };
  return { spec, net, esh, input: w.tensors.get('input')!, r, metadata: ref.metadata, cleanup: () => { net.dispose(); esh.dispose(); dispose([...w.tensors.values(), ...ref.tensors.values()]); } };
}

for (const arch of ARCHS) {
  test(`${arch}: eval-mode logits and ESH logits equal the PyTorch twin's within 1e-4`, async () => {
    const before = liveTensors();
    const { spec, net, esh, input, r, metadata, cleanup } = await setup(arch);
    assert.match(metadata.provenance ?? '', /tools\/zoo_reference\.py with torch \d/);
    net.eval(); esh.eval();
    noGrad(() => tidy(() => {
      const f = net.forwardFeatures(input);
      assertClose(f.logits, r('eval.logits'), 1e-4, 'eval logits');
      assertClose(esh.forward(headInput(spec, 'esh', f)), r('eval.esh'), 1e-4, 'eval esh');
    }));
    cleanup();
    assert.equal(liveTensors(), before);
  });

  test(`${arch}: train-mode loss, LoRA gradients (encoder convs and transposed convs) and BN statistics equal the twin's within 1e-4`, async () => {
    const before = liveTensors();
    const { spec, net, esh, input, r, cleanup } = await setup(arch);
    net.train(); esh.eval();
    const layers = loraLayers(net);
    assert.equal(layers.filter(([, l]) => l instanceof LoRAConvTranspose2d).length, 3, 'the three up-sampling convs carry LoRA');
    tidy(() => {
      const f = net.forwardFeatures(input);
      const loss = ops.bceWithLogits(esh.forward(headInput(spec, 'esh', f)), ops.sigmoid(f.logits));
      loss.backward();
      assertClose(f.logits, r('train.logits'), 1e-4, 'train logits');
      assertClose(loss, r('train.loss'), 1e-4, 'train loss');
      for (const [path, layer] of layers) {
        const { a, b } = layer.adapter('default');
        assertClose(a.grad!, r(`grad.${path}.lora_A`), 1e-4, `${path} dL/dA`);
        assertClose(b.grad!, r(`grad.${path}.lora_B`), 1e-4, `${path} dL/dB`);
      }
    });
    for (const [path, m] of net.namedModules()) {
      if (!(m instanceof BatchNorm2d)) continue;
      assertClose(m.buffer('running_mean'), r(`stats.${path}.running_mean`), 1e-4, `${path} running mean`);
      assertClose(m.buffer('running_var'), r(`stats.${path}.running_var`), 1e-4, `${path} running var`);
    }
    cleanup();
    assert.equal(liveTensors(), before);
  });

  test(`${arch}: trainable and total parameters of every placement, and head sizes, are the twin's exactly (4 and 16 filters)`, async () => {
    const before = liveTensors();
    const { metadata } = await loadSafetensors(fixture(`zoo-${arch}.reference.safetensors`)).then((f) => { dispose([...f.tensors.values()]); return f; });
    const counts = JSON.parse(metadata.counts!) as Record<string, Record<string, [number, number]>>;
    const heads = JSON.parse(metadata.heads!) as Record<string, { esh: number; udas: number }>;
    for (const filters of [4, 16]) {
      for (const [key, [trainable, total]] of Object.entries(counts[String(filters)]!)) {
        const [method, blocks] = key.split(' ') as [Method, Blocks];
        const net = modelSpec(arch).create({ filters });
        applyPlacement(net, planPlacement(net, method, blocks), 'default', { rank: 2, alpha: 2, layout: 'loralib' });
        const s = paramSummary(net);
        assert.deepEqual([s.trainableParams, s.totalParams], [trainable, total], `${arch} ${filters} filters ${key}`);
        net.dispose();
      }
      for (const kind of ['esh', 'udas'] as const) {
        const head = createHead(kind, filters, 'cpu', arch);
        assert.equal(head.countParameters(), heads[String(filters)]![kind], `${kind} head at ${filters} filters`);
        head.dispose();
      }
    }
    assert.equal(liveTensors(), before);
  });
}
