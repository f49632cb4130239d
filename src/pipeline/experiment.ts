/**
 * The paper's protocol end to end: source U-Net and early heads on GE_3, then every method x seed x
 * target, scored on each target's test volumes (per-volume Surface Dice at the tolerance, mean over
 * volumes; then mean +- sd over seeds, as the paper reports).
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { optionValue, type OptionTable } from '../options.js';
import type { Device } from '../engine/tensor.js';
import { CC359_DOMAINS, type Domain, type ScanData } from '../data/scans/cc359.js';
import { aggregate } from '../metrics/aggregate.js';
import { AdapterRegistry, saveAdapter } from '../lora/adapter.js';
import type { Blocks } from '../lora/placement.js';
import type { AdaBNMode } from '../lora/adapter.js';
import { ADAPT_OPTIONS, adaptDomain, headFor, type AdaptMethod } from './train/adapt.js';
import { checkData, loadScans, openDomain } from './train/dataset.js';
import { orientationWarning, SOURCE_DEFAULTS, SOURCE_OPTIONS, trainSource } from './train/source.js';
import { HEAD_OPTIONS, trainHead } from './train/early-head.js';
import { loadHead, loadUnet, type HeadKind, type ModelInfo } from './models.js';
import { scoreScans } from './train/score.js';
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

/**
 * The protocol's numeric options: each stage's own table entry (SOURCE_OPTIONS, HEAD_OPTIONS, ADAPT_OPTIONS),
 * so `experiment` and `train-source` cannot disagree on a default, and the paper's 16 initial filters.
 */
export const EXPERIMENT_OPTIONS = {
  sourceEpochs: SOURCE_OPTIONS.epochs, headEpochs: HEAD_OPTIONS.epochs, adaptEpochs: ADAPT_OPTIONS.epochs,
  filters: { default: 16, min: 1, integer: true },
  batchSize: SOURCE_OPTIONS.batchSize, tolerance: SOURCE_OPTIONS.tolerance,
} as const satisfies OptionTable;

/** The paper's seeds (Table 1 reports mean +- sd over them). */
export const PAPER_SEEDS: readonly number[] = [42, 123, 12345];

/** An experiment's settings, validated and defaulted once (EXPERIMENT_OPTIONS). */
interface ExperimentSettings {
  source: Domain; targets: Domain[]; device: Device; seed0: number;
  sourceEpochs: number; headEpochs: number; adaptEpochs: number; filters: number; batchSize: number; tolerance: number;
}

function experimentSettings(o: ExperimentOptions): ExperimentSettings {
  const E = EXPERIMENT_OPTIONS;
  const source = o.source ?? SOURCE_DEFAULTS.source;
  return {
    source, targets: o.targets ?? CC359_DOMAINS.filter((d) => d !== source), device: o.device ?? 'cpu', seed0: o.seeds[0] ?? SOURCE_DEFAULTS.seed,
    sourceEpochs: optionValue('sourceEpochs', o.sourceEpochs, E.sourceEpochs), headEpochs: optionValue('headEpochs', o.headEpochs, E.headEpochs),
    adaptEpochs: optionValue('adaptEpochs', o.adaptEpochs, E.adaptEpochs), filters: optionValue('filters', o.filters, E.filters),
    batchSize: optionValue('batchSize', o.batchSize, E.batchSize), tolerance: optionValue('tolerance', o.tolerance, E.tolerance),
  };
}

/** The networks every job shares: the source U-Net in an adapter registry, and the early heads. */
interface ExperimentRun {
  o: ExperimentOptions; s: ExperimentSettings; dp: DataParallel | null; main: boolean; report: Reporter;
  model: SegmentationNet; unetInfo: ModelInfo; registry: AdapterRegistry; heads: Map<HeadKind, Module>;
}

/** What the jobs produce. Jobs are numbered in the single-process order and dealt out round-robin over the ranks. */
interface Jobs { job: number; rows: JobRow[]; masks: JobMask[]; examples: ExperimentResult['examples']; sourceTest: number }

/** One target's test volumes, and the example whose masks the figure shows. */
interface TargetTest { target: Domain; test: ScanData[]; example: ExperimentResult['examples'][number] }

export async function runExperiment(o: ExperimentOptions): Promise<ExperimentResult> {
  const s = experimentSettings(o);
  const dp = o.parallel ?? null;
  dp?.checkDevice(s.device);
  const main = dp === null || dp.main;
  const report = main ? o.report ?? silent : silent;
  report({ type: 'stage', stage: 'experiment', message: `checking every volume of ${[s.source, ...s.targets].join(', ')} in ${o.data}` });
  await checkData(o.data, [s.source, ...s.targets]);
  const { unet, heads } = await sourceModels(o, s, report, dp);
  const { model, info: unetInfo } = await loadUnet(unet, s.device);
  const registry = new AdapterRegistry(model);
  const loadedHeads = new Map<HeadKind, Module>();
  for (const [k, p] of heads) loadedHeads.set(k, (await loadHead(p, s.device, unetInfo)).head);
  const run: ExperimentRun = { o, s, dp, main, report, model, unetInfo, registry, heads: loadedHeads };
  const jobs: Jobs = { job: -1, rows: [], masks: [], examples: [], sourceTest: NaN };
  try {
    jobs.sourceTest = await sourceTestScore(run);
    for (const target of s.targets) await runTarget(run, jobs, target);
  } finally {
    for (const h of loadedHeads.values()) h.dispose();
    registry.dispose();
    model.dispose();
  }
  return collect(run, jobs, unet);
}

/** The source U-Net (trained unless given) and the heads the methods need (trained unless found beside a given U-Net). */
async function sourceModels(o: ExperimentOptions, s: ExperimentSettings, report: Reporter, dp: DataParallel | null): Promise<{ unet: string; heads: Map<HeadKind, string> }> {
  const common = { data: o.data, source: s.source, batchSize: s.batchSize, seed: s.seed0, device: s.device, resume: o.resume ?? false, tolerance: s.tolerance, report, parallel: dp };
  const unet = o.unet ?? (await trainSource({ ...common, out: o.out, epochs: s.sourceEpochs, filters: s.filters })).checkpoint;
  const kinds = new Set(o.methods.map((m) => (m.method === 'source' ? null : headFor(m.method))).filter((k): k is HeadKind => k !== null));
  const heads = new Map<HeadKind, string>();
  for (const kind of kinds) {
    const path = join(unet, '..', `${kind}.safetensors`);
    if (o.unet !== undefined && existsSync(path)) heads.set(kind, path);
    else heads.set(kind, (await trainHead({ ...common, unet, out: join(unet, '..'), kind, epochs: s.headEpochs })).checkpoint);
  }
  return { unet, heads };
}

/** The source model on its own domain's test volumes: the reference the domain shift is measured from (rank 0). */
async function sourceTestScore(run: ExperimentRun): Promise<number> {
  const { o, s } = run;
  const sd = await openDomain(o.data, s.source, 'source');
  const sourceTest = run.main ? aggregate(scoreScans(run.model, await loadScans(sd.split.test, sd.info), s.device, s.batchSize, s.tolerance)).overall.surfaceDice.mean : NaN;
  run.report({ type: 'stage', stage: 'experiment', message: `${s.source} (source) Source: SDS ${sourceTest.toFixed(4)} on its own test volumes` });
  return sourceTest;
}

/** Whether the next job is this rank's (every rank counts every job). */
function mine(run: ExperimentRun, jobs: Jobs): boolean {
  jobs.job += 1;
  return run.dp === null || jobs.job % run.dp.worldSize === run.dp.rank;
}

/** Every method (and seed) on one target: adapt on its training volumes, select on val, score on test. */
async function runTarget(run: ExperimentRun, jobs: Jobs, target: Domain): Promise<void> {
  const { o, s } = run;
  const d = await openDomain(o.data, target, 'target');
  const train = await loadScans(d.split.train, d.info);
  const val = await loadScans(d.split.val, d.info);
  const test = await loadScans(d.split.test, d.info);
  const warning = orientationWarning(run.unetInfo.orientation, [...train, ...val, ...test], target);
  if (warning !== null) run.report({ type: 'stage', stage: 'experiment', message: warning });
  const t: TargetTest = { target, test, example: { target, scan: test[0]!, masks: {} as Record<string, Uint8Array> } };
  jobs.examples.push(t.example);
  for (const spec of o.methods) {
    if (spec.method === 'source') {
      if (!mine(run, jobs)) continue;
      run.registry.activate(null);
      scoreJob(run, jobs, t, spec.label, s.seed0, null, Date.now(), null);
      continue;
    }
    for (const seed of o.seeds) {
      if (!mine(run, jobs)) continue;
      const t0 = Date.now();
      const kind = headFor(spec.method);
      const r = await adaptDomain(run.registry, kind === null ? null : run.heads.get(kind)!, train, val, d.info, {
        target, method: spec.method, blocks: spec.blocks ?? 'all', adabn: spec.adabn ?? 'none', epochs: s.adaptEpochs, batchSize: s.batchSize, seed, device: s.device, tolerance: s.tolerance, report: run.report,
      });
      const file = join(o.out, 'adapters', target, `${spec.label.replace(/[^A-Za-z0-9]+/g, '-')}-seed${seed}.safetensors`);
      await saveAdapter(file, r.adapter);
      run.registry.add('current', r.adapter);
      run.registry.activate('current', { merge: true });
      scoreJob(run, jobs, t, spec.label, seed, r.bestEpoch, t0, file);
      run.registry.activate(null);
    }
  }
}

/** The network as it is now on the target's test volumes; the figure's mask of each (target, label) from its first job. */
function scoreJob(run: ExperimentRun, jobs: Jobs, t: TargetTest, label: string, seed: number, bestEpoch: number | null, t0: number, adapter: string | null): void {
  const { s } = run;
  const a = aggregate(scoreScans(run.model, t.test, s.device, s.batchSize, s.tolerance)).overall;
  jobs.rows.push({ target: t.target, label, seed, surfaceDice: a.surfaceDice.mean, dice: a.dice.mean, bestEpoch, seconds: (Date.now() - t0) / 1000, adapter, job: jobs.job });
  run.report({ type: 'stage', stage: 'experiment', message: `${t.target} ${label} seed ${seed}: SDS ${a.surfaceDice.mean.toFixed(4)}, Dice ${a.dice.mean.toFixed(4)}` });
  if (!jobs.masks.some((m) => m.target === t.target && m.label === label)) {
    jobs.masks.push({ target: t.target, label, job: jobs.job, mask: predictMask(run.model, t.example.scan, s.device, s.batchSize) });
  }
}

/** Every rank's rows and masks in job order, the figure's masks, the table of mean +- sd over seeds, the settings. */
function collect(run: ExperimentRun, jobs: Jobs, unet: string): ExperimentResult {
  const { o, s, dp } = run;
  const all = dp === null ? { rows: jobs.rows, masks: jobs.masks, sourceTest: jobs.sourceTest } : gather(dp, jobs.rows, jobs.masks, jobs.sourceTest);
  all.rows.sort((a, b) => a.job - b.job);
  all.masks.sort((a, b) => a.job - b.job);
  for (const m of all.masks) {
    const ex = jobs.examples.find((e) => e.target === m.target)!;
    if (ex.masks[m.label] === undefined) ex.masks[m.label] = m.mask;
  }
  const rows = all.rows;
  const table: ExperimentResult['table'] = {};
  for (const spec of o.methods) {
    table[spec.label] = {};
    for (const t of s.targets) table[spec.label]![t] = cell(rows.filter((r) => r.label === spec.label && r.target === t).map((r) => r.surfaceDice));
  }
  const settings = { data: o.data, source: s.source, targets: s.targets, seeds: o.seeds, unet, sourceEpochs: s.sourceEpochs, headEpochs: s.headEpochs,
    adaptEpochs: s.adaptEpochs, filters: s.filters, batchSize: s.batchSize, tolerance: s.tolerance, device: s.device, methods: o.methods, sourceTestSurfaceDice: all.sourceTest };
  return { settings, rows: rows.map(({ job: _j, ...r }) => r), table, examples: jobs.examples };
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
