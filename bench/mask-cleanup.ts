/**
 * Does cleaning `segment`'s mask (largest connected component, then enclosed holes filled;
 * data/image/morphology.ts cleanBrainMask) help or hurt, on simulated scans only? The decision rule was fixed
 * before this ran: docs/mask-cleanup-rule.md.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/mask-cleanup.js [--model M] [--subjects 8]
 *
 * Scans: the bundled model's 8 validation subjects (`simulatedSet({ seed: 42 })`), each rendered under
 * each of the six physics scanners' contrasts with the validation images' noise and bias ranges, written
 * as NIfTI and segmented through `Segmenter` with the model's defaults (test-time AdaBN), clean-up off.
 * The same mask is scored raw and cleaned: Dice and Surface Dice at 1 mm on the scan's own grid.
 * Writes bench/results/mask-cleanup.json and prints a Markdown table.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CC359_DOMAINS } from '../src/data/scans/cc359.js';
import { cleanBrainMask } from '../src/data/image/morphology.js';
import { readNifti, writeNifti } from '../src/data/nifti/index.js';
import { scannerSignals } from '../src/data/simulation/physics-scanners.js';
import { randomizeImage } from '../src/data/simulation/randomize.js';
import { hashSeed } from '../src/data/rng.js';
import { evaluateMasks } from '../src/metrics/mask-metrics.js';
import { bundledModel } from '../src/pipeline/infer/bundled.js';
import { simulatedSet } from '../src/pipeline/train/randomized.js';
import { Segmenter } from '../src/pipeline/infer/segment.js';

/** Seed salt of this benchmark's images (not the training run's validation images, which are one scanner each). */
const IMAGE_SALT = 0xc1ea;

interface Row { subject: number; anatomy: string; scanner: string; raw: { dice: number; surfaceDice: number }; cleaned: { dice: number; surfaceDice: number }; changedVoxels: number }

async function run(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string' }, subjects: { type: 'string', default: '8' } } });
  const model = values.model ?? bundledModel();
  const count = Number(values.subjects);
  process.stderr.write('simulating the validation subjects...\n');
  const set = await simulatedSet({ seed: 42, subjects: 1, valSubjects: count, voxel: 2 });
  const dir = mkdtempSync(join(os.tmpdir(), 'convlora-cleanup-'));
  const seg = await Segmenter.open({ model, cleanup: false });
  const rows: Row[] = [];
  try {
    for (let i = 0; i < set.val.length; i++) {
      const vol = set.val[i]!;
      const [nx, ny, nz] = vol.dims;
      const metric = { shape: [nz, ny, nx], spacing: [vol.spacing[2], vol.spacing[1], vol.spacing[0]] };
      for (let d = 0; d < CC359_DOMAINS.length; d++) {
        const domain = CC359_DOMAINS[d]!;
        const { image } = randomizeImage(vol, hashSeed(42, IMAGE_SALT, i, d), { ...set.valOptions, realistic: [scannerSignals(domain)], physicsShare: 1 });
        const scan = join(dir, 'scan.nii.gz'), out = join(dir, 'mask.nii.gz');
        await writeNifti(scan, { dims: vol.dims, spacing: vol.spacing, affine: vol.affine, data: image, datatype: 16 });
        await seg.segment(scan, out);
        const raw = Uint8Array.from((await readNifti(out)).data, (v) => (v > 0 ? 1 : 0));
        const cleaned = cleanBrainMask(raw, vol.dims);
        let changed = 0;
        for (let v = 0; v < raw.length; v++) if (raw[v] !== cleaned[v]) changed++;
        const a = evaluateMasks(vol.brain, raw, metric), b = evaluateMasks(vol.brain, cleaned, metric);
        rows.push({ subject: i, anatomy: i % 2 === 0 ? 'colin27' : 'procedural', scanner: domain, raw: { dice: a.dice, surfaceDice: a.surfaceDice }, cleaned: { dice: b.dice, surfaceDice: b.surfaceDice }, changedVoxels: changed });
        process.stderr.write(`subject ${i} ${domain}: Dice ${a.dice.toFixed(4)} -> ${b.dice.toFixed(4)}, SDS ${a.surfaceDice.toFixed(4)} -> ${b.surfaceDice.toFixed(4)}, ${changed} voxels changed\n`);
      }
    }
  } finally {
    seg.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  const mean = (f: (r: Row) => number): number => rows.reduce((s, r) => s + f(r), 0) / rows.length;
  const summary = {
    scans: rows.length, model,
    raw: { dice: mean((r) => r.raw.dice), surfaceDice: mean((r) => r.raw.surfaceDice) },
    cleaned: { dice: mean((r) => r.cleaned.dice), surfaceDice: mean((r) => r.cleaned.surfaceDice) },
    scansChanged: rows.filter((r) => r.changedVoxels > 0).length,
  };
  const adopt = summary.cleaned.dice >= summary.raw.dice && summary.cleaned.surfaceDice >= summary.raw.surfaceDice;
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'mask-cleanup.json'), `${JSON.stringify({ date: new Date().toISOString(), summary, adopt, rows }, null, 2)}\n`);
  process.stdout.write('| scanner | scans | Dice raw | Dice cleaned | Surface Dice raw | Surface Dice cleaned | scans changed |\n|---|---|---|---|---|---|---|\n');
  for (const domain of [...CC359_DOMAINS, 'all']) {
    const rs = domain === 'all' ? rows : rows.filter((r) => r.scanner === domain);
    const m = (f: (r: Row) => number): string => (rs.reduce((s, r) => s + f(r), 0) / rs.length).toFixed(4);
    process.stdout.write(`| ${domain} | ${rs.length} | ${m((r) => r.raw.dice)} | ${m((r) => r.cleaned.dice)} | ${m((r) => r.raw.surfaceDice)} | ${m((r) => r.cleaned.surfaceDice)} | ${rs.filter((r) => r.changedVoxels > 0).length} |\n`);
  }
  process.stdout.write(`\nrule (docs/mask-cleanup-rule.md): ${adopt ? 'adopt clean-up as the default' : 'keep clean-up off by default'}\n`);
}

run().catch((err: Error) => { process.stderr.write(`mask-cleanup: ${err.stack ?? err.message}\n`); process.exit(1); });
