/**
 * A small module system: named parameters, buffers and children with stable dotted paths
 * (`init_path.2.conv_path.0.layer.weight`, PyTorch's naming), train/eval, freeze/unfreeze and state dicts.
 * Parameters and buffers are kept tensors (outside every tidy scope) owned by their module.
 */
import { ConvLoraError } from '../errors.js';
import { copy_ } from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';

export abstract class Module {
  training = true;
  readonly #params = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;

  /** Register (or replace) a parameter; it becomes trainable unless `trainable` is false. */
  protected registerParameter(name: string, t: Tensor | null, trainable = true): Tensor | null {
    if (t !== null) {
      t.keep();
      t.requiresGrad = trainable;
    }
    this.#params.set(name, t);
    return t;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.#buffers.set(name, t.keep());
    return t;
  }

  registerModule<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** Direct children, in registration order. */
  children(): [string, Module][] { return [...this.#children]; }

  child(name: string): Module | undefined { return this.#children.get(name); }

  /** Every module below (and including) this one, with its dotted path ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.#children) out.push(...c.namedModules(prefix === '' ? n : `${prefix}.${n}`));
    return out;
  }

  /** The module at a dotted path, or throw E_INVALID_ARG naming the path. */
  getModule(path: string): Module {
    if (path === '') return this;
    return path.split('.').reduce<Module>((m, part) => {
      const c = m.child(part);
      if (c === undefined) throw new ConvLoraError('E_INVALID_ARG', `No module at path ${JSON.stringify(path)}`);
      return c;
    }, this);
  }

  /** Replace the child at a dotted path (used to wrap a conv in a LoRA layer). */
  setModule(path: string, m: Module): void {
    const cut = path.lastIndexOf('.');
    const parent = cut < 0 ? this : this.getModule(path.slice(0, cut));
    const name = cut < 0 ? path : path.slice(cut + 1);
    if (!parent.#children.has(name)) throw new ConvLoraError('E_INVALID_ARG', `No module at path ${JSON.stringify(path)}`);
    parent.#children.set(name, m);
  }

  /** An own parameter by name (null when registered as absent, e.g. a conv without bias). */
  getParameter(name: string): Tensor | null {
    const t = this.#params.get(name);
    if (t === undefined) throw new ConvLoraError('E_INVALID_ARG', `No parameter ${JSON.stringify(name)} on ${this.constructor.name}`);
    return t;
  }

  getBuffer(name: string): Tensor {
    const t = this.#buffers.get(name);
    if (t === undefined) throw new ConvLoraError('E_INVALID_ARG', `No buffer ${JSON.stringify(name)} on ${this.constructor.name}`);
    return t;
  }

  /** Own parameters (no children), skipping absent (null) ones. */
  ownParameters(): [string, Tensor][] {
    return [...this.#params].filter((e): e is [string, Tensor] => e[1] !== null);
  }

  ownBuffers(): [string, Tensor][] { return [...this.#buffers]; }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [n, t] of m.ownParameters()) out.push([path === '' ? n : `${path}.${n}`, t]);
    }
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [n, t] of m.ownBuffers()) out.push([path === '' ? n : `${path}.${n}`, t]);
    }
    return out;
  }

  parameters(): Tensor[] { return this.namedParameters().map(([, t]) => t); }

  /** Parameters with requiresGrad, i.e. what an optimizer should update. */
  trainableParameters(): [string, Tensor][] { return this.namedParameters().filter(([, t]) => t.requiresGrad); }

  /** Count of parameter elements (all, or trainable only). */
  countParameters(trainableOnly = false): number {
    const ps = trainableOnly ? this.trainableParameters() : this.namedParameters();
    return ps.reduce((s, [, t]) => s + t.size, 0);
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this { return this.train(false); }

  /** requiresGrad = false on every parameter below. */
  freeze(): this {
    for (const [, t] of this.namedParameters()) t.requiresGrad = false;
    return this;
  }

  unfreeze(): this {
    for (const [, t] of this.namedParameters()) t.requiresGrad = true;
    return this;
  }

  /** Parameters and buffers by dotted name (live tensors, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copy values into parameters and buffers by name. strict: every key of the model must be
   * present and no unknown key may appear. Shapes must match exactly. Returns the keys that were
   * missing and unexpected (non-strict mode).
   */
  loadStateDict(state: Map<string, Tensor>, opts: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !state.has(k));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    if ((opts.strict ?? true) && (missing.length > 0 || unexpected.length > 0)) {
      throw new ConvLoraError('E_CHECKPOINT', `State dict does not fit the model: missing ${listKeys(missing)}; unexpected ${listKeys(unexpected)}`);
    }
    for (const [k, dst] of own) {
      const src = state.get(k);
      if (src === undefined) continue;
      const a = dst.shape.join(',');
      const b = src.shape.join(',');
      if (a !== b) throw new ConvLoraError('E_CHECKPOINT', `Shape mismatch for ${k}: model has [${a}], checkpoint has [${b}]`);
      copy_(dst, src);
    }
    return { missing, unexpected };
  }

  /** Free every parameter and buffer below (each module's disposeOwn). */
  dispose(): void {
    for (const [, m] of this.namedModules()) m.disposeOwn();
  }

  /** Free this module's own tensors; layers holding more (e.g. inactive adapters) extend it. */
  protected disposeOwn(): void {
    for (const [, t] of this.ownParameters()) t.dispose();
    for (const [, t] of this.ownBuffers()) t.dispose();
  }
}

function listKeys(keys: string[]): string {
  if (keys.length === 0) return 'none';
  return keys.length > 6 ? `${keys.slice(0, 6).join(', ')} (+${keys.length - 6} more)` : keys.join(', ');
}
