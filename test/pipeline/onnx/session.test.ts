// The ONNX engine's failure modes: every malformed input is a coded ConvLoraError naming what it read,
// never a crash, and a missing onnxruntime is E_NATIVE_LOAD with what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxGraph } from '../../../src/nn/onnx.js';
import { loadOnnxRuntime, openOnnxModel, OnnxSession } from '../../../src/pipeline/onnx/session.js';
import { onnxBytes, ONNX_META } from '../../../src/pipeline/onnx/export.js';
import { smallModelWithAdapter } from '../../helpers/onnx.js';
import { tempDir } from '../../helpers/tmp.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = tempDir('convlora-onnx-session-');
const files = await smallModelWithAdapter(dir, { filters: 4, seed: 3 });
const good = (await onnxBytes({ model: files.base })).bytes;

/** A one-node graph (`op` on the input) with the given metadata. */
function tiny(op: string, metadata: Record<string, string>): Uint8Array {
  const g = new OnnxGraph();
  const x = g.name('image');
  const y = g.node(op, [x], {}, 'logits');
  return g.encode({ input: { name: x, dims: ['batch', 1, 8, 8] }, output: { name: y, dims: ['batch', 1, 8, 8] }, graphName: 't', producer: 'test', version: '0', metadata });
}

const unetInfo = { [ONNX_META.modelInfo]: JSON.stringify({ kind: 'unet2d', filters: 4, size: 8 }) };

const CASES: [string, Uint8Array, string, RegExp][] = [
  ['random bytes', new Uint8Array(64).fill(0xff), 'E_ONNX', /bad\.onnx is not an ONNX model/],
  ['a truncated export', good.subarray(0, Math.floor(good.length / 2)), 'E_ONNX', /bad\.onnx/],
  ['an empty file', new Uint8Array(0), 'E_ONNX', /bad\.onnx is not an ONNX model: it has no graph nodes/],
  ['a graph without convlora metadata', tiny('Relu', {}), 'E_ONNX', /has no convlora U-Net description/],
  ['an unknown operator', tiny('NoSuchOp', unetInfo), 'E_ONNX', /onnxruntime could not load .*bad\.onnx/],
];

for (const [name, bytes, code, message] of CASES) {
  test(`open: ${name} is ${code}`, async () => {
    const path = join(dir, 'bad.onnx');
    writeFileSync(path, bytes);
    await assert.rejects(openOnnxModel({ model: path }), (e: Error & { code?: string }) => {
      assert.equal(e.name, 'ConvLoraError');
      assert.equal(e.code, code, e.message);
      assert.match(e.message, message);
      return true;
    });
  });
}

test('open: a missing file is E_IO, an adapter with an .onnx file is E_INVALID_ARG naming it', async () => {
  await assert.rejects(openOnnxModel({ model: join(dir, 'nope.onnx') }), (e: Error & { code?: string }) => e.code === 'E_IO' && /nope\.onnx/.test(e.message));
  await assert.rejects(openOnnxModel({ model: join(dir, 'x.onnx'), adapter: 'a.safetensors' }),
    (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG' && /received "a\.safetensors"/.test(e.message));
});

test('a missing onnxruntime is E_NATIVE_LOAD (detail E_ONNXRUNTIME_MISSING) with what to do', async () => {
  await assert.rejects(loadOnnxRuntime('onnxruntime-node-not-installed'), (e: Error & { code?: string; detail?: string }) => {
    assert.equal(e.code, 'E_NATIVE_LOAD');
    assert.equal(e.detail, 'E_ONNXRUNTIME_MISSING');
    assert.match(e.message, /onnxruntime-node-not-installed/);
    assert.match(e.message, /npm install onnxruntime-node@1\.30\.0/);
    return true;
  });
  await assert.rejects(OnnxSession.open(good, { runtime: 'onnxruntime-node-not-installed' }), (e: Error & { code?: string }) => e.code === 'E_NATIVE_LOAD');
});

test('run: a batch of the wrong size and a height not divisible by 8 are coded errors', async () => {
  const s = await OnnxSession.open(good, { threads: 1 });
  try {
    await assert.rejects(s.run(new Float32Array(10), 1, 32, 32), (e: Error & { code?: string }) => e.code === 'E_SHAPE' && /received 10/.test(e.message));
    await assert.rejects(s.run(new Float32Array(30 * 32), 1, 30, 32), (e: Error & { code?: string }) => e.code === 'E_SHAPE' && /divisible by 8 but received \[30, 32\]/.test(e.message));
    assert.equal((await s.run(new Float32Array(2 * 32 * 32), 2, 32, 32)).length, 2 * 32 * 32);
  } finally { await s.dispose(); }
});

test('OnnxSession.open rejects threads that are not an integer >= 0', async () => {
  await assert.rejects(OnnxSession.open(good, { threads: -1 }), (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG' && /`threads` but received -1/.test(e.message));
});
