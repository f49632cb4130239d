// Library-side validation of every public option of segmentFile / segmentDirectory (issue 25 item 4): a
// coded error naming the option and the value, before any model is read. And a folder run that was
// interrupted: --skip-existing finishes the rest without redoing finished scans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { phantomVolume } from '../../../src/data/simulation/phantom.js';
import { writeNifti } from '../../../src/data/nifti/index.js';
import { manualSeed } from '../../../src/engine/runtime.js';
import { UNet2D } from '../../../src/models/unet.js';
import { saveNetwork } from '../../../src/pipeline/models.js';
import { segmentDirectory, segmentFile } from '../../../src/pipeline/infer/segment.js';
import { tempDir } from '../../helpers/tmp.js';

const base = { model: '/nonexistent/model.safetensors', input: '/nonexistent/in.nii.gz', output: '/nonexistent/out.nii.gz' };

const CASES: [string, Record<string, unknown>, RegExp][] = [
  ['model', { model: '' }, /for `model` but received ""/],
  ['input', { input: 42 }, /for `input` but received 42/],
  ['output', { output: null }, /for `output` but received null/],
  ['brain', { brain: '' }, /for `brain` but received ""/],
  ['adapter', { adapter: 7 }, /for `adapter` but received 7/],
  ['adapters', { adapters: [1, 2] }, /for `adapters` but received \[1, 2\]/],
  ['adabn', { adabn: 'yes' }, /true or false for `adabn` but received "yes"/],
  ['prob', { prob: 1 }, /true or false for `prob` but received 1/],
  ['reorient', { reorient: 'no' }, /for `reorient` but received "no"/],
  ['cleanup', { cleanup: 0 }, /for `cleanup` but received 0/],
  ['seed', { seed: -1 }, /integer >= 0 for `seed` but received -1/],
  ['threads', { threads: 1.5 }, /for `threads` but received 1.5/],
  ['device', { device: 'gpu' }, /for `device` but received "gpu"/],
  ['engine', { engine: 'tf' }, /for `engine` but received "tf"/],
  ['conform', { conform: 'maybe' }, /for `conform` but received "maybe"/],
  ['batchSize', { batchSize: 0 }, /integer >= 1 for `batchSize` but received 0/],
  ['views', { views: 2 }, /for `views` but received 2/],
];

for (const [name, patch, message] of CASES) {
  test(`segmentFile refuses a bad \`${name}\` with E_INVALID_ARG naming it`, async () => {
    await assert.rejects(segmentFile({ ...base, ...patch } as never), { code: 'E_INVALID_ARG', message });
  });
}

test('segmentDirectory refuses bad folder options, naming them', async () => {
  const o = { model: base.model, inputDir: '/nonexistent', outputDir: '/nonexistent-out' };
  await assert.rejects(segmentDirectory({ ...o, inputDir: '' }), { code: 'E_INVALID_ARG', message: /for `inputDir` but received ""/ });
  await assert.rejects(segmentDirectory({ ...o, skipExisting: 'true' as never }), { code: 'E_INVALID_ARG', message: /for `skipExisting` but received "true"/ });
  await assert.rejects(segmentDirectory({ ...o, batchSize: 0 }), { code: 'E_INVALID_ARG', message: /for `batchSize` but received 0/ });
});

test('a folder run again with skipExisting segments only the scans without outputs; a corrupt scan is reported and the rest go on', async () => {
  const dir = tempDir('convlora-skip-');
  const inDir = join(dir, 'in'), outDir = join(dir, 'out');
  mkdirSync(inDir);
  mkdirSync(outDir);
  for (const i of [0, 1, 2]) {
    const v = phantomVolume('GE_3', i, { size: 32, seed: 3 });
    await writeNifti(join(inDir, `s${i}.nii.gz`), { dims: v.image.dims, spacing: v.image.spacing!, affine: v.image.affine!, data: v.image.data });
  }
  writeFileSync(join(inDir, 's3.nii.gz'), Buffer.from('not a nifti'));
  manualSeed(1);
  const net = new UNet2D({ filters: 4 });
  const model = join(dir, 'unet.safetensors');
  await saveNetwork(model, net, { kind: 'unet2d', filters: 4, size: 32, orientation: 'RAS' });
  net.dispose();
  // The first run "was killed" after s0: only its mask exists.
  await segmentFile({ model, input: join(inDir, 's0.nii.gz'), output: join(outDir, 's0_mask.nii.gz') });
  const before = statSync(join(outDir, 's0_mask.nii.gz')).mtimeMs;
  const r = await segmentDirectory({ model, inputDir: inDir, outputDir: outDir, skipExisting: true });
  assert.deepEqual(r.skipped, [join(inDir, 's0.nii.gz')]);
  assert.deepEqual(r.results.map((x) => x.input), [join(inDir, 's1.nii.gz'), join(inDir, 's2.nii.gz')]);
  assert.deepEqual(r.failures.map((f) => [f.input, f.code.startsWith('E_NIFTI')]), [[join(inDir, 's3.nii.gz'), true]]);
  assert.equal(statSync(join(outDir, 's0_mask.nii.gz')).mtimeMs, before, 'the finished scan was not redone');
  assert.deepEqual(readdirSync(outDir).sort(), ['s0_mask.nii.gz', 's1_mask.nii.gz', 's2_mask.nii.gz'], 'no partial file of the corrupt scan');
  const again = await segmentDirectory({ model, inputDir: inDir, outputDir: outDir, skipExisting: true });
  assert.equal(again.results.length, 0);
  assert.equal(again.skipped.length, 3);
});
