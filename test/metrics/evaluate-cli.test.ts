/** `convlora evaluate` and the mask-file helpers behind it, on NIfTI files written to a temp dir. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { writeNifti, type NiftiData } from '../../src/data/nifti/index.js';
import { caseIdOf, domainOfCase } from '../../src/metrics/index.js';
import { boxMask } from './boxes.js';

const SQRT2 = Math.SQRT2;
const SQRT5 = Math.sqrt(5);
let dir = '';

/** Run the CLI with in-memory streams. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void): Writable => new Writable({ write(chunk, _enc, cb) { f(String(chunk)); cb(); } });
  const code = await main(['evaluate', ...args], {
    stdout: sink((s) => { out += s; }),
    stderr: sink((s) => { err += s; }),
    env: {},
  });
  return { code, out, err };
}

/**
 * Write a 10^3 mask holding the 4-voxel cube at [lo, lo + 4) per NIfTI axis (x, y, z). In file
 * order x is fastest, which is C order for the shape [z, y, x], hence the reversed box.
 */
async function cubeFile(name: string, lo: [number, number, number], spacing: number[], as: 'u8' | 'i16' | 'f32' = 'u8', dims = [10, 10, 10]): Promise<string> {
  const [x, y, z] = lo;
  const m = boxMask([10, 10, 10], [z, y, x], [z + 4, y + 4, x + 4]);
  let data: NiftiData = m;
  if (as === 'i16') data = Int16Array.from(m);
  if (as === 'f32') data = Float32Array.from(m, (v) => (v === 1 ? 0.7 : -1)); // > 0 is foreground
  const path = join(dir, name);
  await writeNifti(path, { dims, data, spacing });
  return path;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'convlora-eval-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('single pair: the GT spacing maps NIfTI axes to C order (x shift of 2 mm vs z shift of 1 mm)', async () => {
  // NIfTI spacing (sx, sy, sz) = (2, 1, 1). A one-voxel shift along x is 2 mm: by the derivation in
  // phantoms.test.ts (the axis order does not matter), Surface Dice at 1.5 mm is
  // (81.5 + 12 sqrt2 + 6 sqrt5) / (93 + 12 sqrt2 + 12 sqrt5). Along z it is 1 mm: 1.
  const gt = await cubeFile('gt.nii.gz', [3, 3, 3], [2, 1, 1], 'i16');
  const px = await cubeFile('px.nii.gz', [4, 3, 3], [2, 1, 1], 'f32');
  const pz = await cubeFile('pz.nii', [3, 3, 4], [2, 1, 1]);
  const rx = await run(['--pred', px, '--gt', gt, '--tolerance', '1.5', '--json']);
  assert.equal(rx.code, 0, rx.err);
  const jx = JSON.parse(rx.out) as Record<string, unknown>;
  assert.ok(Math.abs((jx.surfaceDice as number) - (81.5 + 12 * SQRT2 + 6 * SQRT5) / (93 + 12 * SQRT2 + 12 * SQRT5)) < 1e-12);
  assert.equal(jx.dice, 0.75);
  assert.equal(jx.hd95, 2);
  assert.deepEqual(jx.shape, [10, 10, 10]);
  assert.deepEqual(jx.spacing, [1, 1, 2]);
  assert.deepEqual([jx.gtVoxels, jx.predVoxels, jx.tolerance], [64, 64, 1.5]);
  const rz = await run(['--pred', pz, '--gt', gt, '--tolerance', '1.5', '--json']);
  assert.equal((JSON.parse(rz.out) as Record<string, unknown>).surfaceDice, 1);
  // Human output: four named lines on stdout, nothing on stderr.
  const h = await run(['--pred', pz, '--gt', gt]);
  assert.equal(h.code, 0);
  assert.match(h.out, /^surfaceDice {2}1\.0000 {2}\(tolerance 1 mm\)\ndice {9}0\.7500\nhd95 {9}1\.0000 mm\nassd {9}0\.\d{4} mm\n$/);
  assert.equal(h.err, '');
});

test('a trailing singleton 4th dim is accepted; an empty prediction gives nulls and a warning', async () => {
  const gt = await cubeFile('gt4d.nii.gz', [3, 3, 3], [1, 1, 1], 'u8', [10, 10, 10, 1]);
  const empty = join(dir, 'empty.nii.gz');
  await writeNifti(empty, { dims: [10, 10, 10], data: new Uint8Array(1000), spacing: [1, 1, 1] });
  const r = await run(['--pred', empty, '--gt', gt, '--json']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as Record<string, unknown>;
  assert.deepEqual([j.surfaceDice, j.dice, j.hd95, j.assd], [0, 0, null, null]);
  assert.match(r.err, /warning: the prediction is empty/);
});

test('shape and spacing mismatches are coded errors naming both files and values', async () => {
  const gt = await cubeFile('g.nii.gz', [3, 3, 3], [1, 1, 1]);
  const small = join(dir, 'small.nii.gz');
  await writeNifti(small, { dims: [10, 10, 9], data: new Uint8Array(900), spacing: [1, 1, 1] });
  const r1 = await run(['--pred', small, '--gt', gt]);
  assert.equal(r1.code, 1);
  assert.equal(r1.out, '');
  assert.match(r1.err, /error E_SHAPE: Expected .*small\.nii\.gz to have the dims of .*g\.nii\.gz, \[10, 10, 10\], but received \[10, 10, 9\]/);
  const coarse = await cubeFile('coarse.nii.gz', [3, 3, 3], [1, 1, 1.2]);
  const r2 = await run(['--pred', coarse, '--gt', gt]);
  assert.equal(r2.code, 1);
  assert.match(r2.err, /error E_SHAPE\/E_SPACING: .*spacing of .*\[1, 1, 1\] mm, but received \[1, 1, 1\.2\d*\] mm/);
  const r3 = await run(['--pred', join(dir, 'missing.nii.gz'), '--gt', gt]);
  assert.equal(r3.code, 1);
  assert.match(r3.err, /error E_IO: .*missing\.nii\.gz/);
});

test('usage errors exit 2', async () => {
  const gt = await cubeFile('u.nii.gz', [3, 3, 3], [1, 1, 1]);
  const noGt = await run(['--pred', gt]);
  assert.equal(noGt.code, 2);
  assert.match(noGt.err, /Missing required option --gt/);
  const neg = await run(['--pred', gt, '--gt', gt, '--tolerance=-1']);
  assert.equal(neg.code, 2);
  assert.match(neg.err, /Expected a number >= 0 for --tolerance but received "-1"/);
  const mixed = await run(['--pred', dir, '--gt', gt]);
  assert.equal(mixed.code, 2);
  assert.match(mixed.err, /both files or both directories but --pred is a directory/);
});

test('case ids and CC359 domains from file names', () => {
  assert.equal(caseIdOf('/x/CC0001_philips_15_55_M_ss.nii.gz'), 'CC0001_philips_15_55_M');
  assert.equal(caseIdOf('CC0001_philips_15_55_M.nii'), 'CC0001_philips_15_55_M');
  assert.equal(domainOfCase('CC0001_philips_15_55_M'), 'Philips_15');
  assert.equal(domainOfCase('CC0120_ge_3_45_F'), 'GE_3');
  assert.equal(domainOfCase('PH0007_siemens_3'), 'Siemens_3');
  assert.equal(domainOfCase('case_12'), 'unknown');
});

test('directory form: matches cases, warns about the unmatched, prints per-case and per-domain tables', async () => {
  const gtDir = join(dir, 'gt');
  const predDir = join(dir, 'pred');
  await mkdir(gtDir);
  await mkdir(predDir);
  dir = gtDir;
  // GE_3: a perfect case and a case shifted one voxel (unit spacing: 0.6631 at 0.5 mm, 1 at 1 mm).
  await cubeFile('CC0001_ge_3_40_M_ss.nii.gz', [3, 3, 3], [1, 1, 1]);
  await cubeFile('CC0002_ge_3_41_F_ss.nii.gz', [3, 3, 3], [1, 1, 1]);
  await cubeFile('CC0100_siemens_15_50_F_ss.nii.gz', [3, 3, 3], [1, 1, 1]);
  await cubeFile('CC0200_philips_3_50_F_ss.nii.gz', [3, 3, 3], [1, 1, 1]); // no prediction
  dir = predDir;
  await cubeFile('CC0001_ge_3_40_M.nii.gz', [3, 3, 3], [1, 1, 1]);
  await cubeFile('CC0002_ge_3_41_F.nii.gz', [3, 3, 4], [1, 1, 1]);
  await cubeFile('CC0100_siemens_15_50_F.nii.gz', [3, 4, 3], [1, 1, 1]);
  dir = join(gtDir, '..');
  const r = await run(['--pred', predDir, '--gt', gtDir, '--tolerance', '0.5', '--json']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /warning: 1 file\(s\) stayed unpaired:\n {2}.*gt\/CC0200_philips_3_50_F_ss\.nii\.gz: no file of case CC0200_philips_3_50_F in .*pred\n/);
  const j = JSON.parse(r.out) as {
    cases: { id: string; domain: string; surfaceDice: number }[];
    domains: { domain: string; cases: number; surfaceDice: { n: number; mean: number; std: number } }[];
    overall: { cases: number; dice: { mean: number } };
  };
  // Unit-spacing shifted cube at 0.5 mm: (36 + 12 sqrt2 + sqrt3/2) / (54 + 18 sqrt2 + sqrt3).
  const shifted = (36 + 12 * SQRT2 + Math.sqrt(3) / 2) / (54 + 18 * SQRT2 + Math.sqrt(3));
  assert.deepEqual(j.cases.map((c) => [c.id, c.domain]), [
    ['CC0001_ge_3_40_M', 'GE_3'], ['CC0002_ge_3_41_F', 'GE_3'], ['CC0100_siemens_15_50_F', 'Siemens_15'],
  ]);
  assert.equal(j.cases[0]?.surfaceDice, 1);
  assert.ok(Math.abs((j.cases[1]?.surfaceDice ?? 0) - shifted) < 1e-12);
  const ge = j.domains.find((d) => d.domain === 'GE_3');
  assert.equal(ge?.cases, 2);
  assert.ok(Math.abs((ge?.surfaceDice.mean ?? 0) - (1 + shifted) / 2) < 1e-12);
  assert.ok(Math.abs((ge?.surfaceDice.std ?? 0) - (1 - shifted) / 2) < 1e-12); // population std of two values
  assert.equal(j.overall.cases, 3);
  assert.ok(Math.abs(j.overall.dice.mean - (1 + 0.75 + 0.75) / 3) < 1e-12);
  const human = await run(['--pred', predDir, '--gt', gtDir]);
  assert.equal(human.code, 0);
  assert.match(human.out, /^case\s+domain\s+surfaceDice\s+dice\s+hd95\s+assd\n/);
  assert.match(human.out, /CC0002_ge_3_41_F\s+GE_3\s+1\.0000\s+0\.7500\s+1\.0000/);
  assert.match(human.out, /\n\ndomain\s+n\s+surfaceDice.*\nGE_3\s+2\s+1\.0000 ± 0\.0000/);
  assert.match(human.out, /overall\s+3\s+1\.0000 ± 0\.0000\s+0\.8333 ± 0\.1179/);
});
