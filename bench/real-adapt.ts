/**
 * Adaptation to a real scanner (issue 24): a model adapted with `adapt --scans` on N unlabelled IXI
 * Hammersmith heads (the first N of the 40 training heads of docs/real-heads-split.md), scored on the 20
 * validation heads of the same scanner as `segment --adapter` would segment them (the model's views, the
 * adapter's statistics, mask cleaned), after every epoch, with every label-free criterion measured on the
 * held-out selection scan next to the real metrics. Methods:
 *   source          the model as `segment` runs it by default (test-time AdaBN per scan for the bundled models)
 *   stored          the model with its stored statistics (no adaptation at all)
 *   adabn           `adapt --method adabn` (statistics re-estimated over the target heads)
 *   convlora-adabn  the paper's method: ConvLoRA on the encoder, implicit AdaBN, ESH pseudo-labels, agreement selection
 *   teacher         adapt-teacher.ts: a frozen teacher's confident labels, perturbed student, explicit AdaBN, consistency selection + guard
 *
 *   npx tsc -p tsconfig.json && node dist/bench/real-adapt.js [--model M] [--esh E] [--heads DIR] [--methods a,b] \
 *       [--seeds 42,123,12345] [--targets 10] [--epochs 5] [--slices-per-scan N] [--out FILE.json] [--val N (smoke runs: the first N validation heads)]
 * Each run's rows (method, seed, targets, epoch, real metrics, criteria, kept) go to --out as they come, so
 * a long run can be read (and resumed: rows already there are not redone).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fusedMaskToInput, prepareForModel, type ModelGrid, type PreparedScan } from '../src/data/image/conform.js';
import { cleanBrainMask } from '../src/data/image/morphology.js';
import { listScanFiles } from '../src/data/scans/folder.js';
import { holdOut } from '../src/data/scans/splits.js';
import { snapshotBatchNorm } from '../src/lora/adabn.js';
import type { SegmentationNet } from '../src/models/zoo.js';
import { adaptScans, prepareAdaptScan } from '../src/pipeline/train/adapt-scans.js';
import type { AdaptMethod, AdaptSelection } from '../src/pipeline/train/adapt.js';
import { bundledModel } from '../src/pipeline/infer/bundled.js';
import { meanConfidence, perturbationConsistency } from '../src/pipeline/train/criteria.js';
import { SPLIT_SEED } from '../src/pipeline/train/dataset.js';
import { listLabelledHeads, loadLabelledHead, splitHeads, type LabelledHead } from '../src/pipeline/train/head-set.js';
import { loadHead, loadUnet, modelGrid } from '../src/pipeline/models.js';
import { runSlices } from '../src/pipeline/infer/predict.js';
import { agreement } from '../src/pipeline/train/score.js';
import { testTimeAdaBN } from '../src/pipeline/infer/test-time.js';
import type { AdaptScan } from '../src/pipeline/train/adapt.js';
import { headMetrics, meanMetrics, spearman, type HeadMetrics } from './head-metrics.js';
import { machine, writeResult } from './common.js';

interface Row { method: string; seed: number | null; targets: number; epoch: number; metrics: HeadMetrics; criteria: Record<string, number>; kept?: boolean; seconds: number }

const METHODS: Record<string, { method: AdaptMethod; adabn: 'none' | 'implicit' | 'explicit'; select?: AdaptSelection; head: boolean } | null> = {
  source: null, stored: null,
  adabn: { method: 'adabn', adabn: 'explicit', head: false },
  'convlora-adabn': { method: 'convlora', adabn: 'implicit', select: 'agreement', head: true },
  // On a model that predicts with test-time AdaBN per scan, 'teacher' adapts per scan (adapt-teacher.ts) and leaves AdaBN to each scan.
  teacher: { method: 'teacher', adabn: 'explicit', select: 'consistency', head: false },
};

async function run(): Promise<void> {
  const { values } = parseArgs({ options: {
    model: { type: 'string' }, esh: { type: 'string' }, heads: { type: 'string' }, methods: { type: 'string' }, seeds: { type: 'string' },
    targets: { type: 'string' }, epochs: { type: 'string' }, out: { type: 'string' }, val: { type: 'string' }, 'slices-per-scan': { type: 'string' },
  } });
  const model = values.model ?? bundledModel();
  const heads = values.heads ?? '/work/shared/data/ixi-hh-dev';
  const methods = (values.methods ?? 'source,stored,adabn,convlora-adabn,teacher').split(',');
  const seeds = (values.seeds ?? '42,123,12345').split(',').map(Number);
  const nTargets = Number(values.targets ?? 10), epochs = Number(values.epochs ?? 5);
  const out = values.out ?? 'bench/results/real-adapt.json';
  for (const m of methods) if (!(m in METHODS)) throw new Error(`unknown method ${m}; one of ${Object.keys(METHODS).join(', ')}`);

  const files = await listLabelledHeads(heads);
  const split = splitHeads(files);
  const targets = split.train.slice(0, nTargets);
  const { model: net, info } = await loadUnet(model);
  const grid: ModelGrid = modelGrid(info);
  const views = info.inferenceViews === 3 ? 3 : 1;
  const budget = typeof info.adabnSlices === 'number' ? { maxSlices: info.adabnSlices } : {};
  process.stderr.write(`real-adapt: ${model} (${grid.views ?? 1} trained views, ${views} predicted), ${targets.length} target heads, ${split.val.length} validation heads\n`);
  const val: { head: LabelledHead; prep: PreparedScan }[] = [];
  // --val N scores the first N validation heads only (a smoke run); the benchmark uses all 20.
  for (const f of split.val.slice(0, values.val === undefined ? undefined : Number(values.val))) {
    const head = await loadLabelledHead(f, grid);
    val.push({ head, prep: prepareForModel({ dims: head.dims, spacing: head.spacing, affine: head.affine, data: head.image }, grid, { conform: 'never', what: f.id }) });
  }
  // The selection scan(s), as adaptScans holds them out and prepares them (the criteria are measured there).
  const userScans = await listScanFiles(targets.map((t) => t.image));
  const held = holdOut(userScans, 0.1, SPLIT_SEED, 'the target heads').val;
  const selection: AdaptScan[] = [];
  for (const s of held) selection.push((await prepareAdaptScan(s, grid, 'auto', 'head', 'IXI-HH')).scan);
  const esh = values.esh === undefined ? null : (await loadHead(values.esh, 'cpu', info)).head;

  const rows: Row[] = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as { rows: Row[] }).rows : [];
  const save = (): void => writeResult(out, { machine: machine(), date: new Date().toISOString(), model, targets: targets.map((t) => t.id), selection: held.map((s) => s.stem), rows });
  const done = (method: string, seed: number | null): boolean => rows.some((r) => r.method === method && r.seed === seed && r.targets === nTargets);

  /** Real metrics of the model as it is (eval mode; test-time AdaBN per head when `tta`). */
  const score = (m: SegmentationNet, tta: boolean): HeadMetrics => {
    const per = val.map(({ head, prep }) => {
      const saved = tta ? snapshotBatchNorm(m) : null;
      try {
        if (tta) testTimeAdaBN(m, prep.views, budget);
        m.eval();
        const logits = prep.views.slice(0, views).map((v) => runSlices(v.images, v.shape, 16, 'cpu', (x) => [m.forward(x)])[0]!);
        const mask = cleanBrainMask(fusedMaskToInput(prep, logits), head.dims);
        return headMetrics(head.brain, mask, head.dims, head.spacing);
      } finally {
        saved?.restore();
        saved?.dispose();
      }
    });
    return meanMetrics(per);
  };
  const criteria = (m: SegmentationNet, perScan = false): Record<string, number> => ({
    consistency: perturbationConsistency(m, selection, 'cpu', { perScan, ...budget }), confidence: meanConfidence(m, selection, 'cpu', { perScan, ...budget }),
    ...(esh === null ? {} : { agreement: agreement(m, esh, 'esh', selection, 'cpu') }),
  });
  const say = (r: Row): void => { process.stderr.write(`${r.method} seed ${r.seed ?? '-'} n=${r.targets} epoch ${r.epoch}: Dice ${r.metrics.dice.toFixed(4)} HD95 ${r.metrics.hd95.toFixed(2)} gross FP ${r.metrics.grossFpMl.toFixed(1)} ml; ${Object.entries(r.criteria).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ')}${r.kept === undefined ? '' : r.kept ? ' (kept)' : ''} [${r.seconds.toFixed(0)} s]\n`); };

  for (const name of methods) {
    const spec = METHODS[name]!;
    if (spec === null) {
      if (done(name, null)) continue;
      const t0 = Date.now();
      const r: Row = { method: name, seed: null, targets: nTargets, epoch: 0, metrics: score(net, name === 'source' && info.inference === 'adabn'), criteria: criteria(net, name === 'source' && info.inference === 'adabn'), kept: true, seconds: (Date.now() - t0) / 1000 };
      rows.push(r); say(r); save();
      continue;
    }
    for (const seed of spec.method === 'adabn' ? [seeds[0]!] : seeds) {
      if (done(name, seed)) continue;
      if (spec.head && values.esh === undefined) { process.stderr.write(`${name}: needs --esh; skipped\n`); break; }
      const tmp = mkdtempSync(join(os.tmpdir(), 'real-adapt-'));
      const t0 = Date.now();
      const mine: Row[] = [];
      const perScan = spec.method === 'teacher' && info.inference === 'adabn';
      const adabn = perScan ? 'none' : spec.adabn;
      try {
        const r = await adaptScans({
          source: { scans: targets.map((t) => t.image) }, unet: model, ...(spec.head ? { head: values.esh! } : {}), name: 'IXI-HH', out: join(tmp, 'a.safetensors'),
          ...(values['slices-per-scan'] === undefined ? {} : { slicesPerScan: Number(values['slices-per-scan']) }),
          method: spec.method, adabn, ...(spec.select === undefined ? {} : { select: spec.select }), seed, epochs,
          onEpoch: (m, epoch) => {
            const row: Row = { method: name, seed, targets: nTargets, epoch, metrics: score(m, perScan), criteria: criteria(m, perScan), seconds: (Date.now() - t0) / 1000 };
            mine.push(row); say(row);
          },
        });
        for (const row of mine) row.kept = row.epoch === r.bestEpoch;
        rows.push(...mine);
        save();
      } finally { rmSync(tmp, { recursive: true, force: true }); }
    }
  }
  net.dispose();
  esh?.dispose();
  summarize(rows);
}

function summarize(rows: readonly Row[]): void {
  const kept = rows.filter((r) => r.kept === true);
  const groups = new Map<string, Row[]>();
  for (const r of kept) { const k = `${r.method} (n=${r.targets})`; groups.set(k, [...(groups.get(k) ?? []), r]); }
  process.stdout.write('| method | seeds | Dice | HD95 (mm) | gross FP (ml) | missed (ml) | minutes per run |\n|---|---|---|---|---|---|---|\n');
  for (const [k, rs] of groups) {
    const m = meanMetrics(rs.map((r) => r.metrics));
    const sd = rs.length > 1 ? Math.sqrt(rs.reduce((s, r) => s + (r.metrics.dice - m.dice) ** 2, 0) / (rs.length - 1)) : 0;
    const minutes = rs.map((r) => Math.max(...rows.filter((x) => x.method === r.method && x.seed === r.seed && x.targets === r.targets).map((x) => x.seconds)) / 60);
    process.stdout.write(`| ${k} | ${rs.length} | ${m.dice.toFixed(4)}${rs.length > 1 ? ` ± ${sd.toFixed(4)}` : ''} | ${m.hd95.toFixed(2)} | ${m.grossFpMl.toFixed(1)} | ${m.missedMl.toFixed(1)} | ${(minutes.reduce((a, b) => a + b, 0) / minutes.length).toFixed(1)} |\n`);
  }
  // How each criterion tracks real Dice, over every (method, seed, epoch) scored after adaptation started.
  const adapted = rows.filter((r) => r.seed !== null);
  const names = [...new Set(adapted.flatMap((r) => Object.keys(r.criteria)))];
  process.stdout.write(`\nSpearman rank correlation with real Dice over ${adapted.length} (method, seed, epoch) points:\n`);
  for (const c of names) {
    const pts = adapted.filter((r) => Number.isFinite(r.criteria[c]));
    process.stdout.write(`- ${c}: ${spearman(pts.map((r) => r.criteria[c]!), pts.map((r) => r.metrics.dice)).toFixed(3)} (${pts.length} points)\n`);
  }
}

run().catch((err: Error) => { process.stderr.write(`real-adapt: ${err.stack ?? err.message}\n`); process.exit(1); });
