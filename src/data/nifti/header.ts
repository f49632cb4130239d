/**
 * NIfTI-1 (348-byte) and NIfTI-2 (540-byte) headers: a table of fields read and written
 * symmetrically, so a header read from disk is written back field for field.
 *
 * Only single-file images (`n+1`, `n+2`) are supported; detached `.hdr`/`.img` pairs are refused.
 */
import { ConvLoraError } from '../../errors.js';
import { walkExtensions } from './extensions.js';

/** NIfTI datatype codes this library reads and writes, with bytes per voxel. */
export const NIFTI_DATATYPES: Readonly<Record<number, { name: string; bytes: number }>> = {
  2: { name: 'uint8', bytes: 1 },
  4: { name: 'int16', bytes: 2 },
  8: { name: 'int32', bytes: 4 },
  16: { name: 'float32', bytes: 4 },
  64: { name: 'float64', bytes: 8 },
  256: { name: 'int8', bytes: 1 },
  512: { name: 'uint16', bytes: 2 },
  768: { name: 'uint32', bytes: 4 },
  1024: { name: 'int64', bytes: 8 },
  1280: { name: 'uint64', bytes: 8 },
};

/** Every header field needed to write a file back as it was read. Lengths: dim/pixdim 8, srow* 4. */
export interface NiftiHeader {
  version: 1 | 2;
  littleEndian: boolean;
  dimInfo: number;
  dim: number[];
  intentP1: number;
  intentP2: number;
  intentP3: number;
  intentCode: number;
  intentName: string;
  datatype: number;
  bitpix: number;
  sliceStart: number;
  sliceEnd: number;
  sliceCode: number;
  sliceDuration: number;
  pixdim: number[];
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  xyztUnits: number;
  calMax: number;
  calMin: number;
  toffset: number;
  descrip: string;
  auxFile: string;
  qformCode: number;
  sformCode: number;
  quaternB: number;
  quaternC: number;
  quaternD: number;
  qoffsetX: number;
  qoffsetY: number;
  qoffsetZ: number;
  srowX: number[];
  srowY: number[];
  srowZ: number[];
  /**
   * The whole extension area, in the header's byte order: the bytes between the end of the header and
   * vox_offset (the 4-byte extender and the chain of records; see extensions.ts). Empty when there
   * is no extender, or when the header was parsed from a prefix of the file that ends before vox_offset:
   * an area is never cut short.
   */
  extensions: Uint8Array;
}

type Kind = 'u8' | 'i16' | 'i32' | 'i64' | 'f32' | 'f64' | `s${number}`;
type FieldName = Exclude<keyof NiftiHeader, 'version' | 'littleEndian' | 'extensions'>;
/** [field, NIfTI-1 offset, NIfTI-1 kind, NIfTI-2 offset, NIfTI-2 kind, array length (1 = scalar)]. */
type FieldSpec = [FieldName, number, Kind, number, Kind, number];

const FIELDS: FieldSpec[] = [
  ['dimInfo', 39, 'u8', 524, 'u8', 1],
  ['dim', 40, 'i16', 16, 'i64', 8],
  ['intentP1', 56, 'f32', 80, 'f64', 1],
  ['intentP2', 60, 'f32', 88, 'f64', 1],
  ['intentP3', 64, 'f32', 96, 'f64', 1],
  ['intentCode', 68, 'i16', 504, 'i32', 1],
  ['datatype', 70, 'i16', 12, 'i16', 1],
  ['bitpix', 72, 'i16', 14, 'i16', 1],
  ['sliceStart', 74, 'i16', 224, 'i64', 1],
  ['pixdim', 76, 'f32', 104, 'f64', 8],
  ['voxOffset', 108, 'f32', 168, 'i64', 1],
  ['sclSlope', 112, 'f32', 176, 'f64', 1],
  ['sclInter', 116, 'f32', 184, 'f64', 1],
  ['sliceEnd', 120, 'i16', 232, 'i64', 1],
  ['sliceCode', 122, 'u8', 496, 'i32', 1],
  ['xyztUnits', 123, 'u8', 500, 'i32', 1],
  ['calMax', 124, 'f32', 192, 'f64', 1],
  ['calMin', 128, 'f32', 200, 'f64', 1],
  ['sliceDuration', 132, 'f32', 208, 'f64', 1],
  ['toffset', 136, 'f32', 216, 'f64', 1],
  ['descrip', 148, 's80', 240, 's80', 1],
  ['auxFile', 228, 's24', 320, 's24', 1],
  ['qformCode', 252, 'i16', 344, 'i32', 1],
  ['sformCode', 254, 'i16', 348, 'i32', 1],
  ['quaternB', 256, 'f32', 352, 'f64', 1],
  ['quaternC', 260, 'f32', 360, 'f64', 1],
  ['quaternD', 264, 'f32', 368, 'f64', 1],
  ['qoffsetX', 268, 'f32', 376, 'f64', 1],
  ['qoffsetY', 272, 'f32', 384, 'f64', 1],
  ['qoffsetZ', 276, 'f32', 392, 'f64', 1],
  ['srowX', 280, 'f32', 400, 'f64', 4],
  ['srowY', 296, 'f32', 432, 'f64', 4],
  ['srowZ', 312, 'f32', 464, 'f64', 4],
  ['intentName', 328, 's16', 508, 's16', 1],
];

const SIZES: Record<string, number> = { u8: 1, i16: 2, i32: 4, i64: 8, f32: 4, f64: 8 };
/** Header sizes in bytes; the data may start no earlier than this. */
export const HEADER_SIZE = { 1: 348, 2: 540 } as const;
const MAGIC2_TAIL = [0x0d, 0x0a, 0x1a, 0x0a];

export function niftiError(detail: string, message: string, cause?: unknown): ConvLoraError {
  return new ConvLoraError('E_NIFTI', message, cause === undefined ? { detail } : { detail, cause });
}

function readValue(view: DataView, off: number, kind: Kind, le: boolean): number | string {
  switch (kind) {
    case 'u8': return view.getUint8(off);
    case 'i16': return view.getInt16(off, le);
    case 'i32': return view.getInt32(off, le);
    case 'i64': {
      const v = view.getBigInt64(off, le);
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw niftiError('E_NIFTI_OVERFLOW', `64-bit header field at byte ${off} is ${v}, beyond the safe integer range`);
      }
      return Number(v);
    }
    case 'f32': return view.getFloat32(off, le);
    case 'f64': return view.getFloat64(off, le);
    default: {
      const bytes = new Uint8Array(view.buffer, view.byteOffset + off, Number(kind.slice(1)));
      const end = bytes.indexOf(0);
      return latin1(end < 0 ? bytes : bytes.subarray(0, end));
    }
  }
}

/** Bytes as Latin-1 text (one character per byte), without Node's Buffer (the browser app reads headers too). */
function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** Text as Latin-1 bytes: the low byte of each UTF-16 code unit, as Buffer's 'latin1' encoding does. */
function latin1Bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

function writeValue(view: DataView, off: number, kind: Kind, value: number | string): void {
  switch (kind) {
    case 'u8': view.setUint8(off, Number(value)); break;
    case 'i16': view.setInt16(off, Number(value), true); break;
    case 'i32': view.setInt32(off, Number(value), true); break;
    case 'i64': view.setBigInt64(off, BigInt(Math.trunc(Number(value))), true); break;
    case 'f32': view.setFloat32(off, Number(value), true); break;
    case 'f64': view.setFloat64(off, Number(value), true); break;
    default: {
      const len = Number(kind.slice(1));
      const src = latin1Bytes(String(value)).subarray(0, len - 1);
      new Uint8Array(view.buffer, view.byteOffset + off, len).set(src);
    }
  }
}

/** Which version and byte order the first four bytes announce, or a coded error. */
function detectVersion(bytes: Uint8Array): { version: 1 | 2; le: boolean } {
  if (bytes.length < 4) throw niftiError('E_NIFTI_HEADER_TRUNCATED', `File is ${bytes.length} bytes long, too short for a NIfTI header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 4);
  for (const le of [true, false]) {
    const n = view.getInt32(0, le);
    if (n === 348) return { version: 1, le };
    if (n === 540) return { version: 2, le };
  }
  throw niftiError('E_NIFTI_HEADER_SIZE', `Expected sizeof_hdr 348 (NIfTI-1) or 540 (NIfTI-2) but received ${view.getInt32(0, true)}`);
}

function checkMagic(bytes: Uint8Array, version: 1 | 2): void {
  const at = version === 1 ? 344 : 4;
  const m = latin1(bytes.subarray(at, at + 4));
  const single = version === 1 ? 'n+1\0' : 'n+2\0';
  const pair = version === 1 ? 'ni1\0' : 'ni2\0';
  if (m === pair) throw niftiError('E_NIFTI_PAIR', `Detached .hdr/.img NIfTI pairs are not supported (magic ${JSON.stringify(m)}); convert to a single .nii file`);
  const tailOk = version === 1 || MAGIC2_TAIL.every((b, i) => bytes[8 + i] === b);
  if (m !== single || !tailOk) throw niftiError('E_NIFTI_MAGIC', `Expected NIfTI-${version} magic ${JSON.stringify(single)} but received ${JSON.stringify(m)}`);
}

/**
 * Parse and validate a header from the first bytes of an (uncompressed) NIfTI file: the whole file, or a
 * prefix of it (then `extensions` is empty unless the prefix reaches vox_offset).
 * Throws E_NIFTI with detail E_NIFTI_HEADER_TRUNCATED, _HEADER_SIZE, _MAGIC, _PAIR, _DIM_COUNT,
 * _DIM, _OVERFLOW, _DATATYPE, _BITPIX, _VOX_OFFSET, _PIXDIM, _SCALE, _AFFINE or _EXTENSION.
 */
export function parseHeader(bytes: Uint8Array): NiftiHeader {
  const { version, le } = detectVersion(bytes);
  const size = HEADER_SIZE[version];
  if (bytes.length < size) throw niftiError('E_NIFTI_HEADER_TRUNCATED', `File is ${bytes.length} bytes long, shorter than the ${size}-byte NIfTI-${version} header`);
  checkMagic(bytes, version);
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  const h: Record<string, unknown> = { version, littleEndian: le };
  for (const [name, off1, kind1, off2, kind2, count] of FIELDS) {
    const off = version === 1 ? off1 : off2;
    const kind = version === 1 ? kind1 : kind2;
    if (count === 1) h[name] = readValue(view, off, kind, le);
    else h[name] = Array.from({ length: count }, (_, i) => readValue(view, off + i * (SIZES[kind] ?? 0), kind, le) as number);
  }
  const header = h as unknown as NiftiHeader;
  header.extensions = new Uint8Array(0);
  validateHeader(header);
  // A prefix of the file (a partial read) is still checked as far as it goes, but gives no extensions.
  const records = walkExtensions(bytes, { headerSize: size, voxOffset: header.voxOffset, littleEndian: le });
  // A copy, as a plain Uint8Array: a Buffer's slice() would be a view keeping the whole file alive.
  if (records !== null) header.extensions = new Uint8Array(bytes.subarray(size, header.voxOffset));
  return header;
}

function validateHeader(h: NiftiHeader): void {
  const n = h.dim[0] ?? 0;
  if (!Number.isInteger(n) || n < 1 || n > 7) throw niftiError('E_NIFTI_DIM_COUNT', `Expected dim[0] in 1..7 but received ${n}`);
  for (let i = 1; i <= n; i++) {
    const d = h.dim[i] ?? 0;
    if (d < 1) throw niftiError('E_NIFTI_DIM', `Expected dim[${i}] >= 1 but received ${d} (dim = [${h.dim.slice(0, n + 1).join(', ')}])`);
  }
  const dt = NIFTI_DATATYPES[h.datatype];
  if (dt === undefined) throw niftiError('E_NIFTI_DATATYPE', `Unsupported NIfTI datatype ${h.datatype}; supported: ${Object.entries(NIFTI_DATATYPES).map(([k, v]) => `${k} (${v.name})`).join(', ')}`);
  if (h.bitpix !== dt.bytes * 8) throw niftiError('E_NIFTI_BITPIX', `Expected bitpix ${dt.bytes * 8} for datatype ${h.datatype} (${dt.name}) but received ${h.bitpix}`);
  const size = HEADER_SIZE[h.version];
  if (!Number.isInteger(h.voxOffset) || h.voxOffset < size) throw niftiError('E_NIFTI_VOX_OFFSET', `Expected an integer vox_offset >= ${size} but received ${h.voxOffset}`);
  for (let i = 1; i <= Math.min(n, 3); i++) {
    const p = h.pixdim[i] ?? 0;
    if (!Number.isFinite(p) || p === 0) throw niftiError('E_NIFTI_PIXDIM', `Expected a finite non-zero voxel size in pixdim[${i}] but received ${p}`);
  }
  const slopeUsed = Number.isFinite(h.sclSlope) && h.sclSlope !== 0;
  if (h.sclSlope === Infinity || h.sclSlope === -Infinity || (slopeUsed && (h.sclInter === Infinity || h.sclInter === -Infinity))) {
    throw niftiError('E_NIFTI_SCALE', `Expected finite scl_slope/scl_inter but received ${h.sclSlope}/${h.sclInter}`);
  }
  const srow = [...h.srowX, ...h.srowY, ...h.srowZ];
  const quat = [h.quaternB, h.quaternC, h.quaternD, h.qoffsetX, h.qoffsetY, h.qoffsetZ];
  if ((h.sformCode > 0 && !srow.every(Number.isFinite)) || (h.qformCode > 0 && !quat.every(Number.isFinite))) {
    throw niftiError('E_NIFTI_AFFINE', `Non-finite ${h.sformCode > 0 && !srow.every(Number.isFinite) ? 'srow_x/y/z' : 'quatern/qoffset'} in a header whose ${h.sformCode > 0 ? 'sform' : 'qform'}_code is set`);
  }
}

/**
 * Serialize a header (always little-endian) into the first bytes of `out`, then `h.extensions` as they
 * are: the writer (bytes.ts) sets them to an area encoded little-endian, its chain walked.
 */
export function writeHeader(h: NiftiHeader, out: Uint8Array): void {
  const size = HEADER_SIZE[h.version];
  const view = new DataView(out.buffer, out.byteOffset, size);
  view.setInt32(0, size, true);
  for (const [name, off1, kind1, off2, kind2, count] of FIELDS) {
    const off = h.version === 1 ? off1 : off2;
    const kind = h.version === 1 ? kind1 : kind2;
    const value = h[name];
    if (count === 1) writeValue(view, off, kind, value as number | string);
    else (value as number[]).forEach((v, i) => writeValue(view, off + i * (SIZES[kind] ?? 0), kind, v));
  }
  if (h.version === 1) {
    out[38] = 0x72; // 'r': the legacy `regular` flag, as NIfTI tools write it
    out.set(latin1Bytes('n+1\0'), 344);
  } else {
    out.set([0x6e, 0x2b, 0x32, 0x00, ...MAGIC2_TAIL], 4);
  }
  out.set(h.extensions, size);
}

/** A header for a fresh image: identity everything, no scaling, no affine codes. */
export function defaultHeader(version: 1 | 2): NiftiHeader {
  return {
    version, littleEndian: true, dimInfo: 0, dim: [0, 1, 1, 1, 1, 1, 1, 1],
    intentP1: 0, intentP2: 0, intentP3: 0, intentCode: 0, intentName: '',
    datatype: 2, bitpix: 8, sliceStart: 0, sliceEnd: 0, sliceCode: 0, sliceDuration: 0,
    pixdim: [1, 1, 1, 1, 1, 1, 1, 1], voxOffset: HEADER_SIZE[version] + 4,
    sclSlope: 1, sclInter: 0, xyztUnits: 2 /* millimetres */, calMax: 0, calMin: 0, toffset: 0,
    descrip: '', auxFile: '', qformCode: 0, sformCode: 0,
    quaternB: 0, quaternC: 0, quaternD: 0, qoffsetX: 0, qoffsetY: 0, qoffsetZ: 0,
    srowX: [1, 0, 0, 0], srowY: [0, 1, 0, 0], srowZ: [0, 0, 1, 0],
    extensions: new Uint8Array(4),
  };
}
