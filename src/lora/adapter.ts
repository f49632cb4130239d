/**
 * Domain adapters as files, and a registry of one base model with many domain adapters.
 *
 * An adapter file is one safetensors file per target domain holding: the LoRA matrices
 * (`<conv path>.lora_A`, `.lora_B`), every other trainable parameter (BN affine inside the adapted
 * blocks; all of init_path for UDAS), and the running statistics of every BatchNorm layer (AdaBN).
 * Its metadata carries the JSON config (method, blocks, rank, alpha, layout, placement, AdaBN mode,
 * and the sha256 of the base model it was trained on).
 */
import { ConvLoraError } from '../errors.js';
import type { Tensor } from '../engine/tensor.js';
import { clone } from '../engine/ops.js';
import * as ops from '../engine/ops.js';
import type { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/layers.js';
import { hashState, META_KEY, readConvloraMeta } from '../nn/checkpoint.js';
import { loadSafetensors, saveSafetensors } from '../nn/safetensors.js';
import { LoRAConv2d, LoRAConvTranspose2d, type LoraConfig } from './convlora.js';
import { applyPlacement, loraLayers, type Blocks, type Method, type Placement } from './placement.js';
import type { Fingerprint } from './fingerprint.js';

export type AdaBNMode = 'none' | 'implicit' | 'explicit';

export interface AdapterConfig {
  format: 'convlora-adapter';
  version: 1;
  domain: string;
  /** Adaptation method; 'adabn' and 'self-training' carry statistics / all weights instead of LoRA. */
  method: Method | 'adabn' | 'self-training' | 'teacher';
  blocks: Blocks | null;
  lora: LoraConfig;
  placement: Placement;
  adabn: AdaBNMode;
  baseHash: string;
  /** The base model's BN-input statistics on the target's training volumes (fingerprint.ts); absent in older files. */
  fingerprint?: Fingerprint;
  /** What a user's own scans were (adapt on a folder or BIDS group); absent for the CC359 layout. */
  trainedOn?: AdapterTrainingData;
  /**
   * 'adabn': the adapter was trained for, and is used with, test-time AdaBN per scan on top of its weights
   * (a base model that predicts that way, adapted with per-scan batches); absent: its own statistics.
   */
  inference?: 'adabn';
  notes?: Record<string, unknown>;
}

/** The scans an adapter was trained on when they were a user's own (not the CC359 layout), and how they were prepared. */
export interface AdapterTrainingData {
  /** 'scans': a folder, files or patterns; 'bids': one scanner group of a BIDS dataset. */
  kind: 'scans' | 'bids';
  /** The folders/files/patterns, or the BIDS root, as given. */
  inputs: string[];
  /** Scanner key (BIDS group, or the key of a plain folder's sidecars), or null when unknown. */
  scanner: string | null;
  count: number;
  /** Each scan's file name, its role (adapter training or label-free model selection), its header, and the slices learnt from. */
  scans: { file: string; role: 'train' | 'selection'; orientation: string | null; voxelSize: number[]; resampled: boolean; slices: number }[];
  /**
   * How every scan was prepared (as `segment` prepares it): the model's orientation, voxel size and slice
   * size, the resampling rule, and which prepared slices adaptation learnt from ('head' or 'all').
   */
  preparation: { conform: string; orientation: string | null; voxelSize: number[] | null; size: number; slices: 'head' | 'all' };
}

export interface DomainAdapter { config: AdapterConfig; tensors: Map<string, Tensor> }

/** Collect the adapter tensors of `model` (copies), i.e. what differs from the base for one domain. */
export function extractAdapter(model: Module, config: AdapterConfig): DomainAdapter {
  const tensors = new Map<string, Tensor>();
  for (const [path, layer] of loraLayers(model)) {
    if (layer.activeAdapter === null) continue;
    const { a, b } = layer.adapter(layer.activeAdapter);
    tensors.set(`${path}.lora_A`, clone(a).keep());
    tensors.set(`${path}.lora_B`, clone(b).keep());
  }
  for (const [name, t] of model.namedParameters()) {
    if (t.requiresGrad && !name.endsWith('.lora_A') && !name.endsWith('.lora_B')) tensors.set(name, clone(t).keep());
  }
  for (const [path, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    for (const [n, t] of m.ownBuffers()) tensors.set(`${path}.${n}`, clone(t).keep());
  }
  return { config, tensors };
}

export async function saveAdapter(path: string, adapter: DomainAdapter): Promise<void> {
  await saveSafetensors(path, adapter.tensors, { [META_KEY]: JSON.stringify(adapter.config) });
}

export async function loadAdapter(path: string): Promise<DomainAdapter> {
  const { tensors, metadata } = await loadSafetensors(path);
  const meta = readConvloraMeta(metadata);
  if (meta.kind !== 'adapter') {
    for (const t of tensors.values()) t.dispose();
    throw new ConvLoraError('E_CHECKPOINT', `${path} is not a convlora adapter (no "${META_KEY}" adapter config in its metadata)`);
  }
  return { config: meta.value as unknown as AdapterConfig, tensors };
}

export function disposeAdapter(a: DomainAdapter): void {
  for (const t of a.tensors.values()) t.dispose();
}

/**
 * One frozen base model plus many domain adapters. The registry snapshots the base state when
 * created (and hashes it); activating a domain restores the base exactly, then applies that domain's
 * adapter, so switching A -> B -> A reproduces A bit for bit.
 */
export class AdapterRegistry {
  readonly model: Module;
  readonly baseHash: string;
  readonly #base: Map<string, Tensor>;
  readonly #adapters = new Map<string, DomainAdapter>();
  #active: string | null = null;

  constructor(model: Module) {
    this.model = model;
    const state = model.stateDict();
    this.#base = new Map([...state].filter(([k]) => !k.endsWith('.lora_A') && !k.endsWith('.lora_B')).map(([k, t]) => [k, clone(t).keep()]));
    this.baseHash = hashState(this.#base);
  }

  get active(): string | null { return this.#active; }
  /** The configuration of the adapter registered as `name`, or null. */
  config(name: string): AdapterConfig | null { return this.#adapters.get(name)?.config ?? null; }
  get domains(): string[] { return [...this.#adapters.keys()]; }

  /** Register an adapter under `name`; it must have been trained on this base model. */
  add(name: string, adapter: DomainAdapter, source = name): void {
    if (adapter.config.baseHash !== this.baseHash) {
      throw new ConvLoraError('E_CHECKPOINT', `Adapter ${source} was trained on a different base model (base hash ${adapter.config.baseHash.slice(0, 12)}..., this model ${this.baseHash.slice(0, 12)}...)`);
    }
    const old = this.#adapters.get(name);
    if (old !== undefined) disposeAdapter(old);
    this.#adapters.set(name, adapter);
  }

  async load(name: string, path: string): Promise<void> {
    const a = await loadAdapter(path);
    try { this.add(name, a, path); } catch (err) { disposeAdapter(a); throw err; }
  }

  /** Restore the base model exactly (no adapter active, LoRA layers unmerged and inactive). */
  deactivate(): void {
    for (const [, layer] of loraLayers(this.model)) { layer.unmerge(); layer.setActive(null); }
    const state = this.model.stateDict();
    for (const [k, t] of this.#base) ops.copy_(state.get(k)!, t);
    this.model.freeze();
    this.#active = null;
  }

  /** Switch to domain `name` (null: the base model). merge: fold LoRA into the weights for speed. */
  activate(name: string | null, opts: { merge?: boolean } = {}): void {
    this.deactivate();
    if (name === null) return;
    const ad = this.#adapters.get(name);
    if (ad === undefined) throw new ConvLoraError('E_INVALID_ARG', `No adapter registered for domain ${JSON.stringify(name)}; have ${this.domains.join(', ') || 'none'}`);
    const layers = new Map(loraLayers(this.model));
    for (const path of ad.config.placement.loraTargets) {
      const existing = layers.get(path);
      if (existing !== undefined && existing.adapterNames.includes(name)) existing.setActive(name);
      else applyPlacement(this.model, { loraTargets: [path], trainableBatchNorms: [], fullyTrainable: [] }, name, ad.config.lora);
    }
    const state = this.model.stateDict();
    for (const [k, t] of ad.tensors) {
      const dst = state.get(k);
      if (dst === undefined) throw new ConvLoraError('E_CHECKPOINT', `Adapter ${name} has tensor ${k} that the model does not have`);
      if (dst.shape.join(',') !== t.shape.join(',')) throw new ConvLoraError('E_CHECKPOINT', `Adapter ${name}: shape of ${k} is [${t.shape.join(', ')}], model expects [${dst.shape.join(', ')}]`);
      ops.copy_(dst, t);
    }
    this.model.freeze();
    if (opts.merge === true) for (const [, layer] of loraLayers(this.model)) layer.merge({ safe: true });
    this.#active = name;
  }

  dispose(): void {
    for (const a of this.#adapters.values()) disposeAdapter(a);
    for (const t of this.#base.values()) t.dispose();
    this.#adapters.clear();
  }
}

export { LoRAConv2d, LoRAConvTranspose2d };
