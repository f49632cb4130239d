import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeNifti, parseNifti, readNifti, type ReadOptions } from '../../../src/data/nifti/index.js';
import { isCoded, tempDir } from '../helpers.js';

// Byte offsets of NIfTI-1 / NIfTI-2 header fields (little-endian files written by encodeNifti).
const N1 = { dim: 40, datatype: 70, bitpix: 72, pixdim: 76, voxOffset: 108, slope: 112, sform: 254, srowX: 280, magic: 344 };
const N2 = { dim: 16, magic: 4 };

/** A valid 2x2x2 file to corrupt. */
function base(opts: { version?: 1 | 2; float?: boolean } = {}): Uint8Array {
  const data = opts.float === true ? Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) : Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  return encodeNifti({ dims: [2, 2, 2], data, affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] }, { version: opts.version ?? 1 });
}

function edit(bytes: Uint8Array, fn: (v: DataView, b: Uint8Array) => void): Uint8Array {
  const b = bytes.slice();
  fn(new DataView(b.buffer), b);
  return b;
}

interface BadCase { name: string; bytes: () => Uint8Array; detail: string; message: RegExp; opts?: ReadOptions; code?: string }

const CASES: BadCase[] = [
  { name: 'empty file', bytes: () => new Uint8Array(0), detail: 'E_NIFTI_HEADER_TRUNCATED', message: /0 bytes long/ },
  { name: 'header cut at 100 bytes', bytes: () => base().slice(0, 100), detail: 'E_NIFTI_HEADER_TRUNCATED', message: /100 bytes long, shorter than the 348-byte NIfTI-1 header/ },
  { name: 'sizeof_hdr 349', bytes: () => edit(base(), (v) => v.setInt32(0, 349, true)), detail: 'E_NIFTI_HEADER_SIZE', message: /received 349/ },
  { name: 'a PNG, not NIfTI', bytes: () => Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Uint8Array(400)]), detail: 'E_NIFTI_HEADER_SIZE', message: /sizeof_hdr 348/ },
  { name: 'wrong magic', bytes: () => edit(base(), (_v, b) => b.set([0x61, 0x62, 0x63, 0], N1.magic)), detail: 'E_NIFTI_MAGIC', message: /received "abc\\u0000"/ },
  { name: 'detached pair magic ni1', bytes: () => edit(base(), (_v, b) => b.set([0x6e, 0x69, 0x31, 0], N1.magic)), detail: 'E_NIFTI_PAIR', message: /not supported/ },
  { name: 'NIfTI-2 magic with a mangled line ending', bytes: () => edit(base({ version: 2 }), (_v, b) => { b[N2.magic + 4] = 0x0a; }), detail: 'E_NIFTI_MAGIC', message: /NIfTI-2 magic/ },
  { name: 'dim[0] = 0', bytes: () => edit(base(), (v) => v.setInt16(N1.dim, 0, true)), detail: 'E_NIFTI_DIM_COUNT', message: /dim\[0\] in 1\.\.7 but received 0/ },
  { name: 'dim[0] = 9', bytes: () => edit(base(), (v) => v.setInt16(N1.dim, 9, true)), detail: 'E_NIFTI_DIM_COUNT', message: /received 9/ },
  { name: 'zero dimension', bytes: () => edit(base(), (v) => v.setInt16(N1.dim + 4, 0, true)), detail: 'E_NIFTI_DIM', message: /dim\[2\] >= 1 but received 0/ },
  { name: 'negative dimension', bytes: () => edit(base(), (v) => v.setInt16(N1.dim + 6, -5, true)), detail: 'E_NIFTI_DIM', message: /dim\[3\] >= 1 but received -5/ },
  {
    name: 'seven dims of 32767 overflow', detail: 'E_NIFTI_OVERFLOW', message: /overflows/,
    bytes: () => edit(base(), (v) => { v.setInt16(N1.dim, 7, true); for (let i = 1; i <= 7; i++) v.setInt16(N1.dim + 2 * i, 32767, true); }),
  },
  {
    name: 'NIfTI-2 dims 2^40 x 2^40 overflow', detail: 'E_NIFTI_OVERFLOW', message: /1099511627776 x 1099511627776 x 2 = 2417851639229258349412352 voxels overflows/ /* 2^81 */,
    bytes: () => edit(base({ version: 2 }), (v) => { v.setBigInt64(N2.dim + 8, 2n ** 40n, true); v.setBigInt64(N2.dim + 16, 2n ** 40n, true); }),
  },
  { name: '30000^3 voxels over the default limit', bytes: () => edit(base(), (v) => { for (let i = 1; i <= 3; i++) v.setInt16(N1.dim + 2 * i, 30000, true); }), detail: 'E_NIFTI_TOO_LARGE', message: /27000000000000 voxels exceeds the limit of 134217728/ },
  { name: '8 voxels over maxVoxels 7', bytes: () => base(), opts: { maxVoxels: 7 }, detail: 'E_NIFTI_TOO_LARGE', message: /8 voxels exceeds the limit of 7/ },
  { name: 'complex64 datatype', bytes: () => edit(base(), (v) => { v.setInt16(N1.datatype, 32, true); v.setInt16(N1.bitpix, 64, true); }), detail: 'E_NIFTI_DATATYPE', message: /Unsupported NIfTI datatype 32/ },
  { name: 'rgb24 datatype', bytes: () => edit(base(), (v) => { v.setInt16(N1.datatype, 128, true); v.setInt16(N1.bitpix, 24, true); }), detail: 'E_NIFTI_DATATYPE', message: /datatype 128/ },
  { name: 'bitpix disagrees with datatype', bytes: () => edit(base(), (v) => v.setInt16(N1.bitpix, 16, true)), detail: 'E_NIFTI_BITPIX', message: /Expected bitpix 8 .* but received 16/ },
  { name: 'data one byte short', bytes: () => base().slice(0, 352 + 7), detail: 'E_NIFTI_TRUNCATED', message: /Data is 7 bytes but the header promises 8/ },
  { name: 'vox_offset inside the header', bytes: () => edit(base(), (v) => v.setFloat32(N1.voxOffset, 100, true)), detail: 'E_NIFTI_VOX_OFFSET', message: /received 100/ },
  { name: 'fractional vox_offset', bytes: () => edit(base(), (v) => v.setFloat32(N1.voxOffset, 352.5, true)), detail: 'E_NIFTI_VOX_OFFSET', message: /received 352.5/ },
  { name: 'NaN voxel size', bytes: () => edit(base(), (v) => v.setFloat32(N1.pixdim + 4, NaN, true)), detail: 'E_NIFTI_PIXDIM', message: /pixdim\[1\] but received NaN/ },
  { name: 'zero voxel size', bytes: () => edit(base(), (v) => v.setFloat32(N1.pixdim + 8, 0, true)), detail: 'E_NIFTI_PIXDIM', message: /pixdim\[2\] but received 0/ },
  { name: 'infinite scl_slope', bytes: () => edit(base(), (v) => v.setFloat32(N1.slope, Infinity, true)), detail: 'E_NIFTI_SCALE', message: /received Infinity\/0/ },
  { name: 'NaN in srow with sform_code set', bytes: () => edit(base(), (v) => v.setFloat32(N1.srowX + 4, NaN, true)), detail: 'E_NIFTI_AFFINE', message: /srow_x\/y\/z/ },
  {
    name: 'extension with esize 7', detail: 'E_NIFTI_EXTENSION', message: /esize 7/,
    bytes: () => {
      const b = base();
      const out = new Uint8Array(b.length + 16);
      out.set(b.subarray(0, 352));
      out.set(b.subarray(352), 368);
      const v = new DataView(out.buffer);
      v.setFloat32(N1.voxOffset, 368, true);
      out[348] = 1; // extender: extensions follow
      v.setInt32(352, 7, true);
      return out;
    },
  },
  { name: 'NaN voxel (policy error)', bytes: () => edit(base({ float: true }), (v) => v.setFloat32(352 + 4 * 5, NaN, true)), detail: 'E_NIFTI_NONFINITE', message: /1 voxel\(s\) are NaN or infinite \(first at index 5/ },
  { name: 'infinite voxel', bytes: () => edit(base({ float: true }), (v) => v.setFloat32(352, -Infinity, true)), detail: 'E_NIFTI_NONFINITE', message: /value -Infinity/ },
  { name: 'int64 voxel beyond 2^53', bytes: () => edit(encodeNifti({ dims: [1], data: Float64Array.of(1), datatype: 1024 }), (v) => v.setBigInt64(352, 2n ** 60n, true)), detail: 'E_NIFTI_OVERFLOW', message: /1152921504606846976/ },
  { name: 'gzip magic then garbage', bytes: () => Uint8Array.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]), detail: 'E_NIFTI_GZIP', message: /Corrupt gzip data/ },
  { name: 'gzip cut in half', bytes: () => { const g = gzipSync(base()); return g.slice(0, Math.floor(g.length / 2)); }, detail: 'E_NIFTI_GZIP_TRUNCATED', message: /ends early/ },
  {
    name: 'gzip inflating far beyond the header (bomb)', detail: 'E_NIFTI_TOO_LARGE', message: /inflates to more bytes than the header promises/,
    bytes: () => { const b = base(); const big = new Uint8Array(b.length + (4 << 20)); big.set(b); return gzipSync(big); },
  },
];

test(`table of ${CASES.length} malformed files: each a specific E_NIFTI sub-code, from file and from memory`, async () => {
  assert.ok(CASES.length >= 15);
  const dir = tempDir();
  for (const [i, c] of CASES.entries()) {
    const path = join(dir, `bad-${i}.nii`);
    writeFileSync(path, c.bytes());
    await assert.rejects(readNifti(path, c.opts), isCoded(c.code ?? 'E_NIFTI', c.detail, new RegExp(`bad-${i}\\.nii: .*${c.message.source}`)), c.name);
    assert.throws(() => parseNifti(c.bytes(), c.opts), isCoded(c.code ?? 'E_NIFTI', c.detail, c.message), c.name);
  }
});

test('each malformed case differs from a valid file that reads (the table tests the corruption)', () => {
  assert.deepEqual(Array.from(parseNifti(base()).data), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(Array.from(parseNifti(base({ version: 2 })).data), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(Array.from(parseNifti(gzipSync(base())).data), [1, 2, 3, 4, 5, 6, 7, 8]);
});

test("nonFinite: 'zero' replaces NaN/Inf voxels by 0 instead of failing", () => {
  const bytes = edit(base({ float: true }), (v) => { v.setFloat32(352, NaN, true); v.setFloat32(356, Infinity, true); });
  assert.deepEqual(Array.from(parseNifti(bytes, { nonFinite: 'zero' }).data), [0, 0, 3, 4, 5, 6, 7, 8]);
});

test('a missing file is E_IO naming the path; bad options are E_INVALID_ARG', async () => {
  await assert.rejects(readNifti('/nonexistent/x.nii.gz'), isCoded('E_IO', undefined, /\/nonexistent\/x\.nii\.gz/));
  assert.throws(() => parseNifti(base(), { maxVoxels: 0 }), isCoded('E_INVALID_ARG', undefined, /`maxVoxels` but received 0/));
  assert.throws(() => parseNifti(base(), { nonFinite: 'keep' as 'zero' }), isCoded('E_INVALID_ARG', undefined, /received "keep"/));
});
