/**
 * Stage 3: adapt the source U-Net to one unlabelled target domain (convlora-method.md §3-5).
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
import { checkInt, checkNumber, ConvLoraError, invalidArg } from '../errors.js';
import { tensor } from '../engine/create.js';
import * as ops from '../engine/ops.js';
import { Adam } from '../engine/optim.js';
import { manualSeed } from '../engine/runtime.js';
import type { Device, Tensor } from '../engine/tensor.js';
import type { ScanData } from '../data/cc359.js';
import type { DatasetInfo } from '../data/cc359.js';
import { checkDomainName } from '../data/names.js';
import { asSegmentationNet, headInput, specOf, type SegmentationNet } from '../models/zoo.js';
import type { Module } from '../nn/module.js';
import { AdapterRegistry, extractAdapter, disposeAdapter, type AdaBNMode, type AdapterConfig, type AdapterTrainingData, type DomainAdapter } from '../lora/adapter.js';
import { applyPlacement, checkBlocks, loraLayers, planPlacement, type Blocks, type Placement } from '../lora/placement.js';
import { PAPER_LORA, type LoraConfig } from '../lora/convlora.js';
import { reestimateBatchNorm } from '../lora/adabn.js';
import { fingerprintScans } from '../lora/fingerprint.js';
import { Batches, ScanBatches, type BatchScan } from './dataset.js';
import { trainEpoch } from './loop.js';
import { agreement, TOLERANCE_MM } from './score.js';
import { PerturbedBatches, TEACHER_CONFIDENCE, teacherLabels, teacherLoss } from './adapt-teacher.js';
import { meanConfidence, perturbationConsistency } from './criteria.js';
import type { HeadKind } from './models.js';
import { silent, type Reporter } from './events.js';
import type { DataParallel } from './parallel.js';

export type AdaptMethod = 'adabn' | 'self-training' | 'udas' | 'udas-convlora' | 'convlora' | 'teacher';
export const ADAPT_METHODS: readonly AdaptMethod[] = ['adabn', 'self-training', 'udas', 'udas-convlora', 'convlora', 'teacher'];

/** How an adaptation's epoch is chosen: the paper's head/final agreement, the last epoch, or a label-free criterion (criteria.ts). */
export type AdaptSelection = 'agreement' | 'last' | 'consistency' | 'confidence';
export const ADAPT_SELECTIONS: readonly AdaptSelection[] = ['agreement', 'last', 'consistency', 'confidence'];

/** The method's adaptation defaults (convlora-method.md §5): one place, read by the library and the CLI's usage. */
export const ADAPT_DEFAULTS = { method: 'convlora' as AdaptMethod, blocks: 'all' as Blocks, adabn: 'none' as AdaBNMode, epochs: 5, lr: 1e-4, batchSize: 32, seed: 42, tolerance: 1 } as const;
const ADABN_MODES: readonly AdaBNMode[] = ['none', 'implicit', 'explicit'];
const LAYOUTS: readonly LoraConfig['layout'][] = ['loralib', 'peft'];

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
  if (o.lora !== undefined) {
    checkInt('lora.rank', o.lora.rank as number, 1);
    checkNumber('lora.alpha', o.lora.alpha as number, 0);
    one('lora.layout', o.lora.layout, LAYOUTS);
  }
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
   * Data-parallel adaptation over a process group (pipeline/parallel.ts): each rank trains on its rows
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

/**
 * Adapt `registry.model` (restored to its base first) using the target's training scans; `val` scans
 * drive model selection. The registry's base is left active afterwards; the adapter is returned.
 */
export async function adaptDomain(registry: AdapterRegistry, head: Module | null, train: readonly AdaptScan[], val: readonly AdaptScan[],
  info: Pick<DatasetInfo, 'size'>, o: AdaptOptions): Promise<AdaptResult> {
  const target = checkDomainName(o.target, 'target');
  checkAdaptSettings({ method: o.method, ...(o.blocks === undefined ? {} : { blocks: o.blocks }), ...(o.adabn === undefined ? {} : { adabn: o.adabn }), ...(o.lora === undefined ? {} : { lora: o.lora }) });
  const unet = asSegmentationNet(registry.model);
  const spec = specOf(unet);
  const method = o.method;
  const D = ADAPT_DEFAULTS;
  const blocks = o.blocks ?? D.blocks;
  const adabn: AdaBNMode = o.adabn ?? D.adabn;
  const epochs = checkInt('epochs', o.epochs ?? D.epochs, 0);
  const lr = checkNumber('lr', o.lr ?? D.lr, 0);
  const batchSize = checkInt('batchSize', o.batchSize ?? D.batchSize, 1);
  const seed = checkInt('seed', o.seed ?? D.seed, 0);
  const lora = o.lora ?? PAPER_LORA;
  const device = o.device ?? 'cpu';
  const dp = o.parallel ?? null;
  dp?.checkDevice(o.device ?? 'cpu');
  const main = dp === null || dp.main;
  const report = main ? o.report ?? silent : silent;
  const stage = `adapt ${target} ${method}${method === 'convlora' ? ` ${blocks}` : ''}${adabn !== 'none' ? ` +adabn(${adabn})` : ''}`;
  const kind = headFor(method);
  if (kind !== null && head === null) throw new ConvLoraError('E_INVALID_ARG', `Method ${method} needs the ${kind} head`);

  registry.deactivate();
  // The base model's view of this scanner, stored with the adapter so `segment --adapters` can pick it.
  const fingerprint = main ? fingerprintScans(unet, train, { device }) : null;
  manualSeed(seed);
  const placement = placementFor(unet, method, blocks);
  const name = `${target}#${seed}`;
  applyPlacement(unet, placement, name, lora);
  head?.eval().freeze();
  dp?.broadcastState([unet]);
  const config: AdapterConfig = { format: 'convlora-adapter', version: 1, domain: target, method, blocks: method === 'convlora' || method === 'teacher' ? blocks : method === 'udas-convlora' ? '1' : null,
    lora, placement, adabn: method === 'adabn' ? 'explicit' : adabn, baseHash: registry.baseHash, ...(fingerprint === null ? {} : { fingerprint }),
    ...(o.trainedOn === undefined ? {} : { trainedOn: o.trainedOn }),
    notes: { epochs, lr, batchSize, seed, detachTarget: o.detachTarget === true, size: info.size } };
  // Re-estimation batches are shuffled across volumes like the source model's training batches: batches of
  // consecutive slices of one volume have a smaller within-batch variance and bias the statistics.
  const reestimate = async (): Promise<void> => {
    const xs: Tensor[] = [];
    try {
      let i = 0;
      for await (const b of new Batches(train, info, { batchSize, seed, dropLast: false }).epoch(0)) {
        // Data-parallel: every rank re-estimates over its own share of the batches, then the sums are merged.
        if (dp === null || i % dp.worldSize === dp.rank) xs.push(tensor(b.x, b.shape, { device }).keep());
        i += 1;
      }
      if (dp === null) reestimateBatchNorm(unet, xs);
      else dp.reestimateBatchNorm(unet, xs);
    } finally { xs.forEach((t) => t.dispose()); }
  };
  if (method === 'adabn' || adabn === 'explicit') await reestimate();
  if (o.select !== undefined && !ADAPT_SELECTIONS.includes(o.select)) invalidArg('select', ADAPT_SELECTIONS.map((x) => `'${x}'`).join(', '), o.select);
  const select: AdaptSelection = o.select ?? (kind !== null ? 'agreement' : method === 'teacher' ? 'consistency' : 'last');
  const criterion = select === 'consistency' || select === 'confidence';
  if (criterion && val.length === 0) throw new ConvLoraError('E_INVALID_ARG', `Expected scans held out for \`select\` '${select}' but received none`);
  const perScan = o.perScan === true;
  if (perScan && (method !== 'teacher' || adabn !== 'none')) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected method 'teacher' without \`adabn\` for \`perScan\` but received method ${JSON.stringify(method)} with adabn ${JSON.stringify(adabn)}`);
  }
  const perScanOpts = { perScan, ...(o.adabnSlices === undefined ? {} : { maxSlices: checkInt('adabnSlices', o.adabnSlices, 1) }) };
  if (perScan) config.inference = 'adabn';
  const score = (): number => {
    if (!main) return NaN;
    unet.eval();
    if (select === 'consistency') return perturbationConsistency(unet, val, device, perScanOpts);
    if (select === 'confidence') return meanConfidence(unet, val, device, perScanOpts);
    return select === 'agreement' && kind !== null ? agreement(unet, head!, kind, val, device, batchSize, o.tolerance ?? TOLERANCE_MM) : NaN;
  };
  const observe = async (epoch: number): Promise<void> => { if (main && o.onEpoch !== undefined) { unet.eval(); await o.onEpoch(unet, epoch); } };
  const history: AdaptEpoch[] = [];
  let bestScore = score();
  let best = extractAdapter(unet, config);
  history.push({ epoch: 0, loss: NaN, agreement: bestScore, best: true });
  report({ type: 'epoch-end', stage, epoch: 0, epochs, loss: NaN, metric: bestScore, metricName: select, best: true, seconds: 0 });
  await observe(0);
  if (method === 'adabn' || epochs === 0) return finish();

  const params = unet.trainableParameters().map(([, t]) => t);
  const opt = new Adam(params, { lr });
  // The teacher's labels: the starting model's (AdaBN statistics, LoRA zero), fixed before any update.
  const labelled = method === 'teacher' ? teacherLabels(unet, train, device, o.confidence ?? TEACHER_CONFIDENCE, perScanOpts) : null;
  // Per scan: batches of one scan's slices, BatchNorm normalizing by the batch, as the base model was trained.
  const batches = labelled === null ? new Batches(train, info, { batchSize, seed, dropLast: true })
    : new PerturbedBatches(perScan ? new ScanBatches(labelled, { batchSize, seed }) : new Batches(labelled, info, { batchSize, seed, dropLast: true }), seed);
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const t0 = Date.now();
      if (adabn === 'implicit' || perScan) unet.train(); else unet.eval(); // scoring leaves it in eval mode
      const loss = await trainEpoch(batches, epoch, epochs, opt, device, stage, report, (x, b) => {
        if (method === 'teacher') return teacherLoss(unet.forward(x), b, device);
        if (kind === null) {
          // Self-training: the network's own thresholded predictions (made before the update) as labels,
          // taken from the same forward pass, detached. A second forward would give the same labels (same
          // weights, same batch) but, in train mode, would move the BatchNorm statistics twice per step.
          const logits = unet.forward(x);
          return ops.bceWithLogits(logits, ops.to(ops.gt(ops.detach(logits), 0), { dtype: 'float32' }));
        }
        const f = unet.forwardFeatures(x);
        const h = head!.forward(headInput(spec, kind, f));
        return ops.bceWithLogits(h, ops.sigmoid(o.detachTarget === true ? ops.detach(f.logits) : f.logits));
      }, { parallel: dp, syncBatchNorm: adabn === 'implicit' ? [unet] : [] });
      // Explicit AdaBN: the adapters changed the features, so re-estimate the statistics before scoring.
      if (adabn === 'explicit') await reestimate();
      const s = score();
      // Without a score (no head and no criterion) keep the last epoch.
      const isBest = select === 'last' || (select === 'agreement' && kind === null) || s > bestScore;
      if (isBest) {
        bestScore = s;
        disposeAdapter(best);
        best = extractAdapter(unet, config);
      }
      history.push({ epoch: epoch + 1, loss, agreement: s, best: isBest });
      report({ type: 'epoch-end', stage, epoch: epoch + 1, epochs, loss, metric: s, metricName: select, best: isBest, seconds: (Date.now() - t0) / 1000 });
      await observe(epoch + 1);
    }
  } finally {
    opt.dispose();
  }
  return finish();

  function finish(): AdaptResult {
    const bestEpoch = history.reduce((e, h) => (h.best ? h.epoch : e), 0);
    const kept = bestEpoch === 0 && method !== 'adabn' && epochs > 0 ? 'start' as const : 'adapted' as const;
    if (kept === 'start') {
      report({ type: 'stage', stage, message: `no epoch beat the starting model (${adabn === 'none' ? 'the base model' : 'the base model with the target\'s AdaBN statistics'}) by ${select} `
        + `(${history[0]!.agreement.toFixed(4)}; best epoch ${Math.max(...history.slice(1).map((h) => h.agreement)).toFixed(4)}): kept the starting model, and the adapter reproduces it` });
    }
    best.config.notes = { ...best.config.notes, bestEpoch, history, select, kept };
    registry.deactivate();
    for (const [, layer] of loraLayers(unet)) if (layer.adapterNames.includes(name)) layer.removeAdapter(name);
    return { adapter: best, history, bestEpoch, kept, select };
  }
}
