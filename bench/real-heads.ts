/**
 * Brain extraction on real T1 heads at full resolution, as a user runs it: `convlora segment --in HEAD
 * --out MASK` (plus the given options), scored with Dice against each head's own brain mask, next to a
 * classical baseline (Otsu threshold + morphology + largest component, src/data/classical-strip.ts).
 *
 *   apt-get install -y mricron-data insighttoolkit5-examples
 *   npx tsc -p tsconfig.json && node dist/bench/real-heads.js [--model M] [--json] [-- extra segment options]
 *
 * Heads: Colin27 (`ch2.nii.gz`, 1 mm RAS; reference `ch2bet.nii.gz` > 0 with holes filled) and the ITK
 * head (`KmeansTest_T1UCharRaw.nii.gz`, 2 x 2 x 3 mm LSA; reference `KmeansTest_T1RawSkullStrip.nii.gz`
 * > 0). The ITK head is the held-out real test: nothing in training or simulation reads it.
 *
 * `--boundary` adds an analysis, never a choice: Dice of the mask grown or shrunk by d mm (an exact
 * distance map), to show where each reference puts the brain's edge relative to the model's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readNifti } from '../src/data/nifti.js';
import { distanceMap, fillHoles } from '../src/data/morphology.js';
import { classicalBrainMask } from '../src/data/classical-strip.js';
import { dice } from '../src/metrics/index.js';

export const REAL_HEADS = [
  { name: 'Colin27 (1 mm)', image: '/usr/share/mricron/templates/ch2.nii.gz', mask: '/usr/share/mricron/templates/ch2bet.nii.gz', fill: true },
  { name: 'ITK head (2 x 2 x 3 mm)', image: '/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz',
    mask: '/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1RawSkullStrip.nii.gz', fill: false },
] as const;

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

async function run(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { model: { type: 'string' }, json: { type: 'boolean' }, boundary: { type: 'boolean' } }, allowPositionals: true });
  const missing = REAL_HEADS.flatMap((h) => [h.image, h.mask]).filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: apt-get install -y mricron-data insighttoolkit5-examples`);
  const dir = mkdtempSync(join(os.tmpdir(), 'convlora-real-'));
  const rows: { head: string; convlora: number; classical: number; brainMl: number; referenceMl: number; seconds: number; boundary?: Record<string, number> }[] = [];
  try {
    for (const h of REAL_HEADS) {
      const out = join(dir, 'mask.nii.gz');
      const args = [main, 'segment', '--in', h.image, '--out', out, ...(values.model === undefined ? [] : ['--model', values.model]), ...positionals];
      const t0 = Date.now();
      execFileSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
      const seconds = (Date.now() - t0) / 1000;
      const [img, ref, pred] = await Promise.all([readNifti(h.image), readNifti(h.mask), readNifti(out)]);
      const dims = img.dims.slice(0, 3) as [number, number, number];
      const spacing = img.spacing.slice(0, 3) as [number, number, number];
      let gt: Uint8Array = Uint8Array.from(ref.data, (v) => (v > 0 ? 1 : 0));
      if (h.fill) gt = fillHoles(gt, dims);
      const classical = classicalBrainMask(img.data, dims, spacing);
      const ml = (m: ArrayLike<number>): number => {
        let c = 0;
        for (let i = 0; i < m.length; i++) if (m[i]! > 0) c++;
        return (c * spacing[0] * spacing[1] * spacing[2]) / 1000;
      };
      const mask = Uint8Array.from(pred.data, (v) => (v > 0 ? 1 : 0));
      rows.push({ head: h.name, convlora: dice(gt, mask), classical: dice(gt, classical), brainMl: ml(pred.data), referenceMl: ml(gt), seconds,
        ...(values.boundary === true ? { boundary: boundaryDice(gt, mask, dims, spacing) } : {}) });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (values.json === true) { process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`); return; }
  process.stdout.write(`| head | convlora segment Dice | classical baseline Dice | brain found (ml) | reference (ml) | segment time (s) |\n|---|---|---|---|---|---|\n`);
  for (const r of rows) process.stdout.write(`| ${r.head} | ${r.convlora.toFixed(4)} | ${r.classical.toFixed(4)} | ${r.brainMl.toFixed(0)} | ${r.referenceMl.toFixed(0)} | ${r.seconds.toFixed(1)} |\n`);
  if (values.boundary !== true) return;
  process.stdout.write(`\nDice of the mask grown (+) or shrunk (-) by d mm (analysis only):\n\n| head | ${SHIFTS_MM.map((d) => `${d > 0 ? '+' : ''}${d}`).join(' | ')} |\n|---|${SHIFTS_MM.map(() => '---|').join('')}\n`);
  for (const r of rows) process.stdout.write(`| ${r.head} | ${SHIFTS_MM.map((d) => r.boundary![String(d)]!.toFixed(4)).join(' | ')} |\n`);
}

const SHIFTS_MM = [-3, -2, -1.5, -1, 0, 1, 1.5, 2, 3, 4] as const;

/** Dice against `gt` of `mask` grown by d mm (voxels within d of it) or shrunk by |d| (voxels farther than |d| from its outside). */
function boundaryDice(gt: Uint8Array, mask: Uint8Array, dims: [number, number, number], spacing: [number, number, number]): Record<string, number> {
  const outside = distanceMap(mask, dims, spacing), inside = distanceMap(Uint8Array.from(mask, (v) => 1 - v), dims, spacing);
  return Object.fromEntries(SHIFTS_MM.map((d) => [String(d), dice(gt, d >= 0 ? Uint8Array.from(outside, (x) => (x <= d ? 1 : 0)) : Uint8Array.from(inside, (x) => (x > -d ? 1 : 0)))]));
}

run().catch((err: Error) => { process.stderr.write(`real-heads: ${err.message}\n`); process.exit(1); });
