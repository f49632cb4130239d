/**
 * GPU: one training step of the same small net, from the same weights and data, on 'cuda' and on
 * 'cpu'; loss, gradients, updated parameters and BN running statistics agree within 1e-4 relative
 * (assertClose's rule). TF32 is switched off for the comparison: with libtorch's default (on), cuDNN
 * rounds convolution inputs to 10 mantissa bits, an error of ~1e-3. Skips cleanly without a GPU.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Adam, cudaAvailable, liveTensors, manualSeed, ops, randn, resolveDevice, setCudnnTF32, tidy, uniform, type Device, type Tensor,
} from '../../src/engine/index.js';
import { assertClose, copySmallNet, disposeSmallNet, makeSmallNet, smallNetForward, type SmallNet } from './helpers.js';

const RTOL = 1e-4;

interface StepResult { loss: number; grads: Float32Array[]; params: Float32Array[]; buffers: Float32Array[] }

/** zeroGrad, forward, BCE, backward, Adam step; everything read back to the CPU. */
function trainStep(net: SmallNet, x: Tensor, target: Tensor, device: Device): StepResult {
  const opt = new Adam(net.params, { lr: 1e-2 });
  try {
    return tidy(() => {
      const xd = ops.to(x, { device });
      const td = ops.to(target, { device });
      opt.zeroGrad();
      const loss = ops.bceWithLogits(smallNetForward(net, xd), td);
      loss.backward();
      const grads = net.params.map((p) => {
        const g = p.grad;
        assert.ok(g !== null, 'every parameter gets a gradient');
        assert.equal(g.device.startsWith(device), true, `gradient on ${g.device}, expected ${device}`);
        return g.toFloat32();
      });
      opt.step();
      return { loss: loss.item(), grads, params: net.params.map((p) => p.toFloat32()), buffers: net.buffers.map((b) => b.toFloat32()) };
    });
  } finally {
    opt.zeroGrad();
    opt.dispose();
  }
}

test('a training step on cuda matches the cpu within 1e-4 relative', { skip: cudaAvailable() ? false : 'no CUDA GPU' }, () => {
  const device = resolveDevice('cuda');
  const before = liveTensors();
  const prevTF32 = setCudnnTF32(false);
  manualSeed(3);
  const cpuNet = makeSmallNet(16);
  const gpuNet = copySmallNet(cpuNet, device);
  const x = randn([4, 1, 32, 32]).keep();
  const target = uniform([4, 1, 32, 32]).keep();
  try {
    assert.ok(gpuNet.params.every((p) => p.device.startsWith('cuda') && p.requiresGrad));
    const cpu = trainStep(cpuNet, x, target, 'cpu');
    const gpu = trainStep(gpuNet, x, target, device);
    assertClose([gpu.loss], [cpu.loss], 'loss', { rtol: RTOL });
    cpu.grads.forEach((g, i) => assertClose(gpu.grads[i]!, g, `grad of param ${i}`, { rtol: RTOL }));
    cpu.params.forEach((p, i) => assertClose(gpu.params[i]!, p, `param ${i} after Adam`, { rtol: RTOL }));
    cpu.buffers.forEach((b, i) => assertClose(gpu.buffers[i]!, b, `BN buffer ${i}`, { rtol: RTOL }));
  } finally {
    setCudnnTF32(prevTF32);
    disposeSmallNet(cpuNet);
    disposeSmallNet(gpuNet);
    x.dispose();
    target.dispose();
  }
  assert.equal(liveTensors(), before);
});
