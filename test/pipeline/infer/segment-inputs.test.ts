// `segment` on the inputs users have: other voxel orientations, folders of scans, and the skull-stripped
// output. `segment` turns an input stored in another voxel orientation into the model's training orientation
// and back. The same head stored two ways (RAS, and permuted/flipped to PIL with the affine that keeps
// every voxel's world position) must get the same probabilities voxel for voxel once mapped to one grid;
// without reorientation they differ, so the check can fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { phantomVolume } from '../../../src/data/simulation/phantom.js';
import { readNifti, writeNifti } from '../../../src/data/nifti/index.js';
import { axisCodes, reorientAffine, reorientData, reorientShape, reorientation } from '../../../src/data/image/orientation.js';
import { manualSeed } from '../../../src/engine/runtime.js';
import * as ops from '../../../src/engine/ops.js';
import { prepareImage } from '../../../src/data/scans/cc359.js';
import { prepareForModel } from '../../../src/data/image/conform.js';
import { runSlices } from '../../../src/pipeline/infer/predict.js';
import { liveTensors } from '../../../src/engine/tensor.js';
import { UNet2D } from '../../../src/models/unet.js';
import { saveNetwork } from '../../../src/pipeline/models.js';
import { segmentFile } from '../../../src/pipeline/infer/segment.js';
import { orientationWarning, trainingOrientation } from '../../../src/pipeline/train/source.js';
import { AdapterRegistry, disposeAdapter, extractAdapter, saveAdapter } from '../../../src/lora/adapter.js';
import { PAPER_LORA } from '../../../src/lora/convlora.js';
import { tempDir } from '../../helpers/tmp.js';
import { runCli } from '../../helpers/cli.js';

test('segment: an input in another orientation gets the same prediction, on its own grid', async () => {
  const live = liveTensors();
  const dir = tempDir('convlora-orient-');
  const v = phantomVolume('GE_3', 0, { size: 32, seed: 2 });
  assert.equal(axisCodes(v.image.affine!), 'RAS');
  const ras = join(dir, 'ras.nii.gz'), pil = join(dir, 'pil.nii.gz');
  await writeNifti(ras, { dims: v.image.dims, spacing: v.image.spacing!, affine: v.image.affine!, data: v.image.data });
  const turn = reorientation('RAS', 'PIL');
  const pilDims = reorientShape(v.image.dims, turn);
  await writeNifti(pil, { dims: pilDims, spacing: reorientShape(v.image.spacing!, turn), affine: reorientAffine(v.image.affine!, v.image.dims, turn), data: reorientData(v.image.data, v.image.dims, turn) });

  manualSeed(5);
  const net = new UNet2D({ filters: 4 });
  const model = join(dir, 'unet.safetensors'), legacy = join(dir, 'legacy.safetensors');
  await saveNetwork(model, net, { kind: 'unet2d', filters: 4, size: 32, orientation: 'RAS' });
  await saveNetwork(legacy, net, { kind: 'unet2d', filters: 4, size: 32 });
  net.dispose();

  const run = async (input: string, out: string, m = model, reorient = true): Promise<{ data: Float32Array; reoriented: boolean; input: string | null }> => {
    const r = await segmentFile({ model: m, input, output: join(dir, out), prob: true, reorient });
    const img = await readNifti(join(dir, out));
    assert.deepEqual(img.dims.slice(0, 3), (await readNifti(input)).dims.slice(0, 3), 'written on the input grid');
    return { data: img.data as Float32Array, reoriented: r.orientation.reoriented, input: r.orientation.input };
  };
  const a = await run(ras, 'a.nii.gz');
  const b = await run(pil, 'b.nii.gz');
  assert.equal(a.reoriented, false);
  assert.equal(b.reoriented, true);
  assert.equal(b.input, 'PIL');
  const bInRas = reorientData(b.data, pilDims, reorientation('PIL', 'RAS'));
  assert.deepEqual(bInRas, a.data);
  let spread = 0;
  for (const x of a.data) spread = Math.max(spread, Math.abs(x - a.data[0]!));
  assert.ok(spread > 1e-3, 'the probabilities vary over the volume');

  for (const [m, flag] of [[model, false], [legacy, true]] as const) {
    const c = await run(pil, 'c.nii.gz', m, flag);
    assert.equal(c.reoriented, false);
    const cInRas = reorientData(c.data, pilDims, reorientation('PIL', 'RAS'));
    assert.notDeepEqual(cInRas, a.data, 'without reorientation the PIL input is sliced along another axis');
  }
  const noSpacing = await runCli(['segment', '--model', legacy, '--in', pil, '--out', join(dir, 'e.nii.gz'), '--conform']);
  assert.equal(noSpacing.code, 1);
  assert.match(noSpacing.err, /E_CHECKPOINT: .*legacy\.safetensors does not record the voxel size it was trained at/);
  const cli = await runCli(['segment', '--model', model, '--in', pil, '--out', join(dir, 'd.nii.gz')]);
  assert.equal(cli.code, 0, cli.err);
  assert.match(cli.err, /orientation: input PIL, turned to the model's RAS and back/);

  // A folder: the model is loaded once, each scan gets <stem>_prob.nii.gz, a corrupt scan is reported
  // with its code and the others are still written; the exit code says that one failed.
  const inDir = join(dir, 'scans'), outDir = join(dir, 'masks');
  mkdirSync(inDir);
  copyFileSync(ras, join(inDir, 'a_ras.nii.gz'));
  copyFileSync(pil, join(inDir, 'b_pil.nii.gz'));
  writeFileSync(join(inDir, 'c_broken.nii'), Buffer.alloc(100, 7));
  writeFileSync(join(inDir, 'notes.txt'), 'not a scan');
  const many = await runCli(['segment', '--model', model, '--in', inDir, '--out', outDir, '--prob']);
  assert.equal(many.code, 1, many.err);
  assert.equal(many.out, `${join(outDir, 'a_ras_prob.nii.gz')}\n${join(outDir, 'b_pil_prob.nii.gz')}\n`);
  assert.match(many.err, /c_broken\.nii: error E_NIFTI/);
  assert.match(many.err, /segmented 2 of 3 scans into .*\(1 turned into the model's orientation RAS and back\)/);
  assert.deepEqual(readdirSync(outDir).sort(), ['a_ras_prob.nii.gz', 'b_pil_prob.nii.gz']);
  assert.deepEqual((await readNifti(join(outDir, 'a_ras_prob.nii.gz'))).data, a.data, 'same as one scan at a time');
  assert.deepEqual((await readNifti(join(outDir, 'b_pil_prob.nii.gz'))).data, b.data);
  const usage = await runCli(['segment', '--model', model, '--in', inDir, '--out', join(dir, 'x.nii.gz')]);
  assert.equal(usage.code, 2);
  assert.match(usage.err, /--out must be a folder too/);
  const emptyDir = join(dir, 'empty');
  mkdirSync(emptyDir);
  const none = await runCli(['segment', '--model', model, '--in', emptyDir, '--out', outDir]);
  assert.equal(none.code, 1);
  assert.match(none.err, /E_DATA.*No \.nii or \.nii\.gz files/);
  assert.equal(liveTensors(), live);
});

test('segment --brain writes the scan with non-brain voxels zeroed, in its own datatype and scaling', async () => {
  const live = liveTensors();
  const dir = tempDir('convlora-brain-');
  const v = phantomVolume('Philips_15', 1, { size: 32, seed: 4 }); // stored as uint16 with scl_slope 0.5
  const scan = join(dir, 'scan.nii.gz');
  await writeNifti(scan, v.image);
  manualSeed(6);
  const net = new UNet2D({ filters: 4 });
  // An untrained net puts every voxel on one side of 0; centring its logit BatchNorm on the median
  // logit of this scan gives a mask with voxels on both sides, which is all this test needs.
  net.eval();
  const vol = prepareImage(await readNifti(scan), { size: 32, sliceRange: [0, v.image.dims[0]! - 1] });
  const [logits] = runSlices(vol.images, vol.shape, 16, 'cpu', (x) => [net.forward(x)]);
  const sorted = Float32Array.from(logits!).sort();
  ops.fill_(new Map(net.namedBuffers()).get('out_path.2.running_mean')!, sorted[sorted.length >> 1]!);
  const model = join(dir, 'unet.safetensors');
  await saveNetwork(model, net, { kind: 'unet2d', filters: 4, size: 32, orientation: 'RAS' });
  net.dispose();
  const r = await runCli(['segment', '--model', model, '--in', scan, '--out', join(dir, 'mask.nii.gz'), '--brain', join(dir, 'brain.nii.gz')]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, `${join(dir, 'mask.nii.gz')}\n${join(dir, 'brain.nii.gz')}\n`);
  const src = await readNifti(scan), mask = await readNifti(join(dir, 'mask.nii.gz')), brain = await readNifti(join(dir, 'brain.nii.gz'));
  assert.equal(brain.datatype, 512);
  assert.equal(brain.header.sclSlope, 0.5);
  let inside = 0;
  for (let i = 0; i < src.data.length; i++) {
    if (mask.data[i] === 1) inside += 1;
    assert.equal(brain.data[i], mask.data[i] === 1 ? src.data[i] : 0, `voxel ${i}`);
  }
  assert.ok(inside > 0 && inside < src.data.length, `${inside} of ${src.data.length} voxels in the mask`);
  assert.equal(liveTensors(), live);
});

test('the training orientation is the common one of the source volumes, or null when they differ', () => {
  const at = (affine: number[][]): { source: { affine: number[][]; dims: number[]; spacing: number[]; header: never } } => ({ source: { affine, dims: [1, 1, 1], spacing: [1, 1, 1], header: undefined as never } });
  const ras = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], las = [[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
  assert.equal(trainingOrientation([at(ras), at(ras)]), 'RAS');
  assert.equal(trainingOrientation([at(ras), at(las)]), null);
  assert.equal(trainingOrientation([at([[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])]), null);
  assert.equal(orientationWarning('RAS', [at(ras)], 'GE_15'), null);
  assert.equal(orientationWarning(undefined, [at(las)], 'GE_15'), null, 'older models record none');
  assert.match(orientationWarning('RAS', [at(las), at(las)], 'GE_15') ?? '', /^warning: GE_15 volumes are stored LAS but the model was trained on RAS volumes/);
});

test('segment --adabn: BatchNorm statistics re-estimated on the scan, or on a whole folder taken as one scanner; only masks are written', async () => {
  const live = liveTensors();
  const dir = tempDir('convlora-tta-');
  const scans = join(dir, 'scans');
  mkdirSync(scans);
  for (const [name, domain, i] of [['a.nii.gz', 'GE_3', 0], ['b.nii.gz', 'Philips_3', 1]] as const) {
    const v = phantomVolume(domain, i, { size: 32, seed: 3 });
    await writeNifti(join(scans, name), v.image);
  }
  manualSeed(7);
  const net = new UNet2D({ filters: 4 });
  const model = join(dir, 'unet.safetensors');
  await saveNetwork(model, net, { kind: 'unet2d', filters: 4, size: 32, orientation: 'RAS' });
  const adapter = join(dir, 'adapter.safetensors');
  const registry = new AdapterRegistry(net);
  const extracted = extractAdapter(net, { format: 'convlora-adapter', version: 1, domain: 'X', method: 'adabn', blocks: null, lora: PAPER_LORA,
    placement: { loraTargets: [], trainableBatchNorms: [], fullyTrainable: [] }, adabn: 'explicit', baseHash: registry.baseHash });
  await saveAdapter(adapter, extracted);
  disposeAdapter(extracted);
  registry.dispose();
  net.dispose();

  const probs = async (args: string[], out: string): Promise<{ data: Float32Array; json: { adabn: { scans: number; slices: number; seed: number } | null; adapter: string | null; warnings: string[] } }> => {
    const r = await runCli(['segment', '--model', model, '--in', join(scans, 'a.nii.gz'), '--out', join(dir, out), '--prob', '--json', ...args]);
    assert.equal(r.code, 0, r.err);
    return { data: (await readNifti(join(dir, out))).data as Float32Array, json: JSON.parse(r.out) };
  };
  // Statistics come from the head's slices: those at least half as bright, on average, as the brightest.
  const headSlices = async (name: string): Promise<number> => {
    const prep = prepareForModel(await readNifti(join(scans, name)), { size: 32, orientation: 'RAS', spacing: null });
    const plane = 32 * 32, means = Array.from({ length: prep.shape[0] }, (_, k) => prep.images.subarray(k * plane, (k + 1) * plane).reduce((x, y) => x + y, 0) / plane);
    const top = Math.max(...means), inside = means.map((m, k) => (m >= top / 2 ? k : -1)).filter((k) => k >= 0);
    return inside.at(-1)! - inside[0]! + 1;
  };
  const [na, nb] = [await headSlices('a.nii.gz'), await headSlices('b.nii.gz')];
  assert.ok(na > 8 && na < 32 && nb > 8 && nb < 32, `${na} and ${nb} of 32 slices`);
  const plain = await probs([], 'plain.nii.gz');
  const tta = await probs(['--adabn'], 'tta.nii.gz');
  assert.equal(plain.json.adabn, null);
  assert.deepEqual(tta.json.adabn, { scans: 1, slices: na, batches: 1, seed: 42 });
  assert.notDeepEqual(tta.data, plain.data, 'the statistics changed the prediction');
  assert.deepEqual((await probs(['--adabn'], 'tta2.nii.gz')).data, tta.data, 'a fixed seed: the same masks every run');
  const onTop = await probs(['--adabn', '--adapter', adapter], 'ontop.nii.gz');
  assert.equal(onTop.json.adapter, adapter);
  assert.equal(onTop.json.adabn?.scans, 1);
  assert.deepEqual(onTop.data, tta.data, 'an AdaBN adapter\'s statistics are replaced by the scan\'s (its weights are the base\'s)');
  assert.deepEqual(readdirSync(dir).filter((n) => !['scans', 'unet.safetensors', 'adapter.safetensors'].includes(n)).sort(),
    ['ontop.nii.gz', 'plain.nii.gz', 'tta.nii.gz', 'tta2.nii.gz'], 'nothing written but the masks');

  // A folder is one scanner: statistics over both scans' head slices, then each scan predicted with them.
  const outDir = join(dir, 'masks');
  const many = await runCli(['segment', '--model', model, '--in', scans, '--out', outDir, '--prob', '--adabn', '--json']);
  assert.equal(many.code, 0, many.err);
  const { results } = JSON.parse(many.out) as { results: { input: string; adabn: { scans: number; slices: number } }[] };
  assert.deepEqual(results.map((r) => r.adabn.scans), [2, 2]);
  assert.deepEqual(results.map((r) => r.adabn.slices), [na + nb, na + nb]);
  assert.deepEqual(readdirSync(outDir).sort(), ['a_prob.nii.gz', 'b_prob.nii.gz']);
  assert.notDeepEqual((await readNifti(join(outDir, 'a_prob.nii.gz'))).data, tta.data, 'folder statistics differ from one scan\'s');
  const text = await runCli(['segment', '--model', model, '--in', join(scans, 'b.nii.gz'), '--out', join(dir, 'b.nii.gz'), '--adabn']);
  assert.equal(text.code, 0, text.err);
  assert.match(text.err, new RegExp(`test-time AdaBN: BatchNorm statistics re-estimated on ${nb} slices of 1 scan \\(seed 42\\)`));
  const both = await runCli(['segment', '--model', model, '--in', scans, '--out', outDir, '--adabn', '--adapters', dir]);
  assert.equal(both.code, 2);
  assert.match(both.err, /--adapters falls back to test-time AdaBN by itself/);
  assert.equal(liveTensors(), live);
});

test('segment follows the model\'s recorded inference mode: test-time AdaBN per scan by default for `inference: adabn`, off with --no-adabn or an adapter', async () => {
  const live = liveTensors();
  const dir = tempDir('convlora-mode-');
  const scan = join(dir, 'a.nii.gz');
  await writeNifti(scan, phantomVolume('GE_3', 0, { size: 32, seed: 3 }).image);
  manualSeed(9);
  const net = new UNet2D({ filters: 4 });
  const model = join(dir, 'unet.safetensors');
  await saveNetwork(model, net, { kind: 'unet2d', filters: 4, size: 32, orientation: 'RAS', inference: 'adabn' });
  const registry = new AdapterRegistry(net);
  const extracted = extractAdapter(net, { format: 'convlora-adapter', version: 1, domain: 'X', method: 'adabn', blocks: null, lora: PAPER_LORA,
    placement: { loraTargets: [], trainableBatchNorms: [], fullyTrainable: [] }, adabn: 'explicit', baseHash: registry.baseHash });
  const adapter = join(dir, 'adapter.safetensors');
  await saveAdapter(adapter, extracted);
  disposeAdapter(extracted);
  registry.dispose();
  net.dispose();
  const run = async (args: string[], out: string): Promise<{ adabn: unknown; data: ArrayLike<number> }> => {
    const r = await runCli(['segment', '--model', model, '--in', scan, '--out', join(dir, out), '--prob', '--json', ...args]);
    assert.equal(r.code, 0, r.err);
    return { adabn: (JSON.parse(r.out) as { adabn: unknown }).adabn, data: (await readNifti(join(dir, out))).data };
  };
  const byDefault = await run([], 'd.nii.gz');
  const asked = await run(['--adabn'], 'e.nii.gz');
  assert.notEqual(byDefault.adabn, null);
  assert.deepEqual(byDefault, asked, 'the default is per-scan test-time AdaBN, as --adabn');
  const refused = await run(['--no-adabn'], 'f.nii.gz');
  assert.equal(refused.adabn, null);
  assert.notDeepEqual(refused.data, byDefault.data);
  assert.equal((await run(['--adapter', adapter], 'g.nii.gz')).adabn, null, 'an adapter brings its own statistics');
  const both = await runCli(['segment', '--model', model, '--in', scan, '--out', join(dir, 'h.nii.gz'), '--adabn', '--no-adabn']);
  assert.equal(both.code, 2);
  assert.match(both.err, /--adabn and --no-adabn contradict each other/);
  assert.equal(liveTensors(), live);
});
