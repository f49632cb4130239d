// Test-time AdaBN outside libtorch: an exported model's statistics graph, averaged over the same shuffled
// batches of head slices, must give the running statistics that libtorch's testTimeAdaBN computes (1e-4),
// and the inference graph with them the same logits as the re-estimated libtorch model (1e-4 of their range).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { exportOnnx, statisticsPath } from '../../../src/pipeline/onnx/export.js';
import { loadUnet, saveNetwork } from '../../../src/pipeline/models.js';
import { OnnxSession, loadOnnxRuntime } from '../../../src/pipeline/onnx/session.js';
import { OnnxModel } from '../../../src/pipeline/onnx/model.js';
import { adabnLayers, estimateStatistics, withInitializers } from '../../../src/pipeline/onnx/adabn.js';
import { testTimeAdaBN } from '../../../src/pipeline/infer/test-time.js';
import { runSlices } from '../../../src/pipeline/infer/predict.js';
import { UNet2D } from '../../../src/models/unet.js';
import { manualSeed } from '../../../src/engine/runtime.js';
import { liveTensors } from '../../../src/engine/tensor.js';
import { Rng } from '../../../src/data/rng.js';
import { tempDir } from '../../helpers/tmp.js';

/** Slices [S, 32, 32]: an ellipse of random texture whose size varies with the slice (a head), air elsewhere. */
function scan(S: number, seed: number): Float32Array {
  const rng = new Rng(seed), out = new Float32Array(S * 32 * 32);
  for (let s = 0; s < S; s++) {
    const r = 4 + 10 * Math.sin((Math.PI * (s + 0.5)) / S);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      if (Math.hypot(x - 15.5, (y - 15.5) * 1.2) < r) out[(s * 32 + y) * 32 + x] = 0.3 + 0.7 * rng.next();
    }
  }
  return out;
}

test('ONNX test-time AdaBN re-estimates the running statistics libtorch does, and predicts the same logits', async () => {
  const live = liveTensors();
  const dir = tempDir('convlora-onnx-adabn-');
  manualSeed(3);
  const net = new UNet2D({ filters: 4 });
  const path = join(dir, 'unet.safetensors');
  await saveNetwork(path, net, { kind: 'unet2d', filters: 4, size: 32, source: 'test', orientation: 'RAS', spacing: [8, 8, 8], inference: 'adabn' });
  net.dispose();
  const onnxPath = join(dir, 'unet.onnx');
  const r = await exportOnnx({ model: path, out: onnxPath });
  assert.equal(r.statistics, statisticsPath(onnxPath), 'a model with inference adabn gets its statistics graph');
  const noStats = await exportOnnx({ model: path, out: join(dir, 'plain.onnx'), statistics: false });
  assert.equal(noStats.statistics, null);

  const S = 40, shape = [S, 32, 32] as const, images = scan(S, 7);
  const { model } = await loadUnet(path);
  const ort = await loadOnnxRuntime();
  const bytes = new Uint8Array(await readFile(onnxPath));
  const stats = await OnnxModel.create(ort, await readFile(statisticsPath(onnxPath)), { statistics: true, threads: 1 });
  try {
    // libtorch: batches of 8 so that the average runs over several batches (and a smaller last one).
    const t = testTimeAdaBN(model, [{ images, shape }], { batchSize: 8 });
    model.eval();
    const est = await estimateStatistics(stats, images, shape, { batchSize: 8 });
    assert.equal(est.slices, t.slices);
    assert.equal(est.batches, t.batches);
    assert.ok(t.batches >= 3, `${t.batches} batches`);
    const layers = adabnLayers(stats.summary.metadata);
    assert.equal(layers.length, model.namedModules().filter(([, m]) => m.constructor.name === 'BatchNorm2d').length, 'every BatchNorm layer');
    let worst = 0;
    for (const l of layers) {
      const bn = model.getModule(l.path);
      const mean = bn.getBuffer('running_mean').toFloat32(), v = bn.getBuffer('running_var').toFloat32();
      const m2 = est.values.get(l.runningMean)!, v2 = est.values.get(l.runningVar)!;
      for (let c = 0; c < l.channels; c++) worst = Math.max(worst, Math.abs(mean[c]! - m2[c]!) / (1 + Math.abs(mean[c]!)), Math.abs(v[c]! - v2[c]!) / (1 + Math.abs(v[c]!)));
    }
    assert.ok(worst < 1e-4, `running statistics agree within ${worst}`);

    const adapted = await OnnxSession.open(withInitializers(bytes, est.values), { threads: 1 });
    try {
      const x = images.subarray(10 * 1024, 18 * 1024);
      const onnxLogits = await adapted.run(x, 8, 32, 32);
      const torchLogits = runSlices(x, [8, 32, 32], 8, 'cpu', (t2) => [model.forward(t2)])[0]!;
      let d = 0;
      for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(onnxLogits[i]! - torchLogits[i]!));
      // Relative to the logits' range (11 here): re-estimated statistics carry float32 summation order through
      // every layer, and libtorch's channels-last convolutions (the CPU default) sum in another order than
      // onnxruntime's NCHW ones. Measured: 5.5e-5 channels-last, 2.1e-6 with CONVLORA_CONV_LAYOUT=contiguous.
      let scale = 0;
      for (const v of torchLogits) scale = Math.max(scale, Math.abs(v));
      assert.ok(d / scale < 1e-4, `logits agree within ${d} of a range of ${scale}`);
    } finally { await adapted.dispose(); }
    assert.throws(() => withInitializers(bytes, new Map([['no.such.buffer', new Float32Array(4)]])), (e: Error & { code?: string }) => e.code === 'E_ONNX');
    assert.throws(() => adabnLayers({}), (e: Error & { code?: string }) => e.code === 'E_ONNX');
  } finally {
    model.dispose();
    await stats.dispose();
  }
  assert.equal(liveTensors(), live, 'no native tensor leaked');
});
