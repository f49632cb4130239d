// Forward intermediates are released as soon as they are consumed (as PyTorch frees what Python no
// longer references): a training forward of the U-Net leaves only the handles it returns, and backward
// still reaches every parameter through the autograd graph's own references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UNet2D } from '../../src/models/unet.js';
import { Sequential, Conv2d, ReLU, BatchNorm2d } from '../../src/nn/layers.js';
import { manualSeed } from '../../src/engine/runtime.js';
import { randn } from '../../src/engine/create.js';
import * as ops from '../../src/engine/ops.js';
import { tidy, liveTensors } from '../../src/engine/tensor.js';

test('Sequential keeps no handle on its children\'s intermediate outputs', () => {
  manualSeed(1);
  const net = new Sequential(new Conv2d(1, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU(), new Conv2d(4, 1, 3, { padding: 1 }));
  net.train();
  tidy(() => {
    const x = randn([2, 1, 8, 8]);
    const before = liveTensors();
    const y = net.forward(x);
    assert.equal(liveTensors() - before, 1, 'only the output is held');
    ops.mean(y).backward();
    for (const [name, p] of net.namedParameters()) assert.ok(p.grad !== null && p.grad.toFloat32().some((v) => v !== 0), `${name} has a gradient`);
  });
  net.dispose();
});

test('UNet2D.forwardFeatures holds only logits, x0 and x3; backward reaches every parameter', () => {
  manualSeed(2);
  const unet = new UNet2D({ filters: 4 });
  unet.train();
  tidy(() => {
    const x = randn([2, 1, 16, 16]);
    const before = liveTensors();
    const f = unet.forwardFeatures(x);
    assert.equal(liveTensors() - before, 3);
    ops.add(ops.mean(f.logits), ops.mean(f.x3)).backward();
    const missing = unet.namedParameters().filter(([, p]) => p.grad === null).map(([n]) => n);
    assert.deepEqual(missing, []);
  });
  unet.dispose();
});
