// Statistics of BatchNorm inputs (lora/fingerprint.ts), checked against BatchNorm itself: the first BN
// layer's input does not depend on any BN statistics, so re-estimating that one layer on one batch in
// train mode (reestimateBatchNorm) gives its batch mean and unbiased batch variance independently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, zeros } from '../../src/engine/create.js';
import { manualSeed } from '../../src/engine/runtime.js';
import { liveTensors, tidy } from '../../src/engine/tensor.js';
import { UNet2D } from '../../src/models/unet.js';
import { reestimateBatchNorm } from '../../src/lora/adabn.js';
import { FINGERPRINT_VOLUMES, STATISTICS_GRID, bnInputStatistics, fingerprintScans, gridFeatures, statisticSlices, statisticsLayers, runningStatistics } from '../../src/lora/fingerprint.js';

function head(S: number, H: number, seed: number): Float32Array {
  // Slices 0-2 and S-3..S-1 nearly empty, the rest textured: a head in the middle of the stack.
  let s = seed;
  const rnd = (): number => { s = (s * 1103515245 + 12345) % 2 ** 31; return s / 2 ** 31; };
  return Float32Array.from({ length: S * H * H }, (_, i) => { const k = Math.floor(i / (H * H)); return k >= 3 && k < S - 3 ? 0.2 + 0.8 * rnd() : 0.02 * rnd(); });
}

test('statisticSlices: evenly spaced inside the span of slices at least half as bright as the brightest', () => {
  const H = 2;
  const means = [0, 0.1, 1, 0.6, 0.5, 0.9, 0.4, 0];
  const images = Float32Array.from({ length: means.length * H * H }, (_, i) => means[Math.floor(i / (H * H))]!);
  // Span: slices 2..5 (0.4 < 0.5 excluded); 2 slices at 2 + floor(0.5 * 4 / 2) = 3 and 2 + floor(1.5 * 4 / 2) = 5.
  assert.deepEqual(statisticSlices(images, [8, H, H], 2), [3, 5]);
  assert.deepEqual(statisticSlices(images, [8, H, H], 4), [2, 3, 4, 5]);
  assert.deepEqual(statisticSlices(images, [8, H, H], 10), [2, 3, 4, 5], 'never more slices than the span has');
});

test('bnInputStatistics: the first layer matches BatchNorm\'s own batch statistics; chunking changes nothing', () => {
  const live = liveTensors();
  manualSeed(3);
  const net = new UNet2D({ filters: 4 });
  const S = 12, H = 16;
  const images = head(S, H, 7);
  const slices = [3, 4, 5, 6, 7, 8];
  const st = bnInputStatistics(net, images, [S, H, H], { slices });
  assert.equal(st.layers.length, statisticsLayers(net).length);
  assert.equal(st.layers.length, 13, 'init_path: 3 ResBlocks x 2 BN; down1: its leading BN + 3 x 2');
  assert.equal(st.layers[0], 'init_path.2.conv_path.0.bn');
  assert.equal(st.layers[12], 'down1.6.conv_path.1.bn');
  assert.equal(net.training, true, 'modes restored');

  const x = new Float32Array(slices.length * H * H);
  slices.forEach((s, b) => x.set(images.subarray(s * H * H, (s + 1) * H * H), b * H * H));
  const xt = tensor(x, [slices.length, 1, H, H]);
  reestimateBatchNorm(net, [xt], { layers: (p) => p === st.layers[0] });
  xt.dispose();
  const oracle = runningStatistics(net).stats[0]!;
  const n = slices.length * H * H;
  st.stats[0]!.mean.forEach((m, c) => {
    assert.ok(Math.abs(m - oracle.mean[c]!) < 1e-5, `mean ${m} vs ${oracle.mean[c]}`);
    const unbiased = (st.stats[0]!.var[c]! * n) / (n - 1);
    assert.ok(Math.abs(unbiased - oracle.var[c]!) < 1e-5 * Math.max(1, oracle.var[c]!), `var ${unbiased} vs ${oracle.var[c]}`);
  });
  assert.ok(st.stats[0]!.var.some((v) => v > 1e-4), 'the statistics are not trivially zero');

  // Grid means: the layer's input captured as it is, then each quarter of each channel averaged in plain loops.
  const layer0 = statisticsLayers(net)[0]![1];
  let captured: { data: Float32Array; shape: number[] } | null = null;
  layer0.inputTap = (t) => { captured = { data: t.toFloat32(), shape: [...t.shape] }; };
  net.eval();
  tidy(() => { net.encode(tensor(x, [slices.length, 1, H, H]), 1); });
  layer0.inputTap = null;
  net.train();
  const { data, shape: [B, C, h, w] } = captured!;
  assert.equal(STATISTICS_GRID, 2);
  assert.equal(st.stats[0]!.grid.length, C! * 4);
  for (let c = 0; c < C!; c++) {
    for (let cell = 0; cell < 4; cell++) {
      const [r0, c0] = [Math.floor(cell / 2) * (h! / 2), (cell % 2) * (w! / 2)];
      let sum = 0;
      for (let b = 0; b < B!; b++) for (let i = r0; i < r0 + h! / 2; i++) for (let j = c0; j < c0 + w! / 2; j++) sum += data[((b * C! + c) * h! + i) * w! + j]!;
      const want = sum / (B! * (h! / 2) * (w! / 2));
      assert.ok(Math.abs(st.stats[0]!.grid[c * 4 + cell]! - want) < 1e-5, `channel ${c} cell ${cell}: ${st.stats[0]!.grid[c * 4 + cell]} vs ${want}`);
    }
  }
  assert.ok(new Set(st.stats[0]!.grid.map((g) => g.toFixed(4))).size > C!, 'the cells differ');

  const chunked = bnInputStatistics(net, images, [S, H, H], { slices, batchSize: 4 });
  const whole = bnInputStatistics(net, images, [S, H, H], { slices });
  chunked.stats.forEach((l, k) => l.mean.forEach((m, c) => {
    assert.ok(Math.abs(m - whole.stats[k]!.mean[c]!) < 1e-5);
    assert.ok(Math.abs(l.var[c]! - whole.stats[k]!.var[c]!) < 1e-5 * Math.max(1, whole.stats[k]!.var[c]!));
    for (let cell = 0; cell < 4; cell++) assert.ok(Math.abs(l.grid[c * 4 + cell]! - whole.stats[k]!.grid[c * 4 + cell]!) < 1e-5);
  }));
  assert.throws(() => bnInputStatistics(net, images, [S, H, H], { slices: [S] }), /Expected slice indices in \[0, 11\] for `slices` but received 12/);
  net.dispose();
  assert.equal(liveTensors(), live);
});

test('encode(x, 1) is init_path\'s output, as forwardFeatures gives it', () => {
  const live = liveTensors();
  manualSeed(4);
  const net = new UNet2D({ filters: 4 });
  net.eval();
  const [a, b] = tidy(() => {
    const x = tensor(head(8, 16, 2), [8, 1, 16, 16]);
    const f = net.forwardFeatures(x);
    return [net.encode(x, 1).toFloat32(), f.x0.toFloat32()];
  });
  assert.deepEqual(a, b);
  assert.throws(() => tidy(() => net.encode(zeros([1, 1, 8, 8]), 5)), /Expected integer <= 4 for `blocks` but received 5/);
  net.dispose();
  assert.equal(liveTensors(), live);
});

test('fingerprintScans: one entry per volume, on each volume\'s head slices; null without volumes', () => {
  const live = liveTensors();
  manualSeed(5);
  const net = new UNet2D({ filters: 2 });
  const scans = [head(20, 16, 1), head(20, 16, 2)].map((images) => ({ images, shape: [20, 16, 16] as [number, number, number] }));
  const fp = fingerprintScans(net, scans)!;
  assert.equal(fp.volumes.length, 2);
  assert.equal(fp.slices, 8);
  assert.equal(fp.layers.length, 13);
  assert.equal(fp.version, 2);
  assert.equal(fp.grid, STATISTICS_GRID);
  const direct = bnInputStatistics(net, scans[1]!.images, scans[1]!.shape);
  assert.deepEqual(fp.channels, direct.stats.map((l) => l.mean.length));
  const want = gridFeatures(direct.stats);
  assert.equal(fp.volumes[1]!.length, want.length);
  fp.volumes[1]!.forEach((x, j) => assert.ok(Math.abs(x - want[j]!) <= 1e-4 * Math.abs(want[j]!) + 1e-12, `feature ${j}: ${x} vs ${want[j]}`));
  assert.notDeepEqual(fp.volumes[0], fp.volumes[1]);
  assert.equal(fingerprintScans(net, []), null);
  // Beyond FINGERPRINT_VOLUMES volumes, evenly spaced ones: of 40, volumes 0, 2, 5, 7, ... (floor(i * 40 / 16)).
  const many = Array.from({ length: 40 }, (_, i) => ({ images: head(20, 16, 100 + i), shape: [20, 16, 16] as [number, number, number] }));
  const capped = fingerprintScans(net, many)!;
  assert.equal(capped.volumes.length, FINGERPRINT_VOLUMES);
  assert.deepEqual(capped.volumes[1], fingerprintScans(net, [many[2]!])!.volumes[0]);
  assert.deepEqual(capped.volumes[15], fingerprintScans(net, [many[37]!])!.volumes[0]);
  net.dispose();
  assert.equal(liveTensors(), live);
});
