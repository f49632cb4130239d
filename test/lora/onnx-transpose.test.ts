// LoRA on transposed convs as ONNX, unmerged: the exporter writes W + delta into each ConvTranspose node
// with the conv's groups and dilation, and onnxruntime's logits equal libtorch's within 1e-4. The network
// (defined here) also runs the LeakyRelu and MaxPool mappings the zoo's networks use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Conv2d, ConvTranspose2d, LeakyReLU, MaxPool2d, ReLU, Sequential } from '../../src/nn/layers.js';
import { injectAdapters, loraLayers } from '../../src/lora/placement.js';
import { LORA_EMITTERS } from '../../src/lora/onnx.js';
import { networkToOnnx } from '../../src/models/onnx-net.js';
import { loadOnnxRuntime } from '../../src/pipeline/onnx/session.js';
import { manualSeed, noGrad } from '../../src/engine/runtime.js';
import { randn, uniform } from '../../src/engine/create.js';
import * as ops from '../../src/engine/ops.js';
import { liveTensors, tidy } from '../../src/engine/tensor.js';

test('unmerged LoRA on grouped, dilated and strided ConvTranspose2d layers exports to ONNX with the same logits', async () => {
  const live = liveTensors();
  manualSeed(31);
  const net = new Sequential(
    new Conv2d(1, 4, 3, { padding: 1 }), new ReLU(),
    new ConvTranspose2d(4, 2, 3, { stride: 2, padding: 1, outputPadding: 1, groups: 2, bias: true }), new LeakyReLU(0.1),
    new ConvTranspose2d(2, 2, 3, { padding: 2, dilation: 2 }), new MaxPool2d(2),
    new ConvTranspose2d(2, 1, 2, { stride: 2 }));
  injectAdapters(net, { targetModules: ['2', '4', '6'], rank: 2, alpha: 3 });
  for (const [, l] of loraLayers(net)) tidy(() => ops.copy_(l.adapter('default').b, ops.mul(randn(l.adapter('default').b.shape), 0.2)));
  net.eval();
  const { x, y, base } = noGrad(() => tidy(() => {
    const t = uniform([2, 1, 6, 10]);
    const out = net.forward(t).toFloat32();
    for (const [, l] of loraLayers(net)) l.setActive(null);
    const b = net.forward(t).toFloat32();
    for (const [, l] of loraLayers(net)) l.setActive('default');
    return { x: t.toFloat32(), y: out, base: b };
  }));
  assert.ok(y.some((v, i) => Math.abs(v - base[i]!) > 1e-2), 'the adapters change the logits');
  const bytes = networkToOnnx(net, { emitters: [], outChannels: 1, filters: 4, title: 'test network', divisor: 2 }, { metadata: {}, extra: LORA_EMITTERS, version: '0' });
  const ort = await loadOnnxRuntime();
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ image: new ort.Tensor('float32', x, [2, 1, 6, 10]) });
    const z = out.logits!.data as Float32Array;
    assert.equal(z.length, y.length);
    const d = z.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
    assert.ok(d <= 1e-4, `onnx vs libtorch: max abs diff ${d}`);
  } finally { await session.release(); }
  net.dispose();
  assert.equal(liveTensors(), live);
});
