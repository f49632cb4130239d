// `segment --engine onnx` against `--engine torch` through the CLI, on phantom heads that take every step
// of the shared path: a scan as stored (RAS, the model's voxel size), the same head stored PIL (turned
// and back), at half the voxel size (resampled and back) and another scanner's contrast. Only the logits
// come from another engine, so the masks must agree (Dice >= 0.999). A merged checkpoint must give the
// mask of base + adapter. The model is a small U-Net trained for four epochs (it under-segments: 0.1-3 %
// of the voxels where the brain is ~7 %), so the masks follow the head rather than noise; they are
// checked to be neither empty nor full, and the probabilities of one scan are compared too.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { phantomVolume, generatePhantomDataset } from '../../../src/data/simulation/phantom.js';
import { readNifti, writeNifti } from '../../../src/data/nifti/index.js';
import { reorientAffine, reorientData, reorientShape, reorientation } from '../../../src/data/image/orientation.js';
import { trainSource } from '../../../src/pipeline/train/source.js';
import { liveTensors } from '../../../src/engine/tensor.js';
import type { Domain } from '../../../src/data/scans/cc359.js';
import { runCli } from '../../helpers/cli.js';
import { fakeAdapterFor } from '../../helpers/onnx.js';
import { tempDir } from '../../helpers/tmp.js';

const dir = tempDir('convlora-segment-onnx-');
const SIZE = 32;
let model = '', adapter = '';
const scans: Record<string, string> = {};

before(async () => {
  const data = join(dir, 'data');
  await generatePhantomDataset(data, { size: SIZE, volumes: 10, seed: 4, domains: ['GE_3'] });
  model = (await trainSource({ data, out: join(dir, 'run'), epochs: 4, batchSize: 16, filters: 4, seed: 1, tolerance: 256 / SIZE })).checkpoint;
  adapter = join(dir, 'adapter.safetensors');
  await fakeAdapterFor(model, adapter, { seed: 9, scale: 0.02 });
  const write = async (name: string, domain: Domain, size: number, turn = false): Promise<void> => {
    const v = phantomVolume(domain, 0, { size, seed: 21 });
    const img = v.image;
    const path = join(dir, `${name}.nii.gz`);
    if (!turn) await writeNifti(path, { dims: img.dims, spacing: img.spacing!, affine: img.affine!, data: img.data });
    else {
      const t = reorientation('RAS', 'PIL');
      await writeNifti(path, { dims: reorientShape(img.dims, t), spacing: reorientShape(img.spacing!, t), affine: reorientAffine(img.affine!, img.dims, t), data: reorientData(img.data, img.dims, t) });
    }
    scans[name] = path;
  };
  await write('ge3', 'GE_3', SIZE);
  await write('ge3_pil', 'GE_3', SIZE, true);
  await write('ge3_fine', 'GE_3', 2 * SIZE);
  await write('philips3', 'Philips_3', SIZE);
});

function dice(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let inter = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { const x = a[i]! > 0, y = b[i]! > 0; if (x) na++; if (y) nb++; if (x && y) inter++; }
  return (2 * inter) / (na + nb);
}

async function segment(name: string, out: string, args: string[]): Promise<Uint8Array> {
  const path = join(dir, `${out}.nii.gz`);
  const r = await runCli(['segment', '--in', scans[name]!, '--out', path, '--threads', '1', '--quiet', ...args]);
  assert.equal(r.code, 0, r.err);
  return (await readNifti(path)).data as Uint8Array;
}

test('segment --engine onnx writes the mask of --engine torch (Dice >= 0.999) on every phantom, base and adapter, .onnx file and in memory', async (t) => {
  const live = liveTensors();
  const onnx = join(dir, 'adapted.onnx');
  const e = await runCli(['export', '--model', model, '--adapter', adapter, '--out', onnx, '--quiet']);
  assert.equal(e.code, 0, e.err);
  for (const name of Object.keys(scans)) {
    for (const [label, torchArgs, onnxArgs] of [
      ['base, in memory', ['--model', model], ['--model', model, '--engine', 'onnx']],
      ['adapter, .onnx file', ['--model', model, '--adapter', adapter], ['--model', onnx, '--engine', 'onnx']],
      ['adapter, in memory', ['--model', model, '--adapter', adapter], ['--model', model, '--adapter', adapter, '--engine', 'onnx']],
    ] as const) {
      const a = await segment(name, `${name}-torch`, [...torchArgs]);
      const b = await segment(name, `${name}-onnx`, [...onnxArgs]);
      const n = a.reduce((s, x) => s + x, 0);
      const d = dice(a, b);
      t.diagnostic(`${name} (${label}): ${n} of ${a.length} voxels, Dice torch/onnx ${d.toFixed(6)}`);
      assert.ok(n > 20 && n < 0.9 * a.length, `${name}: neither an empty nor a full mask (${n} of ${a.length})`);
      assert.ok(d >= 0.999, `${name} (${label}): Dice ${d}`);
    }
  }
  // Probabilities too: the resampled path interpolates them back, so any logit difference would show.
  const p = async (engine: string): Promise<Float32Array> => {
    const out = join(dir, `fine-prob-${engine}.nii.gz`);
    const r = await runCli(['segment', '--in', scans.ge3_fine!, '--out', out, '--prob', '--model', model, '--adapter', adapter, '--engine', engine, '--quiet']);
    assert.equal(r.code, 0, r.err);
    return (await readNifti(out)).data as Float32Array;
  };
  const [pt, po] = [await p('torch'), await p('onnx')];
  let maxDiff = 0;
  for (let i = 0; i < pt.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pt[i]! - po[i]!));
  t.diagnostic(`ge3_fine --prob: max |torch - onnx| ${maxDiff.toExponential(2)}`);
  assert.ok(maxDiff <= 1e-5, `probabilities differ by ${maxDiff}`);
  assert.equal(liveTensors(), live, 'no native tensor leaked');
});

test('a merged checkpoint segments exactly as base + adapter; the adapter does change the mask', async () => {
  const live = liveTensors();
  const merged = join(dir, 'merged.safetensors');
  const m = await runCli(['merge', '--model', model, '--adapter', adapter, '--out', merged, '--quiet']);
  assert.equal(m.code, 0, m.err);
  let changed = 0;
  for (const name of Object.keys(scans)) {
    const a = await segment(name, `${name}-adapted`, ['--model', model, '--adapter', adapter]);
    const b = await segment(name, `${name}-merged`, ['--model', merged]);
    const base = await segment(name, `${name}-base`, ['--model', model]);
    assert.deepEqual(b, a, `${name}: merged checkpoint = base + adapter`);
    changed += a.reduce((s, x, i) => s + (x !== base[i] ? 1 : 0), 0);
  }
  assert.ok(changed > 0, 'the adapter changes some voxels, so the comparison above can fail');
  assert.equal(liveTensors(), live);
});

test('segment --engine onnx: malformed .onnx is exit 1 with E_ONNX, torch-only options are usage errors, nothing written', async () => {
  const bad = join(dir, 'bad.onnx');
  await writeNifti(bad.replace('.onnx', '.nii.gz'), { dims: [2, 2, 2], spacing: [1, 1, 1], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], data: new Float32Array(8) });
  const { writeFileSync, existsSync } = await import('node:fs');
  writeFileSync(bad, 'not a protobuf');
  const out = join(dir, 'never.nii.gz');
  const cases: [string[], number, RegExp][] = [
    [['--model', bad, '--engine', 'onnx'], 1, /E_ONNX: .*bad\.onnx is not an ONNX model/],
    [['--model', model, '--engine', 'onnx', '--adabn'], 2, /--adabn needs --engine torch/],
    [['--model', model, '--engine', 'tflite'], 2, /Expected torch or onnx for --engine but received "tflite"/],
    [['--model', model, '--engine', 'onnx', '--device', 'cuda'], 2, /runs on the CPU only but received --device cuda/],
  ];
  for (const [args, code, message] of cases) {
    const r = await runCli(['segment', '--in', scans.ge3!, '--out', out, ...args]);
    assert.equal(r.code, code, r.err);
    assert.match(r.err, message);
  }
  assert.equal(existsSync(out), false);
});
