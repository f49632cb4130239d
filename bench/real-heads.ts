/**
 * Brain extraction on real T1 heads at full resolution, as a user runs it: `convlora segment --in HEAD --out
 * MASK` (plus the given options) for each model given, next to a published peer's masks (brainchop's
 * mindgrab, made by tools/mindgrab_reference.py) and a classical baseline (Otsu + morphology + largest
 * component, src/data/image/classical-strip.ts), all scored by bench/head-metrics.ts against each head's own mask:
 * Dice, Surface Dice at 2 mm, HD95, gross false positives (ml farther than 6 mm outside the reference),
 * missed brain (ml), and seconds.
 *
 *   apt-get install -y mricron-data insighttoolkit5-examples
 *   npx tsc -p tsconfig.json && node dist/bench/real-heads.js [--model M[,M2...]] [--ixi DIR] [--peer DIR] [--json FILE]
 *     [--boundary] [-- extra segment options]
 *
 * Heads: Colin27 (`ch2.nii.gz`, 1 mm RAS; reference `ch2bet.nii.gz` > 0 with holes filled; its anatomy is in
 * the simulator, so not held out for the simulated-only model), the ITK head (2 x 2 x 3 mm LSA; reference
 * `KmeansTest_T1RawSkullStrip.nii.gz` > 0; never used to choose anything), and the 20 validation heads of the
 * IXI Hammersmith development set (docs/real-heads-split.md; reference DLMUSE label > 0), when `--ixi` (default
 * ../shared/data/ixi-hh-dev) exists. The IXI validation heads chose the bundled model v2's epoch, so for v2
 * they are validation, not test: held-out IXI heads are scored by others.
 *
 * `--peer DIR`: the peer's masks `<image stem>_mask.nii.gz` and its records `results.jsonl` (seconds per head,
 * as measured when they were made); a head without a peer mask is left blank.
 * `--boundary` adds an analysis, never a choice: Dice of the first model's mask grown or shrunk by d mm.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readNifti } from '../src/data/nifti/index.js';
import { distanceMap, fillHoles } from '../src/data/image/morphology.js';
import { classicalBrainMask } from '../src/data/image/classical-strip.js';
import { dice } from '../src/metrics/index.js';
import { listLabelledHeads, splitHeads } from '../src/pipeline/train/head-set.js';
import { headMetrics, meanMetrics, type HeadMetrics } from './head-metrics.js';
import { machine, writeResult } from './common.js';

export const REAL_HEADS = [
  { name: 'Colin27 (1 mm)', image: '/usr/share/mricron/templates/ch2.nii.gz', mask: '/usr/share/mricron/templates/ch2bet.nii.gz', fill: true },
  { name: 'ITK head (2 x 2 x 3 mm)', image: '/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz',
    mask: '/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1RawSkullStrip.nii.gz', fill: false },
] as const;

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

interface Head { name: string; image: string; mask: string; fill: boolean; group: string }
interface Scored { metrics: HeadMetrics; seconds: number | null }
interface HeadRow { head: string; group: string; results: Record<string, Scored | null> }

const stem = (p: string): string => basename(p).replace(/\.nii(\.gz)?$/, '');

async function run(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { model: { type: 'string' }, ixi: { type: 'string' }, peer: { type: 'string' }, json: { type: 'string' }, boundary: { type: 'boolean' } }, allowPositionals: true });
  const missing = REAL_HEADS.flatMap((h) => [h.image, h.mask]).filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: apt-get install -y mricron-data insighttoolkit5-examples`);
  const heads: Head[] = REAL_HEADS.map((h) => ({ ...h, group: h.name.startsWith('ITK') ? 'ITK head' : 'Colin27' }));
  const ixi = values.ixi ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data', 'ixi-hh-dev');
  if (existsSync(ixi)) for (const f of splitHeads(await listLabelledHeads(ixi)).val) heads.push({ name: f.id, image: f.image, mask: f.mask, fill: false, group: 'IXI HH validation' });
  const models = values.model === undefined ? [null] : values.model.split(',');
  const label = (m: string | null): string => (m === null ? 'convlora (bundled)' : `convlora ${stem(m).replace(/^convlora-/, '')}`);
  const peerRecords = new Map<string, number>();
  if (values.peer !== undefined && existsSync(join(values.peer, 'results.jsonl'))) {
    for (const line of readFileSync(join(values.peer, 'results.jsonl'), 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as { input: string; seconds: number };
      peerRecords.set(stem(r.input), r.seconds);
    }
  }
  const dir = mkdtempSync(join(os.tmpdir(), 'convlora-real-'));
  const rows: HeadRow[] = [];
  const boundary: Record<string, Record<string, number>> = {};
  try {
    for (const h of heads) {
      const [img, ref] = await Promise.all([readNifti(h.image), readNifti(h.mask)]);
      const dims = img.dims.slice(0, 3) as [number, number, number];
      const spacing = img.spacing.slice(0, 3) as [number, number, number];
      let gt: Uint8Array = Uint8Array.from(ref.data, (v) => (v > 0 ? 1 : 0));
      if (h.fill) gt = fillHoles(gt, dims);
      const results: Record<string, Scored | null> = {};
      for (const [i, m] of models.entries()) {
        const out = join(dir, 'mask.nii.gz');
        const t0 = Date.now();
        execFileSync(process.execPath, [main, 'segment', '--in', h.image, '--out', out, '--quiet', ...(m === null ? [] : ['--model', m]), ...positionals], { stdio: ['ignore', 'ignore', 'inherit'] });
        const seconds = (Date.now() - t0) / 1000;
        const mask = Uint8Array.from((await readNifti(out)).data, (v) => (v > 0 ? 1 : 0));
        results[label(m)] = { metrics: headMetrics(gt, mask, dims, spacing), seconds };
        if (i === 0 && values.boundary === true) boundary[h.name] = boundaryDice(gt, mask, dims, spacing);
      }
      const peerMask = values.peer === undefined ? null : join(values.peer, `${stem(h.image)}_mask.nii.gz`);
      if (values.peer !== undefined) {
        results['mindgrab (peer)'] = peerMask !== null && existsSync(peerMask)
          ? { metrics: headMetrics(gt, Uint8Array.from((await readNifti(peerMask)).data, (v) => (v > 0 ? 1 : 0)), dims, spacing), seconds: peerRecords.get(stem(h.image)) ?? null }
          : null;
      }
      results['classical'] = { metrics: headMetrics(gt, classicalBrainMask(img.data, dims, spacing), dims, spacing), seconds: null };
      rows.push({ head: h.name, group: h.group, results });
      process.stderr.write(`${h.name}: ${Object.entries(results).map(([k, r]) => `${k} ${r === null ? '-' : r.metrics.dice.toFixed(4)}`).join(', ')}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (values.json !== undefined) writeResult(values.json, { machine: machine(), date: new Date().toISOString(), options: positionals, rows, ...(values.boundary === true ? { boundary } : {}) });
  printTables(rows);
  if (values.boundary === true) {
    process.stdout.write(`\nDice of the mask grown (+) or shrunk (-) by d mm (analysis only):\n\n| head | ${SHIFTS_MM.map((d) => `${d > 0 ? '+' : ''}${d}`).join(' | ')} |\n|---|${SHIFTS_MM.map(() => '---|').join('')}\n`);
    for (const [name, b] of Object.entries(boundary)) process.stdout.write(`| ${name} | ${SHIFTS_MM.map((d) => b[String(d)]!.toFixed(4)).join(' | ')} |\n`);
  }
}

function printTables(rows: readonly HeadRow[]): void {
  const methods = [...new Set(rows.flatMap((r) => Object.keys(r.results)))];
  const cell = (s: Scored | null | undefined): string => (s == null ? '-' : `${s.metrics.dice.toFixed(4)}`);
  process.stdout.write(`| head | ${methods.map((m) => `${m} Dice`).join(' | ')} |\n|---|${methods.map(() => '---|').join('')}\n`);
  for (const r of rows) process.stdout.write(`| ${r.head} | ${methods.map((m) => cell(r.results[m])).join(' | ')} |\n`);
  process.stdout.write('\nMeans per group (heads a method has a mask for):\n\n| group | method | heads | Dice | Surface Dice 2 mm | HD95 (mm) | gross FP (ml) | missed (ml) | seconds per head |\n|---|---|---|---|---|---|---|---|---|\n');
  for (const g of [...new Set(rows.map((r) => r.group))]) {
    for (const m of methods) {
      const got = rows.filter((r) => r.group === g && r.results[m] != null).map((r) => r.results[m]!);
      if (got.length === 0) continue;
      const mm = meanMetrics(got.map((s) => s.metrics));
      const secs = got.filter((s) => s.seconds !== null).map((s) => s.seconds!);
      process.stdout.write(`| ${g} | ${m} | ${got.length} | ${mm.dice.toFixed(4)} | ${mm.surfaceDice2mm.toFixed(4)} | ${mm.hd95.toFixed(2)} | ${mm.grossFpMl.toFixed(1)} | ${mm.missedMl.toFixed(1)} | ${secs.length === 0 ? '-' : (secs.reduce((a, b) => a + b, 0) / secs.length).toFixed(1)} |\n`);
    }
  }
}

const SHIFTS_MM = [-3, -2, -1.5, -1, 0, 1, 1.5, 2, 3, 4] as const;

/** Dice against `gt` of `mask` grown by d mm (voxels within d of it) or shrunk by |d| (voxels farther than |d| from its outside). */
function boundaryDice(gt: Uint8Array, mask: Uint8Array, dims: [number, number, number], spacing: [number, number, number]): Record<string, number> {
  const outside = distanceMap(mask, dims, spacing), inside = distanceMap(Uint8Array.from(mask, (v) => 1 - v), dims, spacing);
  return Object.fromEntries(SHIFTS_MM.map((d) => [String(d), dice(gt, d >= 0 ? Uint8Array.from(outside, (x) => (x <= d ? 1 : 0)) : Uint8Array.from(inside, (x) => (x > -d ? 1 : 0)))]));
}

run().catch((err: Error) => { process.stderr.write(`real-heads: ${err.message}\n`); process.exit(1); });
