/**
 * safetensors reader/writer (our own, following the format's rules):
 *   [u64 little-endian N][N bytes of JSON header][byte buffer]
 * The header maps tensor names to { dtype, shape, data_offsets: [begin, end] } (offsets relative to
 * the buffer) plus an optional "__metadata__" string->string map. Offsets must tile the buffer
 * exactly: sorted, contiguous from 0, no overlap, no hole, ending at the buffer's length; every
 * extent must equal numel * dtype size. Anything else is rejected with E_SAFETENSORS.
 */
import { open, readFile } from 'node:fs/promises';
import { ConvLoraError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import type { DType } from '../engine/binding.js';
import { tensor } from '../engine/create.js';
import { Tensor } from '../engine/tensor.js';

const CODES: Record<string, { dtype: DType; bytes: number }> = {
  F32: { dtype: 'float32', bytes: 4 }, F64: { dtype: 'float64', bytes: 8 }, I64: { dtype: 'int64', bytes: 8 },
  I32: { dtype: 'int32', bytes: 4 }, U8: { dtype: 'uint8', bytes: 1 }, BOOL: { dtype: 'bool', bytes: 1 },
};
const CODE_OF: Record<DType, string> = { float32: 'F32', float64: 'F64', int64: 'I64', int32: 'I32', uint8: 'U8', bool: 'BOOL' };
/** Header larger than this is refused before parsing (the reference implementation's limit is 100 MB). */
const MAX_HEADER = 100 * 1024 * 1024;

export interface SafetensorsFile { tensors: Map<string, Tensor>; metadata: Record<string, string> }

function bad(msg: string, source: string): never {
  throw new ConvLoraError('E_SAFETENSORS', `${source}: ${msg}`);
}

/** Serialize tensors (CPU copies are made) and string metadata into safetensors bytes. Keys are sorted. */
export function serializeSafetensors(tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const data = t.data();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype: CODE_OF[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // pad so the buffer starts 8-byte aligned
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const c of chunks) { out.set(c, pos); pos += c.length; }
  return out;
}

/** Parse safetensors bytes into tensors on `device`; `source` names the file in errors. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors', device: 'cpu' | 'cuda' | `cuda:${number}` = 'cpu'): SafetensorsFile {
  if (bytes.length < 8) bad(`file is ${bytes.length} bytes, shorter than the 8-byte header length`, source);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) bad(`header length ${n} exceeds the file (${bytes.length} bytes) or the 100 MB limit`, source);
  const headerLen = Number(n);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLen).toString('utf8');
  if (!text.startsWith('{')) bad('header does not start with "{"', source);
  const { metadata, fields } = parseHeader(text, source);
  const buffer = bytes.subarray(8 + headerLen);
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of fields) {
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const code = typeof e?.dtype === 'string' ? CODES[e.dtype] : undefined;
    if (code === undefined) bad(`tensor ${JSON.stringify(name)} has unsupported dtype ${JSON.stringify(e?.dtype)}`, source);
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) bad(`tensor ${JSON.stringify(name)} has an invalid shape`, source);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((v) => Number.isSafeInteger(v) && v >= 0) || off[1] < off[0]) {
      bad(`tensor ${JSON.stringify(name)} has invalid data_offsets`, source);
    }
    const shape = e.shape as number[];
    const numel = shape.reduce((a, b) => a * b, 1);
    if ((off[1] as number) - (off[0] as number) !== numel * code.bytes) {
      bad(`tensor ${JSON.stringify(name)}: data_offsets span ${off[1] - off[0]} bytes but shape [${shape.join(', ')}] of ${e.dtype} needs ${numel * code.bytes}`, source);
    }
    entries.push({ name, dtype: code.dtype, shape, begin: off[0] as number, end: off[1] as number });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of entries) {
    if (e.begin !== expected) bad(`data_offsets of ${JSON.stringify(e.name)} start at ${e.begin}, expected ${expected} (overlap or hole)`, source);
    expected = e.end;
  }
  if (expected !== buffer.length) bad(`tensors cover ${expected} bytes but the data buffer has ${buffer.length}`, source);
  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    // Copy into a fresh, aligned ArrayBuffer (a Node Buffer's slice() would be a view into a pool).
    const slice = new Uint8Array(e.end - e.begin);
    slice.set(buffer.subarray(e.begin, e.end));
    const view = e.dtype === 'float32' ? new Float32Array(slice.buffer) : e.dtype === 'float64' ? new Float64Array(slice.buffer)
      : e.dtype === 'int64' ? new BigInt64Array(slice.buffer) : e.dtype === 'int32' ? new Int32Array(slice.buffer) : new Uint8Array(slice.buffer);
    tensors.set(e.name, tensor(view, e.shape, { dtype: e.dtype, device }));
  }
  return { tensors, metadata };
}

/** Write atomically (temporary file, then rename). */
export async function saveSafetensors(path: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

export async function loadSafetensors(path: string, device: 'cpu' | 'cuda' | `cuda:${number}` = 'cpu'): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try { bytes = await readFile(path); } catch (err) {
    throw new ConvLoraError('E_IO', `Could not read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseSafetensors(bytes, path, device);
}

/** A safetensors file's header: tensor names with dtype code and shape, and the metadata. */
export interface SafetensorsHeader { tensors: Map<string, { dtype: string; shape: number[] }>; metadata: Record<string, string>; bytes: number }

/**
 * Read only the header of a safetensors file (the tensor data is neither read nor checked), e.g. to
 * list adapter files. E_SAFETENSORS naming the file when it is not one; E_IO when it cannot be read.
 */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, 'r');
    const { size } = await fh.stat();
    const len = new Uint8Array(8);
    if (size < 8 || (await fh.read(len, 0, 8, 0)).bytesRead < 8) bad(`file is ${size} bytes, shorter than the 8-byte header length`, path);
    const n = new DataView(len.buffer).getBigUint64(0, true);
    if (n > BigInt(Math.min(MAX_HEADER, size - 8))) bad(`header length ${n} exceeds the file (${size} bytes) or the 100 MB limit`, path);
    const buf = new Uint8Array(Number(n));
    await fh.read(buf, 0, buf.length, 8);
    const text = Buffer.from(buf).toString('utf8');
    const { metadata, fields } = parseHeader(text, path);
    const tensors = new Map<string, { dtype: string; shape: number[] }>();
    for (const [name, raw] of fields) {
      const e = raw as { dtype?: unknown; shape?: unknown };
      if (typeof e?.dtype !== 'string' || !Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) bad(`tensor ${JSON.stringify(name)} has an invalid dtype or shape`, path);
      tensors.set(name, { dtype: e.dtype, shape: e.shape as number[] });
    }
    return { tensors, metadata, bytes: size };
  } catch (err) {
    if (err instanceof ConvLoraError) throw err;
    throw new ConvLoraError('E_IO', `Could not read ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    await fh?.close();
  }
}

/** The header's JSON: its `__metadata__` (strings to strings) and every other field, unchecked. */
function parseHeader(text: string, source: string): { metadata: Record<string, string>; fields: [string, unknown][] } {
  let header: unknown;
  try { header = JSON.parse(text); } catch (err) { bad(`header is not valid JSON (${(err as Error).message})`, source); }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) bad('header is not a JSON object', source);
  let metadata: Record<string, string> = {};
  const fields: [string, unknown][] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name !== '__metadata__') { fields.push([name, raw]); continue; }
    if (raw === null || typeof raw !== 'object' || Object.values(raw).some((v) => typeof v !== 'string')) bad('__metadata__ must map strings to strings', source);
    metadata = raw as Record<string, string>;
  }
  return { metadata, fields };
}
