/**
 * NIfTI-1/NIfTI-2 bytes to volumes and back, with no Node module: decoding with a caller's inflater
 * (Node: gzip.ts; the browser: DecompressionStream), encoding uncompressed. index.ts adds files
 * and gzip for Node; the browser app uses this file as it is.
 *
 * Arrays are in file order: for dims [nx, ny, nz] voxel (i, j, k) is at i + nx * (j + ny * k).
 */
import { ConvLoraError, checkInt, invalidArg } from '../../errors.js';
import { affineDistance, affineToQuatern, niftiAffine, type Affine } from './affine.js';
import {
  DEFAULT_MAX_VOXELS, TRAILING_SLACK, applyScaling, checkFinite, datatypeOf, decodeVoxels, encodeVoxels,
  expectedLength, hasScaling, isGzip, voxelCount, type NiftiData,
} from './codec.js';
import { encodeExtensions, niftiExtensions } from './extensions.js';
import { HEADER_SIZE, NIFTI_DATATYPES, defaultHeader, niftiError, parseHeader, writeHeader, type NiftiHeader } from './header.js';

/** A decoded NIfTI image. */
export interface NiftiVolume {
  /** header dim[1..dim[0]], x first. */
  dims: number[];
  /** |pixdim[1..dim[0]]|, millimetres for spatial axes. */
  spacing: number[];
  /** NIfTI datatype code of the stored voxels (2 uint8, 4 int16, 16 float32, ...). */
  datatype: number;
  /** Voxels in file order; scaled into a Float32Array when scl_slope is set and not (1, 0). */
  data: NiftiData;
  /** 4x4 voxel-to-world: sform if sform_code > 0, else qform if qform_code > 0, else the pixdim diagonal. */
  affine: Affine;
  /** Every raw header field, for writing the image (or a mask on its grid) back. */
  header: NiftiHeader;
}

export interface ReadOptions {
  /** Refuse volumes with more voxels than this (checked before allocating). Default 2^27. */
  maxVoxels?: number;
  /** NaN/Inf voxels: 'error' (default, E_NIFTI_NONFINITE) or 'zero' (replaced by 0). */
  nonFinite?: 'error' | 'zero';
}

export function readOpts(opts: ReadOptions): { maxVoxels: number; nonFinite: 'error' | 'zero' } {
  const maxVoxels = opts.maxVoxels ?? DEFAULT_MAX_VOXELS;
  if (!(maxVoxels >= 1)) invalidArg('maxVoxels', 'a number >= 1', maxVoxels);
  const nonFinite = opts.nonFinite ?? 'error';
  if (nonFinite !== 'error' && nonFinite !== 'zero') invalidArg('nonFinite', "'error' or 'zero'", nonFinite);
  return { maxVoxels, nonFinite };
}

export function toVolume(raw: Uint8Array, header: NiftiHeader, count: number, nonFinite: 'error' | 'zero'): NiftiVolume {
  const stored = decodeVoxels(raw, header, count);
  checkFinite(stored, nonFinite);
  const n = header.dim[0] ?? 0;
  return {
    dims: header.dim.slice(1, n + 1),
    spacing: header.pixdim.slice(1, n + 1).map(Math.abs),
    datatype: header.datatype,
    data: hasScaling(header) ? applyScaling(stored, header) : stored,
    affine: niftiAffine(header),
    header,
  };
}

/** What writeNifti accepts: a NiftiVolume, or the parts of one. */
export interface NiftiWriteInput {
  dims: readonly number[];
  data: NiftiData;
  /** Voxel sizes in mm; default: the header's pixdim or the affine's column norms, else 1. */
  spacing?: readonly number[];
  /** Voxel-to-world; written as sform and (when it is a rotation times zooms) qform. */
  affine?: Affine;
  /** Stored datatype; default: the natural code of `data`'s array type. */
  datatype?: number;
  /**
   * Header to start from (e.g. the source image's): keeps its codes, units, descrip and extension records
   * (walked and re-encoded; a chain that does not end where its area does is E_NIFTI_EXTENSION).
   */
  header?: NiftiHeader;
}

export interface WriteOptions {
  /** NIfTI-1 or NIfTI-2; default: the header's version, else 1 (2 when a dim exceeds 32767). */
  version?: 1 | 2;
  /** gzip the file; default: whether the path ends in `.gz`. */
  gzip?: boolean;
  /** gzip level 0-9 (default 6). */
  level?: number;
}

/** Header fields for `input`: start from its header (or a blank one), then set dims, type, spacing, affine. */
function buildHeader(input: NiftiWriteInput, datatype: number, version: 1 | 2, keepScale: boolean): NiftiHeader {
  const src = input.header;
  const h: NiftiHeader = { ...defaultHeader(version), ...(src ?? {}), version, littleEndian: true };
  h.dim = [input.dims.length, ...input.dims, ...Array<number>(7 - input.dims.length).fill(1)];
  h.pixdim = [...h.pixdim];
  if (!keepScale) {
    const trivial = !hasScaling(h);
    if (!trivial) { h.sclSlope = 1; h.sclInter = 0; }
    if (src !== undefined && src.datatype !== datatype) { h.calMin = 0; h.calMax = 0; }
  }
  h.datatype = datatype;
  h.bitpix = (NIFTI_DATATYPES[datatype]?.bytes ?? 1) * 8;
  // The source's records, walked (a malformed chain is refused, not copied) and re-encoded little-endian.
  h.extensions = encodeExtensions(src === undefined ? [] : niftiExtensions(src));
  h.voxOffset = HEADER_SIZE[version] + h.extensions.length;
  if (input.affine !== undefined) setAffine(h, input.affine, src !== undefined);
  if (input.spacing !== undefined) input.spacing.forEach((s, i) => { h.pixdim[i + 1] = s; });
  return h;
}

/**
 * Store `affine` as sform and qform, unless the source header already encodes exactly it (so a file
 * read and written back keeps its codes, even 0/0). A fresh header always gets codes, so other tools
 * (which centre a code-less grid differently) see the same world coordinates.
 */
function setAffine(h: NiftiHeader, affine: Affine, fromSource: boolean): void {
  if ((fromSource || h.sformCode > 0 || h.qformCode > 0) && affineDistance(niftiAffine(h), affine) < 1e-9) return;
  const code = h.sformCode > 0 ? h.sformCode : h.qformCode > 0 ? h.qformCode : 1;
  h.sformCode = code;
  const row = (i: number): number[] => [0, 1, 2, 3].map((j) => affine[i]?.[j] ?? 0);
  h.srowX = row(0); h.srowY = row(1); h.srowZ = row(2);
  const q = affineToQuatern(affine);
  if (q === null) { h.qformCode = 0; return; }
  h.qformCode = h.qformCode > 0 ? h.qformCode : code;
  Object.assign(h, { quaternB: q.b, quaternC: q.c, quaternD: q.d, qoffsetX: q.qx, qoffsetY: q.qy, qoffsetZ: q.qz });
  h.pixdim[0] = q.qfac;
  q.zooms.forEach((z, i) => { h.pixdim[i + 1] = z; });
}

function checkInput(input: NiftiWriteInput): void {
  if (!Array.isArray(input.dims) || input.dims.length < 1 || input.dims.length > 7) invalidArg('dims', 'an array of 1 to 7 dimensions', input.dims);
  input.dims.forEach((d, i) => checkInt(`dims[${i}]`, d, 1));
  const count = input.dims.reduce((a, b) => a * b, 1);
  if (input.data.length !== count) {
    throw new ConvLoraError('E_SHAPE', `Expected ${count} voxels for dims [${input.dims.join(', ')}] but \`data\` has ${input.data.length}`);
  }
}

/** Encode a volume as uncompressed NIfTI bytes (little-endian); `opts.gzip` and `opts.level` are for the caller's deflater. */
export function encodeNiftiRaw(input: NiftiWriteInput, opts: Pick<WriteOptions, 'version'> = {}): Uint8Array {
  checkInput(input);
  const datatype = input.datatype ?? datatypeOf(input.data);
  if (NIFTI_DATATYPES[datatype] === undefined) invalidArg('datatype', 'a supported NIfTI datatype code', datatype);
  const big = input.dims.some((d) => d > 32767);
  const version = opts.version ?? input.header?.version ?? (big ? 2 : 1);
  if (version === 1 && big) invalidArg('version', 'NIfTI-2 for dimensions above 32767', version);
  const src = input.header;
  // Integer files with scl_slope keep it: raw integer data is written as is, and a float volume read
  // with scaling goes back to its stored integers through the same slope. Anything else is stored unscaled.
  // 64-bit integers are read into a Float64Array as stored (scaled, into a Float32Array), so a Float64Array
  // of them is raw data.
  const keepScale = src !== undefined && hasScaling(src) && datatype === src.datatype && datatype !== 16 && datatype !== 64;
  const raw64 = input.data instanceof Float64Array && (datatype === 1024 || datatype === 1280);
  const unscale = keepScale && !raw64 && (input.data instanceof Float32Array || input.data instanceof Float64Array);
  const h = buildHeader(input, datatype, version, keepScale);
  const voxels = encodeVoxels(input.data, datatype, unscale ? [h.sclSlope, Number.isNaN(h.sclInter) ? 0 : h.sclInter] : undefined);
  const out = new Uint8Array(h.voxOffset + voxels.length);
  writeHeader(h, out);
  out.set(voxels, h.voxOffset);
  return out;
}

/** Inflate a whole gzip stream, refusing output beyond `limit` bytes (a coded error on corrupt data). */
export type Inflate = (bytes: Uint8Array, limit: number) => Promise<Uint8Array>;

/**
 * Decode NIfTI bytes, inflating gzip (detected by its magic bytes) with `inflate`. The whole stream is
 * inflated before the header is read, within the voxel limit's bytes, so a huge stream is refused.
 */
export async function decodeNifti(bytes: Uint8Array, inflate: Inflate, opts: ReadOptions = {}): Promise<NiftiVolume> {
  const { maxVoxels, nonFinite } = readOpts(opts);
  const raw = isGzip(bytes) ? await inflate(bytes, maxVoxels * 8 + 352 + TRAILING_SLACK) : bytes;
  const header = parseHeader(raw);
  const count = voxelCount(header, maxVoxels);
  if (raw.length > expectedLength(header, count) + TRAILING_SLACK && isGzip(bytes)) {
    throw niftiError('E_NIFTI_TOO_LARGE', 'The gzip stream inflates to more bytes than the header promises');
  }
  return toVolume(raw, header, count, nonFinite);
}
