import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Conv2d } from '../../src/nn/layers.js';
import { LoRAConv2d } from '../../src/lora/convlora.js';
import { manualSeed, noGrad } from '../../src/engine/runtime.js';
import { randn, tensor } from '../../src/engine/create.js';
import * as ops from '../../src/engine/ops.js';
import { tidy, liveTensors } from '../../src/engine/tensor.js';
import { assertClose } from '../helpers/compare.js';

function randomiseB(layer: LoRAConv2d, name = 'default'): void {
  const { b } = layer.adapter(name);
  tidy(() => ops.copy_(b, ops.mul(randn(b.shape), 0.1)));
}

const geometries = [
  { name: '3x3 pad 1', cin: 4, cout: 6, k: 3, o: { padding: 1 } },
  { name: '2x2 stride 2', cin: 4, cout: 8, k: 2, o: { stride: 2 } },
  { name: '3x3 dilation 2 with bias', cin: 3, cout: 5, k: 3, o: { padding: 2, dilation: 2, bias: true } },
  { name: '3x3 groups 2', cin: 4, cout: 6, k: 3, o: { padding: 1, groups: 2 } },
];

for (const g of geometries) {
  test(`LoRA on ${g.name}: fresh adapter is identity, merged equals unmerged, unmerge restores exactly`, () => {
    manualSeed(1);
    const before = liveTensors();
    const conv = new Conv2d(g.cin, g.cout, g.k, g.o);
    const layer = new LoRAConv2d(conv);
    const x = randn([2, g.cin, 8, 8]).keep();
    const original = conv.weight.toFloat32();
    noGrad(() => tidy(() => {
      const base = conv.forward(x);
      layer.addAdapter('default', { rank: 2, alpha: 2, layout: 'loralib' });
      assert.deepEqual(layer.forward(x).toFloat32(), base.toFloat32(), 'fresh adapter (B = 0) changes nothing');
      randomiseB(layer);
      const unmerged = layer.forward(x);
      assert.notDeepEqual(unmerged.toFloat32(), base.toFloat32(), 'a trained adapter changes the output');
      layer.merge();
      layer.merge(); // idempotent: merging twice must not add delta twice
      assertClose(layer.forward(x), unmerged, 1e-5, 'merged vs unmerged');
      layer.unmerge();
      layer.unmerge();
      assert.deepEqual(conv.weight.toFloat32(), original, 'unmerge restores the original weight bit for bit');
      assertClose(layer.forward(x), unmerged, 1e-6, 'unmerged after round trip');
    }));
    x.dispose();
    layer.dispose();
    assert.equal(liveTensors(), before);
  });
}

test('loralib layout: delta is (B @ A) viewed row-major as the kernel, times alpha / r', () => {
  // Hand example: conv 1 -> 1 channel, k = 2, r = 1. A is [r*k, in*k] = [2, 2], B is [out*k, r*k] = [2, 2].
  // B @ A with B = [[1, 0], [0, 2]], A = [[1, 2], [3, 4]] is [[1, 2], [6, 8]]; viewed row-major as
  // [1, 1, 2, 2] the kernel is [[1, 2], [6, 8]]; alpha / r = 3 gives [[3, 6], [18, 24]].
  const layer = new LoRAConv2d(new Conv2d(1, 1, 2));
  layer.addAdapter('x', { rank: 1, alpha: 3, layout: 'loralib' });
  const { a, b } = layer.adapter('x');
  tidy(() => {
    ops.copy_(a, tensor([1, 2, 3, 4], [2, 2]));
    ops.copy_(b, tensor([1, 0, 0, 2], [2, 2]));
    assert.deepEqual(Array.from(layer.delta().toFloat32()), [3, 6, 18, 24]);
    assert.deepEqual(layer.delta().shape, [1, 1, 2, 2]);
  });
  layer.dispose();
});

test('adapter shapes: loralib A [r*k, in*k], B [out/groups*k, r*k]; peft A [r, in, k, k], B [out, r, 1, 1]', () => {
  const layer = new LoRAConv2d(new Conv2d(16, 32, 3, { padding: 1 }));
  assert.deepEqual(layer.adapterShapes({ rank: 2, alpha: 2, layout: 'loralib' }), { a: [6, 48], b: [96, 6] });
  assert.deepEqual(layer.adapterShapes({ rank: 2, alpha: 2, layout: 'peft' }), { a: [2, 16, 3, 3], b: [32, 2, 1, 1] });
  assert.throws(() => layer.adapterShapes({ rank: 0, alpha: 2, layout: 'loralib' }), /Expected integer >= 1 for `rank` but received 0/);
  const grouped = new LoRAConv2d(new Conv2d(4, 6, 3, { groups: 2 }));
  assert.throws(() => grouped.adapterShapes({ rank: 2, alpha: 2, layout: 'peft' }), /groups = 1 only/);
  layer.dispose();
  grouped.dispose();
});

test('peft layout: merged forward equals conv_B(conv_A(x)) * scale + base(x)', () => {
  manualSeed(3);
  const conv = new Conv2d(3, 4, 3, { padding: 1 });
  const layer = new LoRAConv2d(conv);
  layer.addAdapter('p', { rank: 2, alpha: 4, layout: 'peft' });
  randomiseB(layer, 'p');
  const { a, b } = layer.adapter('p');
  noGrad(() => tidy(() => {
    const x = randn([1, 3, 6, 6]);
    const twoConv = ops.add(conv.forward(x), ops.mul(ops.conv2d(ops.conv2d(x, a, null, { padding: 1 }), b), 2));
    assertClose(layer.forward(x), twoConv, 1e-5, 'peft delta');
  }));
  layer.dispose();
});

test('safe merge refuses non-finite weights and leaves the layer unmerged', () => {
  const layer = new LoRAConv2d(new Conv2d(2, 2, 3));
  layer.addAdapter('bad');
  tidy(() => ops.fill_(layer.adapter('bad').b, Number.POSITIVE_INFINITY));
  assert.throws(() => layer.merge({ safe: true }), (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG' && /NaN or Inf/.test(e.message));
  assert.equal(layer.merged, false);
  layer.dispose();
});
