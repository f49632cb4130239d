#!/usr/bin/env node
// docs/colin27.png: the Colin27 anatomy and simulated subjects made from it (docs/data.md, "Colin27 anatomy").
//   npx tsc -p tsconfig.json && node tools/colin27-figure.mjs [OUT.png]
// Columns: axial and coronal slices through the brain centroid, a sagittal one 12 mm to its right. Rows: (1) the derived anatomy
// codes (brain: CSF dark blue to WM white; outside: fat yellow, muscle red, skin pink, bone light grey,
// marrow orange, vitreous cyan, CSF outside the mask blue); (2) seed 1 (rotated, scaled, deformed)
// through the Philips 3 T physics scanner at 1 mm; (3) seed 1 through GE 1.5 T at 4 mm (64^3).
// Red: the ground-truth brain mask's outline.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadColin27 } from '../dist/src/data/simulation/colin27/anatomy.js';
import { colin27Scan } from '../dist/src/data/simulation/colin27/scan.js';
import { physicsPreset } from '../dist/src/data/simulation/physics-scanners.js';
import { Canvas } from '../dist/src/viz/canvas.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ?? join(root, 'docs', 'colin27.png');
const PANEL = 256, GAP = 4;
const anatomy = await loadColin27();

/** Three slices [H, W] of a volume through voxel c: axial (anterior up), coronal and sagittal (superior up). */
function slices(data, dims, c) {
  const [nx, ny, nz] = dims, at = (i, j, k) => i + nx * (j + ny * k);
  const cut = (h, w, f) => { const o = new Float32Array(h * w); for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) o[y * w + x] = data[f(x, y)]; return { o, size: [h, w] }; };
  return [cut(ny, nx, (x, y) => at(x, ny - 1 - y, c[2])), cut(nz, nx, (x, y) => at(x, c[1], nz - 1 - y)), cut(nz, ny, (x, y) => at(c[0], x, nz - 1 - y))];
}

/** Panel rectangle for an image of `size` [H, W] voxels of `mm` mm, 1 px per mm, centred. */
function place(col, row, size, mm) {
  const w = size[1] * mm, h = size[0] * mm;
  return { x: col * (PANEL + GAP) + (PANEL - w) / 2, y: row * (PANEL + GAP) + (PANEL - h) / 2, width: w, height: h };
}

const canvas = new Canvas(3 * PANEL + 2 * GAP, 3 * PANEL + 2 * GAP, [0, 0, 0]);
// Row 1: codes.
const tc = anatomy.center.map((x, a) => Math.round((x - anatomy.origin[a]) / anatomy.spacing[a]) + (a === 0 ? 12 : 0));
const COLORS = { 1: [80, 80, 255], 4: [250, 220, 60], 5: [200, 60, 60], 6: [240, 160, 200], 7: [215, 215, 215], 8: [240, 130, 30], 9: [60, 220, 240] };
const gray = Float32Array.from(anatomy.code, (c) => (c >= 16 ? 0.15 + (0.85 * (c - 16)) / 200 : 0));
slices(gray, anatomy.dims, tc).forEach((s, col) => {
  const dest = place(col, 0, s.size, 1);
  canvas.blitGray(s.o, s.size, dest);
  for (const [code, color] of Object.entries(COLORS)) {
    const m = Uint8Array.from(slices(anatomy.code, anatomy.dims, tc)[col].o, (c) => (c === Number(code) ? 1 : 0));
    canvas.overlayMask(m, s.size, dest, color, 1);
  }
});
// Rows 2-3: simulated scans.
const rows = [{ domain: 'Philips_3', size: 256 }, { domain: 'GE_15', size: 64 }];
rows.forEach((r, i) => {
  const preset = physicsPreset(r.domain);
  const scan = colin27Scan(anatomy, r.domain, preset, { size: r.size, seed: 1 });
  const dims = scan.image.dims, mm = scan.image.spacing[1];
  const data = scan.image.data, sorted = Float32Array.from(data).sort();
  const top = sorted[Math.floor(0.995 * sorted.length)];
  const norm = Float32Array.from(data, (v) => v / top);
  const c = scan.mask.data.reduce((acc, v, k) => { if (v) { acc[0] += k % dims[0]; acc[1] += Math.floor(k / dims[0]) % dims[1]; acc[2] += Math.floor(k / (dims[0] * dims[1])); acc[3]++; } return acc; }, [0, 0, 0, 0]);
  const cv = [0, 1, 2].map((a) => Math.round(c[a] / c[3] + (a === 0 ? 12 / scan.image.spacing[0] : 0)));
  const masks = slices(scan.mask.data, dims, cv);
  slices(norm, dims, cv).forEach((s, col) => {
    const dest = place(col, i + 1, s.size, mm);
    canvas.blitGray(s.o, s.size, dest);
    canvas.contour(Uint8Array.from(masks[col].o), s.size, dest, [230, 40, 40]);
  });
});
writeFileSync(out, canvas.toPng());
process.stderr.write(`wrote ${out}\n`);
