import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  encodeNifti, parseNifti, readNifti, readNiftiHeader, writeNifti, type NiftiData, type NiftiVolume,
} from '../../../src/data/nifti/index.js';
import { affineToQuatern, qformAffine, niftiAffine } from '../../../src/data/nifti/affine.js';
import { fixture, isCoded, maxAbsDiff, readJson, tempDir } from '../helpers.js';

interface Expected {
  file: string; version: 1 | 2; dims: number[]; spacing: number[]; datatype: number; littleEndian: boolean;
  scaled: boolean; sclSlope: number; sclInter: number; qformCode: number; sformCode: number;
  affine: number[][]; qform: number[][] | null; voxOffset: number; descrip: string; data: number[];
}
const cases = readJson<Expected[]>('nifti', 'expected.json');

for (const c of cases) {
  test(`reads nibabel-written ${c.file} as nibabel does`, async () => {
    const v = await readNifti(fixture('nifti', c.file));
    assert.deepEqual(v.dims, c.dims);
    assert.deepEqual(v.spacing.slice(0, 3), c.spacing.slice(0, 3));
    assert.equal(v.datatype, c.datatype);
    assert.equal(v.header.version, c.version);
    assert.equal(v.header.littleEndian, c.littleEndian);
    assert.equal(v.header.qformCode, c.qformCode);
    assert.equal(v.header.sformCode, c.sformCode);
    assert.equal(v.header.voxOffset, c.voxOffset);
    assert.equal(v.header.descrip, c.descrip);
    assert.equal(v.data.length, c.data.length);
    if (c.scaled) {
      assert.ok(v.data instanceof Float32Array, 'scaled data is Float32Array');
      c.data.forEach((x, i) => assert.equal(v.data[i], Math.fround(x), `voxel ${i}`));
    } else {
      c.data.forEach((x, i) => assert.equal(v.data[i], x, `voxel ${i}`));
    }
    assert.ok(maxAbsDiff(v.affine, c.affine) < 1e-6, `affine ${JSON.stringify(v.affine)}`);
    if (c.qform !== null) assert.ok(maxAbsDiff(qformAffine(v.header), c.qform) < 1e-5, 'qform');
  });
}

test('round trip of every nibabel file: same voxels and header fields after write + read', async () => {
  const dir = tempDir();
  for (const c of cases) {
    const v = await readNifti(fixture('nifti', c.file));
    const out = join(dir, c.file);
    await writeNifti(out, v);
    const back = await readNifti(out);
    assert.deepEqual(Array.from(back.data), Array.from(v.data), c.file);
    assert.equal(back.data.constructor, v.data.constructor, c.file);
    const { littleEndian: _a, ...h1 } = v.header;
    const { littleEndian: _b, ...h2 } = back.header;
    assert.deepEqual(h2, h1, c.file);
    assert.equal(isGz(readFileSync(out)), c.file.endsWith('.gz'), `${c.file} gzip by extension`);
  }
});

function isGz(b: Uint8Array): boolean {
  return b[0] === 0x1f && b[1] === 0x8b;
}

const rot = (t: number): number[][] => [[Math.cos(t), -Math.sin(t), 0], [Math.sin(t), Math.cos(t), 0], [0, 0, 1]];
function affine(r: number[][], zooms: number[], off: number[]): number[][] {
  return [0, 1, 2].map((i) => [...[0, 1, 2].map((j) => r[i]![j]! * zooms[j]!), off[i]!]).concat([[0, 0, 0, 1]]);
}

const WRITE_TABLE: { name: string; data: NiftiData; datatype: number }[] = [
  { name: 'uint8', data: Uint8Array.from([0, 1, 127, 128, 255, 3, 4, 5]), datatype: 2 },
  { name: 'int8', data: Int8Array.from([-128, -1, 0, 1, 127, 3, 4, 5]), datatype: 256 },
  { name: 'int16', data: Int16Array.from([-32768, -1, 0, 1, 32767, 3, 4, 5]), datatype: 4 },
  { name: 'uint16', data: Uint16Array.from([0, 1, 65535, 32768, 7, 3, 4, 5]), datatype: 512 },
  { name: 'int32', data: Int32Array.from([-2147483648, -1, 0, 1, 2147483647, 3, 4, 5]), datatype: 8 },
  { name: 'uint32', data: Uint32Array.from([0, 1, 4294967295, 2147483648, 7, 3, 4, 5]), datatype: 768 },
  { name: 'float32', data: Float32Array.from([-1.5, 0, 1e-30, 3.25, 1e30, 0.1, 0.2, 0.3]), datatype: 16 },
  { name: 'float64', data: Float64Array.from([-1.5, 0, 1e-300, Math.PI, 1e300, 0.1, 0.2, 0.3]), datatype: 64 },
  { name: 'int64 from Float64Array', data: Float64Array.from([-(2 ** 53) + 1, -1, 0, 1, 2 ** 53 - 1, 3, 4, 5]), datatype: 1024 },
];

for (const version of [1, 2] as const) {
  for (const ext of ['.nii', '.nii.gz']) {
    test(`writes and reads back every datatype, NIfTI-${version} ${ext}`, async () => {
      const dir = tempDir();
      const a = affine(rot(0.7), [0.9, 1.1, 1.3], [-12.5, 30, 4]);
      for (const row of WRITE_TABLE) {
        const path = join(dir, `${row.name.replace(/ /g, '_')}${ext}`);
        await writeNifti(path, { dims: [2, 2, 2], data: row.data, datatype: row.datatype, affine: a }, { version });
        const v = await readNifti(path);
        assert.equal(v.header.version, version);
        assert.equal(v.datatype, row.datatype, row.name);
        assert.deepEqual(v.dims, [2, 2, 2]);
        assert.deepEqual(Array.from(v.data), Array.from(row.data), row.name);
        assert.ok(maxAbsDiff(v.affine, a) < 1e-5, `${row.name} sform`);
        assert.ok(maxAbsDiff(qformAffine(v.header), a) < 1e-5, `${row.name} qform`);
        v.spacing.forEach((s, i) => assert.ok(Math.abs(s - [0.9, 1.1, 1.3][i]!) < 1e-6, `${row.name} spacing`));
        assert.equal(isGz(readFileSync(path)), ext === '.nii.gz');
      }
    });
  }
}

test('quaternions encode half-turns, axis permutations and reflections (qfac = -1)', () => {
  const mats: number[][][] = [
    [[-1, 0, 0], [0, 0, 1], [0, 1, 0]], // ITK's head: a half-turn
    [[1, 0, 0], [0, -1, 0], [0, 0, -1]],
    [[0, 1, 0], [1, 0, 0], [0, 0, 1]], // a reflection
    [[-1, 0, 0], [0, 1, 0], [0, 0, 1]], // LPS-like flip
    rot(2.5),
  ];
  for (const m of mats) {
    const a = affine(m, [2, 3, 4], [1, -2, 3]);
    const bytes = encodeNifti({ dims: [2, 2, 2], data: new Uint8Array(8), affine: a });
    const v = parseNifti(bytes);
    assert.ok(maxAbsDiff(qformAffine(v.header), a) < 1e-6, `qform of ${JSON.stringify(m)} is ${JSON.stringify(qformAffine(v.header))}`);
  }
  assert.equal(affineToQuatern([[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), null, 'shear has no quaternion');
});

test('a header without qform/sform codes gives the pixdim diagonal (NIfTI method 1)', () => {
  const v = parseNifti(encodeNifti({ dims: [2, 3, 4], data: new Uint8Array(24), spacing: [2, 3, 4] }));
  assert.equal(v.header.qformCode, 0);
  assert.equal(v.header.sformCode, 0);
  assert.deepEqual(niftiAffine(v.header), [[2, 0, 0, 0], [0, 3, 0, 0], [0, 0, 4, 0], [0, 0, 0, 1]]);
});

test('a uint8 mask written with a scaled int16 source header keeps the grid and drops the scaling', async () => {
  const src = await readNifti(fixture('nifti', 'i16_scaled_qform_n1.nii.gz'));
  assert.equal(src.header.sclSlope, 0.5);
  const mask = Uint8Array.from(src.data, (x) => (x > 0 ? 1 : 0));
  const v = parseNifti(encodeNifti({ dims: src.dims, data: mask, affine: src.affine, header: src.header }));
  assert.equal(v.datatype, 2);
  assert.equal(v.header.sclSlope, 1);
  assert.equal(v.header.sclInter, 0);
  assert.ok(v.data instanceof Uint8Array);
  assert.deepEqual(Array.from(v.data), Array.from(mask));
  assert.equal(v.header.qformCode, src.header.qformCode);
  assert.ok(maxAbsDiff(v.affine, src.affine) < 1e-5);
  // The float probabilities case: a Float32Array written as float32 is stored unscaled.
  const prob = Float32Array.from(mask, (m) => m * 0.75);
  const p = parseNifti(encodeNifti({ dims: src.dims, data: prob, header: src.header }));
  assert.equal(p.datatype, 16);
  assert.deepEqual(Array.from(p.data), Array.from(prob));
});

test('dims beyond 32767 need NIfTI-2: chosen by default, refused when NIfTI-1 is forced', () => {
  const data = new Uint8Array(40000);
  assert.equal(parseNifti(encodeNifti({ dims: [40000, 1, 1], data })).header.version, 2);
  assert.throws(() => encodeNifti({ dims: [40000, 1, 1], data }, { version: 1 }), isCoded('E_INVALID_ARG', undefined, /received 1/));
});

test('writing refuses mismatched shapes and out-of-range values, leaving no file or temporary', async () => {
  const dir = tempDir();
  await assert.rejects(writeNifti(join(dir, 'a.nii.gz'), { dims: [2, 2, 2], data: new Uint8Array(7) }),
    isCoded('E_SHAPE', undefined, /Expected 8 voxels for dims \[2, 2, 2\] but `data` has 7/));
  await assert.rejects(writeNifti(join(dir, 'b.nii.gz'), { dims: [2], data: Float32Array.from([1, 300]), datatype: 2 }),
    isCoded('E_INVALID_ARG', undefined, /received 300 at index 1/));
  await assert.rejects(writeNifti(join(dir, 'c.nii'), { dims: [2], data: Float32Array.from([1, 2.5]), datatype: 4 }),
    isCoded('E_INVALID_ARG', undefined, /received 2.5/));
  writeFileSync(join(dir, 'file'), 'not a directory');
  await assert.rejects(writeNifti(join(dir, 'file', 'd.nii'), { dims: [1], data: new Uint8Array(1) }), isCoded('E_IO'));
  assert.deepEqual(readdirSync(dir), ['file']);
});

test('an existing file is replaced whole: a failed write leaves the old content', async () => {
  const dir = tempDir();
  const path = join(dir, 'keep.nii.gz');
  await writeNifti(path, { dims: [2], data: Uint8Array.from([7, 9]) });
  await assert.rejects(writeNifti(path, { dims: [2], data: Float32Array.from([1, -1]), datatype: 2 }), isCoded('E_INVALID_ARG'));
  assert.deepEqual(Array.from((await readNifti(path)).data), [7, 9]);
  assert.deepEqual(readdirSync(dir), ['keep.nii.gz']);
});

interface RealExpected {
  dims: number[]; spacing: number[]; datatype: number; qformCode: number; sformCode: number; affine: number[][];
  qform: number[][]; sum: number; min: number; max: number; nonzero: number; samples: { ijk: number[]; value: number }[];
}

test('real fixtures read as nibabel reads them (header, affine, voxel statistics, samples)', async () => {
  const expected = readJson<Record<string, RealExpected>>('real', 'nibabel-expected.json');
  assert.equal(Object.keys(expected).length, 4);
  for (const [name, e] of Object.entries(expected)) {
    const v: NiftiVolume = await readNifti(fixture('real', name));
    assert.deepEqual(v.dims, e.dims, name);
    assert.deepEqual(v.spacing, e.spacing, name);
    assert.equal(v.datatype, e.datatype, name);
    assert.equal(v.header.qformCode, e.qformCode, name);
    assert.equal(v.header.sformCode, e.sformCode, name);
    assert.ok(maxAbsDiff(v.affine, e.affine) < 1e-6, `${name} affine`);
    // nibabel keeps a tiny quaternion 'a' that nifti1_io (and we) zero, so its qform is off by ~1e-3 here.
    assert.ok(maxAbsDiff(qformAffine(v.header), e.qform) < 2e-3, `${name} qform`);
    assert.ok(maxAbsDiff(qformAffine(v.header), v.affine) < 1e-5, `${name} qform equals sform`);
    let sum = 0, min = Infinity, max = -Infinity, nonzero = 0;
    for (const x of v.data) { sum += x; min = Math.min(min, x); max = Math.max(max, x); if (x !== 0) nonzero++; }
    assert.deepEqual([sum, min, max, nonzero], [e.sum, e.min, e.max, e.nonzero], name);
    for (const s of e.samples) {
      const [i = 0, j = 0, k = 0] = s.ijk;
      assert.equal(v.data[i + v.dims[0]! * (j + v.dims[1]! * k)], s.value, `${name} at ${s.ijk.join(',')}`);
    }
  }
});

test('readNiftiHeader reads only the header of a gzip file and validates its size', async () => {
  const h = await readNiftiHeader(fixture('real', 'colin27_t1.nii.gz'));
  assert.deepEqual(h.dim.slice(0, 4), [3, 60, 72, 60]);
  await assert.rejects(readNiftiHeader(fixture('real', 'colin27_t1.nii.gz'), { maxVoxels: 1000 }), isCoded('E_NIFTI', 'E_NIFTI_TOO_LARGE', /colin27_t1\.nii\.gz.*259200 voxels/));
  const raw = gunzipSync(readFileSync(fixture('real', 'itk-head_t1.nii.gz')));
  assert.equal(parseNifti(raw).data.length, 64 * 64 * 62, 'plain (uncompressed) bytes parse too');
});
