/**
 * The one error class of convlora. Every failure a caller can act on carries a stable `code`.
 *
 * Codes in use:
 * - E_INVALID_ARG   an argument is out of range or of the wrong type
 * - E_SHAPE         tensor/volume shapes disagree
 * - E_DTYPE         unsupported or mismatched dtype
 * - E_DISPOSED      a disposed tensor was used
 * - E_NATIVE        libtorch raised an error (message is libtorch's)
 * - E_NATIVE_LOAD   the native addon or libtorch could not be loaded
 * - E_OOM           libtorch ran out of memory
 * - E_NIFTI         a NIfTI file is malformed or unsupported
 * - E_SAFETENSORS   a safetensors file is malformed
 * - E_CHECKPOINT    a checkpoint/adapter does not fit the model
 * - E_DATA          a dataset directory is incomplete or inconsistent
 * - E_IO            a file could not be read or written
 * - E_ONNX          an ONNX file is malformed or not a graph convlora can run
 * - E_USAGE         command-line usage error (exit code 2), or inconsistent launch variables (RANK, WORLD_SIZE...)
 * - E_DIST          a collective across processes failed: a peer gone, a timeout, the store unreachable
 * - E_DIST_UNAVAILABLE  the addon was built without distributed support (no gloo headers at build time)
 */
export type ErrorCode =
  | 'E_INVALID_ARG'
  | 'E_SHAPE'
  | 'E_DTYPE'
  | 'E_DISPOSED'
  | 'E_NATIVE'
  | 'E_NATIVE_LOAD'
  | 'E_OOM'
  | 'E_NIFTI'
  | 'E_SAFETENSORS'
  | 'E_CHECKPOINT'
  | 'E_DATA'
  | 'E_IO'
  | 'E_ONNX'
  | 'E_USAGE'
  | 'E_DIST'
  | 'E_DIST_UNAVAILABLE';

export class ConvLoraError extends Error {
  readonly code: ErrorCode;
  /** Optional sub-code giving more detail, e.g. 'E_NIFTI_MAGIC'. */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; detail?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ConvLoraError';
    this.code = code;
    this.detail = options?.detail;
  }
}

/** Render a received value for an error message: short, unambiguous. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  try {
    const s = JSON.stringify(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Throw E_INVALID_ARG in the house format. */
export function invalidArg(name: string, expected: string, received: unknown): never {
  throw new ConvLoraError('E_INVALID_ARG', `Expected ${expected} for \`${name}\` but received ${describe(received)}`);
}

export function checkInt(name: string, value: unknown, min = Number.MIN_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    invalidArg(name, min === Number.MIN_SAFE_INTEGER ? 'an integer' : `integer >= ${min}`, value);
  }
  return value;
}

export function checkNumber(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = min === -Infinity && max === Infinity ? 'a finite number' : `a number in [${min}, ${max}]`;
    invalidArg(name, range, value);
  }
  return value;
}
