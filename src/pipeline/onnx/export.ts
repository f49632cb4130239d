/**
 * A base model with one domain adapter, as one network: `merge` writes it as a plain U-Net checkpoint
 * (the adapter's LoRA folded into the conv weights, its BatchNorm statistics and parameters in place),
 * `export` as an ONNX graph whose metadata says how `segment` prepares a scan for it. Both files are
 * written under a temporary name and renamed, so a failure leaves nothing half-written.
 */
import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { ConvLoraError } from '../../errors.js';
import type { Device, Tensor } from '../../engine/tensor.js';
import { saveSafetensors } from '../../nn/safetensors.js';
import { META_KEY } from '../../nn/checkpoint.js';
import { modelToOnnx, specOf, type SegmentationNet } from '../../models/zoo.js';
import { AdapterRegistry, disposeAdapter, loadAdapter, type AdapterConfig } from '../../lora/adapter.js';
import { LORA_EMITTERS } from '../../lora/onnx.js';
import { CONFORM_TOLERANCE, DEFAULT_CONFORM, type ModelGrid } from '../../data/image/conform.js';
import { writeFileAtomic } from '../../fsutil.js';
import { VERSION } from '../../version.js';
import { loadUnet, modelGrid, type ModelInfo } from '../models.js';

export interface MergeSource {
  /** U-Net checkpoint (safetensors). */
  model: string;
  /** Domain adapter file trained on that model (absent: the base model alone). */
  adapter?: string;
  device?: Device;
}

/** A base model with its adapter active and merged, in eval mode. dispose() frees both. */
export interface MergedModel {
  model: SegmentationNet;
  /** The base checkpoint's description and the adapter's config (null: none). */
  info: ModelInfo;
  adapter: AdapterConfig | null;
  baseHash: string;
  grid: ModelGrid;
  dispose(): void;
}

/** Load `model`, apply `adapter` (refused with E_CHECKPOINT when it was trained on another base) and merge it. */
export async function openMerged(o: MergeSource): Promise<MergedModel> {
  const { model, info } = await loadUnet(o.model, o.device ?? 'cpu');
  const registry = new AdapterRegistry(model);
  const dispose = (): void => { registry.dispose(); model.dispose(); };
  try {
    let adapter: AdapterConfig | null = null;
    if (o.adapter !== undefined) {
      const a = await loadAdapter(o.adapter);
      try { registry.add('target', a, o.adapter); } catch (err) { disposeAdapter(a); throw err; }
      registry.activate('target', { merge: true });
      adapter = a.config;
    }
    model.eval();
    return { model, info, adapter, baseHash: registry.baseHash, grid: modelGrid(info), dispose };
  } catch (err) {
    dispose();
    throw err;
  }
}

/** What a merged model records about itself (a plain checkpoint's `convlora` metadata, the ONNX model_info). */
export function mergedInfo(m: MergedModel, adapterPath: string | undefined): ModelInfo {
  // The fingerprint describes the base model's view of its own training scans; it does not hold for merged weights.
  const { fingerprint: _drop, ...info } = m.info;
  if (m.adapter === null) return { ...info, baseHash: m.baseHash };
  const a = m.adapter;
  return {
    ...info, source: a.domain, baseHash: m.baseHash,
    merged: { adapter: adapterPath === undefined ? null : basename(adapterPath), domain: a.domain, method: a.method, blocks: a.blocks, adabn: a.adabn, lora: a.lora, baseSource: info.source ?? null,
      ...(a.inference === undefined ? {} : { inference: a.inference }) },
  };
}

/**
 * `convlora merge`: base + adapter as one plain U-Net checkpoint that loads like any other (`segment
 * --model`). Its state dict has exactly the base model's names; LoRA matrices are folded in.
 */
export async function mergeCheckpoint(o: MergeSource & { adapter: string; out: string }): Promise<{ out: string; domain: string; tensors: number }> {
  const m = await openMerged(o);
  try {
    const state = new Map<string, Tensor>([...m.model.stateDict()].filter(([k]) => !k.endsWith('.lora_A') && !k.endsWith('.lora_B')));
    await saveSafetensors(o.out, state, { [META_KEY]: JSON.stringify(mergedInfo(m, o.adapter)) });
    return { out: o.out, domain: m.adapter!.domain, tensors: state.size };
  } finally { m.dispose(); }
}

/** metadata_props keys of an exported model. */
import { ONNX_META, ONNX_FORMAT } from './model.js';
export { ONNX_META, ONNX_FORMAT };

/** How `segment` prepares a scan and reads the logits (data/image/conform.ts, data/image/preprocess.ts), for other runtimes. */
function preprocessing(grid: ModelGrid, divisor: number): Record<string, unknown> {
  return {
    orient: grid.orientation === null ? 'none: the model does not record its training orientation' : `permute/flip the voxel axes (no interpolation) into ${grid.orientation}, from the NIfTI affine`,
    conform: grid.spacing === null ? 'none: the model does not record its training voxel size'
      : { default: DEFAULT_CONFORM, to_mm: grid.spacing, when: `any voxel dimension differs by more than ${CONFORM_TOLERANCE * 100} %`, interpolation: 'trilinear' },
    slices: (grid.views ?? 1) === 1 ? 'every slice along voxel axis 0'
      : 'every slice along voxel axis 0, and (views) along axes 1 and 2 of the volume permuted to put that axis first; the metadata\'s inferenceViews says how many views to average (sigmoid probabilities on the grid)',
    intensity: 'min-max over the whole volume to [0, 1] (float32)',
    rotate: 'numpy rot90(k=1, axes=(1, 2)): slice row a, column b = volume[s, b, nz - 1 - a]',
    pad: `edge-pad the shorter side to a square (before = floor(diff / 2)), then edge-pad or centre-crop to ${grid.size} x ${grid.size}`,
    input: `image [batch, 1, ${grid.size}, ${grid.size}] float32; any height and width divisible by ${divisor} run`,
    inverse: 'undo crop/pad and rotation, resample probabilities back (trilinear, threshold 0.5) when conformed, undo the axis turn',
  };
}

/**
 * Whether `m` predicts with test-time AdaBN per scan (`inference: 'adabn'`, and no adapter fitted it to
 * a scanner), and so gets a statistics graph next to its ONNX model.
 */
export function wantsStatistics(m: Pick<MergedModel, 'adapter' | 'info'>): boolean {
  return m.info.inference === 'adabn' && (m.adapter === null || m.adapter.inference === 'adabn');
}

/** The statistics graph's file next to an ONNX model: `model.onnx` -> `model.stats.onnx`. */
export function statisticsPath(onnxPath: string): string {
  return onnxPath.replace(/\.onnx$/i, '.stats.onnx');
}

/** The ONNX model of `m` (already merged), with its metadata, and its statistics graph when asked for (pipeline/onnx/adabn.ts). */
export function onnxOfMerged(m: MergedModel, adapterPath?: string, o: { statistics?: boolean } = {}): { bytes: Uint8Array; metadata: Record<string, string>; statistics: Uint8Array | null } {
  const a = m.adapter;
  const divisor = specOf(m.model).divisor;
  const metadata: Record<string, string> = {
    [ONNX_META.format]: ONNX_FORMAT,
    [ONNX_META.modelInfo]: JSON.stringify(mergedInfo(m, adapterPath)),
    [ONNX_META.baseHash]: m.baseHash,
    [ONNX_META.domain]: a?.domain ?? (typeof m.info.source === 'string' ? m.info.source : 'unknown'),
    [ONNX_META.adapter]: a === null ? 'none' : JSON.stringify({ file: adapterPath === undefined ? null : basename(adapterPath), method: a.method, blocks: a.blocks, adabn: a.adabn, lora: a.lora }),
    [ONNX_META.voxelSize]: m.grid.spacing === null ? 'unknown' : JSON.stringify(m.grid.spacing),
    [ONNX_META.orientation]: m.grid.orientation ?? 'unknown',
    [ONNX_META.sliceSize]: String(m.grid.size),
    [ONNX_META.divisor]: String(divisor),
    [ONNX_META.preprocessing]: JSON.stringify(preprocessing(m.grid, divisor)),
    [ONNX_META.output]: 'logits [batch, 1, height, width]; mask = logits > 0 (sigmoid > 0.5)',
  };
  const bytes = modelToOnnx(m.model, { metadata, extra: LORA_EMITTERS, version: VERSION });
  const statistics = (o.statistics ?? wantsStatistics(m)) ? modelToOnnx(m.model, { metadata, extra: LORA_EMITTERS, version: VERSION, statistics: true }) : null;
  return { bytes, metadata, statistics };
}

/** The merged network as ONNX bytes, in memory (`segment --engine onnx` with a checkpoint). */
export async function onnxBytes(o: MergeSource & { statistics?: boolean }): Promise<{ bytes: Uint8Array; metadata: Record<string, string>; statistics: Uint8Array | null }> {
  const m = await openMerged(o);
  try { return onnxOfMerged(m, o.adapter, o.statistics === undefined ? {} : { statistics: o.statistics }); } finally { m.dispose(); }
}

/** `convlora export`: write the merged network as an ONNX file. */
export async function exportOnnx(o: MergeSource & { out: string; statistics?: boolean }): Promise<{ out: string; bytes: number; seconds: number; metadata: Record<string, string>; statistics: string | null }> {
  if (!o.out.endsWith('.onnx')) throw new ConvLoraError('E_INVALID_ARG', `Expected a file name ending in .onnx for \`out\` but received ${JSON.stringify(o.out)}`);
  const t0 = performance.now();
  const { bytes, metadata, statistics } = await onnxBytes(o);
  // The statistics graph first: a model file never appears without the graph it needs.
  const stats = statistics === null ? null : statisticsPath(o.out);
  if (stats !== null) await writeFileAtomic(stats, statistics!);
  else await rm(statisticsPath(o.out), { force: true }); // a stale one from an earlier export would not match
  await writeFileAtomic(o.out, bytes);
  return { out: o.out, bytes: bytes.length, seconds: (performance.now() - t0) / 1000, metadata, statistics: stats };
}
