/** Loading and saving the pipeline's networks, with their construction parameters in the metadata. */
import { ConvLoraError } from '../errors.js';
import type { HeadKind, ModelInfo } from './model-info.js';
import type { Device } from '../engine/tensor.js';
import { loadSafetensors } from '../nn/safetensors.js';
import { saveModel, META_KEY, readConvloraMeta } from '../nn/checkpoint.js';
import { DEFAULT_ARCH, modelSpec, type ModelSpec, type SegmentationNet } from '../models/zoo.js';
import { EarlySegHead, UdasHead } from '../models/esh.js';
import type { Module } from '../nn/module.js';

export type { HeadKind, ModelInfo } from './model-info.js';

async function read(path: string, device: Device): Promise<{ info: ModelInfo; load: (m: Module) => void; dispose: () => void }> {
  const { tensors, metadata } = await loadSafetensors(path, device);
  const meta = readConvloraMeta(metadata);
  const dispose = (): void => { for (const t of tensors.values()) t.dispose(); };
  if (meta.kind !== 'network') {
    dispose();
    throw new ConvLoraError('E_CHECKPOINT', `${path} is not a convlora model checkpoint (no "${META_KEY}" metadata with "filters")`);
  }
  const info = meta.value as unknown as ModelInfo;
  const load = (m: Module): void => {
    try { m.loadStateDict(tensors, { strict: true }); } catch (err) {
      throw new ConvLoraError('E_CHECKPOINT', `${path}: ${(err as Error).message}`);
    }
  };
  return { info, load, dispose };
}

/** The zoo spec of a checkpoint's architecture (E_CHECKPOINT naming the file for one this version does not know). */
export function specOfInfo(info: Pick<ModelInfo, 'arch'>, path: string): ModelSpec {
  try { return modelSpec(info.arch ?? DEFAULT_ARCH); } catch (err) {
    throw new ConvLoraError('E_CHECKPOINT', `${path}: ${(err as Error).message}`);
  }
}

/** A segmentation network checkpoint (any zoo architecture; `arch` in its metadata, the paper's U-Net when absent). */
export async function loadUnet(path: string, device: Device = 'cpu'): Promise<{ model: SegmentationNet; info: ModelInfo }> {
  const r = await read(path, device);
  try {
    if (r.info.kind !== 'unet2d') throw new ConvLoraError('E_CHECKPOINT', `${path} holds a ${r.info.kind}, not a U-Net`);
    const model = specOfInfo(r.info, path).create({ filters: r.info.filters, device });
    try { r.load(model); } catch (err) { model.dispose(); throw err; }
    return { model, info: r.info };
  } finally { r.dispose(); }
}

/** An early head for a network of `arch` with `filters`: its input channels and up-sampling are the spec's tap. */
export function createHead(kind: HeadKind, filters: number, device: Device = 'cpu', arch: string = DEFAULT_ARCH): EarlySegHead | UdasHead {
  const tap = modelSpec(arch).taps[kind];
  return kind === 'esh' ? new EarlySegHead(tap.channels(filters), { upscale: tap.stride, device }) : new UdasHead(tap.channels(filters), { device });
}

/**
 * An early head checkpoint. `forModel`: the description of the network it will read from; a head made
 * for another architecture or filter count (its input channels differ) is E_CHECKPOINT naming both.
 */
export async function loadHead(path: string, device: Device = 'cpu', forModel?: Pick<ModelInfo, 'arch' | 'filters'>): Promise<{ head: EarlySegHead | UdasHead; info: ModelInfo }> {
  const r = await read(path, device);
  try {
    if (r.info.kind !== 'head' || (r.info.head !== 'esh' && r.info.head !== 'udas')) throw new ConvLoraError('E_CHECKPOINT', `${path} is not an early-segmentation-head checkpoint`);
    if (forModel !== undefined) {
      const want = `${forModel.arch ?? DEFAULT_ARCH} with ${forModel.filters} filters`, have = `${r.info.arch ?? DEFAULT_ARCH} with ${r.info.filters} filters`;
      if (want !== have) throw new ConvLoraError('E_CHECKPOINT', `${path} is a head for a ${have}, but the model is a ${want}`);
    }
    const head = createHead(r.info.head, r.info.filters, device, specOfInfo(r.info, path).arch);
    try { r.load(head); } catch (err) { head.dispose(); throw err; }
    return { head, info: r.info };
  } finally { r.dispose(); }
}

export async function saveNetwork(path: string, model: Module, info: ModelInfo): Promise<void> {
  await saveModel(path, model, info);
}

export { modelGrid } from '../data/image/conform.js';
