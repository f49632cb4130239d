// ONNX export and merge against the libtorch forward. The oracle for base + adapter is the registry's
// unmerged LoRA forward (conv with W + delta, the adapter's BN statistics), not the merged weights the
// exporter writes, so a wrong merge shows. Tolerance: max |onnx - torch| <= 1e-4 on the logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadUnet } from '../../../src/pipeline/models.js';
import { exportOnnx, mergeCheckpoint, onnxBytes, ONNX_META, ONNX_FORMAT } from '../../../src/pipeline/onnx/export.js';
import { OnnxSession } from '../../../src/pipeline/onnx/session.js';
import { AdapterRegistry } from '../../../src/lora/adapter.js';
import { readOnnxSummary } from '../../../src/nn/onnx.js';
import { manualSeed, noGrad } from '../../../src/engine/runtime.js';
import { uniform } from '../../../src/engine/create.js';
import { liveTensors, tidy } from '../../../src/engine/tensor.js';
import type { SegmentationNet } from '../../../src/models/zoo.js';
import { DOMAIN, smallModelWithAdapter } from '../../helpers/onnx.js';
import { tempDir } from '../../helpers/tmp.js';

const dir = tempDir('convlora-export-');
const files = await smallModelWithAdapter(dir, { filters: 4, seed: 7 });
const other = await smallModelWithAdapter(tempDir('convlora-export-other-'), { filters: 4, seed: 8 });

/** Torch logits of `model` for random inputs [b, 1, h, w] (seeded), with the inputs. */
function torchLogits(model: SegmentationNet, b: number, h: number, w: number, seed: number): { x: Float32Array; y: Float32Array } {
  manualSeed(seed);
  return noGrad(() => tidy(() => {
    const x = uniform([b, 1, h, w]);
    return { x: x.toFloat32(), y: model.eval().forward(x).toFloat32() };
  }));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const SHAPES = [[1, 32, 32], [3, 32, 32], [1, 40, 24], [3, 40, 24]] as const;

for (const withAdapter of [false, true]) {
  test(`onnx logits equal the libtorch forward within 1e-4 (${withAdapter ? 'ConvLoRA + AdaBN adapter' : 'base model'}; batch 1 and 3; 32 x 32 and 40 x 24)`, async (t) => {
    const live = liveTensors();
    const { model } = await loadUnet(files.base);
    const reg = new AdapterRegistry(model);
    const session = await OnnxSession.open((await onnxBytes({ model: files.base, ...(withAdapter ? { adapter: files.adapter } : {}) })).bytes, { threads: 1 });
    try {
      if (withAdapter) {
        await reg.load('target', files.adapter);
        reg.activate('target'); // unmerged: forward convolves with W + delta
      }
      for (const [b, h, w] of SHAPES) {
        const { x, y } = torchLogits(model, b, h, w, 100 + b + h);
        const onnx = await session.run(x, b, h, w);
        const d = maxAbsDiff(onnx, y);
        const scale = Math.max(...y.map(Math.abs));
        t.diagnostic(`[${b}, 1, ${h}, ${w}]: max |onnx - torch| ${d.toExponential(2)} (max |logit| ${scale.toFixed(2)})`);
        assert.ok(scale > 0.1, 'logits are not trivially small');
        assert.ok(d <= 1e-4, `max abs diff ${d} > 1e-4 at [${b}, 1, ${h}, ${w}]`);
      }
      if (withAdapter) {
        // The adapter changes the output by far more than the tolerance, so skipping it would fail above.
        reg.activate(null);
        const { y: base } = torchLogits(model, 1, 32, 32, 133);
        reg.activate('target');
        const { y: adapted } = torchLogits(model, 1, 32, 32, 133);
        assert.ok(maxAbsDiff(base, adapted) > 0.05, `the adapter moves the logits (${maxAbsDiff(base, adapted)})`);
      }
    } finally {
      await session.dispose();
      reg.dispose();
      model.dispose();
    }
    assert.equal(liveTensors(), live, 'no native tensor leaked');
  });
}

test('export writes an opset-17 graph with dynamic batch/height/width and the metadata segment needs', async () => {
  const live = liveTensors();
  const out = join(dir, 'model.onnx');
  const r = await exportOnnx({ model: files.base, adapter: files.adapter, out });
  assert.equal(r.bytes, readFileSync(out).length);
  const s = readOnnxSummary(readFileSync(out), out);
  assert.equal(s.opset, 17);
  assert.equal(s.input, 'image');
  assert.equal(s.output, 'logits');
  const m = s.metadata;
  assert.equal(m[ONNX_META.format], ONNX_FORMAT);
  assert.match(m[ONNX_META.baseHash]!, /^[0-9a-f]{64}$/);
  assert.equal(m[ONNX_META.domain], DOMAIN);
  assert.equal(m[ONNX_META.voxelSize], '[8,8,8]');
  assert.equal(m[ONNX_META.orientation], 'RAS');
  assert.equal(m[ONNX_META.sliceSize], '32');
  assert.equal(m[ONNX_META.divisor], '8');
  assert.deepEqual(JSON.parse(m[ONNX_META.adapter]!).method, 'convlora');
  assert.match(m[ONNX_META.preprocessing]!, /min-max/);
  const info = JSON.parse(m[ONNX_META.modelInfo]!);
  assert.equal(info.kind, 'unet2d');
  assert.equal(info.baseHash, m[ONNX_META.baseHash]);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  assert.equal(liveTensors(), live);
});

test('export and merge refuse an adapter of another base model, a malformed adapter and a wrong file name, writing nothing', async () => {
  const live = liveTensors();
  const bad = join(dir, 'garbage.safetensors');
  writeFileSync(bad, Buffer.from('definitely not a safetensors file'));
  const before = readdirSync(dir).sort();
  const cases: [() => Promise<unknown>, string, RegExp][] = [
    [() => exportOnnx({ model: files.base, adapter: other.adapter, out: join(dir, 'x.onnx') }), 'E_CHECKPOINT', /different base model/],
    [() => mergeCheckpoint({ model: files.base, adapter: other.adapter, out: join(dir, 'x.safetensors') }), 'E_CHECKPOINT', /different base model/],
    [() => exportOnnx({ model: files.base, adapter: bad, out: join(dir, 'x.onnx') }), 'E_SAFETENSORS', /garbage\.safetensors/],
    [() => mergeCheckpoint({ model: files.base, adapter: bad, out: join(dir, 'x.safetensors') }), 'E_SAFETENSORS', /garbage\.safetensors/],
    [() => exportOnnx({ model: bad, out: join(dir, 'x.onnx') }), 'E_SAFETENSORS', /garbage\.safetensors/],
    [() => exportOnnx({ model: files.base, out: join(dir, 'x.onx') }), 'E_INVALID_ARG', /received "[^"]*x\.onx"/],
  ];
  for (const [fn, code, message] of cases) await assert.rejects(fn, (e: Error & { code?: string }) => e.code === code && message.test(e.message));
  assert.deepEqual(readdirSync(dir).sort(), before, 'nothing written, nothing half-written');
  assert.equal(liveTensors(), live, 'no native tensor leaked on the error paths');
});

test('merge writes a plain checkpoint whose forward is the registry\'s merged forward, bit for bit', async () => {
  const live = liveTensors();
  const out = join(dir, 'merged.safetensors');
  const r = await mergeCheckpoint({ model: files.base, adapter: files.adapter, out });
  assert.equal(r.domain, DOMAIN);
  const merged = await loadUnet(out); // strict: exactly a plain U-Net's tensors
  const { model } = await loadUnet(files.base);
  const reg = new AdapterRegistry(model);
  try {
    await reg.load('target', files.adapter);
    reg.activate('target', { merge: true });
    const a = torchLogits(model, 2, 32, 32, 5).y;
    const b = torchLogits(merged.model, 2, 32, 32, 5).y;
    assert.deepEqual(b, a);
    assert.equal(merged.info.source, DOMAIN);
    assert.equal(merged.info.fingerprint, undefined);
    assert.equal((merged.info.merged as { method: string }).method, 'convlora');
  } finally {
    reg.dispose();
    model.dispose();
    merged.model.dispose();
  }
  assert.equal(liveTensors(), live);
});
