import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchNorm2d, ConvTranspose2d } from '../../src/nn/layers.js';
import { manualSeed } from '../../src/engine/runtime.js';
import { full, randn, tensor } from '../../src/engine/create.js';
import * as ops from '../../src/engine/ops.js';
import { tidy } from '../../src/engine/tensor.js';
import { assertClose } from '../helpers/compare.js';

// The layer computes a k x k stride-k transposed conv as 1x1 conv + pixel shuffle; it must equal
// libtorch's conv_transpose2d (forward and gradients), with and without bias.
for (const bias of [false, true]) {
  test(`ConvTranspose2d k=2 s=2 fast path equals conv_transpose2d (bias ${bias})`, () => {
    manualSeed(5);
    const layer = new ConvTranspose2d(6, 4, 2, { stride: 2, bias });
    tidy(() => {
      const x = randn([3, 6, 5, 7], { requiresGrad: true });
      const w = layer.getParameter('weight')!;
      const b = layer.getParameter('bias');
      const g = randn([3, 4, 10, 14]);
      const fast = layer.forward(x);
      ops.sum(ops.mul(fast, g)).backward();
      const gxFast = x.grad!.toFloat32();
      const gwFast = w.grad!.toFloat32();
      const gbFast = b?.grad?.toFloat32();
      ops.zero_(x.grad!); ops.zero_(w.grad!); if (b !== null) ops.zero_(b.grad!);
      const ref = ops.convTranspose2d(x, w, b, { stride: 2 });
      ops.sum(ops.mul(ref, g)).backward();
      assert.deepEqual(fast.shape, [3, 4, 10, 14]);
      assertClose(fast, ref, 1e-5, 'output');
      assertClose(gxFast, x.grad!.toFloat32(), 1e-5, 'grad x');
      assertClose(gwFast, w.grad!.toFloat32(), 1e-5, 'grad w');
      if (gbFast !== undefined) assertClose(gbFast, b!.grad!.toFloat32(), 1e-5, 'grad bias');
    });
    layer.dispose();
  });
}

// BatchNorm's batch count lives only in its num_batches_tracked buffer: a load or copy into the buffer
// is seen by the next forward without any re-sync. Cumulative average (momentum null), by hand: a
// channel whose batch means are m1, m2 has running mean m1 after one batch and (m1 + m2) / 2 after two;
// with the count set to 5 by a copy, the next batch of mean m moves it by (m - r) / 6.
test('BatchNorm2d counts batches in num_batches_tracked alone: copies into the buffer need no re-sync', () => {
  const bn = new BatchNorm2d(1, { momentum: null });
  bn.train();
  const batch = (v: number[]): void => { tidy(() => { bn.forward(tensor(Float32Array.from(v), [v.length, 1, 1, 1])); }); };
  const running = (): number => bn.buffer('running_mean').item();
  batch([1, 3]);
  assert.equal(bn.batchesTracked, 1);
  assert.ok(Math.abs(running() - 2) < 1e-6, `${running()}`);
  batch([5, 7]);
  assert.equal(bn.batchesTracked, 2);
  assert.ok(Math.abs(running() - 4) < 1e-6, `${running()}`);
  tidy(() => { ops.copy_(bn.buffer('num_batches_tracked'), full([], 5, { dtype: 'int64' })); });
  assert.equal(bn.batchesTracked, 5, 'read from the buffer');
  batch([10, 10]);
  assert.equal(bn.batchesTracked, 6);
  assert.ok(Math.abs(running() - (4 + (10 - 4) / 6)) < 1e-6, `${running()}`);
  bn.resetRunningStats();
  assert.equal(bn.batchesTracked, 0);
  bn.eval();
  batch([1, 2]);
  assert.equal(bn.batchesTracked, 0, 'eval mode counts nothing');
  bn.dispose();
});
