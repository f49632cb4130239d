/**
 * Stage 3: adapt the source U-Net to one unlabelled target domain (docs/method.md §3-5).
 *
 * Methods: 'adabn' (BN statistics only), 'self-training' (whole network on its own thresholded
 * predictions), 'udas' (first encoder block + UDAS head), 'udas-convlora' (LoRA in encoder block 1 + UDAS
 * head), 'convlora' (LoRA in encoder blocks 1..n + ESH on the encoder output). Blocks, LoRA targets and
 * head taps are the network's spec's (models/zoo.ts), for any zoo architecture.
 * AdaBN: 'none' (source statistics, U-Net in eval mode), 'implicit' (the authors' code: U-Net in train mode, BN momentum 0.1 updates from
 * target batches), 'explicit' (cumulative re-estimation over the target training slices before training and
 * after every epoch, training with the U-Net in eval mode).
 * Loss: BCE(head logits, sigmoid(final logits)) with soft targets, not detached (as the authors). Model
 * selection without labels: the epoch whose head/final agreement on target validation volumes is best,
 * starting from the agreement before adaptation. Output: one domain adapter file.
 */
import { checkInt, ConvLoraError, invalidArg } from '../../errors.js';
import { defaultsOf, optionValue, type OptionTable } from '../../options.js';
import { tensor } from '../../engine/create.js';
import * as ops from '../../engine/ops.js';
import { Adam } from '../../engine/optim.js';
import { manualSeed } from '../../engine/runtime.js';
import type { Device, Tensor } from '../../engine/tensor.js';
import type { ScanData } from '../../data/scans/cc359.js';
import type { DatasetInfo } from '../../data/scans/cc359.js';
import { checkDomainName } from '../../data/scans/names.js';
import { asSegmentationNet, headInput, specOf, type SegmentationNet } from '../../models/zoo.js';
import type { Module } from '../../nn/module.js';
import { AdapterRegistry, extractAdapter, disposeAdapter, type AdaBNMode, type AdapterConfig, type AdapterTrainingData, type DomainAdapter } from '../../lora/adapter.js';
import { applyPlacement, checkBlocks, loraLayers, planPlacement, type Blocks, type Placement } from '../../lora/placement.js';
import { loraConfig, type LoraConfig } from '../../lora/convlora.js';
import { reestimateBatchNorm } from '../../lora/adabn.js';
import { fingerprintScans } from '../../lora/fingerprint.js';
import { Batches, ScanBatches, type BatchScan, type BatchSource } from './dataset.js';
import { trainEpoch } from './loop.js';
import { agreement, TOLERANCE_MM } from './score.js';
import { PerturbedBatches, TEACHER_CONFIDENCE, teacherLabels, teacherLoss } from './adapt-teacher.js';
import { meanConfidence, perturbationConsistency } from './criteria.js';
import type { HeadKind } from '../models.js';
import { silent, type Reporter } from '../events.js';
import type { DataParallel } from '../dist/parallel.js';

export type AdaptMethod = 'adabn' | 'self-training' | 'udas' | 'udas-convlora' | 'convlora' | 'teacher';
export const ADAPT_METHODS: readonly AdaptMethod[] = ['adabn', 'self-training', 'udas', 'udas-convlora', 'convlora', 'teacher'];

/** How an adaptation's epoch is chosen: the paper's head/final agreement, the last epoch, or a label-free criterion (criteria.ts). */
export type AdaptSelection = 'agreement' | 'last' | 'consistency' | 'confidence';
export const ADAPT_SELECTIONS: readonly AdaptSelection[] = ['agreement', 'last', 'consistency', 'confidence'];

/**
 * Adaptation's numeric options (docs/method.md §5: 5 epochs of Adam at 1e-4 on batches of 32): one table for
 * the library, the CLI and config files. 0 epochs is allowed: AdaBN alone, or the starting model.
 */
export const ADAPT_OPTIONS = {
  epochs: { default: 5, min: 0, integer: true },
  lr: { default: 1e-4, min: 0 },
  batchSize: { default: 32, min: 1, integer: true },
  seed: { default: 42, min: 0, integer: true },
  /** Surface Dice tolerance (mm) of the agreement used for model selection: the paper's 1 mm. */
  tolerance: { default: TOLERANCE_MM, min: 0 },
} as const satisfies OptionTable;

/** The method's adaptation defaults (docs/method.md §5): one place, read by the library and the CLI's usage. */
export const ADAPT_DEFAULTS = { method: 'convlora' as AdaptMethod, blocks: 'all' as Blocks, adabn: 'none' as AdaBNMode, ...defaultsOf(ADAPT_OPTIONS) } as const;
const ADABN_MODES: readonly AdaBNMode[] = ['none', 'implicit', 'explicit'];

/**
 * Validate an adaptation's method, blocks, AdaBN mode and LoRA settings (E_INVALID_ARG naming the
 * option and the accepted values): the library checks what it is given, whoever calls it.
 */
export function checkAdaptSettings(o: { method?: unknown; blocks?: unknown; adabn?: unknown; lora?: { rank?: unknown; alpha?: unknown; layout?: unknown } }): void {
  const one = (name: string, v: unknown, choices: readonly string[]): void => {
    if (typeof v !== 'string' || !choices.includes(v)) {
      throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${choices.join(', ')} for \`${name}\` but received ${JSON.stringify(v) ?? String(v)}`);
    }
  };
  if (o.method !== undefined) one('method', o.method, ADAPT_METHODS);
  if (o.blocks !== undefined) checkBlocks(o.blocks);
  if (o.adabn !== undefined) one('adabn', o.adabn, ADABN_MODES);
  if (o.lora !== undefined) loraConfig(o.lora, 'lora.');
}

/** Which early head a method trains against (null: none). */
export function headFor(method: AdaptMethod): HeadKind | null {
  return method === 'convlora' ? 'esh' : method === 'udas' || method === 'udas-convlora' ? 'udas' : null;
}

export interface AdaptOptions {
  /** The target's name (a CC359 domain, or any safe file name such as `MyPrisma`): the adapter's `domain`. */
  target: string;
  method: AdaptMethod;
  blocks?: Blocks;
  adabn?: AdaBNMode;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  seed?: number;
  lora?: LoraConfig;
  detachTarget?: boolean;
  /** Surface Dice tolerance (mm) of the agreement used for model selection; default 1 (the paper's metric). */
  tolerance?: number;
  device?: Device;
  report?: Reporter;
  /** A user's own scans: recorded in the adapter's config. */
  trainedOn?: AdapterTrainingData;
  /**
   * Data-parallel adaptation over a process group (pipeline/dist/parallel.ts): each rank trains on its rows
   * of the same global batches, implicit AdaBN normalizes with the global batch's statistics, explicit
   * re-estimation merges the ranks' sums; rank 0 alone scores epochs (the returned adapter is rank 0's
   * choice; other ranks return their last epoch's).
   */
  parallel?: DataParallel | null;
  /**
   * Which epoch's adapter to keep: 'agreement' (default with a head: the best head/final agreement on the
   * `val` scans, the paper's label-free selection), 'last' (the last epoch's, no selection; default without
   * a head, except for 'teacher'), or a label-free criterion of criteria.ts on the `val` scans ('consistency',
   * the default of 'teacher'; 'confidence'). With a criterion the starting point is the base model with the
   * target's AdaBN statistics, and it is kept (the guard, `AdaptResult.kept`) unless an epoch beats it.
   */
  select?: AdaptSelection;
  /** Teacher confidence of the 'teacher' method (adapt-teacher.ts); default TEACHER_CONFIDENCE. */
  confidence?: number;
  /**
   * 'teacher' on a base model that predicts with test-time AdaBN per scan (adapt-teacher.ts): teacher,
   * student batches, selection criterion and the adapter's use all per scan; `adabn` must be 'none'.
   */
  perScan?: boolean;
  /** Test-time AdaBN's slice budget with `perScan` (the model's `adabnSlices`). */
  adabnSlices?: number;
  /** Called after AdaBN (epoch 0) and after each epoch with the network as it would be kept (eval mode): for benchmarks. */
  onEpoch?: (model: SegmentationNet, epoch: number) => void | Promise<void>;
}

/**
 * A preprocessed target scan: CC359 ScanData, or a user's scan prepared as `segment` prepares it
 * (no mask: adaptation never reads labels). `spacing` (mm) is for the agreement's Surface Dice.
 */
export type AdaptScan = BatchScan & Pick<ScanData, 'spacing'>;

export interface AdaptEpoch { epoch: number; loss: number; agreement: number; best: boolean }

export interface AdaptResult {
  adapter: DomainAdapter; history: AdaptEpoch[]; bestEpoch: number;
  /** 'start': no epoch beat the starting model by the selection score, so the adapter reproduces it (the guard); 'adapted': an epoch's. */
  kept: 'start' | 'adapted';
  /** The selection score used. */
  select: AdaptSelection;
}

function placementFor(unet: SegmentationNet, method: AdaptMethod, blocks: Blocks): Placement {
  if (method === 'adabn') return { loraTargets: [], trainableBatchNorms: [], fullyTrainable: [] };
  if (method === 'self-training') return { loraTargets: [], trainableBatchNorms: [], fullyTrainable: [''] };
  return planPlacement(unet, method === 'teacher' ? 'convlora' : method, blocks);
}

/** An adaptation's settings, validated and defaulted once (ADAPT_DEFAULTS): the one options table of this stage. */
export interface AdaptSettings {
  target: string; method: AdaptMethod; blocks: Blocks; adabn: AdaBNMode; epochs: number; lr: number; batchSize: number; seed: number;
  tolerance: number; lora: LoraConfig; device: Device; select: AdaptSelection; kind: HeadKind | null; perScan: boolean; maxSlices?: number;
}

/** Validate and default every option of adaptDomain (E_INVALID_ARG naming the option); `hasHead`: whether a head was given. */
export function adaptSettings(o: AdaptOptions, hasHead: boolean, hasVal: boolean): AdaptSettings {
  const target = checkDomainName(o.target, 'target');
  checkAdaptSettings({ method: o.method, ...(o.blocks === undefined ? {} : { blocks: o.blocks }), ...(o.adabn === undefined ? {} : { adabn: o.adabn }), ...(o.lora === undefined ? {} : { lora: o.lora }) });
  const D = ADAPT_DEFAULTS, T = ADAPT_OPTIONS;
  const method = o.method, adabn: AdaBNMode = o.adabn ?? D.adabn;
  const kind = headFor(method);
  if (kind !== null && !hasHead) throw new ConvLoraError('E_INVALID_ARG', `Method ${method} needs the ${kind} head`);
  if (o.select !== undefined && !ADAPT_SELECTIONS.includes(o.select)) invalidArg('select', ADAPT_SELECTIONS.map((x) => `'${x}'`).join(', '), o.select);
  const select: AdaptSelection = o.select ?? (kind !== null ? 'agreement' : method === 'teacher' ? 'consistency' : 'last');
  if ((select === 'consistency' || select === 'confidence') && !hasVal) throw new ConvLoraError('E_INVALID_ARG', `Expected scans held out for \`select\` '${select}' but received none`);
  const perScan = o.perScan === true;
  if (perScan && (method !== 'teacher' || adabn !== 'none')) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected method 'teacher' without \`adabn\` for \`perScan\` but received method ${JSON.stringify(method)} with adabn ${JSON.stringify(adabn)}`);
  }
  return {
    target, method, blocks: o.blocks ?? D.blocks, adabn, kind, select, perScan,
    epochs: optionValue('epochs', o.epochs, T.epochs), lr: optionValue('lr', o.lr, T.lr),
    batchSize: optionValue('batchSize', o.batchSize, T.batchSize), seed: optionValue('seed', o.seed, T.seed),
    tolerance: optionValue('tolerance', o.tolerance, T.tolerance), lora: loraConfig(o.lora, 'lora.'), device: o.device ?? 'cpu',
    ...(o.adabnSlices === undefined ? {} : { maxSlices: checkInt('adabnSlices', o.adabnSlices, 1) }),
  };
}

/** What every step of one adaptation shares. */
interface Adaptation {
  s: AdaptSettings; o: AdaptOptions; unet: SegmentationNet; head: Module | null; name: string; config: AdapterConfig;
  dp: DataParallel | null; main: boolean; report: Reporter; stage: string; info: Pick<DatasetInfo, 'size'>;
}

/**
 * Adapt `registry.model` (restored to its base first) using the target's training scans; `val` scans
 * drive model selection. The registry's base is left active afterwards; the adapter is returned.
 */
export async function adaptDomain(registry: AdapterRegistry, head: Module | null, train: readonly AdaptScan[], val: readonly AdaptScan[],
  info: Pick<DatasetInfo, 'size'>, o: AdaptOptions): Promise<AdaptResult> {
  const s = adaptSettings(o, head !== null, val.length > 0);
  const a = begin(registry, head, train, info, s, o);
  if (s.method === 'adabn' || s.adabn === 'explicit') await reestimate(a, train);
  const history: AdaptEpoch[] = [];
  const first = selectionScore(a, val);
  let best = extractAdapter(a.unet, a.config);
  let bestScore = first;
  history.push({ epoch: 0, loss: NaN, agreement: first, best: true });
  a.report({ type: 'epoch-end', stage: a.stage, epoch: 0, epochs: s.epochs, loss: NaN, metric: first, metricName: s.select, best: true, seconds: 0 });
  await observe(a, 0);
  if (s.method !== 'adabn' && s.epochs > 0) {
    const opt = new Adam(a.unet.trainableParameters().map(([, t]) => t), { lr: s.lr });
    try {
      const batches = adaptationBatches(a, train);
      for (let epoch = 0; epoch < s.epochs; epoch++) {
        const t0 = Date.now();
        const loss = await adaptEpoch(a, batches, opt, epoch);
        // Explicit AdaBN: the adapters changed the features, so re-estimate the statistics before scoring.
        if (s.adabn === 'explicit') await reestimate(a, train);
        const score = selectionScore(a, val);
        // Without a score (no head and no criterion) keep the last epoch.
        const isBest = s.select === 'last' || (s.select === 'agreement' && s.kind === null) || score > bestScore;
        if (isBest) {
          bestScore = score;
          disposeAdapter(best);
          best = extractAdapter(a.unet, a.config);
        }
        history.push({ epoch: epoch + 1, loss, agreement: score, best: isBest });
        a.report({ type: 'epoch-end', stage: a.stage, epoch: epoch + 1, epochs: s.epochs, loss, metric: score, metricName: s.select, best: isBest, seconds: (Date.now() - t0) / 1000 });
        await observe(a, epoch + 1);
      }
    } finally {
      opt.dispose();
    }
  }
  return finish(a, registry, best, history);
}

/** Set up: the base restored, its fingerprint of the scanner, the placement applied, the adapter's configuration. */
function begin(registry: AdapterRegistry, head: Module | null, train: readonly AdaptScan[], info: Pick<DatasetInfo, 'size'>, s: AdaptSettings, o: AdaptOptions): Adaptation {
  const unet = asSegmentationNet(registry.model);
  const dp = o.parallel ?? null;
  dp?.checkDevice(s.device);
  const main = dp === null || dp.main;
  const stage = `adapt ${s.target} ${s.method}${s.method === 'convlora' ? ` ${s.blocks}` : ''}${s.adabn !== 'none' ? ` +adabn(${s.adabn})` : ''}`;
  registry.deactivate();
  // The base model's view of this scanner, stored with the adapter so `segment --adapters` can pick it.
  const fingerprint = main ? fingerprintScans(unet, train, { device: s.device }) : null;
  manualSeed(s.seed);
  const placement = placementFor(unet, s.method, s.blocks);
  const name = `${s.target}#${s.seed}`;
  applyPlacement(unet, placement, name, s.lora);
  head?.eval().freeze();
  dp?.broadcastState([unet]);
  const config: AdapterConfig = {
    format: 'convlora-adapter', version: 1, domain: s.target, method: s.method,
    blocks: s.method === 'convlora' || s.method === 'teacher' ? s.blocks : s.method === 'udas-convlora' ? '1' : null,
    lora: s.lora, placement, adabn: s.method === 'adabn' ? 'explicit' : s.adabn, baseHash: registry.baseHash, ...(fingerprint === null ? {} : { fingerprint }),
    ...(o.trainedOn === undefined ? {} : { trainedOn: o.trainedOn }), ...(s.perScan ? { inference: 'adabn' as const } : {}),
    notes: { epochs: s.epochs, lr: s.lr, batchSize: s.batchSize, seed: s.seed, detachTarget: o.detachTarget === true, size: info.size },
  };
  return { s, o, unet, head, name, config, dp, main, report: main ? o.report ?? silent : silent, stage, info };
}

/**
 * Explicit AdaBN over the training scans. Batches are shuffled across volumes like the source model's
 * training batches: batches of consecutive slices of one volume have a smaller within-batch variance and
 * bias the statistics. Data-parallel: every rank re-estimates over its share of the batches, then the sums merge.
 */
async function reestimate(a: Adaptation, train: readonly AdaptScan[]): Promise<void> {
  const { s, dp } = a;
  const xs: Tensor[] = [];
  try {
    let i = 0;
    for await (const b of new Batches(train, a.info, { batchSize: s.batchSize, seed: s.seed, dropLast: false }).epoch(0)) {
      if (dp === null || i % dp.worldSize === dp.rank) xs.push(tensor(b.x, b.shape, { device: s.device }).keep());
      i += 1;
    }
    if (dp === null) reestimateBatchNorm(a.unet, xs);
    else dp.reestimateBatchNorm(a.unet, xs);
  } finally { xs.forEach((t) => t.dispose()); }
}

/** The label-free selection score of the network as it is now (NaN when there is none, or on ranks other than 0). */
function selectionScore(a: Adaptation, val: readonly AdaptScan[]): number {
  const { s, unet } = a;
  if (!a.main) return NaN;
  unet.eval();
  const opts = { perScan: s.perScan, ...(s.maxSlices === undefined ? {} : { maxSlices: s.maxSlices }) };
  if (s.select === 'consistency') return perturbationConsistency(unet, val, s.device, opts);
  if (s.select === 'confidence') return meanConfidence(unet, val, s.device, opts);
  return s.select === 'agreement' && s.kind !== null ? agreement(unet, a.head!, s.kind, val, s.device, s.batchSize, s.tolerance) : NaN;
}

/** The benchmark hook: the network as it would be kept, in eval mode. */
async function observe(a: Adaptation, epoch: number): Promise<void> {
  if (!a.main || a.o.onEpoch === undefined) return;
  a.unet.eval();
  await a.o.onEpoch(a.unet, epoch);
}

/**
 * The training batches. 'teacher': the starting model's labels (AdaBN statistics, LoRA zero), fixed before
 * any update, under perturbation; per scan, batches of one scan's slices, as the base model was trained.
 */
function adaptationBatches(a: Adaptation, train: readonly AdaptScan[]): BatchSource {
  const { s } = a;
  const shuffled = (scans: readonly BatchScan[]): Batches => new Batches(scans, a.info, { batchSize: s.batchSize, seed: s.seed, dropLast: true });
  if (s.method !== 'teacher') return shuffled(train);
  const labelled = teacherLabels(a.unet, train, s.device, a.o.confidence ?? TEACHER_CONFIDENCE, { perScan: s.perScan, ...(s.maxSlices === undefined ? {} : { maxSlices: s.maxSlices }) });
  return new PerturbedBatches(s.perScan ? new ScanBatches(labelled, { batchSize: s.batchSize, seed: s.seed }) : shuffled(labelled), s.seed);
}

/** One epoch of the method's loss. */
async function adaptEpoch(a: Adaptation, batches: BatchSource, opt: Adam, epoch: number): Promise<number> {
  const { s, unet } = a;
  if (s.adabn === 'implicit' || s.perScan) unet.train(); else unet.eval(); // scoring leaves it in eval mode
  const spec = specOf(unet);
  return trainEpoch(batches, epoch, s.epochs, opt, s.device, a.stage, a.report, (x, b) => {
    if (s.method === 'teacher') return teacherLoss(unet.forward(x), b, s.device);
    if (s.kind === null) {
      // Self-training: the network's own thresholded predictions (made before the update) as labels,
      // taken from the same forward pass, detached. A second forward would give the same labels (same
      // weights, same batch) but, in train mode, would move the BatchNorm statistics twice per step.
      const logits = unet.forward(x);
      return ops.bceWithLogits(logits, ops.to(ops.gt(ops.detach(logits), 0), { dtype: 'float32' }));
    }
    const f = unet.forwardFeatures(x);
    const h = a.head!.forward(headInput(spec, s.kind, f));
    return ops.bceWithLogits(h, ops.sigmoid(a.o.detachTarget === true ? ops.detach(f.logits) : f.logits));
  }, { parallel: a.dp, syncBatchNorm: s.adabn === 'implicit' ? [unet] : [] });
}

/** The kept epoch's adapter, the guard's verdict, the base restored and the placement removed. */
function finish(a: Adaptation, registry: AdapterRegistry, best: DomainAdapter, history: AdaptEpoch[]): AdaptResult {
  const { s } = a;
  const bestEpoch = history.reduce((e, h) => (h.best ? h.epoch : e), 0);
  const kept = bestEpoch === 0 && s.method !== 'adabn' && s.epochs > 0 ? 'start' as const : 'adapted' as const;
  if (kept === 'start') {
    a.report({ type: 'stage', stage: a.stage, message: `no epoch beat the starting model (${s.adabn === 'none' ? 'the base model' : 'the base model with the target\'s AdaBN statistics'}) by ${s.select} `
      + `(${history[0]!.agreement.toFixed(4)}; best epoch ${Math.max(...history.slice(1).map((h) => h.agreement)).toFixed(4)}): kept the starting model, and the adapter reproduces it` });
  }
  best.config.notes = { ...best.config.notes, bestEpoch, history, select: s.select, kept };
  registry.deactivate();
  for (const [, layer] of loraLayers(a.unet)) if (layer.adapterNames.includes(a.name)) layer.removeAdapter(a.name);
  return { adapter: best, history, bestEpoch, kept, select: s.select };
}
