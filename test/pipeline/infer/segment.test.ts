// End to end at small size: phantom scanners -> source U-Net on GE_3 -> ESH -> ConvLoRA + AdaBN adapter
// for one target -> `convlora segment` on a held-out target volume, with and without the adapter.
// The adapted mask must score a higher Surface Dice against the phantom's ground truth.
//
// This is a pinned-seed end-to-end check, not a statistical claim: at 64^3 with 8 filters and 12 source
// epochs, phantom seeds 11, 12 and 13 gave source -> adapted SDS 0.70 -> 0.74, 0.95 -> 0.65 and
// 0.71 -> 0.89 on this held-out volume with the recalibrated presets (0.41 -> 0.60, 0.67 -> 0.49 and
// 0.48 -> 0.68 with the first ones; measured 2026-11-26). Seed 11 is used; training is deterministic
// on CPU for a fixed thread count, so the outcome is reproducible, and the pipeline's steps (phantom,
// train-source, train-esh, adapt --adabn, segment with and without the adapter) all run for real.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generatePhantomDataset, phantomVolume } from '../../../src/data/simulation/phantom.js';
import { readNifti, writeNifti } from '../../../src/data/nifti/index.js';
import { CC359_DOMAINS } from '../../../src/data/scans/cc359.js';
import { evaluateMasks } from '../../../src/metrics/index.js';
import { cleanBrainMask, fillHoles, largestComponent } from '../../../src/data/image/morphology.js';
import { trainSource } from '../../../src/pipeline/train/source.js';
import { trainHead } from '../../../src/pipeline/train/early-head.js';
import { openDomain } from '../../../src/pipeline/train/dataset.js';
import { liveTensors } from '../../../src/engine/tensor.js';
import { PLAUSIBLE_BRAIN_ML } from '../../../src/pipeline/infer/segment-checks.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

const root = tempDir('convlora-e2e-');
const data = join(root, 'data');
const run = join(root, 'run');
export const E2E = { target: 'Philips_3' as const, size: 64, volumes: 14, filters: 8, sourceEpochs: 12, headEpochs: 12, adaptEpochs: 5, batch: 32 };

before(async () => {
  await generatePhantomDataset(data, { size: E2E.size, volumes: E2E.volumes, seed: 11, domains: ['GE_3', E2E.target] });
});

async function sds(maskPath: string, gtPath: string): Promise<number> {
  const p = await readNifti(maskPath);
  const g = await readNifti(gtPath);
  const shape = [...g.dims].reverse(); // NIfTI is x-fastest: C-order [nz, ny, nx]
  const spacing = [...g.spacing].slice(0, 3).reverse();
  return evaluateMasks(g.data, p.data, { shape, spacing, tolerance: 256 / E2E.size }).surfaceDice;
}

test('a ConvLoRA + AdaBN adapter improves Surface Dice of `segment` on a held-out target volume', async (t) => {
  const live = liveTensors();
  const src = await trainSource({ data, out: run, epochs: E2E.sourceEpochs, batchSize: E2E.batch, filters: E2E.filters, seed: 1, tolerance: 256 / E2E.size });
  await trainHead({ data, unet: src.checkpoint, out: run, epochs: E2E.headEpochs, batchSize: E2E.batch, seed: 1, tolerance: 256 / E2E.size });
  const adapter = join(run, 'adapter.safetensors');
  const a = await runCli(['adapt', '--data', data, '--unet', src.checkpoint, '--target', E2E.target, '--method', 'convlora', '--blocks', 'all',
    '--adabn', '--adabn-mode', 'explicit', '--tolerance', String(256 / E2E.size), '--epochs', String(E2E.adaptEpochs), '--batch-size', String(E2E.batch), '--out', adapter, '--quiet']);
  assert.equal(a.code, 0, a.err);
  assert.ok(existsSync(adapter));
  const d = await openDomain(data, E2E.target, 'target');
  const heldOut = d.split.test[0]!; // never seen by adaptation (train) or model selection (val)
  const withAdapter = join(run, 'adapted.nii.gz');
  const without = join(run, 'source.nii.gz');
  for (const [out, extra] of [[withAdapter, ['--adapter', adapter]], [without, []]] as const) {
    const r = await runCli(['segment', '--model', src.checkpoint, ...extra, '--in', heldOut.imagePath, '--out', out]);
    assert.equal(r.code, 0, r.err);
  }
  const adapted = await sds(withAdapter, heldOut.maskPath);
  const source = await sds(without, heldOut.maskPath);
  t.diagnostic(`held-out ${heldOut.stem}: source SDS ${source.toFixed(4)}, adapted SDS ${adapted.toFixed(4)}`);
  assert.ok(adapted > source, `adapted SDS ${adapted.toFixed(4)} should exceed source SDS ${source.toFixed(4)}`);
  assert.equal(liveTensors(), live, 'no native tensor leaked');
});

// Measured 2026-11-26: PH0015_ge_3 at 2 mm scored 0.48 sliced as stored (its 128-pixel slices are
// centre-cropped to the model's 64 and seen at twice the scale; now `--no-conform`, with a warning) and
// 0.98 resampled (now the default).
test('segment: a scan at half the training voxel size is resampled to it by default (or with --conform) and the mask comes back on its grid', async (t) => {
  const unet = join(run, 'unet.safetensors');
  assert.ok(existsSync(unet), 'the source model of the test above');
  // The same phantom head as a held-out GE_3 test volume, rendered at 2 mm instead of the training 4 mm.
  const d = await openDomain(data, 'GE_3', 'source');
  const stem = d.split.test[0]!.stem;
  const index = Number(/^PH(\d+)_/.exec(stem)![1]) - 1 - CC359_DOMAINS.indexOf('GE_3') * E2E.volumes;
  const fine = phantomVolume('GE_3', index, { size: 2 * E2E.size, seed: 11, volumesPerDomain: E2E.volumes });
  assert.equal(fine.stem, stem);
  const scan = join(run, 'fine.nii.gz'), gt = join(run, 'fine_ss.nii.gz');
  await writeNifti(scan, fine.image);
  await writeNifti(gt, fine.mask);
  const score = async (out: string): Promise<number> => {
    const p = await readNifti(out), g = await readNifti(gt);
    assert.deepEqual(p.dims, g.dims, 'the mask is on the scan grid');
    return evaluateMasks(g.data, p.data, { shape: [...g.dims].reverse(), spacing: [...g.spacing].slice(0, 3).reverse(), tolerance: 256 / E2E.size }).surfaceDice;
  };
  const conformed = join(run, 'fine-conform.nii.gz'), stored = join(run, 'fine-stored.nii.gz'), byDefault = join(run, 'fine-default.nii.gz');
  const r = await runCli(['segment', '--model', unet, '--in', scan, '--out', conformed, '--conform', '--json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual((JSON.parse(r.out) as { resampled: unknown }).resampled, { from: [2, 2, 2], to: [4, 4, 4] });
  const s = await runCli(['segment', '--model', unet, '--in', scan, '--out', stored, '--no-conform', '--json']);
  assert.equal(s.code, 0, s.err);
  const asStoredJson = JSON.parse(s.out) as { resampled: unknown; warnings: string[] };
  assert.equal(asStoredJson.resampled, null);
  assert.ok(asStoredJson.warnings.some((w) => /^voxel size 2\.00 x 2\.00 x 2\.00 mm differs from the model's training voxel size 4\.00 x 4\.00 x 4\.00 mm by 50 %.*sliced as stored/.test(w)), asStoredJson.warnings.join('\n'));
  // 50 % off is beyond CONFORM_TOLERANCE: the default resamples, exactly as --conform does.
  const dflt = await runCli(['segment', '--model', unet, '--in', scan, '--out', byDefault]);
  assert.equal(dflt.code, 0, dflt.err);
  assert.match(dflt.err, /resampled from 2\.00 x 2\.00 x 2\.00 mm to the model's 4\.00 x 4\.00 x 4\.00 mm and back/);
  assert.doesNotMatch(dflt.err, /warning: voxel size/);
  assert.deepEqual((await readNifti(byDefault)).data, (await readNifti(conformed)).data);
  const withConform = await score(conformed), asStored = await score(stored);
  t.diagnostic(`${stem} at 2 mm: SDS ${asStored.toFixed(4)} sliced as stored, ${withConform.toFixed(4)} with --conform`);
  assert.ok(withConform > 0.9, `conformed SDS ${withConform.toFixed(4)}`);
  assert.ok(withConform > asStored + 0.1, `conformed ${withConform.toFixed(4)} vs as stored ${asStored.toFixed(4)}`);
});

// A 1 mm-like scan (the phantom rendered at 256^3) under the 4 mm model: a quarter of its voxel size.
// Sliced as stored, the network sees a 64 mm crop of each slice at four times the scale; before the
// default changed, that wrote a wrong mask without a word. Now the default resamples, and keeping the
// scan as stored says why the mask may be wrong.
test('segment: a scan at a quarter of the training voxel size is resampled by default; kept as stored, it is not silent', async (t) => {
  const unet = join(run, 'unet.safetensors');
  const d = await openDomain(data, 'GE_3', 'source');
  const stem = d.split.test[0]!.stem;
  const index = Number(/^PH(\d+)_/.exec(stem)![1]) - 1 - CC359_DOMAINS.indexOf('GE_3') * E2E.volumes;
  const fine = phantomVolume('GE_3', index, { size: 4 * E2E.size, seed: 11, volumesPerDomain: E2E.volumes });
  const scan = join(run, 'quarter.nii.gz'), gt = join(run, 'quarter_ss.nii.gz');
  await writeNifti(scan, fine.image);
  await writeNifti(gt, fine.mask);
  type Result = { resampled: { from: number[]; to: number[] } | null; warnings: string[]; brainMl: number };
  const segment = async (out: string, extra: string[]): Promise<{ r: Result; sds: number }> => {
    const c = await runCli(['segment', '--model', unet, '--in', scan, '--out', join(run, out), '--json', ...extra]);
    assert.equal(c.code, 0, c.err);
    const p = await readNifti(join(run, out)), g = await readNifti(gt);
    return { r: JSON.parse(c.out) as Result, sds: evaluateMasks(g.data, p.data, { shape: [...g.dims].reverse(), spacing: [...g.spacing].slice(0, 3).reverse(), tolerance: 256 / E2E.size }).surfaceDice };
  };
  const auto = await segment('quarter-auto.nii.gz', []);
  const stored = await segment('quarter-stored.nii.gz', ['--no-conform']);
  t.diagnostic(`${stem} at 1 mm: resampled SDS ${auto.sds.toFixed(4)} (${auto.r.brainMl.toFixed(0)} ml); as stored SDS ${stored.sds.toFixed(4)} (${stored.r.brainMl.toFixed(0)} ml), warnings: ${stored.r.warnings.join(' | ')}`);
  assert.deepEqual(auto.r.resampled, { from: [1, 1, 1], to: [4, 4, 4] });
  assert.ok(auto.sds > 0.9, `resampled SDS ${auto.sds.toFixed(4)}`);
  assert.deepEqual(auto.r.warnings.filter((w) => /voxel size|brain mask of/.test(w)), [], 'a good mask of a plausible brain: nothing to warn about');
  assert.equal(stored.r.resampled, null);
  assert.ok(stored.sds < auto.sds - 0.1, `as stored ${stored.sds.toFixed(4)} vs resampled ${auto.sds.toFixed(4)}`);
  assert.ok(stored.r.warnings.some((w) => /^voxel size 1\.00 x 1\.00 x 1\.00 mm differs from the model's training voxel size 4\.00 x 4\.00 x 4\.00 mm by 75 %/.test(w)), stored.r.warnings.join('\n'));
  const [lo, hi] = PLAUSIBLE_BRAIN_ML;
  const implausible = stored.r.brainMl < lo || stored.r.brainMl > hi;
  assert.equal(stored.r.warnings.some((w) => /^brain mask of \d+ ml is outside 350-2300 ml/.test(w)), implausible, `${stored.r.brainMl} ml`);

  // Clean-up (on by default): the mask written is the network's own mask, as --no-cleanup writes it, with
  // only its largest component kept and enclosed holes filled. This wrong mask has pieces to drop.
  await segment('quarter-stored-raw.nii.gz', ['--no-conform', '--no-cleanup']);
  const binary = async (f: string): Promise<Uint8Array> => Uint8Array.from((await readNifti(join(run, f))).data, (v) => (v > 0 ? 1 : 0));
  const raw = await binary('quarter-stored-raw.nii.gz'), cleaned = await binary('quarter-stored.nii.gz');
  const dims = fine.image.dims as [number, number, number];
  // Voxels where two masks differ (a count: deepEqual's message for 16 M voxels would not fit the heap).
  const differing = (a: Uint8Array, b: Uint8Array): number => a.reduce((n, v, i) => n + (v === b[i] ? 0 : 1), 0);
  assert.equal(differing(cleaned, cleanBrainMask(raw, dims)), 0, 'the default mask is the raw one cleaned');
  assert.ok(differing(cleaned, raw) > 0, 'the raw mask had more than one piece or a hole');
  assert.equal(differing(largestComponent(cleaned, dims), cleaned), 0, 'one piece');
  assert.equal(differing(fillHoles(cleaned, dims), cleaned), 0, 'no enclosed hole');
});

// The automatic choice on the held-out scans of the two scanners this file trained for, and on a scan
// of neither (the GE_3 scan with its contrast inverted). The fingerprints come from train-source and adapt.
test('segment --adapters: each held-out scan gets its own scanner\'s model; a scan unlike every candidate gets test-time AdaBN; plain segment warns on the unseen scanner', async () => {
  const live = liveTensors();
  const unet = join(run, 'unet.safetensors'), adapters = join(run, 'adapters');
  mkdirSync(adapters, { recursive: true });
  const own = join(adapters, `${E2E.target}.safetensors`);
  copyFileSync(join(run, 'adapter.safetensors'), own);
  const ge = (await openDomain(data, 'GE_3', 'source')).split.test[0]!, ph = (await openDomain(data, E2E.target, 'target')).split.test[0]!;
  type Choice = { choice: { method: string; chosen: string | null; distances: { name: string; distance: number }[]; threshold: number }; adapter: string | null; adabn: unknown; warnings: string[] };
  const run1 = async (input: string, extra: string[]): Promise<Choice> => {
    const c = await runCli(['segment', '--model', unet, ...extra, '--in', input, '--out', join(run, 'choice.nii.gz'), '--json']);
    assert.equal(c.code, 0, c.err);
    return JSON.parse(c.out) as Choice;
  };
  const a = await run1(ph.imagePath, ['--adapters', adapters]);
  assert.equal(a.choice.method, 'fingerprint');
  assert.equal(a.choice.chosen, `${E2E.target}.safetensors`, JSON.stringify(a.choice.distances));
  assert.equal(a.adapter, own);
  assert.equal(a.adabn, null);
  const b = await run1(ge.imagePath, ['--adapters', adapters]);
  assert.equal(b.choice.chosen, 'source', JSON.stringify(b.choice.distances));
  assert.equal(b.adapter, null);

  const img = await readNifti(ge.imagePath);
  let max = 0;
  for (const v of img.data) max = Math.max(max, Number(v));
  const inverted = join(run, 'inverted.nii.gz');
  await writeNifti(inverted, { dims: img.dims, spacing: img.spacing, affine: img.affine, data: Float32Array.from(img.data, (v) => max - Number(v)) });
  const c = await run1(inverted, ['--adapters', adapters]);
  assert.equal(c.choice.chosen, null, JSON.stringify(c.choice));
  assert.notEqual(c.adabn, null, 'fell back to test-time AdaBN');
  assert.ok(c.warnings.some((w) => /^no adapter is close to this scan/.test(w)), c.warnings.join('\n'));
  const text = await runCli(['segment', '--model', unet, '--adapters', adapters, '--in', ph.imagePath, '--out', join(run, 'choice.nii.gz')]);
  assert.match(text.err, new RegExp(`adapter choice \\(fingerprint\\): ${E2E.target}\\.safetensors; distances: source \\d`));

  const unseen = await run1(ph.imagePath, []), seen = await run1(ge.imagePath, []);
  assert.ok(unseen.warnings.some((w) => /^the scan is unlike the model's training scans/.test(w)), unseen.warnings.join('\n'));
  assert.deepEqual(seen.warnings, []);
  assert.equal(liveTensors(), live);
});
