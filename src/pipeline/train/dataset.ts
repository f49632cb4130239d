/** The pipeline's view of a dataset root: domains, seeded splits, preloaded scans and batches. */
import { ConvLoraError, checkInt } from '../../errors.js';
import { Rng, hashSeed } from '../../data/rng.js';
import { readDatasetInfo, listScans, loadScan, validateDataset, isDomain, CC359_DOMAINS, type DatasetInfo, type Domain, type ScanData, type ScanEntry } from '../../data/scans/cc359.js';
import { splitScans, SOURCE_SPLIT, TARGET_SPLIT, type Split, type SplitSpec } from '../../data/scans/splits.js';
import { SliceSampler, type Batch, type SliceSource } from '../../data/scans/sampler.js';

/** Splits do not depend on the training seed: every seed is scored on the same test volumes. */
export const SPLIT_SEED = 359;

export interface DomainData { info: DatasetInfo; domain: Domain; split: Split<ScanEntry> }

export function checkDomain(name: string, what = 'domain'): Domain {
  if (!isDomain(name)) throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${CC359_DOMAINS.join(', ')} for \`${what}\` but received ${JSON.stringify(name)}`);
  return name;
}

/** List and split one domain (source: 80/10/10; target: 10 train, 10 % val, rest test). */
export async function openDomain(root: string, domain: Domain, role: 'source' | 'target', spec?: SplitSpec): Promise<DomainData> {
  const info = await readDatasetInfo(root);
  const scans = await listScans(root, domain);
  return { info, domain, split: splitScans(scans, spec ?? (role === 'source' ? SOURCE_SPLIT : TARGET_SPLIT), SPLIT_SEED, domain) };
}

/**
 * Check every volume of the given domains before any training starts (a corrupt or missing file is
 * named and stops the run now, not after an hour).
 */
export async function checkData(root: string, domains: readonly Domain[]): Promise<void> {
  await validateDataset(root, domains);
}

export async function loadScans(entries: readonly ScanEntry[], info: DatasetInfo): Promise<ScanData[]> {
  const out: ScanData[] = [];
  for (const e of entries) out.push(await loadScan(e, { size: info.size, sliceRange: info.sliceRanges[e.domain] }));
  return out;
}

/**
 * A preloaded scan to cut batches from: a CC359 ScanData, or an unlabelled user scan (no masks; any
 * domain name), prepared as `segment` prepares it.
 */
export type BatchScan = SliceSource & { stem: string; domain: string };

/** Shuffled batches over preloaded scans (seeded by seed and epoch). */
export class Batches {
  readonly sampler: SliceSampler;
  readonly steps: number;

  constructor(readonly scans: readonly BatchScan[], info: Pick<DatasetInfo, 'size'>, opts: { batchSize: number; seed: number; dropLast: boolean }) {
    const byPath = new Map(scans.map((s, i) => [`${s.domain}/${s.stem}#${i}`, s]));
    // The sampler's entries only key the preloaded scans (the loader below never reads a file or a slice range).
    const entries: ScanEntry[] = [...byPath.keys()].map((k) => ({ domain: byPath.get(k)!.domain as Domain, stem: byPath.get(k)!.stem, imagePath: k, maskPath: k }));
    this.sampler = new SliceSampler(entries, {
      batchSize: opts.batchSize, seed: opts.seed, size: info.size, dropLast: opts.dropLast,
      cacheVolumes: Math.max(1, scans.length), load: async (e) => byPath.get(e.imagePath)!,
    });
    const total = scans.reduce((n, s) => n + s.shape[0], 0);
    this.steps = opts.dropLast ? Math.floor(total / opts.batchSize) : Math.ceil(total / opts.batchSize);
    if (this.steps === 0) {
      throw new ConvLoraError('E_DATA', `Only ${total} slices for batch size ${opts.batchSize} with the last partial batch dropped: no batch to train on`);
    }
  }

  epoch(epoch: number): AsyncGenerator<Batch> { return this.sampler.epoch(epoch); }
}

/** What a training loop takes batches from: a step count and the batches of an epoch. */
export interface BatchSource {
  readonly steps: number;
  epoch(epoch: number): AsyncIterable<Batch>;
}

/**
 * Batches that never mix scans: every batch holds slices of one scan only (scan order and slice order
 * shuffled by seed and epoch; a scan's last batch may be smaller, never below 2 slices, as BatchNorm in
 * train mode needs). Training BatchNorm then normalizes with one image's statistics, which is what
 * test-time AdaBN does at inference (one scan's statistics), instead of a mixture of many contrasts
 * that no single scan has.
 */
export class ScanBatches implements BatchSource {
  readonly steps: number;

  constructor(readonly scans: readonly BatchScan[], private readonly opts: { batchSize: number; seed: number }) {
    checkInt('batchSize', opts.batchSize, 2);
    this.steps = scans.reduce((n, s) => n + ScanBatches.chunks(s.shape[0], opts.batchSize).length, 0);
    if (this.steps === 0) throw new ConvLoraError('E_DATA', `No scan has the 2 slices a per-scan batch needs (batch size ${opts.batchSize})`);
  }

  /** Chunk lengths of `count` slices: full batches, then the rest when it has at least 2 slices. */
  static chunks(count: number, batchSize: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < count; k += batchSize) if (Math.min(batchSize, count - k) >= 2) out.push(Math.min(batchSize, count - k));
    return out;
  }

  async *epoch(epoch: number): AsyncGenerator<Batch> {
    const rng = new Rng(hashSeed(this.opts.seed, epoch, 0x5ca));
    for (const i of rng.shuffle(this.scans.map((_, j) => j))) {
      const s = this.scans[i]!;
      const [S, H, W] = s.shape, plane = H * W;
      const order = rng.shuffle(Array.from({ length: S }, (_, k) => k));
      let at = 0;
      for (const len of ScanBatches.chunks(S, this.opts.batchSize)) {
        const x = new Float32Array(len * plane), y = new Float32Array(len * plane);
        for (let j = 0; j < len; j++) {
          const k = order[at + j]!;
          x.set(s.images.subarray(k * plane, (k + 1) * plane), j * plane);
          if (s.masks !== undefined) for (let p = 0; p < plane; p++) y[j * plane + p] = s.masks[k * plane + p]!;
        }
        at += len;
        yield { x, y, shape: [len, 1, H, W] };
      }
    }
  }
}
