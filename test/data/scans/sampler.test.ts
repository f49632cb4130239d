import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScanData, ScanEntry } from '../../../src/data/scans/cc359.js';
import { CC359_SLICE_RANGES } from '../../../src/data/scans/cc359.js';
import { SliceSampler, type Batch } from '../../../src/data/scans/sampler.js';
import { SOURCE_SPLIT, TARGET_SPLIT, splitScans } from '../../../src/data/scans/splits.js';
import { sliceGeometry } from '../../../src/data/image/preprocess.js';
import { isCoded } from '../helpers.js';

const entries = (n: number): ScanEntry[] => Array.from({ length: n }, (_, i) => ({
  domain: 'GE_3', stem: `CC${String(i).padStart(4, '0')}`, imagePath: `/x/${i}.nii.gz`, maskPath: `/x/${i}_ss.nii.gz`,
}));

test('source split 80:10:10 of 20 scans: 16/2/2, disjoint, complete, seeded, independent of input order', () => {
  const scans = entries(20);
  const a = splitScans(scans, SOURCE_SPLIT, 42);
  assert.deepEqual([a.train.length, a.val.length, a.test.length], [16, 2, 2]);
  const all = [...a.train, ...a.val, ...a.test].map((e) => e.stem).sort();
  assert.deepEqual(all, scans.map((e) => e.stem));
  assert.deepEqual(splitScans([...scans].reverse(), SOURCE_SPLIT, 42), a, 'same split whatever the directory order');
  assert.deepEqual(splitScans(scans, SOURCE_SPLIT, 42), a);
  assert.notDeepEqual(splitScans(scans, SOURCE_SPLIT, 43).test, a.test, 'another seed, another split');
  assert.deepEqual(a.train.map((e) => e.stem), [...a.train.map((e) => e.stem)].sort(), 'each split sorted by stem');
});

test('target split keeps exactly 10 training volumes; too few scans is a coded error', () => {
  const t = splitScans(entries(60), TARGET_SPLIT, 1);
  assert.deepEqual([t.train.length, t.val.length, t.test.length], [10, 6, 44]);
  const small = splitScans(entries(12), TARGET_SPLIT, 1);
  assert.deepEqual([small.train.length, small.val.length, small.test.length], [10, 1, 1]);
  assert.throws(() => splitScans(entries(11), TARGET_SPLIT, 1, 'Philips_3'), isCoded('E_DATA', undefined, /Cannot split 11 scans of Philips_3 into 10 train \+ 1 val/));
  assert.throws(() => splitScans(entries(5), { train: 2.5, val: 0 }, 1), isCoded('E_INVALID_ARG', undefined, /received 2\.5/));
});

/** A fake scan: slice s of scan v has every pixel = 100 v + s, and a mask of (s odd). */
function fakeScans(counts: number[], size: number): { scans: ScanEntry[]; load: (e: ScanEntry) => Promise<ScanData>; loads: string[] } {
  const scans = entries(counts.length);
  const loads: string[] = [];
  const load = async (e: ScanEntry): Promise<ScanData> => {
    loads.push(e.stem);
    const v = Number(e.stem.slice(2)), S = counts[v]!, plane = size * size;
    const images = new Float32Array(S * plane), masks = new Uint8Array(S * plane);
    for (let s = 0; s < S; s++) { images.fill(100 * v + s, s * plane, (s + 1) * plane); masks.fill(s % 2, s * plane, (s + 1) * plane); }
    const geometry = sliceGeometry([S, size, size], [0, S - 1], size);
    return { stem: e.stem, domain: e.domain, images, masks, shape: [S, size, size], spacing: [1, 1, 1], geometry, source: { dims: [S, size, size], spacing: [1, 1, 1], affine: [], header: {} as ScanData['source']['header'] } };
  };
  return { scans, load, loads };
}

async function collect(gen: AsyncGenerator<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of gen) out.push(b);
  return out;
}

/** Slice ids (100 v + s) of a batch, checking that every pixel of a slice agrees and y = (s odd). */
function ids(b: Batch): number[] {
  const [B, , H, W] = b.shape, plane = H * W;
  return Array.from({ length: B }, (_, i) => {
    const id = b.x[i * plane]!;
    for (let p = 0; p < plane; p++) {
      assert.equal(b.x[i * plane + p], id);
      assert.equal(b.y[i * plane + p], (id % 100) % 2);
    }
    return id;
  });
}

const opts = { sliceRanges: CC359_SLICE_RANGES, size: 4, seed: 3 };

for (const cacheVolumes of [2, 16]) {
  test(`an epoch visits every slice once in [B, 1, H, W] batches (cacheVolumes ${cacheVolumes})`, async () => {
    const counts = [5, 7, 3, 6, 4]; // 25 slices
    const { scans, load } = fakeScans(counts, 4);
    const sampler = new SliceSampler(scans, { ...opts, batchSize: 4, cacheVolumes, load });
    const batches = await collect(sampler.epoch(0));
    assert.deepEqual(batches.map((b) => b.shape[0]), [4, 4, 4, 4, 4, 4, 1]);
    batches.forEach((b) => { assert.deepEqual(b.shape.slice(1), [1, 4, 4]); assert.equal(b.x.length, b.shape[0] * 16); });
    const seen = batches.flatMap(ids).sort((p, q) => p - q);
    const all = counts.flatMap((S, v) => Array.from({ length: S }, (_, s) => 100 * v + s));
    assert.deepEqual(seen, all);
  });
}

test('dropLast drops the partial batch; shuffling is seeded per epoch; shuffle=false keeps file order', async () => {
  const { scans, load } = fakeScans([5, 7, 3, 6, 4], 4);
  const drop = await collect(new SliceSampler(scans, { ...opts, batchSize: 4, dropLast: true, cacheVolumes: 2, load }).epoch(0));
  assert.deepEqual(drop.map((b) => b.shape[0]), [4, 4, 4, 4, 4, 4]);
  const s = new SliceSampler(scans, { ...opts, batchSize: 4, load });
  const e0 = (await collect(s.epoch(0))).flatMap(ids);
  assert.deepEqual((await collect(s.epoch(0))).flatMap(ids), e0, 'same seed and epoch, same order');
  assert.notDeepEqual((await collect(s.epoch(1))).flatMap(ids), e0, 'next epoch reshuffles');
  assert.notDeepEqual(e0, [...e0].sort((p, q) => p - q), 'shuffled');
  const ordered = (await collect(new SliceSampler(scans, { ...opts, batchSize: 4, shuffle: false, load }).epoch(0))).flatMap(ids);
  assert.deepEqual(ordered, [...ordered].sort((p, q) => p - q));
});

test('memory bound: with a cache of 2 scans out of 5, each epoch reloads; with room for all, scans load once', async () => {
  const small = fakeScans([5, 7, 3, 6, 4], 4);
  const s = new SliceSampler(small.scans, { ...opts, batchSize: 4, cacheVolumes: 2, load: small.load });
  await collect(s.epoch(0));
  await collect(s.epoch(1));
  assert.ok(small.loads.length >= 8, `loads ${small.loads.length}`);
  const big = fakeScans([5, 7, 3, 6, 4], 4);
  const t = new SliceSampler(big.scans, { ...opts, batchSize: 4, cacheVolumes: 5, load: big.load });
  await collect(t.epoch(0));
  await collect(t.epoch(1));
  assert.equal(big.loads.length, 5);
});

test('sampler options are validated; a scan of the wrong slice size is E_SHAPE', async () => {
  const { scans, load } = fakeScans([2], 4);
  assert.throws(() => new SliceSampler(scans, { ...opts, batchSize: 0, load }), isCoded('E_INVALID_ARG', undefined, /`batchSize` but received 0/));
  const wrong = new SliceSampler(scans, { ...opts, size: 8, batchSize: 2, load });
  await assert.rejects(collect(wrong.epoch(0)), isCoded('E_SHAPE', undefined, /Expected 8 x 8 slices from \/x\/0\.nii\.gz but received 4 x 4/));
});
