/**
 * NIfTI header extensions: after the 348- or 540-byte header come a 4-byte extender (its first byte
 * non-zero when extensions follow) and a chain of records, each `esize` bytes long (a multiple of 16,
 * its 8-byte esize/ecode prefix included), that must end exactly at vox_offset. IXI's T1 files carry a
 * 2,560-byte AFNI record, for instance.
 *
 * The chain is walked when a header is read (a chain that runs past vox_offset is refused, as nibabel
 * cannot read such a file) and again when a header is written, where it is re-encoded little-endian
 * (the byte order we write) from the records, never copied as raw bytes. No Node module is imported:
 * the browser app uses this file as it is.
 */
import { ConvLoraError } from '../../errors.js';

function extensionError(message: string): ConvLoraError {
  return new ConvLoraError('E_NIFTI', message, { detail: 'E_NIFTI_EXTENSION' });
}

/** One extension record. `data` is everything after esize/ecode: esize - 8 bytes, padding included. */
export interface NiftiExtension {
  code: number;
  data: Uint8Array;
}

/** The part of a header the chain is read against. */
interface ChainContext {
  /** 348 (NIfTI-1) or 540 (NIfTI-2): where the extender starts. */
  headerSize: number;
  voxOffset: number;
  littleEndian: boolean;
}

/**
 * Walk the chain in `bytes` (a file's first bytes: the whole file, or a prefix of it) and return its
 * records, or null when `bytes` end before vox_offset (a partial read): then every record whose
 * esize/ecode prefix lies inside `bytes` has still been checked against vox_offset. No extender (an
 * area under 4 bytes) or an extender whose first byte is 0 gives no records.
 *
 * Throws E_NIFTI (detail E_NIFTI_EXTENSION) for an esize that is not a positive multiple of 16 or that
 * runs past vox_offset, and for bytes left before vox_offset too few to hold a record.
 */
export function walkExtensions(bytes: Uint8Array, at: ChainContext): NiftiExtension[] | null {
  const { headerSize, voxOffset, littleEndian } = at;
  const complete = bytes.length >= voxOffset;
  if (voxOffset - headerSize < 4 || bytes.length <= headerSize || bytes[headerSize] === 0) return complete ? [] : null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: NiftiExtension[] = [];
  for (let pos = headerSize + 4; pos < voxOffset;) {
    const left = voxOffset - pos;
    if (left < 16) {
      throw extensionError(`Header extensions end ${left} byte(s) short of vox_offset ${voxOffset} (at byte ${pos}): too few for another extension, whose esize is at least 16`);
    }
    if (pos + 8 > bytes.length) return null;
    const esize = view.getInt32(pos, littleEndian);
    if (esize < 16 || esize % 16 !== 0) {
      throw extensionError(`Expected a header extension's esize to be a positive multiple of 16 but received esize ${esize} at byte ${pos}`);
    }
    if (esize > left) {
      throw extensionError(`Header extension at byte ${pos} has esize ${esize}, past vox_offset ${voxOffset} (${left} bytes remain before it)`);
    }
    if (complete) out.push({ code: view.getInt32(pos + 4, littleEndian), data: new Uint8Array(bytes.subarray(pos + 8, pos + esize)) });
    pos += esize;
  }
  return complete ? out : null;
}

/**
 * The records of a header's extension area (`header.extensions`: extender and chain, in the header's
 * byte order). An empty area (none read) has no records. Throws E_NIFTI_EXTENSION as walkExtensions does.
 */
export function niftiExtensions(h: { version: 1 | 2; littleEndian: boolean; extensions: Uint8Array }): NiftiExtension[] {
  if (h.extensions.length === 0) return [];
  const headerSize = h.version === 1 ? 348 : 540;
  const bytes = new Uint8Array(headerSize + h.extensions.length);
  bytes.set(h.extensions, headerSize);
  return walkExtensions(bytes, { headerSize, voxOffset: bytes.length, littleEndian: h.littleEndian }) ?? [];
}

/**
 * The extension area to write after a header, little-endian: the extender (1 when records follow,
 * else 0) and each record padded with zeros to a multiple of 16 bytes. Its length is 4 + a multiple of
 * 16, so vox_offset = header size + its length keeps the voxels 16-byte aligned as NIfTI asks.
 */
export function encodeExtensions(records: readonly NiftiExtension[]): Uint8Array {
  const sizes = records.map((r) => Math.ceil((8 + r.data.length) / 16) * 16);
  const out = new Uint8Array(4 + sizes.reduce((a, b) => a + b, 0));
  const view = new DataView(out.buffer);
  out[0] = records.length > 0 ? 1 : 0;
  let pos = 4;
  records.forEach((r, i) => {
    const esize = sizes[i] ?? 16;
    view.setInt32(pos, esize, true);
    view.setInt32(pos + 4, r.code, true);
    out.set(r.data, pos + 8);
    pos += esize;
  });
  return out;
}
