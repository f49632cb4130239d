import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brainOfLabels, headLabels, kmeans1d, synthesizeHead } from '../../../src/data/simulation/head-synthesis.js';
import { Rng } from '../../../src/data/rng.js';

/** A 20^3 head: air, a scalp shell (dark bone 100 inside bright fat 400), a brain of two regions (grey 250, white 350). */
function head(): { image: Float32Array; regions: Uint16Array; dims: [number, number, number] } {
  const n = 20, image = new Float32Array(n ** 3), regions = new Uint16Array(n ** 3);
  for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    const r = Math.hypot(x - 9.5, y - 9.5, z - 9.5), i = x + n * (y + n * z);
    if (r < 4) { image[i] = 350; regions[i] = 41; } else if (r < 6) { image[i] = 250; regions[i] = 100; } else if (r < 7.5) image[i] = 100; else if (r < 9) image[i] = 400;
  }
  return { image, regions, dims: [n, n, n] };
}

test('kmeans1d finds well separated centres in increasing order, with weights', () => {
  assert.deepEqual(kmeans1d([1, 1.1, 0.9, 10, 10.2, 9.8, 5, 5], 3).map((c) => Math.round(c)), [1, 5, 10]);
  assert.deepEqual(kmeans1d([0, 10], 1, [3, 1]), [2.5]);
  assert.throws(() => kmeans1d([], 2), { code: 'E_DATA' });
});

test('head labels: air outside, extra-cerebral classes by intensity, one label per brain region, the brain mask exactly the regions', () => {
  const h = head();
  const l = headLabels(h.image, h.regions, h.dims, { extra: 2, brainClasses: 2 });
  assert.equal(l.extra, 2);
  assert.equal(l.classes, 5);
  const at = (x: number, y: number, z: number): number => l.labels[x + 20 * (y + 20 * z)]!;
  assert.equal(at(0, 0, 0), 0, 'air');
  assert.equal(at(9, 9, 3), 1, 'bone is the darker extra-cerebral class');
  assert.equal(at(9, 9, 1), 2, 'fat the brighter');
  const brain = brainOfLabels(l);
  for (let i = 0; i < brain.length; i++) assert.equal(brain[i], h.regions[i]! > 0 ? 1 : 0);
  const grey = at(9, 9, 5), white = at(9, 9, 9);
  assert.ok(grey > 2 && white > 2 && grey !== white);
  assert.ok(l.classOf[white]! > l.classOf[grey]!, 'the brighter region is in the brighter brain class');
});

test('synthesis gives every label one intensity with the degradations off, and differs between draws', () => {
  const h = head();
  const l = headLabels(h.image, h.regions, h.dims, { extra: 2, brainClasses: 2 });
  const off = { textureSd: 0, lowResShare: 0, maxBlur: 0, maxBias: 0, gammaSd: 0, maxNoise: 0, regionShare: 0 };
  const img = synthesizeHead(l, l.labels, new Rng(1), off);
  const byLabel = new Map<number, Set<number>>();
  l.labels.forEach((lab, i) => { if (!byLabel.has(lab)) byLabel.set(lab, new Set()); byLabel.get(lab)!.add(Math.round(img[i]! * 1e5)); });
  for (const [lab, values] of byLabel) assert.equal(values.size, 1, `label ${lab} is one intensity`);
  const other = synthesizeHead(l, l.labels, new Rng(2), off);
  assert.notDeepEqual(other, img);
  assert.deepEqual(synthesizeHead(l, l.labels, new Rng(1), off), img, 'the same seed, the same image');
});

test('a segmentation without any brain voxel is E_DATA; mismatched sizes E_SHAPE', () => {
  const h = head();
  assert.throws(() => headLabels(h.image, new Uint16Array(h.regions.length), h.dims), { code: 'E_DATA', message: /received none/ });
  assert.throws(() => headLabels(h.image, new Uint16Array(3), h.dims), { code: 'E_SHAPE', message: /received 8000 and 3/ });
});
