import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { liveTensors } from '../../src/engine/tensor.js';
import { TISSUES, type TissueVolume } from '../../src/data/tissue.js';
import { randomizedEpoch, randomizedValidation, type RandomizedSet } from '../../src/pipeline/randomized.js';
import { bestMode, trainSource } from '../../src/pipeline/source.js';
import { loadUnet } from '../../src/pipeline/models.js';
import { tempDir } from '../helpers/tmp.js';

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
