// BIDS datasets: T1w scans found under sub-*/[ses-*/]anat, sidecars inherited from the top level down,
// scans grouped into scanner keys; every sidecar problem is a coded error naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { groupByScanner, listBidsScans } from '../../../src/data/scans/bids.js';
import { isCoded, tempDir } from '../helpers.js';
import { writeScan } from './folder.test.js';
import { scannerFields, writeJson } from '../../helpers/bids.js';

async function scan(root: string, rel: string): Promise<string> {
  const path = join(root, rel);
  mkdirSync(join(path, '..'), { recursive: true });
  await writeScan(path);
  return path;
}

test('inheritance: top-level T1w.json, then subject, session and anat sidecars override; entity-specific files apply only to matching scans', async () => {
  const root = tempDir();
  writeJson(root, 'dataset_description.json', { Name: 'x', BIDSVersion: '1.9.0' });
  const top = writeJson(root, 'T1w.json', { ...scannerFields('Siemens', 'Prisma_fit', 3), RepetitionTime: 2.3 });
  const fast = writeJson(root, 'acq-fast_T1w.json', { MagneticFieldStrength: 1.5 });
  await scan(root, 'sub-01/anat/sub-01_T1w.nii.gz');
  const sub02 = writeJson(root, 'sub-02/sub-02_T1w.json', { ManufacturersModelName: 'Skyra' });
  await scan(root, 'sub-02/ses-a/anat/sub-02_ses-a_T1w.nii.gz');
  const own = writeJson(root, 'sub-02/ses-b/anat/sub-02_ses-b_T1w.json', scannerFields('GE', 'DISCOVERY MR750', 3));
  await scan(root, 'sub-02/ses-b/anat/sub-02_ses-b_T1w.nii');
  await scan(root, 'sub-03/anat/sub-03_acq-fast_T1w.nii.gz');
  await scan(root, 'sub-03/anat/sub-03_T2w.nii.gz'); // not T1w: not listed
  const scans = await listBidsScans(root);
  assert.deepEqual(scans.map((s) => [s.stem, s.scanner]), [
    ['sub-01_T1w', 'Siemens_Prisma-fit_3T'],
    ['sub-02_ses-a_T1w', 'Siemens_Skyra_3T'],
    ['sub-02_ses-b_T1w', 'GE_DISCOVERY-MR750_3T'],
    ['sub-03_acq-fast_T1w', 'Siemens_Prisma-fit_1.5T'],
  ]);
  assert.deepEqual(scans.map((s) => s.sidecar!.files), [[top], [top, sub02], [top, sub02, own], [top, fast]]);
  assert.equal(scans[1]!.session, 'a');
  assert.equal(scans[1]!.sidecar!.fields.RepetitionTime, 2.3, 'inherited fields are kept');
  assert.deepEqual(groupByScanner(scans).map((g) => [g.key, g.scans.length]),
    [['GE_DISCOVERY-MR750_3T', 1], ['Siemens_Prisma-fit_1.5T', 1], ['Siemens_Prisma-fit_3T', 1], ['Siemens_Skyra_3T', 1]]);
});

test('with `sequence`, keys add SequenceName (else PulseSequenceType); a scan with neither is E_DATA_SIDECAR_FIELD', async () => {
  const root = tempDir();
  writeJson(root, 'T1w.json', scannerFields('Philips', 'Achieva', 3));
  writeJson(root, 'sub-01/anat/sub-01_T1w.json', { SequenceName: '*tfl3d1_16ns' });
  writeJson(root, 'sub-02/anat/sub-02_T1w.json', { PulseSequenceType: 'MPRAGE' });
  await scan(root, 'sub-01/anat/sub-01_T1w.nii.gz');
  await scan(root, 'sub-02/anat/sub-02_T1w.nii.gz');
  assert.deepEqual((await listBidsScans(root, { sequence: true })).map((s) => s.scanner), ['Philips_Achieva_3T_tfl3d1-16ns', 'Philips_Achieva_3T_MPRAGE']);
  assert.deepEqual((await listBidsScans(root)).map((s) => s.scanner), ['Philips_Achieva_3T', 'Philips_Achieva_3T']);
  await scan(root, 'sub-03/anat/sub-03_T1w.nii.gz');
  await assert.rejects(listBidsScans(root, { sequence: true }), isCoded('E_DATA', 'E_DATA_SIDECAR_FIELD', /T1w\.json has neither "SequenceName" nor "PulseSequenceType"/));
});

const bad: [string, (root: string) => Promise<string>, string, (file: string) => RegExp][] = [
  ['a scan without any sidecar', async (root) => { await scan(root, 'sub-01/anat/sub-01_T1w.nii.gz'); return join(root, 'sub-01/anat/sub-01_T1w.json'); },
    'E_DATA_NO_SIDECAR', (f) => new RegExp(`No JSON sidecar for .*sub-01_T1w\\.nii\\.gz: expected ${f}`)],
  ['a malformed sidecar', async (root) => { await scan(root, 'sub-01/anat/sub-01_T1w.nii.gz'); return writeJson(root, 'sub-01/anat/sub-01_T1w.json', '{"Manufacturer": '); },
    'E_DATA_SIDECAR', (f) => new RegExp(`The sidecar ${f} is not valid JSON`)],
  ['a sidecar that is not an object', async (root) => { await scan(root, 'sub-01/anat/sub-01_T1w.nii.gz'); return writeJson(root, 'T1w.json', '[1]'); },
    'E_DATA_SIDECAR', (f) => new RegExp(`The sidecar ${f} must hold a JSON object but holds an array`)],
  ['a missing required field', async (root) => {
    await scan(root, 'sub-01/anat/sub-01_T1w.nii.gz');
    writeJson(root, 'T1w.json', { Manufacturer: 'GE', MagneticFieldStrength: 3 });
    return writeJson(root, 'sub-01/anat/sub-01_T1w.json', { EchoTime: 0.003 });
  }, 'E_DATA_SIDECAR_FIELD', (f) => new RegExp(`The sidecar ${f.replace('sub-01/anat/sub-01_T1w', 'T1w')} \\+ ${f} has no "ManufacturersModelName"`)],
  ['a field strength that is not a number', async (root) => {
    await scan(root, 'sub-01/anat/sub-01_T1w.nii.gz');
    return writeJson(root, 'sub-01/anat/sub-01_T1w.json', { ...scannerFields('GE', 'Signa', 3), MagneticFieldStrength: 'three' });
  }, 'E_DATA_SIDECAR_FIELD', (f) => new RegExp(`The sidecar ${f} has "three" as its "MagneticFieldStrength": expected a number of tesla > 0`)],
  ['two sidecars at one level that cannot be ordered', async (root) => {
    await scan(root, 'sub-01/anat/sub-01_acq-x_run-1_T1w.nii.gz');
    writeJson(root, 'T1w.json', scannerFields('GE', 'Signa', 3));
    writeJson(root, 'acq-x_T1w.json', {});
    return writeJson(root, 'run-1_T1w.json', {});
  }, 'E_DATA_SIDECAR', (f) => new RegExp(`acq-x_T1w\\.json and ${f} both apply to .*sub-01_acq-x_run-1_T1w\\.nii\\.gz at one level`)],
  ['a folder without sub-* folders', async (root) => { mkdirSync(join(root, 'derivatives')); return root; }, 'E_DATA_EMPTY', (f) => new RegExp(`${f} is not a BIDS dataset`)],
  ['subjects without T1w scans', async (root) => { await scan(root, 'sub-01/anat/sub-01_T2w.nii.gz'); return root; }, 'E_DATA_EMPTY', (f) => new RegExp(`No T1-weighted scans .* in the BIDS dataset ${f}`)],
];
for (const [name, make, detail, message] of bad) {
  test(`listBidsScans: ${name} is E_DATA/${detail} naming the file`, async () => {
    const root = tempDir();
    const file = await make(root);
    await assert.rejects(listBidsScans(root), isCoded('E_DATA', detail, message(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))));
  });
}
