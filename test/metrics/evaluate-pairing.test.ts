/**
 * `convlora evaluate --pred DIR --gt DIR` on the names our commands write (issue 25): `segment` writes
 * <id>_mask, <id>_prob and <id>_brain, CC359 and the phantom generator <id>_ss, and ground truth is
 * often plain <id>. Cases pair by id whatever the suffix, the files left out are named with the reason,
 * and probability maps and skull-stripped images are read as what they are.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeNifti, type NiftiData } from '../../src/data/nifti/index.js';
import { caseIdOf } from '../../src/metrics/index.js';
import { tempDir } from '../helpers/tmp.js';
import { runCli } from '../helpers/cli.js';
import { boxMask } from './boxes.js';

const DIMS = [10, 10, 10];
/** The 4-voxel cube at [3, 7) on every axis (C order = file order reversed; symmetric here). */
const CUBE = boxMask(DIMS, [3, 3, 3], [7, 7, 7]);

/** As `segment` writes them: a mask (uint8), probabilities (float32), or the scan with non-brain voxels zeroed. */
function asKind(kind: 'mask' | 'prob' | 'brain'): NiftiData {
  if (kind === 'mask') return CUBE;
  // 0.9 inside, 0.3 outside: a mask only at 0.5 (voxels > 0 would be the whole volume).
  if (kind === 'prob') return Float32Array.from(CUBE, (m) => (m === 1 ? 0.9 : 0.3));
  // Intensities inside, some negative (voxels > 0 would miss them), 0 outside.
  return Int16Array.from(CUBE, (m, i) => (m === 1 ? (i % 2 === 0 ? -50 - i : 200 + i) : 0));
}

async function write(dir: string, name: string, kind: 'mask' | 'prob' | 'brain' = 'mask'): Promise<string> {
  const path = join(dir, name);
  await writeNifti(path, { dims: DIMS, data: asKind(kind), spacing: [1, 1, 1] });
  return path;
}

function dirs(): { pred: string; gt: string } {
  const root = tempDir('convlora-pairing-');
  const pred = join(root, 'out'), gt = join(root, 'masks');
  mkdirSync(pred);
  mkdirSync(gt);
  return { pred, gt };
}

test('case ids: a file name without .nii/.nii.gz and one trailing _mask, _prob, _brain or _ss', () => {
  const table: [string, string][] = [
    ['/x/IXI012-HH-1211_T1_mask.nii.gz', 'IXI012-HH-1211_T1'], ['IXI012_prob.nii', 'IXI012'], ['IXI012_brain.nii.gz', 'IXI012'],
    ['CC0001_philips_15_55_M_ss.nii.gz', 'CC0001_philips_15_55_M'], ['IXI012.nii', 'IXI012'], ['a_mask_ss.nii.gz', 'a_mask'], ['a_masks.nii', 'a_masks'],
  ];
  for (const [file, id] of table) assert.equal(caseIdOf(file), id, file);
});

test("directory form: segment's <id>_mask, _prob and _brain pair with <id>, <id>_ss and <id>_mask ground truth; the files left out are named", async () => {
  const { pred, gt } = dirs();
  await write(gt, 'A.nii.gz');
  await write(gt, 'B_ss.nii.gz');
  await write(gt, 'C.nii');
  await write(gt, 'D_mask.nii.gz');
  await write(gt, 'E.nii.gz'); // no prediction
  await write(pred, 'A_mask.nii.gz');
  await write(pred, 'A_brain.nii.gz', 'brain'); // A's mask is scored, not its skull-stripped scan
  await write(pred, 'B_prob.nii.gz', 'prob');
  await write(pred, 'C_brain.nii.gz', 'brain');
  await write(pred, 'D_mask.nii.gz');
  await write(pred, 'F_mask.nii.gz'); // no ground truth
  const r = await runCli(['evaluate', '--pred', pred, '--gt', gt, '--json']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { cases: { id: string; dice: number; surfaceDice: number }[]; unpaired: { file: string; reason: string }[] };
  // Each prediction read as its kind is the cube: Dice 1 (prob at > 0 would give 0.12, brain at > 0 0.67).
  assert.deepEqual(j.cases.map((c) => [c.id, c.dice, c.surfaceDice]), [['A', 1, 1], ['B', 1, 1], ['C', 1, 1], ['D', 1, 1]]);
  assert.deepEqual(j.unpaired, [
    { file: join(pred, 'A_brain.nii.gz'), reason: `case A is scored with ${join(pred, 'A_mask.nii.gz')}` },
    { file: join(gt, 'E.nii.gz'), reason: `no file of case E in ${pred}` },
    { file: join(pred, 'F_mask.nii.gz'), reason: `no file of case F in ${gt}` },
  ]);
  assert.match(r.err, /warning: 3 file\(s\) stayed unpaired:\n/);
  assert.match(r.err, /\n {2}.*\/out\/A_brain\.nii\.gz: case A is scored with .*\/out\/A_mask\.nii\.gz\n/);
  assert.match(r.err, /\n {2}.*\/masks\/E\.nii\.gz: no file of case E in .*\/out\n/);
  assert.match(r.err, /\n {2}.*\/out\/F_mask\.nii\.gz: no file of case F in .*\/masks\n/);
  const human = await runCli(['evaluate', '--pred', pred, '--gt', gt]);
  assert.equal(human.code, 0, human.err);
  assert.match(human.out, /\nB\s+unknown\s+1\.0000\s+1\.0000\s+0\.0000/);
});

test('directory form: no case in common is E_DATA naming the files seen on each side and how cases are named', async () => {
  const { pred, gt } = dirs();
  await write(pred, 'X_mask.nii.gz');
  await write(pred, 'W_prob.nii.gz', 'prob');
  await write(gt, 'Y.nii.gz');
  const r = await runCli(['evaluate', '--pred', pred, '--gt', gt]);
  assert.equal(r.code, 1);
  assert.match(r.err, /error E_DATA: Expected files of the same cases in .*\/out and .*\/masks but found none in common \(a case is a file name without \.nii\[\.gz\] and one trailing _mask, _prob, _brain or _ss\): .*\/out has W_prob\.nii\.gz, X_mask\.nii\.gz; .*\/masks has Y\.nii\.gz/);
});

test('directory form: two files of one case and kind are ambiguous (E_DATA naming both)', async () => {
  const { pred, gt } = dirs();
  await write(pred, 'A_mask.nii');
  await write(pred, 'A_mask.nii.gz');
  await write(gt, 'A.nii.gz');
  const r = await runCli(['evaluate', '--pred', pred, '--gt', gt]);
  assert.equal(r.code, 1);
  assert.match(r.err, /error E_DATA: Expected one file per case and kind in .*\/out but A_mask\.nii and A_mask\.nii\.gz are both case "A"/);
});

test('single pair: a _prob file is a mask at > 0.5 and a _brain file at != 0, like the directory form', async () => {
  const { pred, gt } = dirs();
  const g = await write(gt, 'A.nii.gz');
  for (const kind of ['prob', 'brain'] as const) {
    const p = await write(pred, `A_${kind}.nii.gz`, kind);
    const r = await runCli(['evaluate', '--pred', p, '--gt', g, '--json']);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as { dice: number; predVoxels: number };
    assert.deepEqual([j.dice, j.predVoxels], [1, 64], kind);
  }
});
