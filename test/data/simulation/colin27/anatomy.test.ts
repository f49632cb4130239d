// Colin27 subjects: the committed anatomy, sampled through random poses. Expectations are derived
// independently of src/data/simulation/colin27/*.ts: the brain mask from ch2bet itself (when mricron-data is
// installed) or from the documented code rule (code >= 16) read with readNifti; 4 mm fractions as
// block means of the decoded 1 mm codes; the B-spline warp by direct summation of its basis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { colin27Path, colin27Subject, loadColin27, type Colin27Anatomy, type RenderGrid } from '../../../../src/data/simulation/colin27/anatomy.js';
import { denseWarp, drawColinPose, warpAt } from '../../../../src/data/simulation/colin27/pose.js';
import { colin27Scan, presetSignals } from '../../../../src/data/simulation/colin27/scan.js';
import { scannerPreset } from '../../../../src/data/simulation/physics-scanners.js';
import { generatePhantomDataset, phantomVolume } from '../../../../src/data/simulation/phantom.js';
import { phantomGrid } from '../../../../src/data/simulation/presets.js';
import { readNifti } from '../../../../src/data/nifti/index.js';
import { TISSUES } from '../../../../src/data/simulation/tissue.js';
import { isCoded, tempDir } from '../../helpers.js';

type Vec3 = [number, number, number];
const CH2BET = '/usr/share/mricron/templates/ch2bet.nii.gz';
const T = TISSUES.length;

let cached: Colin27Anatomy | undefined;
async function anatomy(): Promise<Colin27Anatomy> {
  cached ??= await loadColin27();
  return cached;
}

/** The template's own grid: identity pose lands every voxel on itself. */
const templateGrid = (a: Colin27Anatomy): RenderGrid => ({ dims: a.dims, spacing: a.spacing, origin: a.origin });

/** Fractions of one code as the format documents them (data/colin27/README.md). */
function decode(code: number): number[] {
  const f = Array<number>(T).fill(0);
  if (code >= 1 && code <= T) f[code - 1] = 1;
  if (code >= 16 && code <= 216) {
    const t = (code - 16) / 100;
    if (t <= 1) { f[0] = 1 - t; f[1] = t; } else { f[1] = 2 - t; f[2] = t - 1; }
  }
  return f;
}

/** Independent 6-connected background flood from the border: what "holes filled" means. */
function filledMask(mask: Uint8Array, d: Vec3): Uint8Array {
  const n = mask.length, out = new Uint8Array(n).fill(1), queue: number[] = [];
  const visit = (v: number): void => { if (mask[v] === 0 && out[v] === 1) { out[v] = 0; queue.push(v); } };
  for (let v = 0; v < n; v++) {
    const i = v % d[0], j = Math.floor(v / d[0]) % d[1], k = Math.floor(v / (d[0] * d[1]));
    if (i === 0 || j === 0 || k === 0 || i === d[0] - 1 || j === d[1] - 1 || k === d[2] - 1) visit(v);
  }
  while (queue.length > 0) {
    const v = queue.pop()!;
    const i = v % d[0], j = Math.floor(v / d[0]) % d[1], k = Math.floor(v / (d[0] * d[1]));
    if (i > 0) visit(v - 1);
    if (i < d[0] - 1) visit(v + 1);
    if (j > 0) visit(v - d[0]);
    if (j < d[1] - 1) visit(v + d[0]);
    if (k > 0) visit(v - d[0] * d[1]);
    if (k < d[2] - 1) visit(v + d[0] * d[1]);
  }
  return out;
}

function count(mask: Uint8Array): number {
  let s = 0;
  for (const v of mask) s += v;
  return s;
}

test('the committed code map: Colin27 grid, documented codes only', async () => {
  const file = await readNifti(colin27Path());
  assert.deepEqual(file.dims, [181, 217, 181]);
  assert.ok(file.data instanceof Uint8Array);
  const seen = new Set(file.data);
  for (const c of seen) assert.ok(c === 0 || (c >= 1 && c <= T) || (c >= 16 && c <= 216), `code ${c}`);
  const a = await anatomy();
  // Brain centroid in MNI-like space: near the midline, behind and above the anterior commissure.
  assert.ok(Math.abs(a.center[0]) < 3 && a.center[1] > -35 && a.center[1] < -5 && a.center[2] > 0 && a.center[2] < 25, `${a.center}`);
});

test('identity subject on the 1 mm grid: the mask is ch2bet filled, the fractions the decoded codes', async (t) => {
  const a = await anatomy();
  const s = colin27Subject(a, templateGrid(a));
  const n = a.code.length;
  const file = await readNifti(colin27Path());
  const ruleMask = Uint8Array.from(file.data, (c) => (c >= 16 ? 1 : 0));
  assert.equal(count(ruleMask), 1737193);
  assert.ok(Buffer.from(s.brain).equals(Buffer.from(ruleMask)), 'mask = code >= 16');
  for (let v = 0; v < n; v += 97) {
    const f = decode(file.data[v]!);
    for (let k = 0; k < T; k++) assert.ok(Math.abs(s.fractions[k * n + v]! - 255 * f[k]!) <= 1, `voxel ${v} ${TISSUES[k]}`);
  }
  if (!existsSync(CH2BET)) { t.diagnostic('mricron-data not installed: ch2bet comparison skipped'); return; }
  const bet = await readNifti(CH2BET);
  const want = filledMask(Uint8Array.from(bet.data, (x) => (x > 0 ? 1 : 0)), bet.dims as Vec3);
  assert.ok(Buffer.from(s.brain).equals(Buffer.from(want)), 'mask = ch2bet > 0, holes filled');
});

test('a 4 mm voxel holds the mix of its 64 template voxels', async () => {
  const a = await anatomy();
  // Voxel b covers template voxels 4b..4b+3 on each axis: its centre sits at template index 4b + 1.5.
  const grid: RenderGrid = { dims: [45, 54, 45], spacing: [4, 4, 4], origin: a.origin.map((o) => o + 1.5) as Vec3 };
  const s = colin27Subject(a, grid);
  const n = 45 * 54 * 45;
  const [nx, ny] = a.dims;
  let mixed = 0;
  for (let v = 0; v < n; v += 7) {
    const [bi, bj, bk] = [v % 45, Math.floor(v / 45) % 54, Math.floor(v / (45 * 54))];
    const want = Array<number>(T).fill(0);
    for (let k = 0; k < 4; k++) for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) {
      decode(a.code[4 * bi + i + nx * (4 * bj + j + ny * (4 * bk + k))]!).forEach((f, c) => { want[c]! += f / 64; });
    }
    if (want.filter((f) => f > 0.1).length >= 2) mixed++;
    for (let c = 0; c < T; c++) assert.ok(Math.abs(s.fractions[c * n + v]! - 255 * want[c]!) <= 1, `block ${[bi, bj, bk]} ${TISSUES[c]}: ${s.fractions[c * n + v]} vs ${255 * want[c]!}`);
  }
  assert.ok(mixed > 500, `${mixed} mixed voxels checked`);
});

test('random subjects: fractions sum to at most 1, brain fractions ~1 inside the mask, GM + WM < 1/2 outside', async () => {
  const a = await anatomy();
  for (const grid of [
    { dims: [64, 64, 64], spacing: [4, 4, 4], origin: [-126, -126, -126] },
    { dims: [96, 120, 100], spacing: [1.9, 1.6, 2.1], origin: [-90, -110, -100] },
  ] as RenderGrid[]) {
    const s = colin27Subject(a, grid, { seed: 3, center: [0, 0, 0] });
    const n = grid.dims[0] * grid.dims[1] * grid.dims[2];
    let inside = 0, brainSum = 0;
    for (let v = 0; v < n; v++) {
      let sum = 0;
      for (let k = 0; k < T; k++) sum += s.fractions[k * n + v]!;
      assert.ok(sum <= 255, `voxel ${v}: fractions sum to ${sum}`);
      const b = s.fractions[v]! + s.fractions[n + v]! + s.fractions[2 * n + v]!;
      // The mask is a majority vote of the same weights: brain fraction >= 1/2 inside; outside, GM + WM
      // < 1/2 (CSF may be the subarachnoid CSF outside the mask).
      if (s.brain[v] === 1) { assert.ok(b >= 127, `mask voxel ${v} with brain fraction ${b}`); inside++; brainSum += b; } else assert.ok(b - s.fractions[v]! <= 128, `voxel ${v} outside the mask with GM + WM ${b - s.fractions[v]!}`);
    }
    assert.ok(brainSum / inside / 255 > 0.95, `mean brain fraction in the mask ${brainSum / inside / 255}`);
  }
});

test('same seed, same bytes; another seed, another head', async () => {
  const a = await anatomy();
  const grid: RenderGrid = { dims: [48, 56, 48], spacing: [4, 4, 4], origin: [-94, -130, -80] };
  const o = { samples: [2, 2, 2] as Vec3 }; // 8 samples per voxel instead of 64: the same code path, faster
  const s1 = colin27Subject(a, grid, { ...o, seed: 11 }), s2 = colin27Subject(a, grid, { ...o, seed: 11 }), s3 = colin27Subject(a, grid, { ...o, seed: 12 });
  assert.ok(Buffer.from(s1.fractions).equals(Buffer.from(s2.fractions)) && Buffer.from(s1.brain).equals(Buffer.from(s2.brain)));
  assert.ok(!Buffer.from(s1.fractions).equals(Buffer.from(s3.fractions)));
});

test('the warp: smooth, a few mm, injective, and the dense field equals the B-spline sum', () => {
  for (const seed of [1, 2, 3]) {
    const pose = drawColinPose(seed);
    const w = pose.warp!;
    const d = denseWarp(w);
    const m = 2 * w.reach + 1;
    const B = (u: number): number => { const x = Math.abs(u); return x < 1 ? 2 / 3 - x * x + (x * x * x) / 2 : x < 2 ? (2 - x) ** 3 / 6 : 0; };
    const direct = (y: Vec3, c: number): number => {
      let s = 0;
      for (let k = 0; k < m; k++) for (let j = 0; j < m; j++) for (let i = 0; i < m; i++) {
        s += w.coeffs[c * m ** 3 + i + m * (j + m * k)]! * B(y[0] / w.spacing - (i - w.reach)) * B(y[1] / w.spacing - (j - w.reach)) * B(y[2] / w.spacing - (k - w.reach));
      }
      return s;
    };
    const out = new Float64Array(3), out2 = new Float64Array(3);
    let sq = 0, samples = 0, minDet = Infinity, maxDet = -Infinity;
    for (let z = -80; z <= 80; z += 20) for (let y = -100; y <= 100; y += 20) for (let x = -80; x <= 80; x += 20) {
      warpAt(d, x, y, z, out);
      // On the dense grid the lookup is the B-spline itself; between samples trilinear is within 0.05 mm.
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(out[c]! - direct([x, y, z], c)) < 0.05, `seed ${seed} at ${[x, y, z]}`);
      sq += out[0]! ** 2 + out[1]! ** 2 + out[2]! ** 2;
      samples++;
      // Jacobian of y -> y + d(y) by central differences (2 mm).
      const J: number[][] = [];
      for (let a = 0; a < 3; a++) {
        const p = [x, y, z], q = [x, y, z];
        p[a]! += 2; q[a]! -= 2;
        warpAt(d, p[0]!, p[1]!, p[2]!, out);
        warpAt(d, q[0]!, q[1]!, q[2]!, out2);
        J.push([0, 1, 2].map((c) => (a === c ? 1 : 0) + (out[c]! - out2[c]!) / 4));
      }
      const det = J[0]![0]! * (J[1]![1]! * J[2]![2]! - J[1]![2]! * J[2]![1]!) - J[0]![1]! * (J[1]![0]! * J[2]![2]! - J[1]![2]! * J[2]![0]!) + J[0]![2]! * (J[1]![0]! * J[2]![1]! - J[1]![1]! * J[2]![0]!);
      minDet = Math.min(minDet, det); maxDet = Math.max(maxDet, det);
    }
    const rms = Math.sqrt(sq / samples);
    // Coefficients of SD 2.5 mm smoothed by the basis: about 1.5 mm per axis, 2.6 mm in length.
    assert.ok(rms > 1 && rms < 5, `seed ${seed}: rms displacement ${rms} mm`);
    assert.ok(minDet > 0.6 && maxDet < 1.4, `seed ${seed}: Jacobian determinant in [${minDet}, ${maxDet}]`);
    warpAt(d, 300, 0, 0, out);
    assert.deepEqual([...out], [0, 0, 0], 'no displacement outside the support');
  }
});

test('brain volume follows the pose scaling; it stays within adult intracranial volumes', async () => {
  const a = await anatomy();
  const v0 = count(Uint8Array.from(a.code, (c) => (c >= 16 ? 1 : 0))) / 1000; // ml at 1 mm
  const grid: RenderGrid = { dims: [100, 120, 100], spacing: [2, 2, 2], origin: [-99, -119, -99] };
  for (const seed of [0, 1, 2, 3]) {
    const pose = drawColinPose(seed);
    const s = colin27Subject(a, grid, { seed, center: [0, 0, 0] });
    const ml = (count(s.brain) * 8) / 1000;
    // The mask is sampled through the pose: its volume is v0 x the scale factors' product, give or take
    // the warp's average expansion (its Jacobian averages ~1 over the brain) and the 2 mm boundary.
    const expected = v0 * pose.scale[0] * pose.scale[1] * pose.scale[2];
    assert.ok(Math.abs(ml / expected - 1) < 0.03, `seed ${seed}: ${ml} ml vs ${expected}`);
    // Factors 0.85-1.0 times +-2 % per axis: v0 (1737 ml) x [0.833^3, 1.02^3] = 1004-1843 ml.
    assert.ok(ml > 1000 && ml < 1850, `seed ${seed}: ${ml} ml`);
  }
});

test('bad grids and poses are refused with the value received', async () => {
  const a = await anatomy();
  assert.throws(() => colin27Subject(a, { dims: [0, 4, 4], spacing: [1, 1, 1], origin: [0, 0, 0] }), isCoded('E_INVALID_ARG', undefined, /grid\.dims\[0\].* received 0/));
  assert.throws(() => colin27Subject(a, { dims: [4, 4, 4], spacing: [1, -2, 1], origin: [0, 0, 0] }), isCoded('E_INVALID_ARG', undefined, /grid\.spacing\[1\].* received -2/));
  assert.throws(() => drawColinPose(1, { warpMm: 9 }), isCoded('E_INVALID_ARG', undefined, /warpMm.* received 9/));
  assert.throws(() => drawColinPose(1, { scale: [1.1, 0.9] }), isCoded('E_INVALID_ARG', undefined, /scale\[1\].* received 0.9/));
});

test('colin27Scan: the domain grid and stored type, the subject mask, the same bytes for the same seed', async () => {
  const a = await anatomy();
  for (const [domain, model] of [['Siemens_3', 'physics'], ['Philips_15', 'levels']] as const) {
    const preset = scannerPreset(domain, model);
    const s1 = colin27Scan(a, domain, preset, { size: 64, seed: 5, index: 2 });
    const grid = phantomGrid(domain, 64, preset);
    assert.deepEqual(s1.image.dims, grid.dims);
    assert.equal(s1.image.datatype, preset.datatype);
    const ml = (count(s1.mask.data as Uint8Array) * grid.spacing[0] * grid.spacing[1] * grid.spacing[2]) / 1000;
    assert.ok(ml > 1000 && ml < 1850, `${domain}: brain ${ml} ml`);
    // Brain voxels are brighter than air on average: the image is the head, not noise.
    let inMean = 0, outMean = 0, nIn = 0;
    s1.image.data.forEach((v, k) => { if (s1.mask.data[k] === 1) { inMean += v; nIn++; } else outMean += v; });
    assert.ok(inMean / nIn > 3 * (outMean / (s1.image.data.length - nIn)), `${domain}: brain vs rest`);
    const s2 = colin27Scan(a, domain, preset, { size: 64, seed: 5, index: 2 });
    assert.deepEqual(s2.image.data, s1.image.data);
  }
  // The calibrated presets have no skin level: skin takes the scalp's.
  assert.equal(presetSignals(scannerPreset('GE_3', 'levels')).skin, scannerPreset('GE_3', 'levels').levels.scalp);
});

test('phantom datasets with Colin27 heads: the manifest says so, masks are the subjects\' brains', async () => {
  const out = tempDir();
  const manifest = await generatePhantomDataset(out, { anatomy: 'colin27', size: 32, volumes: 1, domains: ['GE_15'], workers: 1 });
  assert.equal(manifest.anatomy, 'colin27');
  const mask = await readNifti(join(out, 'Silver-standard', 'GE_15', 'PH0001_ge_15_ss.nii.gz'));
  const ml = (count(Uint8Array.from(mask.data, (v) => (v > 0 ? 1 : 0))) * mask.spacing.reduce((a, b) => a * b, 1)) / 1000;
  assert.ok(ml > 1000 && ml < 1850, `brain ${ml} ml`);
  assert.deepEqual(phantomVolume('GE_15', 0, { anatomy: 'colin27', size: 32 }).mask.data, mask.data);
  assert.throws(() => phantomVolume('GE_15', 0, { anatomy: 'brainweb' as 'colin27' }), isCoded('E_INVALID_ARG', undefined, /`anatomy` but received "brainweb"/));
});
