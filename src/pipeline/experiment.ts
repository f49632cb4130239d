/**
 * The paper's protocol end to end: source U-Net and early heads on GE_3, then every method x seed x
 * target, scored on each target's test volumes (per-volume Surface Dice at the tolerance, mean over
 * volumes; then mean +- sd over seeds, as the paper reports).
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { checkInt } from '../errors.js';
import type { Device } from '../engine/tensor.js';
import { CC359_DOMAINS, type Domain, type ScanData } from '../data/scans/cc359.js';
import { aggregate } from '../metrics/aggregate.js';
import { AdapterRegistry, saveAdapter } from '../lora/adapter.js';
import type { Blocks } from '../lora/placement.js';
import type { AdaBNMode } from '../lora/adapter.js';
import { adaptDomain, headFor, type AdaptMethod } from './train/adapt.js';
import { checkData, loadScans, openDomain } from './train/dataset.js';
import { orientationWarning, trainSource } from './train/source.js';
import { trainHead } from './train/early-head.js';
import { loadHead, loadUnet, type HeadKind } from './models.js';
import { scoreScans, TOLERANCE_MM } from './train/score.js';
import { runSlices, maskOfLogits } from './infer/predict.js';
import type { SegmentationNet } from '../models/zoo.js';
import { silent, type Reporter } from './events.js';
import type { DataParallel } from './dist/parallel.js';
import type { Module } from '../nn/module.js';

export interface MethodSpec { label: string; method: AdaptMethod | 'source'; blocks?: Blocks; adabn?: AdaBNMode }

/** Table 1 of the paper (plus AdaBN alone and ConvLoRA without AdaBN, which the paper discusses). */
export const TABLE1: MethodSpec[] = [
  { label: 'Source', method: 'source' },
  { label: 'AdaBN', method: 'adabn' },
  { label: 'Self-Training', method: 'self-training' },
  { label: 'UDAS', method: 'udas' },
  { label: 'UDAS ConvLoRA', method: 'udas-convlora' },
  { label: 'ConvLoRA', method: 'convlora', blocks: 'all' },
  { label: 'ConvLoRA + AdaBN', method: 'convlora', blocks: 'all', adabn: 'implicit' },
];

/** Table 2: placement ablation. */
export const TABLE2: MethodSpec[] = [
  { label: 'Enc. Block 1', method: 'convlora', blocks: '1' },
  { label: 'Enc. Block 1-2', method: 'convlora', blocks: '1-2' },
  { label: 'Enc. Block 1-3', method: 'convlora', blocks: '1-3' },
  { label: 'Full Enc. Block', method: 'convlora', blocks: 'all' },
  { label: 'Full Enc. Block + AdaBN', method: 'convlora', blocks: 'all', adabn: 'implicit' },
];

/** The paper's published SDS (Table 1 and 2) for side-by-side reading; mean only. */
export const PAPER_SDS: Record<string, Partial<Record<Domain, number>>> = {
  Source: { GE_15: 0.734, Philips_15: 0.871, Philips_3: 0.618, Siemens_15: 0.825, Siemens_3: 0.843 },
  'Self-Training': { GE_15: 0.5304, Philips_15: 0.7252, Philips_3: 0.6623, Siemens_15: 0.6929, Siemens_3: 0.8918 },
  UDAS: { GE_15: 0.7588, Philips_15: 0.846, Philips_3: 0.6623, Siemens_15: 0.8245, Siemens_3: 0.8874 },
  'UDAS ConvLoRA': { GE_15: 0.8368, Philips_15: 0.8778, Philips_3: 0.7195, Siemens_15: 0.8035, Siemens_3: 0.8494 },
  'ConvLoRA + AdaBN': { GE_15: 0.8908, Philips_15: 0.9143, Philips_3: 0.8251, Siemens_15: 0.8923, Siemens_3: 0.8882 },
};

export interface ExperimentOptions {
  data: string;
  out: string;
  methods: MethodSpec[];
  seeds: number[];
  source?: Domain;
  targets?: Domain[];
  /** Reuse this source U-Net (and the heads beside it) instead of training. */
  unet?: string;
  sourceEpochs?: number;
  headEpochs?: number;
  adaptEpochs?: number;
  filters?: number;
  batchSize?: number;
  tolerance?: number;
  device?: Device;
  resume?: boolean;
  report?: Reporter;
  /**
   * Run over a process group (pipeline/dist/parallel.ts): the source U-Net and the heads train data-parallel
   * over all ranks, then the (target, method, seed) jobs are dealt out round-robin, each job on one rank,
   * and the rows and figure masks are gathered so that every rank returns the whole result (rank 0 writes it).
   */
  parallel?: DataParallel | null;
}

export interface ResultRow { target: Domain; label: string; seed: number; surfaceDice: number; dice: number; bestEpoch: number | null; seconds: number; adapter: string | null }
export interface Cell { mean: number; sd: number; n: number }
export interface ExperimentResult {
  settings: Record<string, unknown>;
  rows: ResultRow[];
  /** table[label][target] */
  table: Record<string, Partial<Record<Domain, Cell>>>;
  /** Preprocessed test scans kept for figures: first test volume of each target. */
  examples: { target: Domain; scan: ScanData; masks: Record<string, Uint8Array> }[];
}

export function cell(values: number[]): Cell {
  const v = values.filter((x) => !Number.isNaN(x));
  if (v.length === 0) return { mean: NaN, sd: NaN, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, sd: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), n: v.length };
}

export async function runExperiment(o: ExperimentOptions): Promise<ExperimentResult> {
  const dp = o.parallel ?? null;
  dp?.checkDevice(o.device ?? 'cpu');
  const main = dp === null || dp.main;
  const report = main ? o.report ?? silent : silent;
  const device = o.device ?? 'cpu';
  const source = o.source ?? 'GE_3';
  const targets = o.targets ?? CC359_DOMAINS.filter((d) => d !== source);
  const tolerance = o.tolerance ?? TOLERANCE_MM;
  const batchSize = checkInt('batchSize', o.batchSize ?? 32, 1);
  report({ type: 'stage', stage: 'experiment', message: `checking every volume of ${[source, ...targets].join(', ')} in ${o.data}` });
  await checkData(o.data, [source, ...targets]);

  let unetPath = o.unet;
  const seed0 = o.seeds[0] ?? 42;
  if (unetPath === undefined) {
    unetPath = (await trainSource({ data: o.data, out: o.out, source, epochs: o.sourceEpochs ?? 100, batchSize, seed: seed0, filters: o.filters ?? 16, device, resume: o.resume ?? false, tolerance, report, parallel: dp })).checkpoint;
  }
  const heads = new Set(o.methods.map((m) => (m.method === 'source' ? null : headFor(m.method))).filter((k): k is HeadKind => k !== null));
  const headPaths = new Map<HeadKind, string>();
  for (const kind of heads) {
    const path = join(unetPath, '..', `${kind}.safetensors`);
    if (o.unet !== undefined && existsSync(path)) headPaths.set(kind, path);
    else headPaths.set(kind, (await trainHead({ data: o.data, unet: unetPath, out: join(unetPath, '..'), kind, source, epochs: o.headEpochs ?? 20, batchSize, seed: seed0, device, resume: o.resume ?? false, tolerance, report, parallel: dp })).checkpoint);
  }
  const { model, info: unetInfo } = await loadUnet(unetPath, device);
  const registry = new AdapterRegistry(model);
  const loadedHeads = new Map<HeadKind, Module>();
  for (const [k, p] of headPaths) loadedHeads.set(k, (await loadHead(p, device, unetInfo)).head);
  const rows: (ResultRow & { job: number })[] = [];
  const examples: ExperimentResult['examples'] = [];
  // The figure's mask of each (target, label) comes from its first job, as in one process.
  const masks: { target: Domain; label: string; job: number; mask: Uint8Array }[] = [];
  let sourceTest = NaN;
  // Jobs in the single-process order, dealt out round-robin over the ranks.
  let job = -1;
  const mine = (): boolean => { job += 1; return dp === null || job % dp.worldSize === dp.rank; };
  try {
    // The source model on its own domain's test volumes: the reference the domain shift is measured from.
    const sd = await openDomain(o.data, source, 'source');
    if (main) sourceTest = aggregate(scoreScans(model, await loadScans(sd.split.test, sd.info), device, batchSize, tolerance)).overall.surfaceDice.mean;
    report({ type: 'stage', stage: 'experiment', message: `${source} (source) Source: SDS ${sourceTest.toFixed(4)} on its own test volumes` });
    for (const target of targets) {
      const d = await openDomain(o.data, target, 'target');
      const train = await loadScans(d.split.train, d.info);
      const val = await loadScans(d.split.val, d.info);
      const test = await loadScans(d.split.test, d.info);
      const warning = orientationWarning(unetInfo.orientation, [...train, ...val, ...test], target);
      if (warning !== null) report({ type: 'stage', stage: 'experiment', message: warning });
      const example = { target, scan: test[0]!, masks: {} as Record<string, Uint8Array> };
      examples.push(example);
      const score = (label: string, seed: number, bestEpoch: number | null, t0: number, adapter: string | null): void => {
        const cases = scoreScans(model, test, device, batchSize, tolerance);
        const s = aggregate(cases).overall;
        rows.push({ target, label, seed, surfaceDice: s.surfaceDice.mean, dice: s.dice.mean, bestEpoch, seconds: (Date.now() - t0) / 1000, adapter, job });
        report({ type: 'stage', stage: 'experiment', message: `${target} ${label} seed ${seed}: SDS ${s.surfaceDice.mean.toFixed(4)}, Dice ${s.dice.mean.toFixed(4)}` });
        if (!masks.some((m) => m.target === target && m.label === label)) masks.push({ target, label, job, mask: predictMask(model, example.scan, device, batchSize) });
      };
      for (const spec of o.methods) {
        if (spec.method === 'source') {
          if (!mine()) continue;
          registry.activate(null);
          score(spec.label, seed0, null, Date.now(), null);
          continue;
        }
        for (const seed of o.seeds) {
          if (!mine()) continue;
          const t0 = Date.now();
          const kind = headFor(spec.method);
          const r = await adaptDomain(registry, kind === null ? null : loadedHeads.get(kind)!, train, val, d.info, {
            target, method: spec.method, blocks: spec.blocks ?? 'all', adabn: spec.adabn ?? 'none', epochs: o.adaptEpochs ?? 5, batchSize, seed, device, tolerance, report,
          });
          const file = join(o.out, 'adapters', target, `${spec.label.replace(/[^A-Za-z0-9]+/g, '-')}-seed${seed}.safetensors`);
          await saveAdapter(file, r.adapter);
          registry.add('current', r.adapter);
          registry.activate('current', { merge: true });
          score(spec.label, seed, r.bestEpoch, t0, file);
          registry.activate(null);
        }
      }
    }
  } finally {
    for (const h of loadedHeads.values()) h.dispose();
    registry.dispose();
    model.dispose();
  }
  const all = dp === null ? { rows, masks, sourceTest } : gather(dp, rows, masks, sourceTest);
  all.rows.sort((a, b) => a.job - b.job);
  all.masks.sort((a, b) => a.job - b.job);
  for (const m of all.masks) {
    const ex = examples.find((e) => e.target === m.target)!;
    if (ex.masks[m.label] === undefined) ex.masks[m.label] = m.mask;
  }
  rows.splice(0, rows.length, ...all.rows);
  sourceTest = all.sourceTest;
  const table: ExperimentResult['table'] = {};
  for (const spec of o.methods) {
    table[spec.label] = {};
    for (const t of targets) table[spec.label]![t] = cell(rows.filter((r) => r.label === spec.label && r.target === t).map((r) => r.surfaceDice));
  }
  const settings = { data: o.data, source, targets, seeds: o.seeds, unet: unetPath, sourceEpochs: o.sourceEpochs ?? 100, headEpochs: o.headEpochs ?? 20,
    adaptEpochs: o.adaptEpochs ?? 5, filters: o.filters ?? 16, batchSize, tolerance, device, methods: o.methods, sourceTestSurfaceDice: sourceTest };
  return { settings, rows: rows.map(({ job: _j, ...r }) => r), table, examples };
}

type JobRow = ResultRow & { job: number };
type JobMask = { target: Domain; label: string; job: number; mask: Uint8Array };

/** Every rank's rows and masks (and rank 0's source score), on every rank. */
function gather(dp: DataParallel, rows: JobRow[], masks: JobMask[], sourceTest: number): { rows: JobRow[]; masks: JobMask[]; sourceTest: number } {
  // JSON has no NaN: numbers that are not finite travel as strings.
  const num = (x: number): number | string => (Number.isFinite(x) ? x : String(x));
  const parts = dp.allGatherJson({
    rows: rows.map((r) => ({ ...r, surfaceDice: num(r.surfaceDice), dice: num(r.dice) })),
    masks: masks.map((m) => ({ ...m, mask: Buffer.from(m.mask).toString('base64') })),
    sourceTest: num(sourceTest),
  });
  return {
    rows: parts.flatMap((p) => p.rows.map((r) => ({ ...r, surfaceDice: Number(r.surfaceDice), dice: Number(r.dice) }))),
    masks: parts.flatMap((p) => p.masks.map((m) => ({ ...m, mask: new Uint8Array(Buffer.from(m.mask, 'base64')) }))),
    sourceTest: Number(parts[0]!.sourceTest),
  };
}

/** The final mask of the middle test slice (for the overlay figure). */
function predictMask(model: SegmentationNet, scan: ScanData, device: Device, batchSize: number): Uint8Array {
  const [S, H, W] = scan.shape;
  const mid = Math.floor(S / 2);
  const one = { ...scan, images: scan.images.subarray(mid * H * W, (mid + 1) * H * W), shape: [1, H, W] as [number, number, number] };
  model.eval();
  const [logits] = runSlices(one.images, one.shape, batchSize, device, (x) => [model.forward(x)]);
  return maskOfLogits(logits!);
}
