/**
 * Voxel data of NIfTI files: typed arrays in file order, scaling, non-finite policy, and conversion to
 * a datatype for writing. Header fields live in header.ts; gzip (node:zlib) in gzip.ts. No
 * Node module is imported here: the browser app uses this file as it is.
 */
import { ConvLoraError } from '../../errors.js';
import { NIFTI_DATATYPES, niftiError, type NiftiHeader } from './header.js';

/** Voxel arrays a NiftiVolume may hold (64-bit integers are widened to Float64Array). */
export type NiftiData = Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/** Default voxel limit: 2^27 voxels (a 512^3 volume, 1 GiB as float64); CC359 volumes are ~1.1e7. */
export const DEFAULT_MAX_VOXELS = 2 ** 27;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Voxel count of a validated header: checked for overflow and against `maxVoxels` before allocating. */
export function voxelCount(h: NiftiHeader, maxVoxels: number): number {
  const n = h.dim[0] ?? 0;
  let count = 1n;
  for (let i = 1; i <= n; i++) count *= BigInt(h.dim[i] ?? 1);
  const bytes = count * BigInt(NIFTI_DATATYPES[h.datatype]?.bytes ?? 1) + BigInt(h.voxOffset);
  const dims = h.dim.slice(1, n + 1).join(' x ');
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw niftiError('E_NIFTI_OVERFLOW', `Dimension product ${dims} = ${count} voxels overflows the addressable size`);
  if (count > BigInt(maxVoxels)) throw niftiError('E_NIFTI_TOO_LARGE', `Volume of ${dims} = ${count} voxels exceeds the limit of ${maxVoxels} voxels (option maxVoxels)`);
  return Number(count);
}

/** Expected decompressed length: header, extensions and voxels. */
export function expectedLength(h: NiftiHeader, count: number): number {
  return h.voxOffset + count * (NIFTI_DATATYPES[h.datatype]?.bytes ?? 1);
}

/** Bytes kept past the promised data before a stream counts as oversized (trailing padding is tolerated). */
export const TRAILING_SLACK = 1 << 16;

/**
 * Copy the voxels out of an uncompressed file into a fresh typed array in file order (x fastest),
 * byte-swapping big-endian data. Throws E_NIFTI_TRUNCATED if the file is shorter than promised.
 */
export function decodeVoxels(raw: Uint8Array, h: NiftiHeader, count: number): NiftiData {
  const bpv = NIFTI_DATATYPES[h.datatype]?.bytes ?? 1;
  const need = h.voxOffset + count * bpv;
  if (raw.length < need) {
    throw niftiError('E_NIFTI_TRUNCATED', `Data is ${Math.max(0, raw.length - h.voxOffset)} bytes but the header promises ${count * bpv} (${h.dim.slice(1, (h.dim[0] ?? 0) + 1).join(' x ')} x ${bpv} bytes)`);
  }
  const copy = new Uint8Array(raw.buffer, raw.byteOffset + h.voxOffset, count * bpv).slice();
  if (!h.littleEndian && bpv > 1) {
    // Reverse each value's bytes in place (Buffer's swap16/32/64, which the browser does not have).
    for (let at = 0; at < copy.length; at += bpv) {
      for (let i = 0, j = bpv - 1; i < j; i++, j--) { const t = copy[at + i]!; copy[at + i] = copy[at + j]!; copy[at + j] = t; }
    }
  }
  const buf = copy.buffer;
  switch (h.datatype) {
    case 2: return copy;
    case 4: return new Int16Array(buf);
    case 8: return new Int32Array(buf);
    case 16: return new Float32Array(buf);
    case 64: return new Float64Array(buf);
    case 256: return new Int8Array(buf);
    case 512: return new Uint16Array(buf);
    case 768: return new Uint32Array(buf);
    default: return widen64(h.datatype === 1024 ? new BigInt64Array(buf) : new BigUint64Array(buf));
  }
}

function widen64(src: BigInt64Array | BigUint64Array): Float64Array {
  const out = new Float64Array(src.length);
  const max = BigInt(Number.MAX_SAFE_INTEGER), min = -max;
  for (let i = 0; i < src.length; i++) {
    const v = src[i] ?? 0n;
    if (v > max || v < min) throw niftiError('E_NIFTI_OVERFLOW', `64-bit voxel ${i} holds ${v}, beyond the exactly representable range +-2^53`);
    out[i] = Number(v);
  }
  return out;
}

/** Whether a header's scl_slope/scl_inter change values (slope 0 or NaN means "no scaling"). */
export function hasScaling(h: NiftiHeader): boolean {
  const inter = Number.isNaN(h.sclInter) ? 0 : h.sclInter;
  return Number.isFinite(h.sclSlope) && h.sclSlope !== 0 && !(h.sclSlope === 1 && inter === 0);
}

/** Apply scl_slope/scl_inter into a Float32Array. */
export function applyScaling(data: NiftiData, h: NiftiHeader): Float32Array {
  const slope = h.sclSlope, inter = Number.isNaN(h.sclInter) ? 0 : h.sclInter;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] ?? 0) * slope + inter;
  return out;
}

/**
 * NaN/Inf policy for float voxels: 'error' (default) throws E_NIFTI_NONFINITE naming the count and
 * the first index; 'zero' replaces them by 0 in place.
 */
export function checkFinite(data: NiftiData, policy: 'error' | 'zero'): void {
  if (!(data instanceof Float32Array || data instanceof Float64Array)) return;
  let count = 0, first = -1;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      if (count === 0) first = i;
      count++;
      if (policy === 'zero') data[i] = 0;
    }
  }
  if (count > 0 && policy === 'error') {
    throw niftiError('E_NIFTI_NONFINITE', `${count} voxel(s) are NaN or infinite (first at index ${first}, value ${data[first]}); pass nonFinite: 'zero' to replace them by 0`);
  }
}

/** The NIfTI datatype code natural for a typed array. */
export function datatypeOf(data: NiftiData): number {
  if (data instanceof Uint8Array) return 2;
  if (data instanceof Int8Array) return 256;
  if (data instanceof Int16Array) return 4;
  if (data instanceof Uint16Array) return 512;
  if (data instanceof Int32Array) return 8;
  if (data instanceof Uint32Array) return 768;
  if (data instanceof Float32Array) return 16;
  return 64;
}

const INT_RANGE: Record<number, [number, number]> = {
  2: [0, 255], 256: [-128, 127], 4: [-32768, 32767], 512: [0, 65535],
  8: [-2147483648, 2147483647], 768: [0, 4294967295],
  1024: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], 1280: [0, Number.MAX_SAFE_INTEGER],
};

/**
 * Little-endian bytes of `data` stored as `datatype`. With `unscale` = [slope, inter], floats are
 * stored as round((v - inter) / slope). Integer targets need integral values in range: anything else
 * throws E_INVALID_ARG naming the first offending voxel (no silent clamping).
 */
export function encodeVoxels(data: NiftiData, datatype: number, unscale?: [number, number]): Uint8Array {
  const bpv = NIFTI_DATATYPES[datatype]?.bytes;
  if (bpv === undefined) throw new ConvLoraError('E_INVALID_ARG', `Expected a supported NIfTI datatype for \`datatype\` but received ${datatype}`);
  const out = new Uint8Array(data.length * bpv);
  const buf = out.buffer;
  const range = INT_RANGE[datatype];
  if (range === undefined) {
    const target = datatype === 16 ? new Float32Array(buf) : new Float64Array(buf);
    target.set(data);
    return out;
  }
  const target = intView(datatype, buf);
  const [slope, inter] = unscale ?? [1, 0];
  for (let i = 0; i < data.length; i++) {
    const raw = data[i] ?? 0;
    const v = unscale === undefined ? raw : Math.round((raw - inter) / slope);
    if (!Number.isInteger(v) || v < range[0] || v > range[1]) {
      throw new ConvLoraError('E_INVALID_ARG', `Expected integers in [${range[0]}, ${range[1]}] for \`data\` stored as ${NIFTI_DATATYPES[datatype]?.name} but received ${raw} at index ${i}`);
    }
    if (target instanceof BigInt64Array || target instanceof BigUint64Array) target[i] = BigInt(v);
    else target[i] = v;
  }
  return out;
}

function intView(datatype: number, buf: ArrayBufferLike): Exclude<NiftiData, Float32Array | Float64Array> | BigInt64Array | BigUint64Array {
  switch (datatype) {
    case 2: return new Uint8Array(buf);
    case 256: return new Int8Array(buf);
    case 4: return new Int16Array(buf);
    case 512: return new Uint16Array(buf);
    case 8: return new Int32Array(buf);
    case 768: return new Uint32Array(buf);
    case 1024: return new BigInt64Array(buf);
    default: return new BigUint64Array(buf);
  }
}
