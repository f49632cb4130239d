/**
 * gzip for NIfTI files in Node (node:zlib): inflating only a header's prefix, whole streams with an
 * output limit, and the coded errors of corrupt or truncated streams. The browser has its own inflater
 * (DecompressionStream); everything else about NIfTI bytes is shared (bytes.ts).
 */
import { gunzipSync, gunzip, constants as zc } from 'node:zlib';
import { promisify } from 'node:util';
import { ConvLoraError } from '../../errors.js';
import { isGzip } from './codec.js';
import { niftiError, parseHeader, type NiftiHeader } from './header.js';

const gunzipAsync = promisify(gunzip);

function gzipError(err: unknown): ConvLoraError {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e.message)) {
    return niftiError('E_NIFTI_GZIP_TRUNCATED', `The gzip stream ends early (${e.message}); the file is truncated`, err);
  }
  if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
    return niftiError('E_NIFTI_TOO_LARGE', `The gzip stream inflates to more bytes than the header promises (${e.message})`, err);
  }
  return niftiError('E_NIFTI_GZIP', `Corrupt gzip data: ${e.message}`, err);
}

/**
 * Inflate just enough of a gzip stream to read the header (at least `want` bytes, when the file has
 * them), without inflating the voxel data: the dims are validated before anything large is allocated.
 */
export function gunzipPrefix(bytes: Uint8Array, want: number): Uint8Array {
  // Grow the compressed prefix until it inflates to `want` bytes; a prefix that inflates past the
  // 1 MiB cap (a highly compressible file) is bisected back, so memory stays bounded.
  let lo = 0, hi = Infinity, take = 512;
  for (;;) {
    const chunk = bytes.subarray(0, Math.min(take, bytes.length));
    let out: Uint8Array;
    try {
      out = gunzipSync(chunk, { finishFlush: zc.Z_SYNC_FLUSH, maxOutputLength: Math.max(want, 1 << 20) });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw gzipError(err);
      hi = take;
      take = Math.max(lo + 1, Math.floor((lo + hi) / 2));
      continue;
    }
    if (out.length >= want) return out;
    // The whole stream inflates to less than a header: say whether the gzip itself is cut short.
    if (chunk.length === bytes.length) return gunzipAll(bytes, Math.max(want, 1 << 20));
    lo = take;
    take = hi === Infinity ? take * 4 : Math.max(lo + 1, Math.floor((lo + hi) / 2));
  }
}

/** Inflate a whole gzip stream, refusing output beyond `limit` bytes. Async form runs on the thread pool. */
export function gunzipAll(bytes: Uint8Array, limit: number): Uint8Array {
  try { return gunzipSync(bytes, { maxOutputLength: limit }); } catch (err) { throw gzipError(err); }
}
export async function gunzipAllAsync(bytes: Uint8Array, limit: number): Promise<Uint8Array> {
  try { return await gunzipAsync(bytes, { maxOutputLength: limit }); } catch (err) { throw gzipError(err); }
}

/**
 * Header of an uncompressed or gzip file prefix (for shallow checks that never inflate the voxels). A
 * gzip stream is inflated on to vox_offset, so that the extension area is read whole; an uncompressed
 * prefix that ends before vox_offset gives a header without extensions.
 */
export function headerOf(bytes: Uint8Array): NiftiHeader {
  if (!isGzip(bytes)) return parseHeader(bytes);
  const prefix = gunzipPrefix(bytes, 544);
  const h = parseHeader(prefix);
  return prefix.length >= h.voxOffset ? h : parseHeader(gunzipPrefix(bytes, h.voxOffset));
}

