/**
 * Shuffled slice batches streamed from scans, holding at most `cacheVolumes` preprocessed scans in
 * memory (plus fewer than one batch of carried-over slices).
 *
 * Each epoch: shuffle the scan order (seed, epoch), take scans in groups of `cacheVolumes`, pool the
 * group's slices with the slices left over from the previous group, shuffle the pool and emit full
 * batches. When every scan fits in the cache, this is an exact shuffle of all slices and the scans are
 * loaded once for all epochs.
 */
import { ConvLoraError, checkInt } from '../../errors.js';
import type { Domain, ScanData, ScanEntry } from './cc359.js';
import { loadScan } from './cc359.js';
import { Rng, hashSeed } from '../rng.js';

/** One batch: x and y are [B, 1, H, W] C-order; y is 0/1. */
export interface Batch {
  x: Float32Array;
  y: Float32Array;
  shape: [number, 1, number, number];
}

export interface SamplerOptions {
  batchSize: number;
  seed: number;
  /** Inclusive slice range per domain (e.g. DatasetInfo.sliceRanges); needed only by the default loader. */
  sliceRanges?: Readonly<Record<Domain, readonly [number, number]>>;
  /** Common output size of the slices. */
  size: number;
  /** Drop the last partial batch (the method does, for adaptation). Default false. */
  dropLast?: boolean;
  /** Shuffle scans and slices. Default true; false gives scan order, slice order. */
  shuffle?: boolean;
  /** Most preprocessed scans held at once. Default 16 (~ 16 x 151 x 256^2 x 5 B = 0.8 GB for CC359). */
  cacheVolumes?: number;
  /** Loader, for tests or alternative layouts (unlabelled scans: no masks). Default: loadScan with the ranges and size. */
  load?: (entry: ScanEntry) => Promise<SliceSource>;
}

/** What batches are cut from: slices [S, size, size] and, for labelled scans, their 0/1 masks. */
export type SliceSource = Pick<ScanData, 'images' | 'shape'> & { masks?: Uint8Array | undefined };

/** One slice of a scan; `masks` null for an unlabelled scan (its targets are 0). */
interface SliceRef { images: Float32Array; masks: Uint8Array | null; index: number }

export class SliceSampler {
  private readonly cache = new Map<string, SliceSource>();
  private readonly opts: Required<Omit<SamplerOptions, 'load' | 'sliceRanges'>> & Pick<SamplerOptions, 'load' | 'sliceRanges'>;

  constructor(private readonly scans: readonly ScanEntry[], opts: SamplerOptions) {
    checkInt('batchSize', opts.batchSize, 1);
    checkInt('seed', opts.seed);
    checkInt('size', opts.size, 1);
    checkInt('cacheVolumes', opts.cacheVolumes ?? 16, 1);
    if (opts.load === undefined && opts.sliceRanges === undefined) {
      throw new ConvLoraError('E_INVALID_ARG', 'Expected `sliceRanges` (for the default loader) or a `load` function but received neither');
    }
    this.opts = { dropLast: false, shuffle: true, cacheVolumes: 16, ...opts };
  }

  private async scan(entry: ScanEntry): Promise<SliceSource> {
    const key = entry.imagePath;
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.cache.delete(key);
      this.cache.set(key, hit); // most recently used last
      return hit;
    }
    const { size, sliceRanges } = this.opts;
    const data = await (this.opts.load ?? ((e) => loadScan(e, { size, sliceRange: sliceRanges![e.domain] })))(entry);
    if (data.shape[1] !== size || data.shape[2] !== size) {
      throw new ConvLoraError('E_SHAPE', `Expected ${size} x ${size} slices from ${entry.imagePath} but received ${data.shape[1]} x ${data.shape[2]}`);
    }
    this.cache.set(key, data);
    while (this.cache.size > this.opts.cacheVolumes) this.cache.delete(this.cache.keys().next().value as string);
    return data;
  }

  /** Batches of one epoch; the same (seed, epoch) gives the same batches. */
  async *epoch(epoch = 0): AsyncGenerator<Batch> {
    checkInt('epoch', epoch, 0);
    const rng = new Rng(hashSeed(this.opts.seed, epoch));
    const order = [...this.scans];
    if (this.opts.shuffle) rng.shuffle(order);
    let pool: SliceRef[] = [];
    const B = this.opts.batchSize;
    for (let g = 0; g < order.length; g += this.opts.cacheVolumes) {
      for (const entry of order.slice(g, g + this.opts.cacheVolumes)) {
        const s = await this.scan(entry);
        for (let i = 0; i < s.shape[0]; i++) pool.push({ images: s.images, masks: s.masks ?? null, index: i });
      }
      if (this.opts.shuffle) rng.shuffle(pool);
      const full = pool.length - (pool.length % B);
      for (let at = 0; at < full; at += B) yield this.batch(pool.slice(at, at + B));
      pool = pool.slice(full).map((r) => this.detach(r));
    }
    if (pool.length > 0 && !this.opts.dropLast) yield this.batch(pool);
  }

  /** Copy a carried-over slice so that its scan can leave the cache. */
  private detach(r: SliceRef): SliceRef {
    const plane = this.opts.size * this.opts.size, at = r.index * plane;
    return { images: r.images.slice(at, at + plane), masks: r.masks === null ? null : r.masks.slice(at, at + plane), index: 0 };
  }

  private batch(refs: SliceRef[]): Batch {
    const size = this.opts.size, plane = size * size;
    const x = new Float32Array(refs.length * plane), y = new Float32Array(refs.length * plane);
    refs.forEach((r, b) => {
      const at = r.index * plane;
      x.set(r.images.subarray(at, at + plane), b * plane);
      if (r.masks === null) return; // unlabelled: y stays 0 (adaptation never reads it)
      const m = r.masks.subarray(at, at + plane);
      for (let p = 0; p < plane; p++) y[b * plane + p] = m[p] ?? 0;
    });
    return { x, y, shape: [refs.length, 1, size, size] };
  }
}
