import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CC359_DOMAINS, listScans, loadScan, readDatasetInfo, validateDataset, type Domain } from '../../../src/data/scans/cc359.js';
import { readNifti, writeNifti } from '../../../src/data/nifti/index.js';
import { generatePhantomDataset } from '../../../src/data/simulation/phantom.js';
import { toOriginalGrid } from '../../../src/data/image/preprocess.js';
import { isCoded, tempDir } from '../helpers.js';

const SIZE = 32;
let root = '';

before(async () => {
  root = join(tempDir(), 'phantoms');
  await generatePhantomDataset(root, { size: SIZE, volumes: 2, seed: 5 });
});

// CC359's ranges (docs/method.md §6) times 32/256, rounded (JS Math.round: .5 up), clamped to axis 0, by hand:
// GE_15 60-195 -> 7.5-24.375 -> 8-24;   GE_3 25-175 -> 3.125-21.875 -> 3-22;  Philips_15 10-150 -> 1.25-18.75 -> 1-19
// Philips_3 20-155 -> 2.5-19.375 -> 3-19; Siemens_15 25-165 -> 3-21;          Siemens_3 60-165 -> 8-21 (axis 0 has 24 slices)
const RANGES: Record<Domain, [number, number]> = {
  GE_15: [8, 24], GE_3: [3, 22], Philips_15: [1, 19], Philips_3: [3, 19], Siemens_15: [3, 21], Siemens_3: [8, 21],
};

test('the phantom root declares its slice ranges and size in dataset.json, and the reader uses them', async () => {
  const info = await readDatasetInfo(root);
  assert.equal(info.phantom, true);
  assert.deepEqual(info.sliceRanges, RANGES);
  assert.equal(info.size, SIZE, 'largest slice edge (32) rounded up to a multiple of 8');
});

test('validateDataset: slice counts per domain = volumes x (hi - lo + 1)', async () => {
  const summary = await validateDataset(root);
  for (const d of CC359_DOMAINS) {
    const [lo, hi] = RANGES[d];
    assert.equal(summary.slices[d], 2 * (hi - lo + 1), d);
    assert.equal(summary.scans[d]!.length, 2, d);
  }
  const shallow = await validateDataset(root, ['GE_3'], { deep: false });
  assert.equal(shallow.slices.GE_3, 2 * 20);
});

test('loadScan matches §6: [S, size, size] slices in [0, 1] (min 0, max 1), 0/1 masks, rotated spacing', async () => {
  const info = await readDatasetInfo(root);
  for (const d of CC359_DOMAINS) {
    const [entry] = await listScans(root, d);
    const scan = await loadScan(entry!, { sliceRange: info.sliceRanges[d], size: info.size });
    const [lo, hi] = RANGES[d];
    assert.deepEqual(scan.shape, [hi - lo + 1, SIZE, SIZE], d);
    assert.equal(scan.images.length, (hi - lo + 1) * SIZE * SIZE);
    let min = Infinity, max = -Infinity, ones = 0;
    for (const v of scan.images) { min = Math.min(min, v); max = Math.max(max, v); }
    for (const m of scan.masks) { assert.ok(m === 0 || m === 1); ones += m; }
    assert.equal(min, 0, d);
    assert.equal(max, 1, d);
    assert.ok(ones > 0.05 * scan.masks.length, `${d}: a brain in the kept slices (${ones})`);
    const src = scan.source.spacing;
    assert.deepEqual(scan.spacing, [src[0], src[2], src[1]], `${d}: [slice axis, rows (z), columns (y)]`);
    // The mask comes back onto the file grid exactly, within the slice range.
    const mask = await readNifti(entry!.maskPath);
    const back = toOriginalGrid(scan.masks, scan.geometry);
    const nx = mask.dims[0]!;
    let diff = 0;
    for (let q = 0; q < back.length; q++) {
      const i = q % nx;
      if ((i >= lo && i <= hi ? (mask.data[q]! > 0 ? 1 : 0) : 0) !== back[q]) diff++;
    }
    assert.equal(diff, 0, d);
  }
});

test('Philips_15 phantoms have 3.76 mm in-plane voxels and Siemens_3 5.32 mm slices, as their presets say', async () => {
  const info = await readDatasetInfo(root);
  const [p] = await listScans(root, 'Philips_15');
  const [s] = await listScans(root, 'Siemens_3');
  const ps = await loadScan(p!, { sliceRange: info.sliceRanges.Philips_15, size: SIZE });
  const ss = await loadScan(s!, { sliceRange: info.sliceRanges.Siemens_3, size: SIZE });
  // 256 mm / 32 voxels = 8 mm base; Philips_15 x0.94 in plane, Siemens_3 x1.33 along axis 0.
  ps.spacing.forEach((v, i) => assert.ok(Math.abs(v - [8, 7.52, 7.52][i]!) < 1e-4, `Philips_15 ${ps.spacing}`));
  ss.spacing.forEach((v, i) => assert.ok(Math.abs(v - [10.64, 8, 8][i]!) < 1e-4, `Siemens_3 ${ss.spacing}`));
});

/** A copy of the phantom root to break. */
function copyRoot(): string {
  const dir = join(tempDir(), 'copy');
  cpSync(root, dir, { recursive: true });
  return dir;
}

test('a missing mask is E_DATA naming the image and the expected mask path', async () => {
  const dir = copyRoot();
  const [e] = await listScans(dir, 'Siemens_15');
  unlinkSync(e!.maskPath);
  await assert.rejects(validateDataset(dir), isCoded('E_DATA', 'E_DATA_MISSING_MASK', new RegExp(`Missing mask for .*${e!.stem}\\.nii\\.gz: expected .*Silver-standard/Siemens_15/${e!.stem}_ss\\.nii\\.gz`)));
});

test('a corrupt (truncated) volume is E_NIFTI naming the file, before any training', async () => {
  const dir = copyRoot();
  const [e] = await listScans(dir, 'GE_15');
  const bytes = readFileSync(e!.imagePath);
  writeFileSync(e!.imagePath, bytes.subarray(0, bytes.length - 100));
  await assert.rejects(validateDataset(dir), isCoded('E_NIFTI', 'E_NIFTI_GZIP_TRUNCATED', new RegExp(`${e!.stem}\\.nii\\.gz: The gzip stream ends early`)));
});

test('a mask whose shape differs from its image is E_SHAPE naming both files', async () => {
  const dir = copyRoot();
  const [e] = await listScans(dir, 'GE_3');
  await writeNifti(e!.maskPath, { dims: [SIZE, SIZE, SIZE - 1], data: new Uint8Array(SIZE * SIZE * (SIZE - 1)) });
  const pattern = new RegExp(`Mask .*${e!.stem}_ss\\.nii\\.gz has dims \\[32, 32, 31\\] but image .*${e!.stem}\\.nii\\.gz has \\[32, 32, 32\\]`);
  await assert.rejects(validateDataset(dir, ['GE_3']), isCoded('E_SHAPE', undefined, pattern));
  await assert.rejects(validateDataset(dir, ['GE_3'], { deep: false }), isCoded('E_SHAPE', undefined, pattern));
  await assert.rejects(loadScan(e!, { sliceRange: RANGES.GE_3, size: SIZE }), isCoded('E_SHAPE', undefined, pattern));
});

test('a missing domain directory, an empty one, a bad dataset.json, an unknown domain: coded errors', async () => {
  const dir = copyRoot();
  rmSync(join(dir, 'Original', 'Philips_3'), { recursive: true });
  await assert.rejects(validateDataset(dir, ['Philips_3']), isCoded('E_DATA', 'E_DATA_MISSING_DIR', /Original\/Philips_3 for domain Philips_3/));
  mkdirSync(join(dir, 'Original', 'Philips_3'));
  await assert.rejects(validateDataset(dir, ['Philips_3']), isCoded('E_DATA', 'E_DATA_EMPTY', /No \.nii\/\.nii\.gz volumes/));
  await assert.rejects(validateDataset(dir, ['GE_7']), isCoded('E_INVALID_ARG', undefined, /received "GE_7"/));
  writeFileSync(join(dir, 'dataset.json'), JSON.stringify({ phantom: true, sliceRanges: { GE_3: [9, 2] } }));
  await assert.rejects(readDatasetInfo(dir), isCoded('E_DATA', 'E_DATA_MANIFEST', /sliceRanges\.GE_3 .* received \[9,2\]/));
  writeFileSync(join(dir, 'dataset.json'), '{ not json');
  await assert.rejects(readDatasetInfo(dir), isCoded('E_DATA', 'E_DATA_MANIFEST', /not valid JSON/));
});

test('without dataset.json the CC359 ranges apply, and phantom-sized volumes are refused with E_DATA', async () => {
  const dir = copyRoot();
  renameSync(join(dir, 'dataset.json'), join(dir, 'moved.json'));
  const info = await readDatasetInfo(dir);
  assert.equal(info.phantom, false);
  assert.deepEqual(info.sliceRanges.GE_15, [60, 195]);
  assert.equal(info.size, 256);
  await assert.rejects(validateDataset(dir, ['GE_15'], { deep: false }), isCoded('E_DATA', undefined, /Slice range \[60, 195\] lies outside .*whose axis 0 has 32 slices/));
});

test('the phantom generator refuses a directory holding real (non-phantom) data', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'Original', 'GE_3'), { recursive: true });
  writeFileSync(join(dir, 'Original', 'GE_3', 'CC0001_ge_3_45_M.nii.gz'), 'real data');
  await assert.rejects(generatePhantomDataset(dir, { size: 16, volumes: 1, domains: ['GE_3'] }), isCoded('E_DATA', undefined, /not a convlora phantom root/));
  assert.equal(readFileSync(join(dir, 'Original', 'GE_3', 'CC0001_ge_3_45_M.nii.gz'), 'utf8'), 'real data');
});
