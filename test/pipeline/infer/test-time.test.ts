// Test-time AdaBN (pipeline/infer/test-time.ts). The first BN layer's input does not depend on any BN
// statistics, and with batches of equal size the cumulative average of the batch means is the mean over
// all slices, whatever the shuffle: bnInputStatistics over every slice is an independent oracle for it.
// The variances depend on which slices share a batch, so the seed must matter for them, and only for them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed } from '../../../src/engine/runtime.js';
import { liveTensors, tidy } from '../../../src/engine/tensor.js';
import { UNet2D } from '../../../src/models/unet.js';
import { bnInputStatistics, runningStatistics } from '../../../src/lora/fingerprint.js';
import { testTimeAdaBN } from '../../../src/pipeline/infer/test-time.js';
import { scoreScans, scoreScansTestTime } from '../../../src/pipeline/train/score.js';
import { bestMode, type EpochRecord } from '../../../src/pipeline/train/source.js';
import { tensor } from '../../../src/engine/create.js';
import { copy_ } from '../../../src/engine/ops.js';
import type { ScanData } from '../../../src/data/scans/cc359.js';

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

test('scoreScansTestTime: each scan scored after test-time AdaBN on itself alone, the model\'s statistics restored after each', () => {
  const live = liveTensors();
  manualSeed(6);
  const net = new UNet2D({ filters: 2 });
  const H = 16;
  const scan = (seed: number, gain: number): ScanData => {
    const images = slices(12, H, seed).map((v) => v * gain);
    return { stem: `s${seed}`, domain: 'GE_3', images, masks: Uint8Array.from(images, (v) => (v > 0.3 * gain ? 1 : 0)), shape: [12, H, H], spacing: [1, 1, 1], geometry: undefined as never, source: undefined as never };
  };
  const scans = [scan(1, 1), scan(2, 3)];
  const before = runningStatistics(net);
  const got = scoreScansTestTime(net, scans, 'cpu', 4);
  assert.deepEqual(runningStatistics(net), before, 'statistics restored');
  // Oracle: for each scan alone, test-time AdaBN then the plain scorer, then the statistics put back by hand.
  const saved = net.namedBuffers().map(([k, t]) => [k, Float32Array.from(t.toFloat32())] as const);
  for (const [i, s] of scans.entries()) {
    testTimeAdaBN(net, [s]);
    const want = scoreScans(net, [s], 'cpu', 4)[0]!;
    assert.equal(got[i]!.surfaceDice, want.surfaceDice);
    assert.equal(got[i]!.dice, want.dice);
    tidy(() => { for (const [k, t] of net.namedBuffers()) if (/running_/.test(k)) copy_(t, tensor(saved.find(([n]) => n === k)![1], [...t.shape])); });
  }
  const plain = scoreScans(net, scans, 'cpu', 4);
  assert.ok(plain.some((p, i) => p.dice !== got[i]!.dice), 'test-time AdaBN changed a prediction');
  net.dispose();
  assert.equal(liveTensors(), live);
});

test('bestMode: the better validation score of an epoch and its mode; eval on ties and when AdaBN was not measured', () => {
  const rec = (eval_: number, adabn?: number): EpochRecord => ({ epoch: 1, loss: 0, valSurfaceDice: eval_, valDice: 0, seconds: 0, ...(adabn === undefined ? {} : { valSurfaceDiceAdaBN: adabn }) });
  assert.deepEqual(bestMode(rec(0.4, 0.8)), { score: 0.8, mode: 'adabn' });
  assert.deepEqual(bestMode(rec(0.8, 0.4)), { score: 0.8, mode: 'eval' });
  assert.deepEqual(bestMode(rec(0.5, 0.5)), { score: 0.5, mode: 'eval' });
  assert.deepEqual(bestMode(rec(0.5)), { score: 0.5, mode: 'eval' });
});
