/**
 * Tensors over native handles, with explicit disposal and synchronous scopes.
 *
 * Every Tensor owns one handle in the addon's tensor table. Free it with `dispose()`, a `using`
 * declaration, or by creating it inside `tidy(fn)`, which frees everything made inside except what
 * `fn` returns (and what was `keep()`-ed). A FinalizationRegistry frees handles of tensors that
 * were garbage-collected without disposal, but only as a safety net: in a synchronous training loop
 * finalizers do not run, so loops must use tidy or dispose. CONVLORA_FINALIZER=off turns the net off.
 */
import { ConvLoraError, describe } from '../errors.js';
import { native, NONE, type DType, type Handle } from './binding.js';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
export type TypedArrayOf<D extends DType> = D extends 'float32' ? Float32Array
  : D extends 'float64' ? Float64Array
  : D extends 'int64' ? BigInt64Array
  : D extends 'int32' ? Int32Array
  : Uint8Array;

type Scope = Tensor[];
const scopes: Scope[] = [];

/**
 * Whether dropped tensors are freed when the garbage collector finalizes them: CONVLORA_FINALIZER `on`
 * (the default) or `off`. The safety net frees a leak by chance, whenever a collection happens to run,
 * so a test asserting that liveTensors() returns to its start may pass or fail on the same leak. With
 * `off` a leaked tensor stays live and such a test fails every time; the test command sets it.
 */
export const TENSOR_FINALIZER: boolean = finalizerSetting(process.env.CONVLORA_FINALIZER);

function finalizerSetting(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === 'on') return true;
  if (value === 'off') return false;
  throw new ConvLoraError('E_INVALID_ARG', `Expected 'on' or 'off' for \`CONVLORA_FINALIZER\` but received ${describe(value)}`);
}

const registry = TENSOR_FINALIZER
  ? new FinalizationRegistry<Handle>((h) => {
    try { native().dispose(h); } catch { /* already freed */ }
  })
  : null;

export class Tensor {
  #h: Handle;
  #kept = false;
  #shape: number[] | undefined;

  /** Wrap a fresh native handle; the new Tensor joins the innermost open tidy scope. */
  constructor(handle: Handle) {
    this.#h = handle;
    registry?.register(this, handle, this);
    const scope = scopes[scopes.length - 1];
    if (scope !== undefined) scope.push(this);
  }

  /** The native handle; throws E_DISPOSED after dispose(). */
  get handle(): Handle {
    if (this.#h < 0) throw new ConvLoraError('E_DISPOSED', 'Tensor was used after dispose()');
    return this.#h;
  }

  get isDisposed(): boolean { return this.#h < 0; }
  get isKept(): boolean { return this.#kept; }

  /** Shape, e.g. [B, C, H, W]. */
  get shape(): number[] {
    this.#shape ??= native().shape(this.handle);
    return this.#shape.slice();
  }

  /** Element strides per dimension: [C*H*W, H*W, W, 1] is NCHW, [H*W*C, 1, W*C, C] channels-last. */
  get strides(): number[] { return native().strides(this.handle); }

  get rank(): number { return this.shape.length; }
  get size(): number { return this.shape.reduce((a, b) => a * b, 1); }
  get dtype(): DType { return native().dtype(this.handle); }
  get device(): Device { return native().device(this.handle) as Device; }

  get requiresGrad(): boolean { return native().requiresGrad(this.handle); }
  set requiresGrad(on: boolean) { native().setRequiresGrad(this.handle, on); }

  /** The accumulated gradient as a new Tensor (sharing storage), or null when there is none. */
  get grad(): Tensor | null {
    const h = native().grad(this.handle);
    return h === NONE ? null : new Tensor(h);
  }

  /** Back-propagate from this tensor (a scalar unless `grad` is given). */
  backward(grad?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    native().backward(this.handle, grad === undefined ? NONE : grad.handle, opts.retainGraph ?? false);
  }

  /** Exclude from every tidy scope: the tensor lives until dispose(). */
  keep(): this {
    this.#kept = true;
    return this;
  }

  /** Copy the values out (C-order) into a typed array of this dtype (bool -> Uint8Array). */
  data(): Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array {
    return native().toBuffer(this.handle);
  }

  /** Values as a Float32Array (casting when needed). */
  toFloat32(): Float32Array {
    const d = this.data();
    if (d instanceof Float32Array) return d;
    if (d instanceof BigInt64Array) return Float32Array.from(d, (v) => Number(v));
    return Float32Array.from(d);
  }

  /** The single value of a one-element tensor. */
  item(): number { return native().item(this.handle); }

  dispose(): void {
    if (this.#h < 0) return;
    native().dispose(this.#h);
    registry?.unregister(this);
    this.#h = -1;
  }

  [Symbol.dispose](): void { this.dispose(); }

  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
}

function collect(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (value instanceof Tensor) { out.add(value); return; }
  if (depth > 8 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) { for (const v of value) collect(v, out, depth + 1); return; }
  if (value instanceof Map) { for (const v of value.values()) collect(v, out, depth + 1); return; }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) collect(v, out, depth + 1);
  }
}

/**
 * Run `fn` synchronously and free every tensor it created, except the tensors found in its result
 * (a Tensor, or arrays/plain objects/Maps holding tensors) and kept tensors. Returned tensors move to the
 * enclosing scope. Throws E_INVALID_ARG if `fn` returns a Promise (scopes cannot span an await).
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = [];
  scopes.push(scope);
  let result: T | undefined;
  let ok = false;
  try {
    result = fn();
    if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
      throw new ConvLoraError('E_INVALID_ARG', 'tidy() received a function that returned a Promise; tidy scopes are synchronous (use dispose() across awaits)');
    }
    ok = true;
  } finally {
    scopes.pop();
    const survivors = new Set<Tensor>();
    if (ok) collect(result, survivors);
    const parent = scopes[scopes.length - 1];
    for (const t of scope) {
      if (survivors.has(t)) { if (parent !== undefined && !t.isKept) parent.push(t); }
      else if (!t.isKept) t.dispose();
    }
  }
  return result as T;
}

/** Dispose every tensor found in `value` (Tensor, arrays, plain objects, Maps). */
export function dispose(value: unknown): void {
  const all = new Set<Tensor>();
  collect(value, all);
  for (const t of all) t.dispose();
}

/** Number of live native tensors (including gradients and optimizer state). */
export function liveTensors(): number {
  return native().liveCount();
}
