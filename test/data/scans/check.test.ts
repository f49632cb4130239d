// Header checks on a user's scans before training: 3D, big enough for the network, one scanner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkOneScanner, readScanHeader, spacingDifference, MIN_SCAN_EDGE, type ScanHeader } from '../../../src/data/scans/check.js';
import type { UserScan } from '../../../src/data/scans/folder.js';
import { isCoded, tempDir } from '../helpers.js';
import { writeScan } from './folder.test.js';

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('readScanHeader: dims, voxel size and axis codes from the header', async () => {
  const path = join(tempDir(), 'a.nii.gz');
  await writeScan(path, { dims: [10, 12, 14], spacing: [1, 0.75, 1.25], affine: [[-1, 0, 0, 0], [0, 0.75, 0, 0], [0, 0, 1.25, 0], [0, 0, 0, 1]] });
  assert.deepEqual(await readScanHeader(path), { dims: [10, 12, 14], spacing: [1, 0.75, 1.25], orientation: 'LAS' });
});

const bad: [string, (path: string) => Promise<void>, string, string | undefined, (p: string) => RegExp][] = [
  ['a 4D volume', (p) => writeScan(p, { dims: [12, 12, 12, 2] }), 'E_SHAPE', undefined, (p) => new RegExp(`Expected a 3D volume in ${p} but received dims \\[12, 12, 12, 2\\]`)],
  ['a 2D image', (p) => writeScan(p, { dims: [12, 12], spacing: [1, 1], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] }), 'E_SHAPE', undefined, (p) => new RegExp(`Expected a 3D volume in ${p} but received dims \\[12, 12\\]`)],
  [`an axis under ${MIN_SCAN_EDGE} voxels`, (p) => writeScan(p, { dims: [64, 64, 7] }), 'E_SHAPE', 'E_SCAN_TOO_SMALL', (p) => new RegExp(`${p} has dims \\[64, 64, 7\\]: the network needs at least 8 voxels along every axis`)],
  ['a file that is not NIfTI', async (p) => writeFileSync(p, 'not a nifti file, just some text that is long enough to hold a header or not'.repeat(10)), 'E_NIFTI', undefined, (p) => new RegExp(`^${p}: `)],
];
for (const [name, make, code, detail, message] of bad) {
  test(`readScanHeader: ${name} is ${code}${detail === undefined ? '' : `/${detail}`} naming the file`, async () => {
    const path = join(tempDir(), 'scan.nii');
    await make(path);
    await assert.rejects(readScanHeader(path), isCoded(code, detail, message(esc(path))));
  });
}

const scan = (stem: string, sidecar: Record<string, unknown> | null = null): UserScan =>
  ({ stem, imagePath: `/d/${stem}.nii.gz`, maskPath: null, sidecar: sidecar === null ? null : { files: [`/d/${stem}.json`], fields: sidecar } });
const header = (spacing: [number, number, number], orientation: string | null = 'RAS'): ScanHeader => ({ dims: [100, 100, 100], spacing, orientation });
const prisma = { Manufacturer: 'Siemens', ManufacturersModelName: 'Prisma', MagneticFieldStrength: 3 };

test('one scanner by headers: same orientation and voxel sizes within 25 % of the first scan pass', () => {
  assert.equal(spacingDifference([1, 1, 1], [1.125, 0.75, 1]), 0.25 / 0.75, 'relative to the smaller, largest over the axes');
  checkOneScanner([scan('a'), scan('b'), scan('c')], [header([1, 1, 1]), header([1.2, 0.89, 1]), header([1, 1, 1.25])]);
  checkOneScanner([scan('a', prisma), scan('b', prisma)], [header([1, 1, 1]), header([2, 2, 2], 'LPS')]); // sidecars decide, not headers
});

const mixed: [string, UserScan[], ScanHeader[], RegExp][] = [
  ['sidecars of two scanners', [scan('a', prisma), scan('b', { ...prisma, MagneticFieldStrength: 1.5 })], [header([1, 1, 1]), header([1, 1, 1])],
    /\/d\/a\.nii\.gz \(Siemens_Prisma_3T\) and \/d\/b\.nii\.gz \(Siemens_Prisma_1\.5T\) come from different scanners, by their sidecars/],
  ['a sidecar on some scans only', [scan('a', prisma), scan('b')], [header([1, 1, 1]), header([1, 1, 1])], /\/d\/b\.nii\.gz has no sidecar but \/d\/a\.nii\.gz has one/],
  ['another orientation', [scan('a'), scan('b')], [header([1, 1, 1]), header([1, 1, 1], 'LPS')], /\/d\/a\.nii\.gz is stored RAS but \/d\/b\.nii\.gz LPS/],
  ['voxel sizes 33 % apart', [scan('a'), scan('b')], [header([1, 1, 1]), header([1.33, 1, 1])], /\/d\/a\.nii\.gz has 1 x 1 x 1 mm voxels but \/d\/b\.nii\.gz 1\.33 x 1 x 1 mm \(33 % apart, more than 25 %\)/],
];
for (const [name, scans, headers, message] of mixed) {
  test(`one scanner: ${name} is E_DATA/E_DATA_MIXED_SCANNERS naming both files`, () => {
    assert.throws(() => checkOneScanner(scans, headers), isCoded('E_DATA', 'E_DATA_MIXED_SCANNERS', message));
  });
}
