// `adapt --scans/--bids`, `scanners`, `adapters` and `evaluate --scans` on a tiny untrained U-Net (no
// training worth the name: what is checked is the plumbing, the checks before training, the records).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePhantomDataset } from '../../../src/data/simulation/phantom.js';
import { writeNifti } from '../../../src/data/nifti/index.js';
import { UNet2D } from '../../../src/models/unet.js';
import { createHead, saveNetwork } from '../../../src/pipeline/models.js';
import { loadAdapter, disposeAdapter } from '../../../src/lora/adapter.js';
import { applyPlacement, paramSummary, planPlacement } from '../../../src/lora/placement.js';
import { manualSeed } from '../../../src/engine/runtime.js';
import { liveTensors } from '../../../src/engine/tensor.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';
import { scannerFields, writeJson } from '../../helpers/bids.js';

const root = tempDir('convlora-scans-');
const data = join(root, 'data'), models = join(root, 'models');
const unet = join(models, 'unet.safetensors'), other = join(root, 'other', 'unet.safetensors');
const SIZE = 32, FILTERS = 2;
const phantoms = (domain: string): string[] => readdirSync(join(data, 'Original', domain)).sort().map((n) => join(data, 'Original', domain, n));

/** A folder holding copies of `files` under new names (`<prefix>-1.nii.gz`, ...). */
function folder(name: string, files: readonly string[], prefix = 'scan'): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  files.forEach((f, i) => copyFileSync(f, join(dir, `${prefix}-${i + 1}.nii.gz`)));
  return dir;
}

before(async () => {
  await generatePhantomDataset(data, { size: SIZE, volumes: 4, seed: 2, domains: ['GE_3', 'Philips_3', 'Siemens_3'], workers: 1 });
  for (const [path, seed] of [[unet, 1], [other, 2]] as const) {
    manualSeed(seed);
    const model = new UNet2D({ filters: FILTERS });
    await saveNetwork(path, model, { kind: 'unet2d', filters: FILTERS, size: SIZE, source: 'GE_3', orientation: 'RAS', spacing: [8, 8, 8] });
    model.dispose();
  }
  for (const kind of ['esh', 'udas'] as const) {
    const head = createHead(kind, FILTERS);
    await saveNetwork(join(models, `${kind}.safetensors`), head, { kind: 'head', head: kind, filters: FILTERS, size: SIZE });
    head.dispose();
  }
});

const adaptArgs = (source: string[], out: string, extra: string[] = []): string[] =>
  ['adapt', ...source, '--unet', unet, '--epochs', '1', '--batch-size', '8', '--tolerance', '8', '--out', out, '--quiet', ...extra];

test('every method and AdaBN mode adapts on unlabelled scans; the adapter records the name and what it was trained on', async () => {
  const live = liveTensors();
  const mine = folder('mine', phantoms('Philips_3'));
  const runs: [string, string[]][] = [
    ['adabn', ['--method', 'adabn']], ['self-training', ['--method', 'self-training']], ['udas', ['--method', 'udas', '--adabn']],
    ['udas-convlora', ['--method', 'udas-convlora']], ['convlora', ['--method', 'convlora', '--blocks', '1-2']],
    ['convlora-implicit', ['--adabn', '--adabn-mode', 'implicit']], ['convlora-explicit', ['--adabn', '--adabn-mode', 'explicit']],
  ];
  for (const [name, extra] of runs) {
    const out = join(root, 'adapters', `${name}.safetensors`);
    const r = await runCli(adaptArgs(['--scans', mine, '--name', 'MyPrisma'], out, [...extra, '--json']));
    assert.equal(r.code, 0, `${name}: ${r.err}`);
    const res = JSON.parse(r.out) as { train: string[]; selection: string[]; history: unknown[] };
    assert.deepEqual([res.train.length, res.selection.length], [3, 1], `${name}: 10 % of 4 scans rounds to 1 held out`);
    const ad = await loadAdapter(out);
    try {
      assert.equal(ad.config.domain, 'MyPrisma', name);
      assert.deepEqual(ad.config.trainedOn!.scans.map((s) => [s.file, s.role]).sort(),
        [...res.train.map((f) => [f, 'train']), ...res.selection.map((f) => [f, 'selection'])].sort(), name);
      assert.deepEqual(ad.config.trainedOn!.inputs, [mine]);
    } finally { disposeAdapter(ad); }
  }
  assert.equal(liveTensors(), live);
});

test('BIDS: `scanners` finds exactly the two scanners of the sidecars; `adapt --bids --scanner` adapts to one, named after its key', async () => {
  const bids = join(root, 'bids');
  writeJson(bids, 'dataset_description.json', { Name: 'two scanners', BIDSVersion: '1.9.0' });
  writeJson(bids, 'T1w.json', { MagneticFieldStrength: 3, RepetitionTime: 2.3 });
  phantoms('GE_3').forEach((f, i) => {
    mkdirSync(join(bids, `sub-ge${i}`, 'anat'), { recursive: true });
    copyFileSync(f, join(bids, `sub-ge${i}`, 'anat', `sub-ge${i}_T1w.nii.gz`));
    writeJson(bids, `sub-ge${i}/anat/sub-ge${i}_T1w.json`, { Manufacturer: 'GE', ManufacturersModelName: 'Signa HDxt' });
  });
  phantoms('Philips_3').forEach((f, i) => {
    mkdirSync(join(bids, `sub-ph${i}`, 'ses-1', 'anat'), { recursive: true });
    copyFileSync(f, join(bids, `sub-ph${i}`, 'ses-1', 'anat', `sub-ph${i}_ses-1_T1w.nii.gz`));
    writeJson(bids, `sub-ph${i}/sub-ph${i}_T1w.json`, scannerFields('Philips', 'Achieva', 3)); // subject level, inherited
  });
  const s = await runCli(['scanners', bids, '--json']);
  assert.equal(s.code, 0, s.err);
  const groups = (JSON.parse(s.out) as { scanners: { key: string; scans: number; voxelSizes: string[]; orientations: string[] }[] }).scanners;
  assert.deepEqual(groups.map((g) => [g.key, g.scans, g.voxelSizes, g.orientations]),
    [['GE_Signa-HDxt_3T', 4, ['8 x 8 x 8'], ['RAS']], ['Philips_Achieva_3T', 4, ['8 x 8 x 8'], ['RAS']]]);
  const text = await runCli(['scanners', bids]);
  assert.match(text.out, /^scanner +scans +voxel sizes \(mm\) +orientations\nGE_Signa-HDxt_3T +4 +8 x 8 x 8 +RAS\nPhilips_Achieva_3T +4 +8 x 8 x 8 +RAS\n$/);

  const none = await runCli(adaptArgs(['--bids', bids], join(root, 'b0.safetensors')));
  assert.equal(none.code, 1);
  assert.match(none.err, /E_INVALID_ARG: Expected `scanner`, one of the 2 scanners of .*bids \(GE_Signa-HDxt_3T \(4 scans\), Philips_Achieva_3T \(4 scans\)\), but received none/);
  const unknown = await runCli(adaptArgs(['--bids', bids, '--scanner', 'Siemens_Prisma_3T'], join(root, 'b0.safetensors')));
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /E_DATA\/E_DATA_NO_SCANNER: No scans of scanner "Siemens_Prisma_3T" in the BIDS dataset .*; its scanners: GE_Signa-HDxt_3T \(4 scans\), Philips_Achieva_3T \(4 scans\)/);

  const r = await runCli(adaptArgs(['--bids', bids, '--scanner', 'Philips_Achieva_3T'], join(root, 'adapters-bids', 'x.safetensors'), ['--json']));
  assert.equal(r.code, 0, r.err);
  const res = JSON.parse(r.out) as { name: string; scanner: string; train: string[]; selection: string[] };
  assert.deepEqual([res.name, res.scanner], ['Philips_Achieva_3T', 'Philips_Achieva_3T']);
  assert.ok([...res.train, ...res.selection].every((f) => /^sub-ph\d_ses-1_T1w\.nii\.gz$/.test(f)), 'only that scanner\'s scans');
  const ad = await loadAdapter(join(root, 'adapters-bids', 'x.safetensors'));
  try {
    assert.deepEqual([ad.config.trainedOn!.kind, ad.config.trainedOn!.scanner, ad.config.trainedOn!.count], ['bids', 'Philips_Achieva_3T', 4]);
  } finally { disposeAdapter(ad); }

  // evaluate --bids: the group's scans with a mask beside them (`<stem>_mask`, not a T1w scan) are scored, the rest skipped.
  const masks = readdirSync(join(data, 'Silver-standard', 'Philips_3')).sort().map((n) => join(data, 'Silver-standard', 'Philips_3', n));
  for (const i of [0, 1]) copyFileSync(masks[i]!, join(bids, `sub-ph${i}`, 'ses-1', 'anat', `sub-ph${i}_ses-1_T1w_mask.nii.gz`));
  const ev = await runCli(['evaluate', '--model', unet, '--bids', bids, '--scanner', 'Philips_Achieva_3T', '--tolerance', '8', '--json']);
  assert.equal(ev.code, 0, ev.err);
  const scored = JSON.parse(ev.out) as { scanner: string; cases: { id: string; domain: string }[]; skipped: string[] };
  assert.deepEqual(scored.cases.map((c) => [c.id, c.domain]), [['sub-ph0_ses-1_T1w', 'Philips_Achieva_3T'], ['sub-ph1_ses-1_T1w', 'Philips_Achieva_3T']]);
  assert.equal(scored.skipped.length, 2);

  // A malformed and a missing sidecar: coded errors naming the file, from `scanners` and `adapt --bids` alike.
  const bad = writeJson(bids, 'sub-ph0/sub-ph0_T1w.json', '{"Manufacturer": "Philips",');
  for (const args of [['scanners', bids], adaptArgs(['--bids', bids, '--scanner', 'Philips_Achieva_3T'], join(root, 'b1.safetensors'))]) {
    const e = await runCli(args);
    assert.equal(e.code, 1, e.err);
    assert.ok(e.err.includes(`error E_DATA/E_DATA_SIDECAR: The sidecar ${bad} is not valid JSON`), e.err);
  }
  writeFileSync(bad, JSON.stringify(scannerFields('Philips', 'Achieva', 3)));
  // A scan (listed first) with no sidecar at any level, then with only the inherited T1w.json, which lacks fields.
  mkdirSync(join(bids, 'sub-a', 'anat'), { recursive: true });
  copyFileSync(phantoms('GE_3')[0]!, join(bids, 'sub-a', 'anat', 'sub-a_T1w.nii.gz'));
  const top = join(bids, 'T1w.json'), topText = readFileSync(top, 'utf8');
  rmSync(top);
  const missing = await runCli(['scanners', bids]);
  assert.equal(missing.code, 1);
  assert.ok(missing.err.includes(`error E_DATA/E_DATA_NO_SIDECAR: No JSON sidecar for ${join(bids, 'sub-a', 'anat', 'sub-a_T1w.nii.gz')}: expected ${join(bids, 'sub-a', 'anat', 'sub-a_T1w.json')}`), missing.err);
  writeFileSync(top, topText);
  const field = await runCli(adaptArgs(['--bids', bids, '--scanner', 'Philips_Achieva_3T'], join(root, 'b1.safetensors')));
  assert.equal(field.code, 1);
  assert.ok(field.err.includes(`error E_DATA/E_DATA_SIDECAR_FIELD: The sidecar ${top} has no "Manufacturer"`), field.err);
  assert.ok(!existsSync(join(root, 'b0.safetensors')) && !existsSync(join(root, 'b1.safetensors')), 'no adapter written on an error');
});

/** A copy of a .nii.gz cut to half its bytes: the header still reads, the voxel stream does not. */
function truncated(src: string, dst: string): void {
  const bytes = readFileSync(src);
  writeFileSync(dst, bytes.subarray(0, bytes.length >> 1));
}

const badInputs: [string, () => Promise<string[]>, number, string, (dir: string) => string][] = [
  ['an empty folder', async () => { const d = folder('empty', []); return ['--scans', d, '--name', 'X']; }, 1, 'E_DATA/E_DATA_EMPTY', (d) => `No scans in the folder ${d}`],
  ['a scan that is not NIfTI', async () => {
    const d = folder('garbage', phantoms('Philips_3'));
    writeFileSync(join(d, 'scan-9.nii.gz'), 'garbage');
    return ['--scans', d, '--name', 'X'];
  }, 1, 'E_NIFTI/E_NIFTI_HEADER_SIZE', (d) => `${join(d, 'scan-9.nii.gz')}: Expected sizeof_hdr 348 (NIfTI-1) or 540 (NIfTI-2)`],
  ['a scan whose voxel data is cut short', async () => {
    const d = folder('cut', phantoms('Philips_3'));
    truncated(phantoms('Philips_3')[0]!, join(d, 'scan-9.nii.gz'));
    return ['--scans', d, '--name', 'X'];
  }, 1, 'E_NIFTI/E_NIFTI_GZIP_TRUNCATED', (d) => `${join(d, 'scan-9.nii.gz')}: The gzip stream ends early`],
  ['scans of two scanners by their sidecars', async () => {
    const d = folder('sidecars', phantoms('Philips_3'));
    readdirSync(d).forEach((n, i) => writeFileSync(join(d, n.replace('.nii.gz', '.json')), JSON.stringify(scannerFields('Philips', 'Achieva', i === 2 ? 1.5 : 3))));
    return ['--scans', d];
  }, 1, 'E_DATA/E_DATA_MIXED_SCANNERS', (d) => `${join(d, 'scan-1.nii.gz')} (Philips_Achieva_3T) and ${join(d, 'scan-3.nii.gz')} (Philips_Achieva_1.5T) come from different scanners`],
  ['scans of two scanners by their headers (voxel sizes 33 % apart)', async () => {
    const d = folder('mixed', [...phantoms('Philips_3'), phantoms('Siemens_3')[0]!]);
    return ['--scans', d, '--name', 'X'];
  }, 1, 'E_DATA/E_DATA_MIXED_SCANNERS', (d) => `${join(d, 'scan-1.nii.gz')} has 8 x 8 x 8 mm voxels but ${join(d, 'scan-5.nii.gz')} 10.64 x 8 x 8 mm (33 % apart`],
  ['a scan too thin for the network', async () => {
    const d = folder('thin', phantoms('Philips_3'));
    await writeNifti(join(d, 'scan-9.nii.gz'), { dims: [32, 32, 4], data: new Int16Array(32 * 32 * 4), spacing: [8, 8, 8] });
    return ['--scans', d, '--name', 'X'];
  }, 1, 'E_SHAPE/E_SCAN_TOO_SMALL', (d) => `${join(d, 'scan-9.nii.gz')} has dims [32, 32, 4]: the network needs at least 8 voxels along every axis`],
  ['a 4D scan', async () => {
    const d = folder('fourd', phantoms('Philips_3'));
    await writeNifti(join(d, 'scan-9.nii.gz'), { dims: [32, 32, 32, 2], data: new Int16Array(32 * 32 * 32 * 2), spacing: [8, 8, 8, 1] });
    return ['--scans', d, '--name', 'X'];
  }, 1, 'E_SHAPE', (d) => `Expected a 3D volume in ${join(d, 'scan-9.nii.gz')} but received dims [32, 32, 32, 2]`],
  ['a single scan (none left to train on after holding one out)', async () => {
    const d = folder('single', phantoms('Philips_3').slice(0, 1));
    return ['--scans', d, '--name', 'X'];
  }, 1, 'E_DATA/E_DATA_TOO_FEW', () => 'Cannot hold out 1 of the 1 scans of X for model selection and train on the rest: at least 2 scans are needed'],
  ['a name that is not a safe file name', async () => ['--scans', folder('named', phantoms('Philips_3')), '--name', 'My Prisma'], 2, 'E_USAGE',
    () => 'for --name but received "My Prisma"'],
  ['no name for scans without sidecars', async () => ['--scans', folder('nameless', phantoms('Philips_3'))], 1, 'E_INVALID_ARG',
    (d) => `Expected \`name\` for the scans of ${d} (they have no sidecars to name their scanner) but received none`],
];
for (const [name, make, exit, code, message] of badInputs) {
  test(`adapt --scans: ${name} is ${code} naming it, before any training, and writes nothing`, async () => {
    const args = await make();
    const outDir = join(root, 'refused', name.replace(/\W+/g, '-'));
    const r = await runCli(adaptArgs(args, join(outDir, 'adapter.safetensors'), ['--quiet']));
    assert.equal(r.code, exit, r.err);
    assert.ok(r.err.includes(`error ${code}: `), r.err);
    assert.ok(r.err.includes(message(args[1]!)), r.err);
    assert.doesNotMatch(r.err, /epoch/, 'no training started');
    assert.deepEqual(existsSync(outDir) ? readdirSync(outDir) : [], [], 'nothing written, not even a temporary file');
  });
}

test('adapters: each file\'s domain, method, trainable parameters, size, base-model match, selected epoch and agreement; other files with their reason', async () => {
  const dir = join(root, 'listing');
  const mine = folder('listing-scans', phantoms('Philips_3'));
  const a = await runCli(adaptArgs(['--scans', mine, '--name', 'MyPrisma'], join(dir, 'MyPrisma.safetensors'), ['--json']));
  assert.equal(a.code, 0, a.err);
  const made = JSON.parse(a.out) as { bestEpoch: number; history: { epoch: number; agreement: number }[] };
  const b = await runCli(['adapt', '--scans', mine, '--name', 'OtherBase', '--unet', other, '--head', join(models, 'esh.safetensors'), '--epochs', '0',
    '--method', 'adabn', '--out', join(dir, 'sub', 'other.safetensors'), '--quiet']);
  assert.equal(b.code, 0, b.err);
  writeFileSync(join(dir, 'notes.txt'), 'not an adapter');
  copyFileSync(unet, join(dir, 'unet.safetensors'));
  writeFileSync(join(dir, '.MyPrisma.safetensors.123.tmp'), ''); // a temporary of an atomic write: hidden, skipped

  const r = await runCli(['adapters', dir, '--model', unet, '--json']);
  assert.equal(r.code, 0, r.err);
  const files = (JSON.parse(r.out) as { files: { file: string; bytes: number; adapter: Record<string, unknown> | null; problem: { code: string; reason: string } | null }[] }).files;
  assert.deepEqual(files.map((f) => f.file), ['MyPrisma.safetensors', 'notes.txt', join('sub', 'other.safetensors'), 'unet.safetensors']);
  const expected = new UNet2D({ filters: FILTERS });
  applyPlacement(expected, planPlacement(expected, 'convlora', 'all'), 'x', { rank: 2, alpha: 2, layout: 'loralib' });
  const trainable = paramSummary(expected).trainableParams;
  expected.dispose();
  assert.deepEqual(files[0]!.adapter, {
    domain: 'MyPrisma', scanner: null, method: 'convlora', blocks: 'all', adabn: 'none', rank: 2, trainableParams: trainable,
    baseHash: files[0]!.adapter!.baseHash, baseMatch: true, bestEpoch: made.bestEpoch,
    agreement: made.history.find((h) => h.epoch === made.bestEpoch)!.agreement, trainedOn: { kind: 'scans', count: 4 },
  });
  assert.equal(files[0]!.bytes, readFileSync(join(dir, 'MyPrisma.safetensors')).length);
  assert.deepEqual([files[2]!.adapter!.domain, files[2]!.adapter!.method, files[2]!.adapter!.trainableParams, files[2]!.adapter!.baseMatch], ['OtherBase', 'adabn', 0, false]);
  assert.deepEqual(files[1]!.problem, { code: 'E_SAFETENSORS', reason: 'header length 6998715184369135470 exceeds the file (14 bytes) or the 100 MB limit' });
  assert.deepEqual(files[3]!.problem, { code: 'E_CHECKPOINT', reason: 'a convlora U-Net checkpoint, not an adapter' });

  const text = await runCli(['adapters', dir]);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /^MyPrisma\.safetensors +MyPrisma +- +convlora all +[\d,]+ +[\d.]+ KiB +- +\d/m);
  assert.match(text.out, /^unet\.safetensors .* not an adapter \(E_CHECKPOINT\): a convlora U-Net checkpoint, not an adapter$/m);
  const missing = await runCli(['adapters', join(root, 'nope')]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /E_DATA\/E_DATA_MISSING_DIR: The adapter folder .*nope does not exist/);
});

test('evaluate --scans: scans with a mask beside them are scored on their own grid, the others skipped with a note', async () => {
  const dir = folder('labelled', phantoms('Philips_3').slice(0, 3));
  const masks = readdirSync(join(data, 'Silver-standard', 'Philips_3')).sort().map((n) => join(data, 'Silver-standard', 'Philips_3', n));
  copyFileSync(masks[0]!, join(dir, 'scan-1_mask.nii.gz'));
  copyFileSync(masks[1]!, join(dir, 'scan-2_mask.nii.gz'));
  const r = await runCli(['evaluate', '--model', unet, '--scans', dir, '--tolerance', '8', '--json']);
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out) as { cases: { id: string; dice: number | null }[]; skipped: string[] };
  assert.deepEqual(out.cases.map((c) => c.id), ['scan-1', 'scan-2']);
  assert.deepEqual(out.skipped, [join(dir, 'scan-3.nii.gz')]);
  assert.ok(r.err.includes(`note: skipping ${join(dir, 'scan-3.nii.gz')}: no mask`), r.err);

  const bare = await runCli(['evaluate', '--model', unet, '--scans', folder('bare', phantoms('Philips_3').slice(0, 2))]);
  assert.equal(bare.code, 1);
  assert.match(bare.err, /E_DATA\/E_DATA_NO_MASKS: No scan of .*bare has a mask/);
  copyFileSync(phantoms('Siemens_3')[0]!, join(dir, 'scan-3_mask.nii.gz')); // another grid
  const shape = await runCli(['evaluate', '--model', unet, '--scans', dir]);
  assert.equal(shape.code, 1);
  assert.ok(shape.err.includes(`E_SHAPE: Mask ${join(dir, 'scan-3_mask.nii.gz')} has dims`), shape.err);
});
