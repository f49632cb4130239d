// Test-time AdaBN (pipeline/test-time.ts). The first BN layer's input does not depend on any BN
// statistics, and with batches of equal size the cumulative average of the batch means is the mean over
// all slices, whatever the shuffle: bnInputStatistics over every slice is an independent oracle for it.
// The variances depend on which slices share a batch, so the seed must matter for them, and only for them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed } from '../../src/engine/runtime.js';
import { liveTensors } from '../../src/engine/tensor.js';
import { UNet2D } from '../../src/models/unet.js';
import { bnInputStatistics, runningStatistics } from '../../src/lora/fingerprint.js';
import { testTimeAdaBN } from '../../src/pipeline/test-time.js';

function slices(S: number, H: number, seed: number): Float32Array {
  let s = seed;
  const rnd = (): number => { s = (s * 1103515245 + 12345) % 2 ** 31; return s / 2 ** 31; };
  return Float32Array.from({ length: S * H * H }, (_, i) => (Math.floor(i / (H * H)) % 4) * 0.25 * rnd());
}

test('testTimeAdaBN: statistics from shuffled batches of the scans\' (head) slices; fixed seed, modes restored', () => {
  const live = liveTensors();
  manualSeed(2);
  const net = new UNet2D({ filters: 2 });
  net.eval();
  const H = 8;
  const scans = [{ images: slices(12, H, 1), shape: [12, H, H] as [number, number, number] }, { images: slices(4, H, 2), shape: [4, H, H] as [number, number, number] }];
  const all = new Float32Array([...scans[0]!.images, ...scans[1]!.images]);
  const oracle = bnInputStatistics(net, all, [16, H, H], { slices: Array.from({ length: 16 }, (_, i) => i) }).stats[0]!;
  const before = runningStatistics(net).stats[0]!;
  const r = testTimeAdaBN(net, scans, { batchSize: 4, seed: 1, span: 'all' });
  assert.deepEqual(r, { scans: 2, slices: 16, batches: 4, seed: 1 });
  assert.equal(net.training, false, 'eval mode restored');
  const a = runningStatistics(net);
  a.stats[0]!.mean.forEach((m, c) => assert.ok(Math.abs(m - oracle.mean[c]!) < 1e-5, `channel ${c}: ${m} vs ${oracle.mean[c]}`));
  assert.notDeepEqual(a.stats[0]!.mean, before.mean);

  testTimeAdaBN(net, scans, { batchSize: 4, seed: 1, span: 'all' });
  assert.deepEqual(runningStatistics(net), a, 'the same seed gives the same statistics');
  testTimeAdaBN(net, scans, { batchSize: 4, seed: 2, span: 'all' });
  const b = runningStatistics(net);
  b.stats[0]!.mean.forEach((m, c) => assert.ok(Math.abs(m - a.stats[0]!.mean[c]!) < 1e-5));
  assert.notDeepEqual(b.stats[0]!.var, a.stats[0]!.var, 'another shuffle puts other slices together');

  // By default only the head's slices: slice means are 0, 0.125, 0.25, 0.375 repeating, so the span of
  // slices at least half as bright as the brightest (0.1875) runs from slice 2 to the last: 2-11 and 2-3.
  const head = testTimeAdaBN(net, scans, { batchSize: 4, seed: 1 });
  assert.deepEqual(head, { scans: 2, slices: 12, batches: 3, seed: 1 });
  const spanOracle = bnInputStatistics(net, all, [16, H, H], { slices: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15] }).stats[0]!;
  runningStatistics(net).stats[0]!.mean.forEach((m, c) => assert.ok(Math.abs(m - spanOracle.mean[c]!) < 1e-5, `channel ${c}: ${m} vs ${spanOracle.mean[c]}`));

  assert.throws(() => testTimeAdaBN(net, []), /Expected at least one scan for test-time AdaBN but received none/);
  assert.throws(() => testTimeAdaBN(net, [scans[0]!, { images: new Float32Array(16), shape: [1, 4, 4] }]), /Expected 8 x 8 slices in every scan but received 4 x 4/);
  net.dispose();
  assert.equal(liveTensors(), live);
});
