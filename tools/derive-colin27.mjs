#!/usr/bin/env node
// Derive data/colin27/ (the Colin27 anatomy code map the library loads) from Debian's mricron-data:
//   apt-get install -y mricron-data
//   npx tsc -p tsconfig.json && node tools/derive-colin27.mjs [TEMPLATES_DIR]
// TEMPLATES_DIR defaults to /usr/share/mricron/templates (ch2.nii.gz, ch2bet.nii.gz). The method is in
// src/data/simulation/colin27/derive.ts and docs/data.md ("Colin27 anatomy"). Writes colin27_anatomy.nii.gz (uint8
// codes, see src/data/simulation/colin27/codes.ts) and colin27_anatomy.json (fitted model, thresholds, volumes).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNifti, writeNifti } from '../dist/src/data/nifti/index.js';
import { deriveColin27 } from '../dist/src/data/simulation/colin27/derive.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = process.argv[2] ?? '/usr/share/mricron/templates';
const out = join(root, 'data', 'colin27');

function load(name) {
  const path = join(src, name);
  const bytes = readFileSync(path);
  return { path, volume: parseNifti(bytes), sha256: createHash('sha256').update(bytes).digest('hex') };
}

const t0 = Date.now();
const t1 = load('ch2.nii.gz');
const bet = load('ch2bet.nii.gz');
const d = deriveColin27(t1.volume, bet.volume);
mkdirSync(out, { recursive: true });
const header = { ...t1.volume.header, descrip: 'Colin27 anatomy codes (convlora)', calMin: 0, calMax: 216 };
await writeNifti(join(out, 'colin27_anatomy.nii.gz'), { dims: d.dims, data: d.code, datatype: 2, affine: t1.volume.affine, header }, { level: 9 });
const round = (v, k = 3) => Math.round(v * 10 ** k) / 10 ** k;
const info = {
  source: { package: 'mricron-data', files: [t1, bet].map((f) => ({ path: f.path, sha256: f.sha256 })) },
  tool: 'tools/derive-colin27.mjs',
  mixture: { means: d.mixture.means.map((v) => round(v)), sds: d.mixture.sds.map((v) => round(v)), weights: d.mixture.weights.map((v) => round(v, 4)) },
  thresholds: { dark: round(d.thresholds.dark), fat: round(d.thresholds.fat) },
  eyes: d.eyes,
  volumesMl: Object.fromEntries(Object.entries(d.volumes).map(([k, v]) => [k, round(v, 1)])),
};
writeFileSync(join(out, 'colin27_anatomy.json'), `${JSON.stringify(info, null, 2)}\n`);
process.stderr.write(`derived in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(info.volumesMl)}\n`);
