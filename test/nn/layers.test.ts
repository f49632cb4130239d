import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConvTranspose2d } from '../../src/nn/layers.js';
import { manualSeed } from '../../src/engine/runtime.js';
import { randn } from '../../src/engine/create.js';
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
