/**
 * bench/adapter-choice: how well `segment --adapters` picks a scanner's adapter, on a `convlora demo`
 * output folder (its phantom data, source model and adapters), over every target's held-out test scans
 * (the dataset's seeded splits). Every mask is made by `Segmenter` (the code `segment` runs) on the scan
 * file as stored, and scored against the phantom's ground truth in 3D (Surface Dice at one phantom
 * voxel, as the demo scores). Reports:
 *   - the choice's confusion matrix (true scanner x chosen: source, an adapter, or the test-time AdaBN
 *     fallback) and its share of correct picks; the source's own test scans as an extra row;
 *   - mean Surface Dice with the chosen adapter and with each scan's own adapter;
 *   - per target: Source, test-time AdaBN on the single scan, the AdaBN adapter, the ConvLoRA + AdaBN adapter;
 *   - the three designs (naive, self-consistency, fingerprint) on validation and test scans, for both
 *     adapter kinds, as evidence for the design;
 *   - the choice's time next to segment's for one volume (choice-timing.ts).
 *   node dist/bench/adapter-choice.js DEMO_DIR [--kind ConvLoRA-AdaBN|AdaBN] [--out FILE_BASE] [--rounds 5]
 * Writes FILE_BASE.json and FILE_BASE.md (default DEMO_DIR/adapter-choice.*).
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tmpdir } from 'node:os';
import { setThreads } from '../src/engine/runtime.js';
import { liveTensors } from '../src/engine/tensor.js';
import { CC359_DOMAINS, readDatasetInfo, type Domain, type ScanEntry } from '../src/data/scans/cc359.js';
import { readNifti } from '../src/data/nifti/index.js';
import { DEFAULT_CONFORM, prepareForModel } from '../src/data/image/conform.js';
import { evaluateMasks } from '../src/metrics/index.js';
import { AdapterRegistry, loadAdapter } from '../src/lora/adapter.js';
import { bnInputStatistics, runningStatistics, statisticSlices } from '../src/lora/fingerprint.js';
import { openDomain } from '../src/pipeline/train/dataset.js';
import { loadUnet, modelGrid } from '../src/pipeline/models.js';
import { chooseAdapter, statisticsDistance, type Candidate } from '../src/pipeline/infer/adapter-choice.js';
import { Segmenter, type SegmenterOptions } from '../src/pipeline/infer/segment.js';
import { machine } from './common.js';
import { measureChoiceTime } from './choice-timing.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  kind: { type: 'string', default: 'ConvLoRA-AdaBN' }, out: { type: 'string' }, rounds: { type: 'string', default: '5' }, threads: { type: 'string', default: '2' } } });
const demo = positionals[0];
if (demo === undefined || !['ConvLoRA-AdaBN', 'AdaBN'].includes(values.kind!)) {
  process.stderr.write('usage: node dist/bench/adapter-choice.js DEMO_DIR [--kind ConvLoRA-AdaBN|AdaBN] [--out FILE_BASE] [--rounds 5]\n');
  process.exit(2);
}
setThreads(Number(values.threads));
const live = liveTensors();
const KINDS = ['AdaBN', 'ConvLoRA-AdaBN'] as const;
const kind = values.kind as (typeof KINDS)[number];
const data = join(demo, 'phantom'), model = join(demo, 'unet.safetensors');
const info = await readDatasetInfo(data);
const tolerance = Math.round((256 / info.size) * 100) / 100; // one phantom voxel, as the demo scores
const { info: unetInfo } = await loadUnet(model).then((r) => { r.model.dispose(); return r; });
const source = (typeof unetInfo.source === 'string' ? unetInfo.source : 'GE_3') as Domain;
const targets = CC359_DOMAINS.filter((d) => d !== source);

/** adapters/<target>/<kind>-seed<seed>.safetensors, one seed (the first found). */
const adapterFile = (target: Domain, k: string): string => {
  const dir = join(demo, 'adapters', target);
  const f = existsSync(dir) ? readdirSync(dir).sort().find((n) => new RegExp(`^${k}-seed\\d+\\.safetensors$`).test(n)) : undefined;
  if (f === undefined) throw new Error(`No ${k} adapter in ${dir}`);
  return join(dir, f);
};
const files = Object.fromEntries(KINDS.map((k) => [k, Object.fromEntries(targets.map((t) => [t, adapterFile(t, k)]))])) as Record<(typeof KINDS)[number], Record<string, string>>;
const seed = /seed(\d+)/.exec(files[kind][targets[0]!]!)![1];
const splits = new Map<Domain, { val: ScanEntry[]; test: ScanEntry[] }>();
for (const d of [source, ...targets]) splits.set(d, (await openDomain(data, d, d === source ? 'source' : 'target')).split);

// --- Masks from Segmenter, scored in 3D on the scan's grid. ---
const tmp = mkdtempSync(join(tmpdir(), 'convlora-choice-eval-'));
async function scoreWith(o: Omit<SegmenterOptions, 'model'>, scans: readonly ScanEntry[]): Promise<{ sds: number[]; results: Awaited<ReturnType<Segmenter['segment']>>[] }> {
  const s = await Segmenter.open({ model, ...o });
  const sds: number[] = [], results = [];
  try {
    for (const e of scans) {
      const out = join(tmp, `${e.stem}.nii.gz`);
      const r = await s.segment(e.imagePath, out);
      const p = await readNifti(out), g = await readNifti(e.maskPath);
      sds.push(evaluateMasks(g.data, p.data, { shape: [...g.dims].reverse(), spacing: [...g.spacing].slice(0, 3).reverse(), tolerance }).surfaceDice);
      results.push(r);
    }
  } finally { s.dispose(); }
  return { sds, results };
}
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

const candidateFiles = targets.map((t) => files[kind][t]!);
const FALLBACK = 'test-time AdaBN';
const perTarget: Record<string, Record<string, number>> = {};
const picks: { scan: string; domain: Domain; chosen: string; method: string; distances: Record<string, number>; threshold: number | null; sdsChosen: number; sdsOwn: number | null }[] = [];
for (const d of [...targets, source]) {
  const scans = splits.get(d)!.test;
  process.stderr.write(`${d}: ${scans.length} test scans\n`);
  const chosen = await scoreWith({ adapters: candidateFiles }, scans);
  const row: Record<string, number> = { n: scans.length, Source: mean((await scoreWith({}, scans)).sds), 'Test-time AdaBN': mean((await scoreWith({ adabn: true }, scans)).sds) };
  let own: number[] | null = null;
  if (d !== source) {
    const a = await scoreWith({ adapter: files.AdaBN[d]! }, scans), c = await scoreWith({ adapter: files['ConvLoRA-AdaBN'][d]! }, scans);
    row['AdaBN adapter'] = mean(a.sds);
    row['ConvLoRA + AdaBN adapter'] = mean(c.sds);
    own = (kind === 'AdaBN' ? a : c).sds;
  }
  row['Chosen'] = mean(chosen.sds);
  perTarget[d] = row;
  chosen.results.forEach((r, i) => {
    const c = r.choice!;
    const domainOf = (name: string): string => c.distances.find((x) => x.name === name)!.domain ?? source;
    picks.push({ scan: basename(scans[i]!.imagePath), domain: d, chosen: c.chosen === null ? FALLBACK : domainOf(c.chosen), method: c.method,
      distances: Object.fromEntries(c.distances.map((x) => [x.domain ?? source, x.distance])), threshold: c.threshold, sdsChosen: chosen.sds[i]!, sdsOwn: own?.[i] ?? null });
  });
}
const columns = [source, ...targets, FALLBACK];
const confusion = Object.fromEntries([...targets, source].map((d) => [d, Object.fromEntries(columns.map((c) => [c, picks.filter((p) => p.domain === d && p.chosen === c).length]))]));
const targetPicks = picks.filter((p) => p.domain !== source);
const correct = targetPicks.filter((p) => p.chosen === p.domain).length;

// --- The three designs on validation and test scans (closest candidate, no fallback), both adapter kinds. ---
const { model: unet } = await loadUnet(model);
const registry = new AdapterRegistry(unet);
const designs: { design: string; kind: string; split: string; correct: number; n: number }[] = [];
const GRID = '(b) fingerprint, grid means, nearest centre in within-scanner units (segment\'s choice)';
try {
  const cands: Record<string, Candidate[]> = {};
  for (const k of KINDS) {
    cands[k] = [{ name: 'source', domain: source, adapter: null, fingerprint: (unetInfo.fingerprint ?? null) as Candidate['fingerprint'] }];
    for (const t of targets) {
      const a = await loadAdapter(files[k][t]!);
      registry.add(`${k}/${t}`, a, files[k][t]);
      cands[k].push({ name: `${k}/${t}`, domain: t, adapter: `${k}/${t}`, fingerprint: a.config.fingerprint ?? null });
    }
  }
  for (const split of ['val', 'test'] as const) {
    const tally = new Map<string, number>();
    let n = 0;
    for (const d of targets) {
      for (const e of splits.get(d)![split]) {
        n += 1;
        const prep = prepareForModel(await readNifti(e.imagePath), modelGrid(unetInfo), { conform: DEFAULT_CONFORM });
        registry.activate(null);
        const scan = bnInputStatistics(unet, prep.images, prep.shape, { slices: statisticSlices(prep.images, prep.shape) });
        for (const k of KINDS) {
          const hit = (key: string, dom: string | null): void => { if (dom === d) tally.set(`${key}|${k}`, (tally.get(`${key}|${k}`) ?? 0) + 1); };
          const naive = cands[k]!.map((c) => { registry.activate(c.adapter); return statisticsDistance(scan.stats, runningStatistics(unet).stats); });
          hit('naive (source-model statistics vs adapter running statistics)', cands[k]![naive.indexOf(Math.min(...naive))]!.domain);
          const self = chooseAdapter(registry, cands[k]!.map((c) => ({ ...c, fingerprint: null })), prep.images, prep.shape);
          hit('(a) self-consistency', cands[k]!.find((c) => c.name === self.closest)!.domain);
          const fp = chooseAdapter(registry, cands[k]!, prep.images, prep.shape, { sourceStats: scan });
          hit(GRID, cands[k]!.find((c) => c.name === fp.closest)!.domain);
        }
      }
    }
    for (const design of ['naive (source-model statistics vs adapter running statistics)', '(a) self-consistency', GRID]) {
      for (const k of KINDS) designs.push({ design, kind: k, split, correct: tally.get(`${design}|${k}`) ?? 0, n });
    }
  }
} finally {
  registry.dispose();
  unet.dispose();
}

const timing = await measureChoiceTime(model, candidateFiles, splits.get(targets[0]!)!.test[0]!.imagePath, Number(values.rounds));
rmSync(tmp, { recursive: true, force: true });
const chosenSds = mean(targetPicks.map((p) => p.sdsChosen)), ownSds = mean(targetPicks.map((p) => p.sdsOwn!));
const result = {
  date: new Date().toISOString(), machine: machine(), demo, kind, seed: Number(seed), tolerance,
  accuracy: { correct, n: targetPicks.length, share: correct / targetPicks.length, fallbacks: targetPicks.filter((p) => p.chosen === FALLBACK).length },
  surfaceDice: { chosen: chosenSds, own: ownSds }, confusion, perTarget, designs, timing, picks,
};
const f4 = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(4));
const md = [
  `# Adapter choice on ${demo} (seed ${seed}, candidates: source + ${kind} adapters)`, '',
  `${result.date}, ${result.machine}. Surface Dice at ${tolerance} mm (one phantom voxel), masks from \`Segmenter\` on each scan file as stored (every slice), scored in 3D.`, '',
  `Correct picks on the targets' test scans: **${correct} of ${targetPicks.length} (${(100 * correct / targetPicks.length).toFixed(1)} %)**, ${result.accuracy.fallbacks} fell back to test-time AdaBN.`,
  `Mean Surface Dice over those scans: chosen ${f4(chosenSds)}, each scan's own ${kind} adapter ${f4(ownSds)}.`, '',
  '## Confusion (rows: true scanner; columns: chosen)', '',
  `| true \\ chosen | ${columns.join(' | ')} |`, `|---|${columns.map(() => '---').join('|')}|`,
  ...[...targets, source].map((d) => `| ${d}${d === source ? ' (source)' : ''} | ${columns.map((c) => confusion[d]![c]).join(' | ')} |`), '',
  '## Surface Dice per target (mean over test scans)', '',
  '| Target | n | Source | Test-time AdaBN (one scan) | AdaBN adapter | ConvLoRA + AdaBN adapter | Chosen |', '|---|---|---|---|---|---|---|',
  ...[...targets, source].map((d) => { const r = perTarget[d]!; return `| ${d} | ${r.n} | ${f4(r.Source)} | ${f4(r['Test-time AdaBN'])} | ${f4(r['AdaBN adapter'])} | ${f4(r['ConvLoRA + AdaBN adapter'])} | ${f4(r.Chosen)} |`; }), '',
  '## Designs (closest candidate, no fallback; target scans)', '',
  '| design | candidates | val correct | test correct |', '|---|---|---|---|',
  ...designs.filter((x) => x.split === 'val').map((x) => { const t = designs.find((y) => y.split === 'test' && y.design === x.design && y.kind === x.kind)!; return `| ${x.design} | source + ${x.kind} | ${x.correct}/${x.n} | ${t.correct}/${t.n} |`; }), '',
  '## Time, one volume', '',
  `segment ${timing.segmentSeconds.toFixed(3)} s; choice (fingerprint) ${timing.choiceSeconds.toFixed(3)} s = **${(100 * timing.ratio).toFixed(1)} %**; self-consistency ${timing.selfConsistencySeconds.toFixed(3)} s = ${(100 * timing.selfConsistencyRatio).toFixed(1)} % (median of ${timing.rounds}, ${timing.candidates} candidates, ${basename(timing.scan)}).`, '',
].join('\n');
const base = values.out ?? join(demo, 'adapter-choice');
writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(`${base}.md`, md);
process.stdout.write(md);
process.stderr.write(`wrote ${base}.json and ${base}.md; live tensors ${liveTensors() - live} above the start\n`);
