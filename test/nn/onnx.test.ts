// The ONNX graph builder and the layer exporter on their own: typed attributes, shapes checked, metadata
// round-tripped, and modules without an ONNX mapping (or in training mode) refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxGraph, readOnnxSummary } from '../../src/nn/onnx.js';
import { OnnxExporter } from '../../src/nn/onnx-layers.js';
import { BatchNorm2d, Conv2d, Sequential } from '../../src/nn/layers.js';
import { Module } from '../../src/nn/module.js';
import { UNet2D } from '../../src/models/unet.js';
import { unetToOnnx } from '../../src/models/unet-onnx.js';
import { liveTensors, type Tensor } from '../../src/engine/tensor.js';

const isCode = (code: string, message: RegExp) => (e: Error & { code?: string }): boolean => e.code === code && message.test(e.message);

test('graph: initializer shape, integer and float attributes are checked; metadata and I/O names round-trip', () => {
  const g = new OnnxGraph();
  assert.throws(() => g.initializer('w', [2, 3], new Float32Array(5)), isCode('E_SHAPE', /shape \[2, 3\] holds 6 values but received 5/));
  const x = g.name('image');
  assert.throws(() => g.node('Conv', [x], { group: 1.5 }), isCode('E_INVALID_ARG', /`group` \(or \{ float \}\) but received 1\.5/));
  assert.throws(() => g.node('Conv', [x], { pads: [0, 0.5] }), isCode('E_INVALID_ARG', /`pads` but received \[0, 0\.5\]/));
  const w = g.initializer('w', [1, 1, 1, 1], new Float32Array([2]));
  const y = g.node('Conv', [x, w], { kernel_shape: [1, 1] }, 'image'); // a taken name gets a suffix
  assert.notEqual(y, 'image');
  const bytes = g.encode({ input: { name: x, dims: ['batch', 1, 8, 8] }, output: { name: y, dims: ['batch', 1, 8, 8] }, graphName: 't', producer: 'test', version: '0', metadata: { a: '1', 'b.c': 'ü' } });
  const s = readOnnxSummary(bytes);
  assert.deepEqual(s.metadata, { a: '1', 'b.c': 'ü' });
  assert.equal(s.input, 'image');
  assert.equal(s.output, y);
  assert.equal(s.opset, 17);
  assert.equal(s.nodes, 1);
  assert.equal(s.initializers, 1);
});

class Custom extends Module { forward(x: Tensor): Tensor { return x; } }

test('exporter: a module class without a mapping and BatchNorm in training mode are refused by path', () => {
  const live = liveTensors();
  const seq = new Sequential(new Conv2d(1, 2, 3, { padding: 1 }), new Custom());
  const bn = new BatchNorm2d(2);
  const unet = new UNet2D({ filters: 2 });
  try {
    assert.throws(() => new OnnxExporter().emit(seq, 'x', 'net'), isCode('E_INVALID_ARG', /No ONNX mapping for module Custom at "net\.1"/));
    assert.throws(() => new OnnxExporter().emit(bn, 'x', 'bn'), isCode('E_INVALID_ARG', /BatchNorm2d at "bn" in eval mode .* received training true/));
    assert.throws(() => unetToOnnx(unet, { metadata: {}, version: '0' }), isCode('E_INVALID_ARG', /eval mode .* received one in training mode/));
    unet.eval();
    const s = readOnnxSummary(unetToOnnx(unet, { metadata: {}, version: '0' }));
    // Every parameter and running statistic is one initializer (BN counters are not).
    assert.ok(s.nodes > 100, `${s.nodes} nodes`);
    assert.equal(s.initializers, unet.stateDict().size - [...unet.stateDict().keys()].filter((k) => k.endsWith('num_batches_tracked')).length);
  } finally {
    seq.dispose();
    bn.dispose();
    unet.dispose();
  }
  assert.equal(liveTensors(), live);
});
