import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { liveTensors } from '../../../src/engine/tensor.js';
import { TISSUES, type TissueVolume } from '../../../src/data/simulation/tissue.js';
import { randomizedEpoch, randomizedValidation, type RandomizedSet } from '../../../src/pipeline/train/randomized.js';
import { bestMode, trainSource } from '../../../src/pipeline/train/source.js';
import { loadUnet } from '../../../src/pipeline/models.js';
import { tempDir } from '../../helpers/tmp.js';
import { ScanBatches } from '../../../src/pipeline/train/dataset.js';
import { headSlices } from '../../../src/pipeline/scans.js';

/** A 32^3 head at 4 mm: WM core, GM and CSF shells (the brain), bone, then fat and skin; air outside. */
function head(radius: number): TissueVolume {
  const n = 32, N = n * n * n, c = (n - 1) / 2;
  const fractions = new Uint8Array(TISSUES.length * N), brain = new Uint8Array(N);
  const set = (t: string, i: number): void => { fractions[TISSUES.indexOf(t as never) * N + i] = 255; };
  for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    const i = x + n * (y + n * z);
    const d = Math.hypot(x - c, (y - c) * 0.85, z - c) / radius;
    if (d < 0.6) { set('wm', i); brain[i] = 1; } else if (d < 0.85) { set('gm', i); brain[i] = 1; } else if (d < 0.95) { set('csf', i); brain[i] = 1; }
    else if (d < 1.1) set('bone', i); else if (d < 1.25) set('fat', i); else if (d < 1.32) set('skin', i);
  }
  return { dims: [n, n, n], spacing: [4, 4, 4], affine: [[4, 0, 0, -62], [0, 4, 0, -62], [0, 0, 4, -62], [0, 0, 0, 1]], fractions, brain };
}

test('every epoch draws new images of the same subjects; validation images stay fixed; masks follow the subject', () => {
  const set: RandomizedSet = { train: [head(9), head(10)], val: [head(11)], size: 32 };
  const e0 = randomizedEpoch(set, 42, 0), e1 = randomizedEpoch(set, 42, 1);
  assert.equal(e0.length, 2);
  assert.notDeepEqual(e0[0]!.images, e1[0]!.images, 'a new contrast each epoch');
  assert.deepEqual(e0[0]!.masks, e1[0]!.masks, 'the same brain mask');
  assert.deepEqual(randomizedEpoch(set, 42, 1)[1]!.images, e1[1]!.images, 'seeded');
  assert.deepEqual(randomizedValidation(set, 42)[0]!.images, randomizedValidation(set, 42)[0]!.images);
  const sub = randomizedEpoch({ ...set, slicesPerSubject: 5 }, 42, 0)[0]!;
  assert.deepEqual(sub.shape, [5, 32, 32], 'five slices drawn');
  const plane = 32 * 32;
  for (let j = 0; j < 5; j++) {
    const img = sub.images.subarray(j * plane, (j + 1) * plane);
    const k = Array.from({ length: 32 }, (_, q) => q).find((q) => e0[0]!.images.subarray(q * plane, (q + 1) * plane).every((v, p) => v === img[p]));
    assert.ok(k !== undefined, `slice ${j} is one of the subject's slices`);
  }
  const brainPixels = e0[0]!.masks.reduce((a, b) => a + b, 0);
  assert.ok(brainPixels > 0 && brainPixels < e0[0]!.masks.length / 2, `brain pixels ${brainPixels}`);
});

test('train-source with domain randomization keeps the best validation epoch and records the grid', async () => {
  const live = liveTensors();
  const out = tempDir();
  const set: RandomizedSet = { train: [head(8), head(9), head(10), head(11)], val: [head(9.5)], size: 32, name: 'test-randomized' };
  const r = await trainSource({ out, randomized: set, epochs: 3, batchSize: 16, filters: 4, seed: 1 });
  assert.equal(r.history.length, 3);
  assert.ok(r.history.every((h) => typeof h.valSurfaceDiceAdaBN === 'number'), 'every epoch also validated with test-time AdaBN per scan');
  // The best epoch over both inference modes (the first on ties), and the mode that gave it.
  const best = r.history.reduce((b, h) => (bestMode(h).score > bestMode(b).score ? h : b));
  const { model, info } = await loadUnet(join(out, 'unet.safetensors'));
  model.dispose();
  assert.equal(info.epoch, best.epoch, 'the checkpoint is the best validation epoch');
  assert.equal(info.inference, bestMode(best).mode, 'and records the inference mode that scored best');
  assert.equal(info.source, 'test-randomized');
  assert.equal(info.orientation, 'RAS');
  assert.deepEqual(info.spacing, [4, 4, 4]);
  assert.equal(liveTensors(), live, 'no native tensor leaked');
});

test('per-image batching: every batch holds slices of one subject only, drawn from the slices that show the head', async () => {
  const set: RandomizedSet = { train: [head(8), head(10), head(12)], val: [head(9)], size: 32, slicesPerSubject: 10 };
  const plane = 32 * 32;
  // The full image has air slices at both ends; per-image batching leaves them out.
  const { slicesPerSubject: _, ...all } = set;
  const full = randomizedEpoch({ ...all, batches: 'mixed' }, 42, 0)[0]!;
  assert.equal(full.shape[0], 32, 'mixed: every slice');
  const kept = headSlices(full.images, full.shape);
  assert.ok(kept.length < 32 && kept.length > 10, `head slices ${kept.length} of 32`);
  assert.equal(randomizedEpoch(all, 42, 0)[0]!.shape[0], kept.length, 'per-image without a slice count: every head slice');
  const few = randomizedEpoch({ ...set, slicesPerSubject: 6 }, 42, 0);
  assert.ok(few.every((s) => s.shape[0] === 6));
  for (let j = 0; j < 6; j++) {
    const img = few[0]!.images.subarray(j * plane, (j + 1) * plane);
    const k = Array.from({ length: 32 }, (_, q) => q).find((q) => full.images.subarray(q * plane, (q + 1) * plane).every((v, p) => v === img[p]));
    assert.ok(k !== undefined && kept.includes(k), `slice ${j} is head slice ${k}`);
  }

  const batches = new ScanBatches(few, { batchSize: 4, seed: 3 });
  assert.equal(batches.steps, 3 * 2, 'each subject: one batch of 4 and one of 2');
  const seen = new Map<number, number>();
  let steps = 0;
  for await (const b of batches.epoch(0)) {
    steps++;
    const B = b.shape[0];
    const owners = new Set<number>();
    for (let j = 0; j < B; j++) {
      const img = b.x.subarray(j * plane, (j + 1) * plane);
      const owner = few.findIndex((s) => Array.from({ length: 6 }, (_, q) => q).some((q) => s.images.subarray(q * plane, (q + 1) * plane).every((v, p) => v === img[p])));
      assert.ok(owner >= 0, 'a slice of one of the subjects');
      owners.add(owner);
      seen.set(owner, (seen.get(owner) ?? 0) + 1);
    }
    assert.equal(owners.size, 1, 'one subject per batch');
  }
  assert.equal(steps, batches.steps);
  assert.deepEqual([...seen.values()], [6, 6, 6], 'every slice once');
  const again: Float32Array[] = [];
  for await (const b of batches.epoch(0)) again.push(b.x);
  const other: Float32Array[] = [];
  for await (const b of batches.epoch(1)) other.push(b.x);
  assert.notDeepEqual(again.map((x) => x[100]), other.map((x) => x[100]), 'another epoch, another order');
  assert.equal(ScanBatches.chunks(9, 4).join(','), '4,4', 'a last batch of one slice is dropped (BatchNorm needs 2)');
  assert.throws(() => new ScanBatches(few, { batchSize: 1, seed: 0 }), (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG' && /batchSize/.test(e.message));
});
