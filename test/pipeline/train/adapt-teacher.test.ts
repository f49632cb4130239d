// The robust self-training of issue 24 (adapt method 'teacher') and its guard: a frozen teacher's confident
// labels, a perturbed student, a label-free criterion that chooses the epoch, and the starting model kept
// (with an adapter that reproduces it) when no epoch beats it. On a tiny untrained U-Net and phantom scans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { phantomVolume } from '../../../src/data/simulation/phantom.js';
import { writeNifti } from '../../../src/data/nifti/index.js';
import { manualSeed } from '../../../src/engine/runtime.js';
import { tensor } from '../../../src/engine/create.js';
import { liveTensors, tidy } from '../../../src/engine/tensor.js';
import { UNet2D } from '../../../src/models/unet.js';
import { disposeAdapter, loadAdapter } from '../../../src/lora/adapter.js';
import { saveNetwork } from '../../../src/pipeline/models.js';
import { teacherLabels, teacherLoss, UNSURE } from '../../../src/pipeline/train/adapt-teacher.js';
import { segmentFile } from '../../../src/pipeline/infer/segment.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

async function setup(inference?: 'adabn'): Promise<{ dir: string; scans: string; model: string }> {
  const dir = tempDir('convlora-teacher-');
  const scans = join(dir, 'scans');
  mkdirSync(scans);
  for (const i of [0, 1, 2, 3]) {
    const v = phantomVolume('Philips_3', i, { size: 32, seed: 4 });
    await writeNifti(join(scans, `h${i}.nii.gz`), { dims: v.image.dims, spacing: v.image.spacing!, affine: v.image.affine!, data: v.image.data });
  }
  manualSeed(3);
  const net = new UNet2D({ filters: 4 });
  const model = join(dir, 'unet.safetensors');
  await saveNetwork(model, net, { kind: 'unet2d', filters: 4, size: 32, orientation: 'RAS', ...(inference === undefined ? {} : { inference }) });
  net.dispose();
  return { dir, scans, model };
}

test('teacher labels: 1 and 0 where the teacher is confident, UNSURE between; the loss ignores UNSURE pixels', () => {
  const live = liveTensors();
  manualSeed(1);
  const net = new UNet2D({ filters: 4 });
  const images = Float32Array.from({ length: 2 * 32 * 32 }, (_, i) => (i % 7) / 7);
  const [s] = teacherLabels(net, [{ stem: 'a', domain: 'x', images, shape: [2, 32, 32] }], 'cpu', 0.5000001);
  assert.ok(s!.masks!.some((v) => v === 1) || s!.masks!.some((v) => v === 0), 'a threshold near 0.5 leaves almost nothing unsure');
  const [u] = teacherLabels(net, [{ stem: 'a', domain: 'x', images, shape: [2, 32, 32] }], 'cpu', 0.999999);
  assert.ok(u!.masks!.every((v) => v === UNSURE || v === 0 || v === 1));
  const y = new Float32Array(2 * 32 * 32).fill(UNSURE);
  const batch = { x: images, y, shape: [2, 1, 32, 32] as [number, 1, number, number] };
  const loss = tidy(() => teacherLoss(tensor(new Float32Array(y.length).fill(3), batch.shape), batch, 'cpu').item());
  assert.equal(loss, 0, 'every pixel unsure: nothing to learn');
  y[0] = 0;
  const one = tidy(() => teacherLoss(tensor(new Float32Array(y.length).fill(3), batch.shape), batch, 'cpu').item());
  assert.ok(Math.abs(one - (3 + Math.log1p(Math.exp(-3)))) < 1e-5, `one confident background pixel at logit 3: BCE ${one}`);
  net.dispose();
  assert.equal(liveTensors(), live);
});

test('the guard: with nothing learnt (lr 0) no epoch beats the start, so adapt keeps it, says so, and the adapter reproduces it', async () => {
  const { dir, scans, model } = await setup();
  const out = join(dir, 'a.safetensors');
  const r = await runCli(['adapt', '--scans', scans, '--name', 'Mine', '--unet', model, '--method', 'teacher', '--adabn', '--adabn-mode', 'explicit',
    '--epochs', '2', '--lr', '0', '--batch-size', '8', '--out', out, '--json']);
  assert.equal(r.code, 0, r.err);
  const res = JSON.parse(r.out) as { kept: string; select: string; bestEpoch: number };
  assert.deepEqual([res.kept, res.select, res.bestEpoch], ['start', 'consistency', 0]);
  assert.match(r.err, /guard: no epoch beat the starting model by consistency/);
  const a = await loadAdapter(out);
  try {
    const b = [...a.tensors].filter(([k]) => k.endsWith('lora_B'));
    assert.ok(b.length > 0 && b.every(([, t]) => t.toFloat32().every((v) => v === 0)), 'LoRA B all zero: the starting model');
    assert.equal(a.config.method, 'teacher');
  } finally { disposeAdapter(a); }
  // With the last epoch chosen instead, nothing is guarded.
  const last = await runCli(['adapt', '--scans', scans, '--name', 'Mine', '--unet', model, '--method', 'teacher', '--adabn', '--adabn-mode', 'explicit',
    '--epochs', '1', '--lr', '0', '--batch-size', '8', '--select', 'last', '--out', join(dir, 'b.safetensors'), '--json']);
  assert.equal(last.code, 0, last.err);
  assert.equal((JSON.parse(last.out) as { kept: string }).kept, 'adapted');
});

test('on a model that predicts with test-time AdaBN per scan, teacher adapts per scan and its adapter makes segment re-estimate per scan', async () => {
  const { dir, scans, model } = await setup('adabn');
  const out = join(dir, 'a.safetensors');
  const r = await runCli(['adapt', '--scans', scans, '--name', 'Mine', '--unet', model, '--method', 'teacher', '--epochs', '1', '--batch-size', '8', '--out', out, '--json', '--quiet']);
  assert.equal(r.code, 0, r.err);
  const a = await loadAdapter(out);
  try { assert.equal(a.config.inference, 'adabn'); } finally { disposeAdapter(a); }
  const seg = await segmentFile({ model, adapter: out, input: join(scans, 'h0.nii.gz'), output: join(dir, 'm.nii.gz') });
  assert.notEqual(seg.adabn, null, 'test-time AdaBN ran on top of the adapter');
  const plain = await segmentFile({ model, adapter: out, adabn: false, input: join(scans, 'h0.nii.gz'), output: join(dir, 'n.nii.gz') });
  assert.equal(plain.adabn, null, 'unless turned off');
});
