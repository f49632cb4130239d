/**
 * Reading and writing NIfTI-1/NIfTI-2 volumes (`.nii`, `.nii.gz`).
 *
 * Arrays are in file order: for dims [nx, ny, nz] voxel (i, j, k) is at i + nx * (j + ny * k),
 * i.e. x fastest. Reversing `dims` gives the C-order shape [nz, ny, nx].
 */
import { promises as fsp } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { ConvLoraError } from '../../errors.js';
import { writeFileAtomic, writeFileAtomicSync } from '../../fsutil.js';
import { TRAILING_SLACK, expectedLength, isGzip, voxelCount } from './codec.js';
import { gunzipAll, gunzipAllAsync, gunzipPrefix, headerOf } from './gzip.js';
import { encodeNiftiRaw, readOpts, toVolume, type NiftiVolume, type NiftiWriteInput, type ReadOptions, type WriteOptions } from './bytes.js';
import { parseHeader, type NiftiHeader } from './header.js';

export type { NiftiData } from './codec.js';
export type { NiftiHeader } from './header.js';
export type { Affine } from './affine.js';
export { decodeNifti, encodeNiftiRaw, type Inflate, type NiftiVolume, type NiftiWriteInput, type ReadOptions, type WriteOptions } from './bytes.js';

/** Decode a NIfTI file held in memory (gzip detected from its magic bytes, not its name). */
export function parseNifti(bytes: Uint8Array, opts: ReadOptions = {}): NiftiVolume {
  const { maxVoxels, nonFinite } = readOpts(opts);
  if (!isGzip(bytes)) {
    const header = parseHeader(bytes);
    return toVolume(bytes, header, voxelCount(header, maxVoxels), nonFinite);
  }
  // The header of the inflated prefix bounds the inflation; the whole file's has the whole extension area.
  const prefix = parseHeader(gunzipPrefix(bytes, 544));
  const count = voxelCount(prefix, maxVoxels);
  const raw = gunzipAll(bytes, expectedLength(prefix, count) + TRAILING_SLACK);
  return toVolume(raw, parseHeader(raw), count, nonFinite);
}

/** Prefix a coded error with the file it came from; other errors become E_IO. */
function withPath(path: string, err: unknown): ConvLoraError {
  if (err instanceof ConvLoraError) {
    const options = err.detail === undefined ? { cause: err } : { cause: err, detail: err.detail };
    return new ConvLoraError(err.code, `${path}: ${err.message}`, options);
  }
  return new ConvLoraError('E_IO', `Could not read ${path}: ${(err as Error).message}`, { cause: err });
}

/** Read a `.nii` or `.nii.gz` file; decompression runs on the libuv thread pool. */
export async function readNifti(path: string, opts: ReadOptions = {}): Promise<NiftiVolume> {
  const { maxVoxels, nonFinite } = readOpts(opts);
  try {
    const bytes = await fsp.readFile(path);
    if (!isGzip(bytes)) return parseNifti(bytes, { maxVoxels, nonFinite });
    const prefix = parseHeader(gunzipPrefix(bytes, 544));
    const count = voxelCount(prefix, maxVoxels);
    const raw = await gunzipAllAsync(bytes, expectedLength(prefix, count) + TRAILING_SLACK);
    return toVolume(raw, parseHeader(raw), count, nonFinite);
  } catch (err) {
    throw withPath(path, err);
  }
}

/** Read and validate only the header, its extension area whole (the voxel data is neither inflated nor checked). */
export async function readNiftiHeader(path: string, opts: Pick<ReadOptions, 'maxVoxels'> = {}): Promise<NiftiHeader> {
  const { maxVoxels } = readOpts(opts);
  let fh: Awaited<ReturnType<typeof fsp.open>> | undefined;
  try {
    fh = await fsp.open(path, 'r');
    const { size } = await fh.stat();
    // 64 KiB holds the header of any plain file and, compressed, of all but pathological gzip files.
    const buf = new Uint8Array(Math.min(size, 1 << 16));
    await fh.read(buf, 0, buf.length, 0);
    let header: NiftiHeader;
    try {
      header = headerOf(buf);
    } catch (err) {
      // A gzip header that needs more than the first 64 KiB: inflate the prefix of the whole file.
      const short = err instanceof ConvLoraError && err.detail === 'E_NIFTI_GZIP_TRUNCATED';
      if (!short || size <= buf.length) throw err;
      header = headerOf(await fsp.readFile(path));
    }
    if (!isGzip(buf) && header.voxOffset > buf.length && size > buf.length) {
      // An extension area beyond the first 64 KiB of a plain file: read on to vox_offset for it whole.
      const more = new Uint8Array(Math.min(size, header.voxOffset));
      await fh.read(more, 0, more.length, 0);
      header = parseHeader(more);
    }
    voxelCount(header, maxVoxels);
    return header;
  } catch (err) {
    throw withPath(path, err);
  } finally {
    await fh?.close();
  }
}

/** Encode a volume as NIfTI bytes (little-endian; gzip if `opts.gzip`). */
export function encodeNifti(input: NiftiWriteInput, opts: WriteOptions = {}): Uint8Array {
  const out = encodeNiftiRaw(input, opts.version === undefined ? {} : { version: opts.version });
  return opts.gzip === true ? gzipSync(out, { level: opts.level ?? 6 }) : out;
}

function gzipFor(path: string, opts: WriteOptions): WriteOptions {
  return { ...opts, gzip: opts.gzip ?? path.endsWith('.gz') };
}

/** Write a volume atomically (temporary file, then rename): never a half-written output. */
export async function writeNifti(path: string, input: NiftiWriteInput, opts: WriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeNifti(input, gzipFor(path, opts)));
}

/** Synchronous form of writeNifti. */
export function writeNiftiSync(path: string, input: NiftiWriteInput, opts: WriteOptions = {}): void {
  writeFileAtomicSync(path, encodeNifti(input, gzipFor(path, opts)));
}
