/**
 * `segment` for runtimes without Node's file system and zlib (the browser app; also usable from Node):
 * NIfTI bytes in, mask NIfTI bytes out, logits from an ONNX model (pipeline/onnx/model.ts) in onnxruntime-web or
 * -node. The steps are the ones `segment --engine onnx` takes (data/image/conform.ts: orientation, conform,
 * slicing and min-max; the mask mapped back to the scan's own grid), so the masks are the same.
 * gzip goes through the web's CompressionStream/DecompressionStream.
 */
import { ConvLoraError } from '../errors.js';
import { DEFAULT_CONFORM } from '../data/image/conform.js';
import { decodeNifti, encodeNiftiRaw, type NiftiVolume } from '../data/nifti/bytes.js';
import { niftiError } from '../data/nifti/header.js';
import type { OnnxModel } from '../pipeline/onnx/model.js';
import { segmentScan } from '../pipeline/infer/core.js';
import { OnnxBackend, type OnnxAdaBN } from '../pipeline/infer/onnx.js';

async function collect(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      throw niftiError('E_NIFTI_TOO_LARGE', `The gzip stream inflates to more than ${limit} bytes`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function pipe(bytes: Uint8Array, transform: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }): ReadableStream<Uint8Array> {
  const writer = transform.writable.getWriter();
  // Errors surface on the readable side; the writer's own promises are settled there too.
  writer.write(bytes).then(() => writer.close(), () => undefined).catch(() => undefined);
  return transform.readable;
}

/** Inflate a gzip stream with DecompressionStream, refusing more than `limit` bytes (coded NIfTI errors). */
export async function inflateWeb(bytes: Uint8Array, limit: number): Promise<Uint8Array> {
  try {
    return await collect(pipe(bytes, new DecompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>), limit);
  } catch (err) {
    if (err instanceof ConvLoraError) throw err;
    const message = (err as Error).message ?? String(err);
    if (/unexpected end|incomplete|truncat|premature/i.test(message)) throw niftiError('E_NIFTI_GZIP_TRUNCATED', `The gzip stream ends early (${message}); the file is truncated`, err);
    throw niftiError('E_NIFTI_GZIP', `Corrupt gzip data: ${message}`, err);
  }
}

/** gzip bytes with CompressionStream. */
export async function gzipWeb(bytes: Uint8Array): Promise<Uint8Array> {
  return collect(pipe(bytes, new CompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>), Number.MAX_SAFE_INTEGER);
}

export interface WebSegmentResult {
  /** The mask (uint8 0/1) on the scan's own grid, as a gzip NIfTI with the scan's header and affine. */
  maskFile: Uint8Array;
  mask: Uint8Array;
  dims: number[];
  brainVoxels: number;
  brainMl: number;
  warnings: string[];
  seconds: number;
}

/** Test-time AdaBN outside libtorch: the model's statistics graph, its bytes, and how to open a session on patched bytes. */
export type WebAdaBN = OnnxAdaBN;

export interface WebSegmentOptions {
  /** Test-time AdaBN per scan (for a model selected with it), as `segment` does; without it the stored statistics are used. */
  adabn?: WebAdaBN;
  /** Name of the scan in messages. */
  what?: string;
  /** Slices per forward pass (default 16, as `segment`). */
  batchSize?: number;
  /** Called after each batch with the slices done and their total. */
  onProgress?: (done: number, total: number) => void;
  /** Clean the mask (largest component, holes filled), as `segment` does; default DEFAULT_CLEANUP. */
  cleanup?: boolean;
}

/** Decode NIfTI bytes (gzip or not) as a 3D scan; E_SHAPE for anything else. */
export async function decodeScan(bytes: Uint8Array, what = 'scan'): Promise<NiftiVolume> {
  let img: NiftiVolume;
  try { img = await decodeNifti(bytes, inflateWeb); } catch (err) {
    if (err instanceof ConvLoraError) throw new ConvLoraError(err.code, `${what}: ${err.message}`, { cause: err, ...(err.detail === undefined ? {} : { detail: err.detail }) });
    throw err;
  }
  if (img.dims.length < 3 || img.dims.slice(3).some((d) => d !== 1)) {
    throw new ConvLoraError('E_SHAPE', `Expected a 3D volume in ${what} but received dims [${img.dims.join(', ')}]`);
  }
  return img;
}

/** Segment one scan's NIfTI bytes with an exported model: the mask on the scan's grid, as `segment --engine onnx` writes it (infer/core.ts). */
export async function segmentBytes(bytes: Uint8Array, model: Pick<OnnxModel, 'run' | 'grid' | 'info'>, o: WebSegmentOptions = {}): Promise<WebSegmentResult> {
  const t0 = Date.now();
  const what = o.what ?? 'scan';
  const img = await decodeScan(bytes, what);
  const backend = new OnnxBackend(model, { adabn: o.adabn ?? null, what });
  const r = await segmentScan(img, backend, {
    what, reorient: true, conform: DEFAULT_CONFORM,
    ...(o.batchSize === undefined ? {} : { batchSize: o.batchSize }), ...(o.cleanup === undefined ? {} : { cleanup: o.cleanup }), ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
  });
  const raw = encodeNiftiRaw({ dims: img.dims, spacing: img.spacing, affine: img.affine, header: img.header, data: r.mask, datatype: 2 });
  return { maskFile: await gzipWeb(raw), mask: r.mask, dims: img.dims, brainVoxels: r.brainVoxels, brainMl: r.brainMl, warnings: r.warnings, seconds: (Date.now() - t0) / 1000 };
}
