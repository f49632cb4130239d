// A user's own scans: plain folders, lists and patterns of NIfTI files with any names; masks optional
// (beside as <stem>_mask, or in a masks folder); sidecars; safe names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNifti } from '../../../src/data/nifti/index.js';
import { listScanFiles } from '../../../src/data/scans/folder.js';
import { checkDomainName } from '../../../src/data/scans/names.js';
import { isCoded, tempDir } from '../helpers.js';

export async function writeScan(path: string, o: { dims?: number[]; spacing?: number[]; affine?: number[][] } = {}): Promise<void> {
  const dims = o.dims ?? [12, 12, 12];
  const spacing = o.spacing ?? [1, 1, 1];
  const affine = o.affine ?? [[spacing[0]!, 0, 0, 0], [0, spacing[1]!, 0, 0], [0, 0, spacing[2]!, 0], [0, 0, 0, 1]];
  const data = new Int16Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => i % 97);
  await writeNifti(path, { dims, data, spacing, affine });
}

test('a folder: every .nii/.nii.gz with any name is a scan, *_mask files are masks, hidden and other files ignored', async () => {
  const dir = tempDir();
  for (const n of ['b scan.nii.gz', 'a.nii', 'a_mask.nii.gz', 'orphan_mask.nii', '.hidden.nii.gz']) await writeScan(join(dir, n));
  writeFileSync(join(dir, 'notes.txt'), 'x');
  const scans = await listScanFiles(dir);
  assert.deepEqual(scans.map((s) => s.stem), ['a', 'b scan']);
  assert.equal(scans[0]!.maskPath, join(dir, 'a_mask.nii.gz'));
  assert.equal(scans[1]!.maskPath, null, 'masks are optional');
  assert.equal(scans[0]!.sidecar, null);
});

test('a masks folder: <stem>_mask, <stem>_ss or <stem> there; a list of files and a pattern', async () => {
  const dir = tempDir(), masks = join(dir, 'masks');
  mkdirSync(masks);
  for (const n of ['s1.nii.gz', 's2.nii.gz', 's3.nii', 'other.nii.gz']) await writeScan(join(dir, n));
  for (const n of ['s1_mask.nii.gz', 's2_ss.nii.gz', 's3.nii']) await writeScan(join(masks, n));
  const scans = await listScanFiles(join(dir, 's*.nii*'), { masks });
  assert.deepEqual(scans.map((s) => [s.stem, s.maskPath]), [['s1', join(masks, 's1_mask.nii.gz')], ['s2', join(masks, 's2_ss.nii.gz')], ['s3', join(masks, 's3.nii')]]);
  const listed = await listScanFiles([join(dir, 'other.nii.gz'), join(dir, 's2.nii.gz')]);
  assert.deepEqual(listed.map((s) => s.stem), ['other', 's2']);
});

test('a <stem>.json sidecar beside a scan is read; a malformed one is E_DATA_SIDECAR naming the file', async () => {
  const dir = tempDir();
  await writeScan(join(dir, 'x.nii.gz'));
  writeFileSync(join(dir, 'x.json'), JSON.stringify({ Manufacturer: 'Siemens', ManufacturersModelName: 'Prisma', MagneticFieldStrength: 3 }));
  const [scan] = await listScanFiles(dir);
  assert.deepEqual(scan!.sidecar!.files, [join(dir, 'x.json')]);
  assert.equal(scan!.sidecar!.fields.Manufacturer, 'Siemens');
  writeFileSync(join(dir, 'x.json'), '{"Manufacturer": "Siemens",');
  await assert.rejects(listScanFiles(dir), isCoded('E_DATA', 'E_DATA_SIDECAR', new RegExp(`The sidecar ${join(dir, 'x.json')} is not valid JSON`)));
});

const bad: [string, (dir: string) => Promise<string | string[]>, string, RegExp][] = [
  ['an empty folder', async (dir) => dir, 'E_DATA_EMPTY', /No scans in the folder .*: expected \.nii or \.nii\.gz files/],
  ['a folder of masks only', async (dir) => { await writeScan(join(dir, 'a_mask.nii.gz')); return dir; }, 'E_DATA_EMPTY', /No scans in the folder/],
  ['a pattern matching nothing', async (dir) => join(dir, '*.nii.gz'), 'E_DATA_EMPTY', /No scans match .*\*\.nii\.gz/],
  ['a missing folder', async (dir) => join(dir, 'nope'), 'E_DATA_MISSING', /The scan or folder .*nope does not exist/],
  ['a file that is not NIfTI', async (dir) => { writeFileSync(join(dir, 'a.txt'), 'x'); return join(dir, 'a.txt'); }, 'E_DATA_NOT_NIFTI', /a\.txt is not a \.nii or \.nii\.gz file/],
  ['two scans with one name', async (dir) => { await writeScan(join(dir, 'a.nii')); await writeScan(join(dir, 'a.nii.gz')); return dir; }, 'E_DATA_DUPLICATE', /a\.nii and .*a\.nii\.gz have the same name "a"/],
];
for (const [name, make, detail, message] of bad) {
  test(`listScanFiles: ${name} is E_DATA/${detail} naming the path`, async () => {
    const dir = tempDir();
    await assert.rejects(listScanFiles(await make(dir)), isCoded('E_DATA', detail, message));
  });
}

test('names: letters, digits, . _ - are safe file names; anything else is E_INVALID_ARG naming the argument and value', () => {
  for (const ok of ['MyPrisma', 'Siemens_Prisma_3T', 'GE_15', 'site-2.scanner', '3T']) assert.equal(checkDomainName(ok), ok);
  for (const no of ['My Prisma', '../x', 'a/b', '', '.hidden', '-x', 'é', 'x'.repeat(129)]) {
    assert.throws(() => checkDomainName(no, 'target'), (err: unknown) => isCoded('E_INVALID_ARG')(err) && (err as Error).message.endsWith(`for \`target\` but received ${JSON.stringify(no)}`));
  }
});
