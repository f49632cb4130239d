// adaptDomain's training-mode bookkeeping: with implicit AdaBN (U-Net in train mode), each optimizer step
// must move the BatchNorm statistics once, as one train-mode forward per batch does in PyTorch.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePhantomDataset } from '../../../src/data/simulation/phantom.js';
import { Batches, loadScans, openDomain } from '../../../src/pipeline/train/dataset.js';
import { adaptDomain } from '../../../src/pipeline/train/adapt.js';
import { UNet2D } from '../../../src/models/unet.js';
import { AdapterRegistry, disposeAdapter } from '../../../src/lora/adapter.js';
import { liveTensors } from '../../../src/engine/tensor.js';

const root = mkdtempSync(join(tmpdir(), 'convlora-adapt-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('self-training with implicit AdaBN: one BatchNorm update per step (num_batches_tracked = steps)', async () => {
  const live = liveTensors();
  const data = join(root, 'data');
  await generatePhantomDataset(data, { size: 32, volumes: 13, seed: 3, domains: ['GE_15'] });
  const d = await openDomain(data, 'GE_15', 'target');
  const train = await loadScans(d.split.train, d.info);
  const val = await loadScans(d.split.val, d.info);
  const batchSize = 16;
  const steps = new Batches(train, d.info, { batchSize, seed: 1, dropLast: true }).steps;
  assert.ok(steps >= 2, `${steps} steps`);
  const model = new UNet2D({ filters: 4 });
  const registry = new AdapterRegistry(model);
  try {
    const r = await adaptDomain(registry, null, train, val, d.info, { target: 'GE_15', method: 'self-training', adabn: 'implicit', epochs: 1, batchSize, seed: 1 });
    try {
      assert.equal(r.bestEpoch, 1, 'without a head the last epoch is kept');
      assert.ok(Number.isFinite(r.history[1]!.loss));
      const counters = [...r.adapter.tensors].filter(([k]) => k.endsWith('num_batches_tracked'));
      assert.ok(counters.length > 40, `${counters.length} BatchNorms`);
      for (const [k, t] of counters) assert.equal(t.item(), steps, k); // a fresh U-Net starts at 0
    } finally { disposeAdapter(r.adapter); }
  } finally {
    registry.dispose();
    model.dispose();
  }
  assert.equal(liveTensors(), live);
});
