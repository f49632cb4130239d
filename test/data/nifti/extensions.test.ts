// Header extensions (issue 25): IXI's T1 files carry a 2,560-byte AFNI record, and masks written on them
// had vox_offset 656 with that record's esize 2560 copied in, which nibabel cannot read. A header is read
// with its whole extension area (or none), the writer re-encodes the chain it writes, and a chain that
// runs past vox_offset is refused (E_NIFTI_EXTENSION) however the file is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { encodeNifti, parseNifti, readNifti, readNiftiHeader, writeNifti } from '../../../src/data/nifti/index.js';
import { niftiExtensions } from '../../../src/data/nifti/extensions.js';
import { fixture, isCoded, readJson, tempDir } from '../helpers.js';
import { concat, noise, record, stripNul } from './build.js';

const HEADER = { 1: 348, 2: 540 } as const;

/**
 * `file` (encodeNifti's, with no extensions: header, 4-byte extender, voxels) with `area` (extender and
 * chain) between header and voxels, and vox_offset set to header + area.
 */
function withArea(file: Uint8Array, version: 1 | 2, area: Uint8Array): Uint8Array {
  const size = HEADER[version];
  const out = concat(file.subarray(0, size), area, file.subarray(size + 4));
  const v = new DataView(out.buffer);
  if (version === 1) v.setFloat32(108, size + area.length, true);
  else v.setBigInt64(168, BigInt(size + area.length), true);
  return out;
}

/** vox_offset of a little-endian file's bytes. */
function voxOffsetOf(bytes: Uint8Array, version: 1 | 2): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset);
  return version === 1 ? v.getFloat32(108, true) : Number(v.getBigInt64(168, true));
}

const AFNI = 4;
const ixiArea = (): Uint8Array => concat(Uint8Array.of(1, 0, 0, 0), record(AFNI, noise(2552, 7)));

for (const version of [1, 2] as const) {
  test(`NIfTI-${version}.gz whose first inflated bytes end inside a 2,560-byte extension: read whole, and a mask on its grid keeps it whole`, async () => {
    const dir = tempDir();
    const dims = [16, 16, 16];
    const scan = Int16Array.from(noise(4096, 3), (b) => b * 7 - 900);
    const area = ixiArea();
    const src = join(dir, 'scan.nii.gz');
    writeFileSync(src, gzipSync(withArea(encodeNifti({ dims, data: scan }, { version }), version, area)));

    const img = await readNifti(src);
    assert.deepEqual(img.header.extensions, area, 'readNifti: the whole extension area');
    assert.deepEqual((await readNiftiHeader(src)).extensions, area, 'readNiftiHeader: the whole extension area');
    assert.deepEqual(Array.from(img.data), Array.from(scan));

    const mask = Uint8Array.from(img.data, (x) => (x > 0 ? 1 : 0));
    const out = join(dir, 'scan_mask.nii.gz');
    await writeNifti(out, { dims: img.dims, spacing: img.spacing, affine: img.affine, header: img.header, data: mask, datatype: 2 });
    const raw = gunzipSync(readFileSync(out));
    assert.equal(voxOffsetOf(raw, version), HEADER[version] + 2564, 'vox_offset after the whole record');
    assert.deepEqual(new Uint8Array(raw.subarray(HEADER[version], HEADER[version] + 2564)), area);
    assert.deepEqual(Array.from((await readNifti(out)).data), Array.from(mask));
  });
}

interface Overrun { name: string; version: 1 | 2; area: Uint8Array; message: RegExp }

const OVERRUNS: Overrun[] = [
  {
    // What `segment` wrote for 18 of 185 IXI heads: the first 304 bytes of the record, vox_offset 656.
    name: "issue 25's masks: a 2,560-byte record cut to vox_offset 656", version: 1,
    area: concat(Uint8Array.of(1, 0, 0, 0), record(AFNI, noise(2552, 7)).subarray(0, 304)),
    message: /at byte 352 has esize 2560, past vox_offset 656 \(304 bytes remain before it\)/,
  },
  {
    // A 4,096-byte area that no gzip prefix of the header holds: the record claims twice that.
    name: 'a record of esize 8192 in a 4,100-byte area', version: 1,
    area: concat(Uint8Array.of(1, 0, 0, 0), record(AFNI, noise(8184, 9), 8192).subarray(0, 4096)),
    message: /at byte 352 has esize 8192, past vox_offset 4448/,
  },
  {
    name: 'NIfTI-2: a second record running past vox_offset', version: 2,
    area: concat(Uint8Array.of(1, 0, 0, 0), record(6, noise(24, 2)), record(AFNI, noise(3000, 4), 4096).subarray(0, 1024)),
    message: /at byte 576 has esize 4096, past vox_offset 1600 \(1024 bytes remain before it\)/,
  },
  {
    name: 'bytes left before vox_offset too few for a record', version: 1,
    area: concat(Uint8Array.of(1, 0, 0, 0), record(6, noise(24, 2)), new Uint8Array(8)),
    message: /end 8 byte\(s\) short of vox_offset 392 \(at byte 384\)/,
  },
  {
    name: 'esize 24, not a multiple of 16', version: 1,
    area: concat(Uint8Array.of(1, 0, 0, 0), record(6, noise(24, 2), 24), new Uint8Array(8)),
    message: /esize to be a positive multiple of 16 but received esize 24 at byte 352/,
  },
];

test(`a chain that does not end at vox_offset is E_NIFTI_EXTENSION however the file is read (${OVERRUNS.length} cases)`, async () => {
  const dir = tempDir();
  for (const [i, c] of OVERRUNS.entries()) {
    const bytes = withArea(encodeNifti({ dims: [24, 24, 24], data: noise(24 ** 3, 11 + i) }, { version: c.version }), c.version, c.area);
    const isExt = isCoded('E_NIFTI', 'E_NIFTI_EXTENSION', c.message);
    assert.throws(() => parseNifti(bytes), isExt, `${c.name}: parseNifti`);
    assert.throws(() => parseNifti(gzipSync(bytes)), isExt, `${c.name}: parseNifti of gzip`);
    for (const [name, data] of [[`bad-${i}.nii`, bytes], [`bad-${i}.nii.gz`, gzipSync(bytes)]] as const) {
      const path = join(dir, name);
      writeFileSync(path, data);
      await assert.rejects(readNifti(path), isExt, `${c.name}: readNifti ${name}`);
      await assert.rejects(readNiftiHeader(path), isExt, `${c.name}: readNiftiHeader ${name}`);
    }
  }
});

interface NibabelFile {
  file: string; version: 1 | 2; littleEndian: boolean; voxOffset: number; sclSlope: number; sclInter: number;
  extensions: { code: number; esize: number; data: string }[]; data: number[];
}

test('nibabel-written files with extensions, big-endian too: read as nibabel reads them, written back little-endian with the same records', async () => {
  const dir = tempDir();
  const cases = readJson<NibabelFile[]>('nifti-ext', 'expected.json');
  assert.equal(cases.length, 3);
  for (const c of cases) {
    const img = await readNifti(fixture('nifti-ext', c.file));
    // nibabel keeps a record's content with its trailing NUL bytes (padding) stripped.
    const records = niftiExtensions(img.header).map((r) => ({ code: r.code, esize: r.data.length + 8, data: Buffer.from(stripNul(r.data)).toString('base64') }));
    assert.deepEqual(records, c.extensions, `${c.file}: records`);
    assert.equal(img.header.littleEndian, c.littleEndian);
    assert.equal(img.header.voxOffset, c.voxOffset);
    for (const name of ['back.nii', 'back.nii.gz']) {
      const out = join(dir, `${c.file}.${name}`);
      await writeNifti(out, img);
      const raw = name.endsWith('.gz') ? gunzipSync(readFileSync(out)) : readFileSync(out);
      assert.equal(voxOffsetOf(raw, c.version), c.voxOffset, `${c.file} -> ${name}: vox_offset`);
      const back = await readNifti(out);
      assert.equal(back.header.littleEndian, true);
      assert.deepEqual(niftiExtensions(back.header), niftiExtensions(img.header), `${c.file} -> ${name}: records`);
      assert.deepEqual(Array.from(back.data), Array.from(img.data), `${c.file} -> ${name}: voxels`);
      assert.deepEqual([back.header.sclSlope, back.header.sclInter], [c.sclSlope, c.sclInter]);
    }
  }
});

test('the writer walks the chain of the header it is given: a malformed chain is refused, an extender of 0 writes no records', () => {
  const base = parseNifti(encodeNifti({ dims: [2, 2, 2], data: new Uint8Array(8) }));
  const bad = concat(Uint8Array.of(1, 0, 0, 0), record(6, noise(8, 1), 32).subarray(0, 16));
  assert.throws(() => encodeNifti({ dims: [2, 2, 2], data: new Uint8Array(8), header: { ...base.header, extensions: bad } }),
    isCoded('E_NIFTI', 'E_NIFTI_EXTENSION', /at byte 352 has esize 32, past vox_offset 368 \(16 bytes remain before it\)/));
  const off = concat(Uint8Array.of(0, 0, 0, 0), noise(32, 5));
  const bytes = encodeNifti({ dims: [2, 2, 2], data: new Uint8Array(8), header: { ...base.header, extensions: off } });
  assert.equal(voxOffsetOf(bytes, 1), 352);
  assert.deepEqual(parseNifti(bytes).header.extensions, new Uint8Array(4));
});
