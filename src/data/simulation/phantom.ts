/**
 * Seeded multi-scanner phantom datasets in the CC359 layout: one procedural head per volume
 * (phantom-anatomy.ts), acquired through the domain's scanner (from MR physics, physics-scanners.ts,
 * or the calibrated levels, presets.ts; then scanner.ts), written as gzip NIfTI with its ground-truth
 * brain mask, plus `dataset.json` declaring the scanner model, phantom slice ranges and size so that
 * the CC359 reader (cc359.ts) loads the root unchanged.
 */
import { promises as fsp } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConvLoraError, checkInt, type ErrorCode } from '../../errors.js';
import { writeFileAtomic } from '../../fsutil.js';
import { CC359_DOMAINS, DATASET_FILE, isDomain, type Domain } from '../scans/cc359.js';
import { loadColin27Sync, type Colin27Anatomy } from './colin27/anatomy.js';
import { colin27Scan } from './colin27/scan.js';
import { encodeNifti, type NiftiWriteInput } from '../nifti/index.js';
import { defaultHeader } from '../nifti/header.js';
import { makeSubject, renderSubject, type Grid } from './phantom-anatomy.js';
import { phantomGrid, phantomSliceRange } from './presets.js';
import { SCANNER_MODELS, scannerPreset, type ScannerModel } from './physics-scanners.js';
import { Rng, hashSeed } from '../rng.js';
import { acquire } from './scanner.js';

/** Default phantom edge length: 64 voxels (4 mm) keeps a six-domain demo set well under a minute. */
export const DEFAULT_PHANTOM_SIZE = 64;

/**
 * The library's default scanner model: the calibrated `levels`, so that existing callers (the demo,
 * tests, benchmarks) keep their data; `convlora phantom` defaults to `physics`.
 */
export const DEFAULT_SCANNER_MODEL: ScannerModel = 'levels';

/** Where the heads come from: procedural shapes (phantom-anatomy.ts) or Colin27 in random poses (colin27/anatomy.ts). */
export type PhantomAnatomy = 'procedural' | 'colin27';
export const PHANTOM_ANATOMIES: readonly PhantomAnatomy[] = ['procedural', 'colin27'];

function checkAnatomy(anatomy: unknown): PhantomAnatomy {
  if (!(PHANTOM_ANATOMIES as readonly unknown[]).includes(anatomy)) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${PHANTOM_ANATOMIES.join(', ')} for \`anatomy\` but received ${JSON.stringify(anatomy)}`);
  }
  return anatomy as PhantomAnatomy;
}

/** The Colin27 anatomy, read once per thread. */
let colin27: Colin27Anatomy | undefined;

function checkModel(scanners: unknown): ScannerModel {
  if (!(SCANNER_MODELS as readonly unknown[]).includes(scanners)) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${SCANNER_MODELS.join(', ')} for \`scanners\` but received ${JSON.stringify(scanners)}`);
  }
  return scanners as ScannerModel;
}

export interface PhantomVolume {
  domain: Domain;
  stem: string;
  image: NiftiWriteInput;
  mask: NiftiWriteInput;
}

/** `PH0007_philips_3`: like CC359's `CC0007_philips_3_...`, numbered across domains. */
export function phantomStem(domain: Domain, index: number, volumesPerDomain: number): string {
  const n = CC359_DOMAINS.indexOf(domain) * volumesPerDomain + index + 1;
  return `PH${String(n).padStart(4, '0')}_${domain.toLowerCase()}`;
}

/**
 * One phantom scan of `domain`: the brain centre sits at the middle of the domain's slice range along
 * axis 0 and at the preset's field-of-view offsets along axes 1 and 2. Affine: axis-aligned RAS mm.
 * `scanners` picks the tissue intensities: MR physics or the calibrated levels (default).
 */
export function phantomVolume(domain: Domain, index: number, opts: { size?: number; seed?: number; volumesPerDomain?: number; scanners?: ScannerModel; anatomy?: PhantomAnatomy } = {}): PhantomVolume {
  const size = checkInt('size', opts.size ?? DEFAULT_PHANTOM_SIZE, 16);
  const seed = checkInt('seed', opts.seed ?? 0);
  const preset = scannerPreset(domain, checkModel(opts.scanners ?? DEFAULT_SCANNER_MODEL));
  if (checkAnatomy(opts.anatomy ?? 'procedural') === 'colin27') {
    colin27 ??= loadColin27Sync();
    return { domain, stem: phantomStem(domain, index, opts.volumesPerDomain ?? 1000), ...colin27Scan(colin27, domain, preset, { size, seed, index }) };
  }
  const { dims, spacing } = phantomGrid(domain, size, preset);
  const [lo, hi] = phantomSliceRange(domain, size, preset);
  const center: [number, number, number] = [(lo + hi) / 2, (dims[1] - 1) / 2, (dims[2] - 1) / 2];
  // World origin at the nominal brain centre: the FOV centre is 6 mm anterior and fovCenterZ mm along z.
  const origin: Grid['origin'] = [-center[0] * spacing[0], 6 - center[1] * spacing[1], preset.fovCenterZ - center[2] * spacing[2]];
  const d = CC359_DOMAINS.indexOf(domain);
  const subject = makeSubject(new Rng(hashSeed(seed, d, index)), [0, 0, 0]);
  const { intensity, mask } = renderSubject(subject, { dims, spacing, origin }, preset.levels);
  const centerVoxel = subject.center.map((c, a) => (c - origin[a]!) / spacing[a]!);
  const stored = acquire(intensity, preset, { dims, spacing, centerVoxel, seed: hashSeed(seed, d, index, 1) });
  const affine = [
    [spacing[0], 0, 0, origin[0]], [0, spacing[1], 0, origin[1]], [0, 0, spacing[2], origin[2]], [0, 0, 0, 1],
  ];
  const stem = phantomStem(domain, index, opts.volumesPerDomain ?? 1000);
  const image: NiftiWriteInput = { dims, data: stored.data, datatype: stored.datatype, affine, spacing };
  if (stored.sclSlope !== 1) image.header = { ...defaultHeader(1), datatype: stored.datatype, sclSlope: stored.sclSlope };
  return { domain, stem, image, mask: { dims, data: mask, affine, spacing } };
}

export interface PhantomDatasetOptions {
  size?: number;
  /** Volumes per domain. */
  volumes?: number;
  seed?: number;
  domains?: readonly string[];
  /** Tissue intensities from MR physics or the calibrated levels (default `levels`). */
  scanners?: ScannerModel;
  /** Procedural heads (default) or Colin27 in random poses. */
  anatomy?: PhantomAnatomy;
  /**
   * Worker threads that render volumes in parallel (default: the machine's cores, at most 8 and at most
   * one per volume; 1 renders in this thread). The files do not depend on it.
   */
  workers?: number;
  onProgress?: (done: number, total: number, stem: string) => void;
}

/** One volume to render and write (what a worker thread is sent). */
export interface PhantomJob { out: string; domain: Domain; index: number; size: number; seed: number; volumes: number; scanners: ScannerModel; anatomy: PhantomAnatomy }

/** Render one phantom volume and write its image and mask (atomically); returns its stem. */
export async function writePhantomVolume(job: PhantomJob): Promise<string> {
  const v = phantomVolume(job.domain, job.index, { size: job.size, seed: job.seed, volumesPerDomain: job.volumes, scanners: job.scanners, anatomy: job.anatomy });
  await writeFileAtomic(join(job.out, 'Original', job.domain, `${v.stem}.nii.gz`), encodeNifti(v.image, { gzip: true }));
  await writeFileAtomic(join(job.out, 'Silver-standard', job.domain, `${v.stem}_ss.nii.gz`), encodeNifti(v.mask, { gzip: true }));
  return v.stem;
}

export interface PhantomManifest {
  format: 'cc359';
  phantom: true;
  generator: string;
  complete: boolean;
  seed: number;
  /** Where the tissue intensities came from: MR physics or the calibrated levels. */
  scanners: ScannerModel;
  /** Where the heads came from. */
  anatomy: PhantomAnatomy;
  /** Common slice size the reader pads to: the largest slice edge, rounded up to a multiple of 8. */
  size: number;
  volumesPerDomain: number;
  domains: Domain[];
  sliceRanges: Record<Domain, [number, number]>;
  grids: Record<Domain, { dims: number[]; spacing: number[] }>;
}

/**
 * Write a phantom dataset under `out`. Refuses a directory that holds a non-phantom `Original/`
 * (never overwrite real data); in an earlier phantom root, stale `PH*` volumes are replaced.
 */
export async function generatePhantomDataset(out: string, opts: PhantomDatasetOptions = {}): Promise<PhantomManifest> {
  const size = checkInt('size', opts.size ?? DEFAULT_PHANTOM_SIZE, 16);
  const volumes = checkInt('volumes', opts.volumes ?? 10, 1);
  const seed = checkInt('seed', opts.seed ?? 0);
  const scanners = checkModel(opts.scanners ?? DEFAULT_SCANNER_MODEL);
  const anatomy = checkAnatomy(opts.anatomy ?? 'procedural');
  const domains = (opts.domains ?? CC359_DOMAINS).map((d) => {
    if (!isDomain(d)) throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${CC359_DOMAINS.join(', ')} for \`domains\` but received ${JSON.stringify(d)}`);
    return d;
  });
  await guardRoot(out);
  const manifest: PhantomManifest = {
    format: 'cc359', phantom: true, generator: 'convlora phantom', complete: false, seed, scanners, anatomy, size: commonSize(size, scanners), volumesPerDomain: volumes, domains,
    sliceRanges: Object.fromEntries(CC359_DOMAINS.map((d) => [d, phantomSliceRange(d, size, scannerPreset(d, scanners))])) as Record<Domain, [number, number]>,
    grids: Object.fromEntries(CC359_DOMAINS.map((d) => [d, phantomGrid(d, size, scannerPreset(d, scanners))])) as unknown as PhantomManifest['grids'],
  };
  await writeFileAtomic(join(out, DATASET_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const domain of domains) await removeStale(out, domain);
  const jobs: PhantomJob[] = domains.flatMap((domain) => Array.from({ length: volumes }, (_, index) => ({ out, domain, index, size, seed, volumes, scanners, anatomy })));
  const workers = Math.min(jobs.length, checkInt('workers', opts.workers ?? Math.min(8, availableParallelism()), 1));
  let done = 0;
  const finished = (stem: string): void => opts.onProgress?.(++done, jobs.length, stem);
  if (workers <= 1) {
    for (const job of jobs) finished(await writePhantomVolume(job));
  } else {
    await runWorkers(jobs, workers, finished);
  }
  manifest.complete = true;
  await writeFileAtomic(join(out, DATASET_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

interface WorkerReply { index: number; domain: Domain; stem?: string; error?: { code: ErrorCode; message: string } }

/** Render `jobs` on `count` worker threads; the first failure stops every worker and is rethrown. */
async function runWorkers(jobs: PhantomJob[], count: number, finished: (stem: string) => void): Promise<void> {
  const queue = [...jobs];
  const pool = Array.from({ length: count }, () => new Worker(new URL('./phantom-worker.js', import.meta.url)));
  try {
    await Promise.all(pool.map((w) => new Promise<void>((resolve, reject) => {
      const next = (): void => {
        const job = queue.shift();
        if (job === undefined) { resolve(); return; }
        w.postMessage(job);
      };
      w.on('message', (r: WorkerReply) => {
        if (r.error !== undefined) {
          queue.length = 0;
          reject(new ConvLoraError(r.error.code, `Phantom ${r.domain} #${r.index}: ${r.error.message}`));
          return;
        }
        finished(r.stem!);
        next();
      });
      w.on('error', (err) => { queue.length = 0; reject(new ConvLoraError('E_IO', `A phantom worker failed: ${err.message}`, { cause: err })); });
      w.on('exit', (code) => { if (code !== 0) reject(new ConvLoraError('E_IO', `A phantom worker exited with code ${code}`)); });
      next();
    })));
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

/** Largest rotated slice edge over the six presets, rounded up to a multiple of 8 (U-Net strides). */
function commonSize(size: number, scanners: ScannerModel): number {
  const edge = Math.max(...CC359_DOMAINS.map((d) => { const [, ny, nz] = phantomGrid(d, size, scannerPreset(d, scanners)).dims; return Math.max(ny, nz); }));
  return 8 * Math.ceil(edge / 8);
}

async function guardRoot(out: string): Promise<void> {
  const hasOriginal = await fsp.stat(join(out, 'Original')).then(() => true, () => false);
  if (!hasOriginal) return;
  const text = await fsp.readFile(join(out, DATASET_FILE), 'utf8').catch(() => '');
  let phantom = false;
  try { phantom = (JSON.parse(text) as { phantom?: unknown }).phantom === true; } catch { /* not a phantom root */ }
  if (!phantom) {
    throw new ConvLoraError('E_DATA', `${out} already holds an Original/ directory that is not a convlora phantom root (no ${DATASET_FILE} with "phantom": true); refusing to write phantoms into it`);
  }
}

const STALE = /^PH\d{4,}_.*\.nii(\.gz)?$/;

async function removeStale(out: string, domain: Domain): Promise<void> {
  for (const dir of [join(out, 'Original', domain), join(out, 'Silver-standard', domain)]) {
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => STALE.test(n)).map((n) => fsp.unlink(join(dir, n))));
  }
}
