#!/usr/bin/env node
/**
 * bench/colin27: one Colin27 subject, end to end, on one thread: anatomy load, the pose and tissue
 * fractions on the domain's phantom grid, signals + acquisition, gzip NIfTI encoding.
 *   npx tsc -p tsconfig.json && node bench/colin27.mjs [--runs 3] [--sizes 64,256] [--domain GE_3]
 * Target (issue 12): a whole 256^3 simulated subject written as .nii.gz in <= 5 s on one core.
 */
import { parseArgs } from 'node:util';
import { loadColin27, colin27Subject } from '../dist/src/data/simulation/colin27/anatomy.js';
import { colin27Scan } from '../dist/src/data/simulation/colin27/scan.js';
import { encodeNifti } from '../dist/src/data/nifti/index.js';
import { physicsPreset } from '../dist/src/data/simulation/physics-scanners.js';
import { phantomGrid } from '../dist/src/data/simulation/presets.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, sizes: { type: 'string', default: '64,256' }, domain: { type: 'string', default: 'GE_3' } } });
const runs = Number(values.runs), domain = values.domain;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
/** Wall and CPU (user + system) seconds of fn. */
const timed = async (fn) => { const c = process.cpuUsage(), t = performance.now(); const r = await fn(); const u = process.cpuUsage(c); return { r, wall: (performance.now() - t) / 1000, cpu: (u.user + u.system) / 1e6 }; };

const load = await timed(() => loadColin27());
const anatomy = load.r;
console.log(`load anatomy: ${load.wall.toFixed(2)} s`);
const preset = physicsPreset(domain);
console.log('| grid | fractions only (s) | whole subject incl. .nii.gz (s, wall / cpu) | image bytes |');
console.log('|---|---|---|---|');
for (const size of values.sizes.split(',').map(Number)) {
  const { dims, spacing } = phantomGrid(domain, size, preset);
  const frac = [], whole = [], cpu = [];
  let bytes = 0;
  for (let r = 0; r < runs; r++) {
    frac.push((await timed(() => colin27Subject(anatomy, { dims, spacing, origin: [-100, -130, -110] }, { seed: r }))).wall);
    const t = await timed(() => {
      const s = colin27Scan(anatomy, domain, preset, { size, seed: r });
      const image = encodeNifti(s.image, { gzip: true }), mask = encodeNifti(s.mask, { gzip: true });
      bytes = image.length;
      return mask.length;
    });
    whole.push(t.wall); cpu.push(t.cpu);
  }
  console.log(`| ${dims.join('x')} @ ${spacing.map((v) => v.toFixed(2)).join('x')} mm | ${median(frac).toFixed(2)} | ${median(whole).toFixed(2)} / ${median(cpu).toFixed(2)} | ${bytes} |`);
}
