// The adapter choice's distances, pooling and spread against numbers worked out by hand, then the choice
// itself on a small untrained U-Net: by fingerprint (a candidate whose fingerprint is the scan's own
// statistics must win; one far from everything must fall back), and by self-consistency (an AdaBN
// adapter re-estimated on the scan must beat the source model, whose statistics were never fitted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed } from '../../../src/engine/runtime.js';
import { liveTensors } from '../../../src/engine/tensor.js';
import { UNet2D } from '../../../src/models/unet.js';
import { AdapterRegistry, extractAdapter, type AdapterConfig } from '../../../src/lora/adapter.js';
import { bnInputStatistics, gridFeatures, type Fingerprint, type LayerStatistics } from '../../../src/lora/fingerprint.js';
import { chooseAdapter, scannerSpace, sourceDistance, standardizedDistance, statisticsDistance, VARIANCE_FLOOR, type Candidate } from '../../../src/pipeline/infer/adapter-choice.js';
import { testTimeAdaBN } from '../../../src/pipeline/infer/test-time.js';
import { PAPER_LORA } from '../../../src/lora/convlora.js';

const close = (a: number, b: number, tol = 1e-4): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const layer = (mean: number[], v: number[], grid: number[] = []): LayerStatistics => ({ mean, var: v, grid });

test('statisticsDistance: Jeffreys divergence per channel, mean over channels, then over layers', () => {
  const a = [layer([0, 0], [1, 1])];
  close(statisticsDistance(a, a), 0, 1e-12);
  // Mean shift of 1 sd: 1/2 [1 + 1 - 2 + 1 (1 + 1)] = 1 per channel.
  close(statisticsDistance([layer([0], [1])], [layer([1], [1])]), 1);
  // Variance ratio 4: 1/2 [4 + 1/4 - 2] = 1.125; symmetric.
  close(statisticsDistance([layer([0], [4])], [layer([0], [1])]), 1.125);
  close(statisticsDistance([layer([0], [1])], [layer([0], [4])]), 1.125);
  // Two channels (1 and 0) average to 0.5 in layer one; layer two gives 1.125: mean of layers 0.8125.
  close(statisticsDistance([layer([0, 0], [1, 1]), layer([0], [4])], [layer([1, 0], [1, 1]), layer([0], [1])]), 0.8125);
  assert.throws(() => statisticsDistance(a, [layer([0], [1])]), /Expected 2 channels in layer 0 but received 1/);
});

test('scannerSpace: centres, pooled within-scanner variance with a floor, leave-one-out threshold; standardizedDistance', () => {
  // One layer of one channel: four grid cells. Scanner A: cells (0,0,0,0) and (2,0,0,0), centre (1,0,0,0).
  // Scanner B: (10,1,5,1), (10,3,5,1), (10,2,5,1), centre (10,2,5,1). Squared deviations: cell 0 gets
  // 1 + 1 from A, cell 1 gets 1 + 1 + 0 from B, cells 2 and 3 none. N - K = 5 - 2 = 3 degrees of freedom:
  // within = (2/3, 2/3, floor, floor), the floor VARIANCE_FLOOR x the median (2/3, the upper median of 4).
  const fp = (grids: number[][]): Fingerprint => ({ version: 2, grid: 2, layers: ['l'], channels: [1], slices: 8, volumes: grids });
  const A = fp([[0, 0, 0, 0], [2, 0, 0, 0]]), B = fp([[10, 1, 5, 1], [10, 3, 5, 1], [10, 2, 5, 1]]);
  const space = scannerSpace([A, B])!;
  assert.deepEqual(space.centres, [[1, 0, 0, 0], [10, 2, 5, 1]]);
  const floor = (2 / 3) * VARIANCE_FLOOR;
  space.within.forEach((w, j) => close(w, [2 / 3, 2 / 3, floor, floor][j]!, 1e-12));
  // (1,2,0,0) from A's centre: (0 + 4 / (2/3) + 0 + 0) / 4 = 1.5.
  close(standardizedDistance([1, 2, 0, 0], space.centres[0]!, space.within), 1.5, 1e-12);
  // Leave-one-out: A's volumes lie 2 from the other one, (4 / (2/3)) / 4 = 1.5; B's first and second
  // lie 1.5 from the mean of the other two, (2.25 / (2/3)) / 4 = 0.84375; its third 0. Largest: 1.5.
  close(space.threshold, 1.5, 1e-12);
  assert.equal(scannerSpace([fp([[1, 2, 3, 4]])]), null, 'one volume has no spread');
  assert.ok(scannerSpace([A, fp([[1, 2, 3, 4]])]) !== null, 'one scanner of two volumes is enough');
  assert.throws(() => standardizedDistance([1, 2], [1, 2, 3], [1, 1, 1]), /Expected feature vectors of one length but received 2, 3 and 3/);
});

function scanImages(S: number, H: number, level: number): Float32Array {
  let s = 11;
  const rnd = (): number => { s = (s * 1103515245 + 12345) % 2 ** 31; return s / 2 ** 31; };
  return Float32Array.from({ length: S * H * H }, (_, i) => { const k = Math.floor(i / (H * H)); return k >= 2 && k < S - 2 ? level * (0.5 + 0.5 * rnd()) : 0.01 * rnd(); });
}

function config(registry: AdapterRegistry, domain: string, fingerprint?: Fingerprint): AdapterConfig {
  return { format: 'convlora-adapter', version: 1, domain, method: 'adabn', blocks: null, lora: PAPER_LORA, placement: { loraTargets: [], trainableBatchNorms: [], fullyTrainable: [] },
    adabn: 'explicit', baseHash: registry.baseHash, ...(fingerprint === undefined ? {} : { fingerprint }) };
}

test('chooseAdapter: fingerprints pick the scan\'s own scanner and fall back when every one is far; self-consistency picks the adapter fitted to the scan', () => {
  const live = liveTensors();
  manualSeed(8);
  const net = new UNet2D({ filters: 2 }).freeze();
  const registry = new AdapterRegistry(net);
  const S = 16, H = 16, shape = [S, H, H] as [number, number, number];
  const bright = scanImages(S, H, 1), dark = scanImages(S, H, 0.3);
  const stats = (images: Float32Array): LayerStatistics[] => bnInputStatistics(net, images, shape).stats;
  const jitter = (st: LayerStatistics[], f: number): LayerStatistics[] => st.map((l) => ({ mean: l.mean.map((m) => m * f), var: l.var.map((x) => x * f), grid: l.grid.map((g) => g * f) }));
  const fp = (st: LayerStatistics[]): Fingerprint => ({ version: 2, grid: 2, layers: bnInputStatistics(net, bright, shape).layers, channels: st.map((l) => l.mean.length), slices: 8, volumes: [jitter(st, 0.98), jitter(st, 1.02), jitter(st, 1)].map(gridFeatures) });
  const sBright = stats(bright), sDark = stats(dark);
  const candidates: Candidate[] = [{ name: 'source', domain: 'A', adapter: null, fingerprint: fp(sDark) }];
  for (const [name, st] of [['bright', sBright], ['dark2', jitter(sDark, 1.5)]] as const) {
    registry.add(name, extractAdapter(net, config(registry, name, fp(st))));
    candidates.push({ name, domain: name, adapter: name, fingerprint: fp(st) });
  }
  const c = chooseAdapter(registry, candidates, bright, shape);
  assert.equal(c.method, 'fingerprint');
  assert.equal(c.closest, 'bright');
  assert.equal(c.chosen, 'bright');
  assert.ok(c.distances[1]!.distance < c.threshold!, `${c.distances[1]!.distance} within ${c.threshold}`);
  assert.equal(chooseAdapter(registry, candidates, dark, shape).chosen, 'source');
  const far = chooseAdapter(registry, candidates, Float32Array.from(bright, (x) => (x > 0.1 ? 1.2 - x : 0.9)), shape);
  assert.equal(far.chosen, null, `closest ${far.closest} at ${Math.min(...far.distances.map((d) => d.distance))} vs threshold ${far.threshold}`);
  const own = sourceDistance(net, bnInputStatistics(net, dark, shape), fp(sDark))!;
  assert.ok(own.distance < own.threshold, `${own.distance} within ${own.threshold}`);
  const other = sourceDistance(net, bnInputStatistics(net, bright, shape), fp(sDark))!;
  assert.ok(other.distance > other.threshold, `${other.distance} beyond ${other.threshold}`);
  assert.equal(sourceDistance(net, bnInputStatistics(net, dark, shape), { ...fp(sDark), version: 1 }), null, 'a version-1 fingerprint has no grid');

  // Self-consistency: an AdaBN adapter re-estimated on the bright scan, no fingerprints anywhere.
  registry.activate(null);
  testTimeAdaBN(net, [{ images: bright, shape }], { batchSize: 8 });
  registry.add('fitted', extractAdapter(net, config(registry, 'fitted')));
  registry.activate(null);
  const plain: Candidate[] = [{ name: 'source', domain: 'A', adapter: null, fingerprint: null }, { name: 'fitted', domain: 'B', adapter: 'fitted', fingerprint: null }];
  const s = chooseAdapter(registry, plain, bright, shape);
  assert.equal(s.method, 'self-consistency');
  assert.equal(s.chosen, 'fitted');
  assert.equal(s.threshold, null, 'no fingerprint: no spread, no fallback');
  assert.ok(s.distances[0]!.distance > 2 * s.distances[1]!.distance, JSON.stringify(s.distances));
  assert.equal(registry.active, null, 'the source model is left active');
  registry.dispose();
  net.dispose();
  assert.equal(liveTensors(), live);
});
