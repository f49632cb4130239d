/**
 * What a folder of adapter files holds, read from the files' headers only (no tensor data): each
 * adapter's domain and scanner, method, trainable parameters, selected epoch and its agreement, and,
 * given the base model, whether it was trained on that model. A file that is not an adapter is listed
 * with the coded reason, not thrown.
 *
 * "The adapters in a folder" means one thing everywhere (`convlora adapters`, `segment --adapters`,
 * `convlora app --adapters`): the files of the folder and of its sub-folders two levels down, hidden ones
 * skipped, whose header holds an adapter config (listAdapters; adapterFiles keeps those).
 */
import { join, relative } from 'node:path';
import { promises as fsp } from 'node:fs';
import { ConvLoraError } from '../../errors.js';
import type { Device } from '../../engine/tensor.js';
import { listFolder } from '../../data/scans/folder.js';
import { META_KEY, readConvloraMeta } from '../../nn/checkpoint.js';
import { readSafetensorsHeader } from '../../nn/safetensors.js';
import { AdapterRegistry, type AdapterConfig } from '../../lora/adapter.js';
import { loadUnet } from '../models.js';

export interface AdapterSummary {
  domain: string;
  scanner: string | null;
  method: string;
  blocks: string | null;
  adabn: string;
  rank: number | null;
  /** LoRA matrices and other trained weights (BatchNorm running statistics are not parameters). */
  trainableParams: number;
  baseHash: string;
  /** Whether the adapter was trained on the given model (null: no model given). */
  baseMatch: boolean | null;
  bestEpoch: number | null;
  /** Head/final agreement of the selected epoch (null: not recorded, or no head). */
  agreement: number | null;
  /** Scans it was trained on, when they were a user's own (adapt on a folder or BIDS group). */
  trainedOn: { kind: string; count: number } | null;
}

export interface AdapterListing {
  /** Path relative to the listed folder. */
  file: string;
  bytes: number;
  adapter: AdapterSummary | null;
  /** Why the file is not a usable adapter (code as in ConvLoraError), or null. */
  problem: { code: string; reason: string } | null;
}

/** Folders below the listed one that are searched (the experiment writes `adapters/<target>/*.safetensors`). */
const MAX_DEPTH = 2;

async function filesUnder(dir: string, depth: number): Promise<string[]> {
  const out: string[] = [];
  for (const name of await listFolder(dir, 'adapter folder')) {
    if (name.startsWith('.')) continue; // hidden, and temporaries of atomic writes
    const path = join(dir, name);
    const st = await fsp.stat(path).catch(() => null);
    if (st?.isFile() === true) out.push(path);
    else if (st?.isDirectory() === true && depth < MAX_DEPTH) out.push(...await filesUnder(path, depth + 1));
  }
  return out;
}

const isStatistic = (name: string): boolean => /\.(running_mean|running_var|num_batches_tracked)$/.test(name);

function summarize(config: AdapterConfig, tensors: Map<string, { shape: number[] }>, modelHash: string | null): AdapterSummary {
  let trainableParams = 0;
  for (const [name, t] of tensors) if (!isStatistic(name)) trainableParams += t.shape.reduce((a, b) => a * b, 1);
  const notes = config.notes ?? {};
  const bestEpoch = typeof notes.bestEpoch === 'number' ? notes.bestEpoch : null;
  const history = Array.isArray(notes.history) ? notes.history as { epoch?: unknown; agreement?: unknown }[] : [];
  const best = history.find((h) => h.epoch === bestEpoch);
  return {
    domain: config.domain, scanner: config.trainedOn?.scanner ?? null, method: config.method, blocks: config.blocks, adabn: config.adabn,
    rank: (config.placement?.loraTargets?.length ?? 0) > 0 ? config.lora?.rank ?? null : null, trainableParams, baseHash: config.baseHash,
    baseMatch: modelHash === null ? null : modelHash === config.baseHash, bestEpoch,
    agreement: typeof best?.agreement === 'number' ? best.agreement : null,
    trainedOn: config.trainedOn === undefined ? null : { kind: config.trainedOn.kind, count: config.trainedOn.count },
  };
}

/** Why a safetensors file with this metadata is not an adapter, or null when it is one. */
function notAdapter(metadata: Record<string, string>): string | null {
  const meta = readConvloraMeta(metadata);
  if (meta.kind === 'invalid') return `its "${META_KEY}" metadata is not valid JSON`;
  if (meta.kind === 'adapter') return null;
  const kind = meta.value !== null && typeof meta.value === 'object' ? (meta.value as { kind?: unknown }).kind : undefined;
  if (typeof kind === 'string') return `a convlora ${kind === 'unet2d' ? 'U-Net' : kind} checkpoint, not an adapter`;
  return `no "${META_KEY}" adapter config in its metadata`;
}

/**
 * The adapter files a folder holds (listAdapters' entries that are adapters, in its order), or the list
 * given. Throws E_DATA when there are none; files that are not adapters are left out (listAdapters names them).
 */
export async function adapterFiles(adapters: string | readonly string[]): Promise<string[]> {
  if (typeof adapters !== 'string') {
    if (adapters.length === 0) throw new ConvLoraError('E_INVALID_ARG', 'Expected at least one adapter file for `adapters` but received none');
    return [...adapters];
  }
  const files = (await listAdapters(adapters)).filter((l) => l.adapter !== null).map((l) => join(adapters, l.file));
  if (files.length === 0) throw new ConvLoraError('E_DATA', `No .safetensors adapter files in ${adapters}`);
  return files;
}

/** Every file under `dir` (two folder levels), adapters summarized, the others with their reason. */
export async function listAdapters(dir: string, opts: { model?: string; device?: Device } = {}): Promise<AdapterListing[]> {
  const files = await filesUnder(dir, 0);
  let modelHash: string | null = null;
  if (opts.model !== undefined) {
    const { model } = await loadUnet(opts.model, opts.device ?? 'cpu');
    const registry = new AdapterRegistry(model);
    modelHash = registry.baseHash;
    registry.dispose();
    model.dispose();
  }
  const out: AdapterListing[] = [];
  for (const path of files) {
    const file = relative(dir, path);
    const st = await fsp.stat(path).catch(() => null);
    if (st === null) continue; // gone since the folder was listed
    try {
      const h = await readSafetensorsHeader(path);
      const reason = notAdapter(h.metadata);
      if (reason !== null) { out.push({ file, bytes: st.size, adapter: null, problem: { code: 'E_CHECKPOINT', reason } }); continue; }
      out.push({ file, bytes: st.size, adapter: summarize(readConvloraMeta(h.metadata).value as AdapterConfig, h.tensors, modelHash), problem: null });
    } catch (err) {
      if (!(err instanceof ConvLoraError)) throw err;
      out.push({ file, bytes: st.size, adapter: null, problem: { code: err.code, reason: err.message.startsWith(`${path}: `) ? err.message.slice(path.length + 2) : err.message } });
    }
  }
  return out;
}
