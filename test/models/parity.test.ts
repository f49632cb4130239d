// Network parity with PyTorch: tools/model_reference.py builds the same U-Net + ESH + ConvLoRA in
// PyTorch, loads our exported weights (test/fixtures/models/weights.safetensors) strictly by name and
// writes its outputs (reference.safetensors). Here our implementation must reproduce them within 1e-4,
// on the CPU and, where a CUDA GPU is present, on it too (TF32 off: cuDNN's default TF32 rounds
// convolution inputs to 10 mantissa bits, an error of ~1e-3; the GPU tests skip cleanly without one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadSafetensors } from '../../src/nn/safetensors.js';
import { UNet2D } from '../../src/models/unet.js';
import { EarlySegHead } from '../../src/models/esh.js';
import { applyPlacement, planPlacement, loraLayers } from '../../src/lora/placement.js';
import { tidy, liveTensors, dispose } from '../../src/engine/tensor.js';
import * as ops from '../../src/engine/ops.js';
import { cudaAvailable, noGrad, setCudnnTF32 } from '../../src/engine/runtime.js';
import type { Device, Tensor } from '../../src/engine/tensor.js';
import { assertClose } from '../helpers/compare.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/fixtures/models/${name}`, import.meta.url));

async function setup(device: Device) {
  const w = await loadSafetensors(fixture('weights.safetensors'));
  const ref = await loadSafetensors(fixture('reference.safetensors'));
  const unet = new UNet2D({ filters: 4, device });
  const esh = new EarlySegHead(32, { device });
  applyPlacement(unet, planPlacement(unet, 'convlora', 'all'), 'default', { rank: 2, alpha: 4, layout: 'loralib' });
  const pick = (prefix: string): Map<string, Tensor> =>
    new Map([...w.tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
  unet.loadStateDict(pick('unet.'), { strict: true });
  esh.loadStateDict(pick('esh.'), { strict: true });
  const input = ops.to(w.tensors.get('input')!, { device }).keep();
  const r = (k: string): Tensor => { const t = ref.tensors.get(k); assert.ok(t, `reference has ${k}`); return t; };
  return { unet, esh, input, r, cleanup: () => { unet.dispose(); esh.dispose(); input.dispose(); dispose([...w.tensors.values(), ...ref.tensors.values()]); } };
}

async function evalParity(device: Device): Promise<void> {
  const before = liveTensors();
  const { unet, esh, input, r, cleanup } = await setup(device);
  unet.eval(); esh.eval();
  noGrad(() => tidy(() => {
    const { logits, x3 } = unet.forwardFeatures(input);
    assertClose(logits, r('eval.logits'), 1e-4, 'eval logits');
    assertClose(esh.forward(x3), r('eval.esh'), 1e-4, 'eval esh');
  }));
  cleanup();
  assert.equal(liveTensors(), before);
}

async function trainParity(device: Device): Promise<void> {
  const before = liveTensors();
  const { unet, esh, input, r, cleanup } = await setup(device);
  unet.train(); esh.eval();
  const layers = loraLayers(unet);
  assert.equal(layers.length, 28);
  tidy(() => {
    const { logits, x3 } = unet.forwardFeatures(input);
    const e = esh.forward(x3);
    const loss = ops.bceWithLogits(e, ops.sigmoid(logits)); // target not detached, as in the authors' code
    loss.backward();
    assertClose(logits, r('train.logits'), 1e-4, 'train logits');
    assertClose(e, r('train.esh'), 1e-4, 'train esh');
    assertClose(ops.reshape(loss, [1]), r('train.loss'), 1e-4, 'loss');
  });
  for (const [path, layer] of layers) {
    const { a, b } = layer.adapter('default');
    tidy(() => {
      assertClose(a.grad!, r(`grad.${path}.lora_A`), 1e-4, `${path}.lora_A grad`);
      assertClose(b.grad!, r(`grad.${path}.lora_B`), 1e-4, `${path}.lora_B grad`);
    });
  }
  let checked = 0;
  for (const [name, t] of unet.namedBuffers()) {
    if (!name.endsWith('running_mean') && !name.endsWith('running_var')) continue;
    assertClose(t, r(`stats.${name}`), 1e-4, name);
    checked += 1;
  }
  assert.ok(checked > 50, `checked ${checked} BN buffers`);
  cleanup();
  assert.equal(liveTensors(), before);
}

/** Run `body` on the GPU with cuDNN TF32 off, restoring the previous setting. */
async function onCuda(body: (device: Device) => Promise<void>): Promise<void> {
  const prev = setCudnnTF32(false);
  try { await body('cuda'); } finally { setCudnnTF32(prev); }
}
const gpu = { skip: cudaAvailable() ? false : 'no CUDA GPU' };

test('eval-mode logits of U-Net and ESH match PyTorch within 1e-4', () => evalParity('cpu'));
test('train-mode logits, self-training loss, LoRA gradients and updated BN statistics match PyTorch within 1e-4', () => trainParity('cpu'));
test('on cuda: eval-mode logits of U-Net and ESH match PyTorch within 1e-4', gpu, () => onCuda(evalParity));
test('on cuda: train-mode logits, loss, LoRA gradients and BN statistics match PyTorch within 1e-4', gpu, () => onCuda(trainParity));
