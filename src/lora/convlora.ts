/**
 * ConvLoRA (docs/method.md §3): a LoRA layer that wraps a Conv2d (LoRAConv2d) or a ConvTranspose2d
 * (LoRAConvTranspose2d) and adds a low-rank update delta to its weight: conv(x, W + delta) with the base
 * conv's stride, padding, dilation, groups, bias.
 *
 * Layouts:
 * - 'loralib' (the authors'): A [r*k, in*k], B [out/groups*k, r*k]; delta = (B @ A) viewed row-major
 *   as [out, in/groups, k, k] (a plain memory view of the product, not a block reshape), times alpha/r.
 * - 'peft': A [r, in/groups, k, k] (a k x k conv in->r), B [out, r, 1, 1] (a 1x1 conv r->out);
 *   delta = (B[:, :, 0, 0] @ A.flatten(1)) viewed as [out, in/groups, k, k], times alpha/r. groups = 1 only.
 * A transposed conv's weight is [in, out/groups, k, k]: 'loralib' keeps its A and B shapes (the product has
 * the same in*out/groups*k*k values) and views the product as that kernel, as loralib's ConvLoRA does for
 * any conv module; 'peft' is then A [in, r, k, k] (a k x k transposed conv in->r), B [r, out, 1, 1] (a 1x1
 * transposed conv r->out), delta[i, o] = sum_r A[i, r] * B[r, o], times alpha/r. groups = 1 only.
 * Init: A Kaiming-uniform (a = sqrt 5), B zeros, so a fresh adapter is an exact identity.
 *
 * Base weight and bias keep their names (`weight`, `bias`), so a model's base checkpoint keys do not
 * change when adapters are injected; the active adapter adds `lora_A` and `lora_B`.
 * Merging adds delta into W once and remembers the original W: merge and unmerge are idempotent and
 * unmerge restores the original exactly (the authors' reload path merged twice; that cannot happen here).
 */
import { ConvLoraError, describe } from '../errors.js';
import { optionValue, type OptionTable } from '../options.js';
import { kaimingUniform, zeros } from '../engine/create.js';
import * as ops from '../engine/ops.js';
import { tidy, type Tensor } from '../engine/tensor.js';
import { noGrad } from '../engine/runtime.js';
import { Module } from '../nn/module.js';
import { Conv2d, ConvTranspose2d } from '../nn/layers.js';

export type LoraLayout = 'loralib' | 'peft';
export interface LoraConfig { rank: number; alpha: number; layout: LoraLayout }
export const PAPER_LORA: LoraConfig = { rank: 2, alpha: 2, layout: 'loralib' };
export const LORA_LAYOUTS: readonly LoraLayout[] = ['loralib', 'peft'];

/** LoRA's numeric options: the paper's rank 2, and alpha, whose default is the rank (so alpha / rank = 1). */
export const LORA_OPTIONS = {
  rank: { default: PAPER_LORA.rank, min: 1, integer: true },
  alpha: { default: PAPER_LORA.alpha, min: 0 },
} as const satisfies OptionTable;

/**
 * A LoRA config validated and defaulted in one place (LORA_OPTIONS; alpha defaults to the rank, the layout
 * to the authors' 'loralib'), for every caller: placement, the layers, adaptation settings. E_INVALID_ARG
 * names `${prefix}rank`, `${prefix}alpha` or `${prefix}layout` and the value received.
 */
export function loraConfig(o: { rank?: unknown; alpha?: unknown; layout?: unknown } = {}, prefix = ''): LoraConfig {
  const rank = optionValue(`${prefix}rank`, o.rank, LORA_OPTIONS.rank);
  const alpha = optionValue(`${prefix}alpha`, o.alpha ?? rank, LORA_OPTIONS.alpha);
  const layout = o.layout ?? PAPER_LORA.layout;
  if (typeof layout !== 'string' || !(LORA_LAYOUTS as readonly string[]).includes(layout)) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${LORA_LAYOUTS.join(', ')} for \`${prefix}layout\` but received ${describe(layout)}`);
  }
  return { rank, alpha, layout: layout as LoraLayout };
}

interface Adapter { a: Tensor; b: Tensor; config: LoraConfig }

/**
 * What both LoRA layers share: adapters by name, switching, merge/unmerge. Subclasses say the 'peft'
 * layout's shapes and product for their weight layout. Code that handles "any LoRA layer" (placement,
 * adapter files, the registry) uses this class.
 */
export abstract class LoRAConvLayer<B extends Conv2d | ConvTranspose2d = Conv2d | ConvTranspose2d> extends Module {
  readonly base: B;
  readonly #adapters = new Map<string, Adapter>();
  #active: string | null = null;
  #original: Tensor | null = null;
  #mergedName: string | null = null;

  constructor(base: B) {
    super();
    this.base = base;
    this.registerParameter('weight', base.weight, base.weight.requiresGrad);
    this.registerParameter('bias', base.bias, base.bias?.requiresGrad ?? false);
  }

  get activeAdapter(): string | null { return this.#active; }
  get adapterNames(): string[] { return [...this.#adapters.keys()]; }
  get merged(): boolean { return this.#mergedName !== null; }

  /** Shapes of A and B for this conv under a config; validates rank and layout against the geometry. */
  adapterShapes(cfg: LoraConfig): { a: number[]; b: number[] } {
    const { inChannels: cin, outChannels: cout, kernelSize: k, groups: g } = this.base;
    const { rank: r, layout } = loraConfig(cfg);
    if (layout === 'loralib') return { a: [r * k, cin * k], b: [(cout / g) * k, r * k] };
    if (g !== 1) throw new ConvLoraError('E_INVALID_ARG', `The 'peft' layout supports groups = 1 only but the conv has groups ${g}`);
    return this.peftShapes(r);
  }

  /** Add a fresh adapter (identity: B = 0) and make it active. */
  addAdapter(name: string, cfg: LoraConfig = PAPER_LORA): void {
    if (this.#adapters.has(name)) throw new ConvLoraError('E_INVALID_ARG', `Adapter ${JSON.stringify(name)} already exists on this layer`);
    const { a, b } = this.adapterShapes(cfg);
    const dev = { device: this.base.weight.device };
    // Adapters are created trainable; the base conv's weight stays as it was (frozen by placement).
    const ta = kaimingUniform(a, Math.sqrt(5), { ...dev, requiresGrad: true }).keep();
    const tb = zeros(b, { ...dev, requiresGrad: true }).keep();
    this.#adapters.set(name, { a: ta, b: tb, config: { ...cfg } });
    this.setActive(name);
  }

  /** Switch the active adapter (null: base conv only). A merged layer must be unmerged first. */
  setActive(name: string | null): void {
    if (this.merged) throw new ConvLoraError('E_INVALID_ARG', 'Unmerge before switching adapters');
    if (name !== null && !this.#adapters.has(name)) throw new ConvLoraError('E_INVALID_ARG', `No adapter ${JSON.stringify(name)} on this layer`);
    this.#active = name;
    const ad = name === null ? undefined : this.#adapters.get(name);
    this.registerParameter('lora_A', ad?.a ?? null, ad?.a.requiresGrad ?? false);
    this.registerParameter('lora_B', ad?.b ?? null, ad?.b.requiresGrad ?? false);
  }

  adapter(name: string): Adapter {
    const ad = this.#adapters.get(name);
    if (ad === undefined) throw new ConvLoraError('E_INVALID_ARG', `No adapter ${JSON.stringify(name)} on this layer`);
    return ad;
  }

  removeAdapter(name: string): void {
    const ad = this.adapter(name);
    if (this.#active === name) this.setActive(null);
    ad.a.dispose();
    ad.b.dispose();
    this.#adapters.delete(name);
  }

  /** The 'peft' layout's A and B shapes at rank r (groups 1). */
  protected abstract peftShapes(r: number): { a: number[]; b: number[] };
  /** The 'peft' layout's product, laid out as the base weight (unscaled). */
  protected abstract peftProduct(a: Tensor, b: Tensor, r: number): Tensor;

  /** delta of an adapter, shaped as the base weight (differentiable w.r.t. A and B). */
  delta(name = this.#active): Tensor {
    if (name === null) throw new ConvLoraError('E_INVALID_ARG', 'No active adapter');
    const { a, b, config } = this.adapter(name);
    const scale = config.alpha / config.rank;
    const prod = config.layout === 'loralib'
      ? ops.view(ops.matmul(b, a), this.base.weight.shape) // [out/g*k, r*k] @ [r*k, in*k] viewed row-major as the kernel
      : this.peftProduct(a, b, config.rank);
    return ops.mul(prod, scale);
  }

  forward(x: Tensor): Tensor {
    if (this.#active === null || this.merged) return this.base.forward(x);
    // Both bases convolve with an explicit weight in their own geometry.
    return this.base.convolve(x, ops.add(this.base.weight, this.delta()));
  }

  /**
   * Add the active adapter's delta into the base weight (idempotent). safe: compute the merged weight
   * first and refuse (E_INVALID_ARG) if it has non-finite values, leaving the layer unchanged.
   */
  merge(opts: { safe?: boolean } = {}): void {
    if (this.merged || this.#active === null) return;
    const name = this.#active;
    noGrad(() => tidy(() => {
      const merged = ops.add(this.base.weight, this.delta(name));
      if (opts.safe === true && ops.amin(ops.isFinite(merged)).item() === 0) {
        throw new ConvLoraError('E_INVALID_ARG', `Refusing to merge adapter ${JSON.stringify(name)}: the merged weight has NaN or Inf values`);
      }
      this.#original = ops.clone(this.base.weight).keep();
      ops.copy_(this.base.weight, merged);
    }));
    this.#mergedName = name;
  }

  /** Restore the original base weight exactly (idempotent). */
  unmerge(): void {
    if (this.#original === null) return;
    ops.copy_(this.base.weight, this.#original);
    this.#original.dispose();
    this.#original = null;
    this.#mergedName = null;
  }

  protected override disposeOwn(): void {
    this.unmerge();
    for (const n of [...this.#adapters.keys()]) this.removeAdapter(n);
    super.disposeOwn();
  }
}

/** LoRA on a Conv2d (weight [out, in/groups, k, k]). */
export class LoRAConv2d extends LoRAConvLayer<Conv2d> {
  protected peftShapes(r: number): { a: number[]; b: number[] } {
    const { inChannels: cin, outChannels: cout, kernelSize: k } = this.base;
    return { a: [r, cin, k, k], b: [cout, r, 1, 1] };
  }

  protected peftProduct(a: Tensor, b: Tensor, r: number): Tensor {
    const w = this.base.weight.shape;
    // [out, r] @ [r, in*k*k] -> [out, in*k*k], viewed as [out, in, k, k]
    return ops.view(ops.matmul(ops.reshape(b, [w[0]!, r]), ops.reshape(a, [r, -1])), w);
  }
}

/** LoRA on a ConvTranspose2d (weight [in, out/groups, k, k]); the U-Net decoders' up-sampling convs. */
export class LoRAConvTranspose2d extends LoRAConvLayer<ConvTranspose2d> {
  protected peftShapes(r: number): { a: number[]; b: number[] } {
    const { inChannels: cin, outChannels: cout, kernelSize: k } = this.base;
    return { a: [cin, r, k, k], b: [r, cout, 1, 1] };
  }

  protected peftProduct(a: Tensor, b: Tensor, r: number): Tensor {
    const [cin, cout, k] = this.base.weight.shape as [number, number, number, number];
    // A [in, r, k, k] -> [in, k, k, r] -> [in*k*k, r]; @ B [r, out] -> [in*k*k, out] -> [in, k, k, out] -> [in, out, k, k]
    const ak = ops.reshape(ops.permute(a, [0, 2, 3, 1]), [cin * k * k, r]);
    const prod = ops.matmul(ak, ops.reshape(b, [r, cout]));
    return ops.permute(ops.reshape(prod, [cin, k, k, cout]), [0, 3, 1, 2]);
  }
}

/** Wrap a conv in the LoRA layer for its kind. */
export function loraLayerFor(m: Conv2d | ConvTranspose2d): LoRAConvLayer {
  return m instanceof ConvTranspose2d ? new LoRAConvTranspose2d(m) : new LoRAConv2d(m);
}
