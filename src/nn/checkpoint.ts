/** Model checkpoints as safetensors: the state dict plus a JSON description in the metadata. */
import { createHash } from 'node:crypto';
import { ConvLoraError } from '../errors.js';
import type { Device, Tensor } from '../engine/tensor.js';
import type { Module } from './module.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';

/** The architecture (models/zoo.ts) of a network checkpoint without an `arch` entry: the paper's residual U-Net. */
export const DEFAULT_NETWORK_ARCH = 'dart-unet';

/** Metadata key under which convlora stores its JSON description. */
export const META_KEY = 'convlora';

/**
 * What a safetensors file's convlora metadata is: the one parser of that JSON for models, heads and
 * adapters (loadModel, pipeline/models.ts, lora/adapter.ts, pipeline/infer/adapter-list.ts).
 *   'adapter'  an adapter config (format "convlora-adapter")
 *   'network'  a model or head description (a string `kind` and a numeric `filters`); its `arch` (the
 *              model zoo's architecture name) is filled in as DEFAULT_NETWORK_ARCH when the file has none
 *              (checkpoints from before the zoo hold the paper's U-Net), and must be a string when present
 *   'other'    valid JSON of neither shape; 'missing' no such key; 'invalid' not JSON
 */
export type ConvloraMeta =
  | { kind: 'adapter'; value: Record<string, unknown> }
  | { kind: 'network'; value: Record<string, unknown> & { kind: string; filters: number; arch: string } }
  | { kind: 'other'; value: unknown }
  | { kind: 'missing' | 'invalid'; value: null };

export function readConvloraMeta(metadata: Record<string, string>): ConvloraMeta {
  const raw = metadata[META_KEY];
  if (raw === undefined) return { kind: 'missing', value: null };
  let v: unknown;
  try { v = JSON.parse(raw); } catch { return { kind: 'invalid', value: null }; }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (o.format === 'convlora-adapter') return { kind: 'adapter', value: o };
    if (typeof o.kind === 'string' && typeof o.filters === 'number' && (o.arch === undefined || typeof o.arch === 'string')) {
      return { kind: 'network', value: { ...o, kind: o.kind, filters: o.filters, arch: typeof o.arch === 'string' ? o.arch : DEFAULT_NETWORK_ARCH } };
    }
  }
  return { kind: 'other', value: v };
}

/** sha256 over sorted names, dtypes, shapes and bytes of a state dict: identifies a base model. */
export function hashState(state: Map<string, Tensor>): string {
  const h = createHash('sha256');
  for (const name of [...state.keys()].sort()) {
    const t = state.get(name)!;
    const d = t.data();
    h.update(`${name}|${t.dtype}|${t.shape.join('x')}|`);
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
}

export async function saveModel(path: string, model: Module, info: Record<string, unknown>): Promise<void> {
  await saveSafetensors(path, model.stateDict(), { [META_KEY]: JSON.stringify(info) });
}

/** Load a checkpoint into `model` (strict by name and shape); returns its JSON description. */
export async function loadModel(path: string, model: Module, device: Device = 'cpu'): Promise<Record<string, unknown>> {
  const { tensors, metadata } = await loadSafetensors(path, device);
  try {
    model.loadStateDict(tensors, { strict: true });
  } catch (err) {
    if (err instanceof ConvLoraError) throw new ConvLoraError('E_CHECKPOINT', `${path}: ${err.message}`);
    throw err;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  const meta = readConvloraMeta(metadata);
  if (meta.kind === 'invalid') throw new ConvLoraError('E_CHECKPOINT', `${path}: metadata "${META_KEY}" is not valid JSON`);
  return meta.value !== null && typeof meta.value === 'object' ? meta.value as Record<string, unknown> : {};
}
