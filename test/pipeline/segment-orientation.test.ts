// `segment` turns an input stored in another voxel orientation into the model's training orientation
// and back. The same head stored two ways (RAS, and permuted/flipped to PIL with the affine that keeps
// every voxel's world position) must get the same probabilities voxel for voxel once mapped to one grid;
// without reorientation they differ, so the check can fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { phantomVolume } from '../../src/data/phantom.js';
import { readNifti, writeNifti } from '../../src/data/nifti.js';
import { axisCodes, reorientAffine, reorientData, reorientShape, reorientation } from '../../src/data/orientation.js';
import { manualSeed } from '../../src/engine/runtime.js';
import { liveTensors } from '../../src/engine/tensor.js';
import { UNet2D } from '../../src/models/unet.js';
import { saveNetwork } from '../../src/pipeline/models.js';
import { segmentFile } from '../../src/pipeline/segment.js';
import { orientationWarning, trainingOrientation } from '../../src/pipeline/source.js';
import { tempDir } from '../helpers/tmp.js';
import { runCli } from '../helpers/cli.js';

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
