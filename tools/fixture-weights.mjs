// Shared by the parity-fixture generators (make-model-fixture.mjs, make-zoo-fixture.mjs): make a seeded
// network's numbers non-trivial so the PyTorch twins are tested on more than an initialisation.
import { randn, uniform, tidy } from '../dist/src/engine/index.js';
import * as ops from '../dist/src/engine/ops.js';
import { loraLayers } from '../dist/src/lora/placement.js';
import { BatchNorm2d } from '../dist/src/nn/layers.js';

/**
 * LoRA B ~ 0.05 N(0, 1) on `net`'s adapter `name` (so adapters change the output), and for every BatchNorm
 * of `modules`: running mean ~ 0.1 N, running var ~ U(0.5, 1.5), weight ~ U(0.8, 1.2), bias ~ 0.1 N.
 * Draws in this order from libtorch's global generator (seed it first).
 */
export function randomizeForFixture(net, modules, name = 'default') {
  for (const [, layer] of loraLayers(net)) {
    const { b } = layer.adapter(name);
    tidy(() => ops.copy_(b, ops.mul(randn(b.shape), 0.05)));
  }
  for (const m of modules) {
    for (const [, bn] of m.namedModules()) {
      if (!(bn instanceof BatchNorm2d)) continue;
      const c = bn.numFeatures;
      tidy(() => {
        ops.copy_(bn.getBuffer('running_mean'), ops.mul(randn([c]), 0.1));
        ops.copy_(bn.getBuffer('running_var'), uniform([c], 0.5, 1.5));
        ops.copy_(bn.getParameter('weight'), uniform([c], 0.8, 1.2));
        ops.copy_(bn.getParameter('bias'), ops.mul(randn([c]), 0.1));
      });
    }
  }
}
