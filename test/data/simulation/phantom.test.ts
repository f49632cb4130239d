import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CC359_DOMAINS, type Domain } from '../../../src/data/scans/cc359.js';
import { encodeNifti, parseNifti, readNifti, type NiftiVolume } from '../../../src/data/nifti/index.js';
import { generatePhantomDataset, phantomVolume } from '../../../src/data/simulation/phantom.js';
import { SCANNER_PRESETS, phantomSliceRange } from '../../../src/data/simulation/presets.js';
import { preprocessImage, preprocessMask, sliceGeometry } from '../../../src/data/image/preprocess.js';
import { realToLevels, simulateScanner } from '../../../src/data/simulation/scanner.js';
import { main } from '../../../src/cli/main.js';
import { fixture, tempDir } from '../helpers.js';

/** A calibrated-levels phantom as the reader will see it (through an encode/decode, so scaling applies). */
function scan(domain: Domain, index: number, size = 64, seed = 9): { vol: NiftiVolume; mask: Uint8Array } {
  const v = phantomVolume(domain, index, { size, seed, scanners: 'levels' });
  return { vol: parseNifti(encodeNifti(v.image)), mask: v.mask.data as Uint8Array };
}

function quantile(values: number[], q: number): number {
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

test('phantoms are seeded: same seed, same bytes; another seed or index, another head', () => {
  for (const scanners of ['levels', 'physics'] as const) {
    const a = encodeNifti(phantomVolume('GE_3', 0, { size: 24, seed: 1, scanners }).image);
    assert.deepEqual(encodeNifti(phantomVolume('GE_3', 0, { size: 24, seed: 1, scanners }).image), a);
    assert.notDeepEqual(encodeNifti(phantomVolume('GE_3', 0, { size: 24, seed: 2, scanners }).image), a);
    assert.notDeepEqual(encodeNifti(phantomVolume('GE_3', 1, { size: 24, seed: 1, scanners }).image), a);
  }
});

test('brain masks have human volumes (0.9-1.9 L) that vary between subjects, inside the domain slice range', () => {
  // The cerebrum is an ellipsoid of semi-axes 64 x 82 x 58 mm (4/3 pi abc = 1.28 L) scaled by 0.92-1.05
  // per subject, plus the cerebellum, minus the orbital carving: 0.9-1.9 L covers every subject.
  for (const d of ['GE_3', 'Siemens_3', 'Philips_15'] as Domain[]) {
    const litres: number[] = [];
    const [lo, hi] = phantomSliceRange(d, 64);
    for (let i = 0; i < 3; i++) {
      const { vol, mask } = scan(d, i);
      const nx = vol.dims[0]!;
      let n = 0, inRange = 0;
      mask.forEach((m, q) => { if (m) { n++; if (q % nx >= lo && q % nx <= hi) inRange++; } });
      litres.push((n * vol.spacing[0]! * vol.spacing[1]! * vol.spacing[2]!) / 1e6);
      assert.ok(inRange >= 0.98 * n, `${d} ${i}: ${inRange}/${n} mask voxels inside slices ${lo}-${hi}`);
    }
    litres.forEach((l) => assert.ok(l > 0.9 && l < 1.9, `${d}: ${litres}`));
    assert.ok((Math.max(...litres) - Math.min(...litres)) / Math.min(...litres) > 0.03, `${d}: subjects differ (${litres})`);
  }
});

test('presets store the intensities as their scanners do (datatype, scaling)', () => {
  const want: Record<Domain, [number, string]> = {
    GE_15: [4, 'Int16Array'], GE_3: [4, 'Int16Array'], Philips_15: [512, 'Float32Array'],
    Philips_3: [16, 'Float32Array'], Siemens_15: [512, 'Uint16Array'], Siemens_3: [2, 'Uint8Array'],
  };
  for (const d of CC359_DOMAINS) {
    const { vol } = scan(d, 0, 24);
    assert.deepEqual([vol.datatype, vol.data.constructor.name], want[d], d);
  }
  assert.equal(scan('Philips_15', 0, 24).vol.header.sclSlope, 0.5);
});

/** Scalp fat vs white matter (98th percentile of bright tissue outside the mask over the 90th inside) and noise. */
function contrast(vol: NiftiVolume, mask: Uint8Array): { fatOverWm: number; noise: number } {
  const inside: number[] = [], outside: number[] = [];
  let max = 0;
  for (const v of vol.data) max = Math.max(max, v);
  vol.data.forEach((v, q) => { if (mask[q]) inside.push(v); else if (v > 0.15 * max) outside.push(v); });
  const wm = quantile(inside, 0.9);
  const [nx, ny, nz] = vol.dims as [number, number, number];
  let air = 0;
  for (let k = 0; k < nz; k++) for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) air += vol.data[i + nx * (j + ny * k)]!;
  // Pure Rician noise (no signal) has mean sigma * sqrt(pi / 2).
  return { fatOverWm: quantile(outside, 0.98) / wm, noise: air / (16 * nz) / wm / Math.sqrt(Math.PI / 2) };
}

test('contrast and noise follow each preset: scalp fat brighter than white matter where its level is > 1', () => {
  for (const d of CC359_DOMAINS) {
    const { vol, mask } = scan(d, 0);
    const c = contrast(vol, mask);
    const p = SCANNER_PRESETS[d];
    if (p.levels.scalp >= 1.3) assert.ok(c.fatOverWm > 1.1, `${d}: fat/WM ${c.fatOverWm}`);
    if (p.levels.scalp <= 0.8) assert.ok(c.fatOverWm < 0.9, `${d}: fat/WM ${c.fatOverWm}`);
    assert.ok(Math.abs(c.noise - p.noise) < 0.25 * p.noise, `${d}: noise ${c.noise} vs preset ${p.noise}`);
  }
});

test('domain shift: the best intensity band for the GE_3 brain loses Dice on most other scanners', () => {
  const slices = (d: Domain, i: number): { x: Float32Array; y: Uint8Array } => {
    const { vol, mask } = scan(d, i, 32);
    const g = sliceGeometry(vol.dims, phantomSliceRange(d, 32), 32);
    return { x: preprocessImage(vol.data, g), y: preprocessMask(mask, g) };
  };
  const dice = (s: { x: Float32Array; y: Uint8Array }[], lo: number, hi: number): number => {
    let tp = 0, sum = 0;
    for (const { x, y } of s) x.forEach((v, q) => { const p = v >= lo && v <= hi ? 1 : 0; tp += p & y[q]!; sum += p + y[q]!; });
    return (2 * tp) / sum;
  };
  const source = [0, 1].map((i) => slices('GE_3', i));
  let best = { d: 0, lo: 0, hi: 1 };
  for (let lo = 0; lo < 1; lo += 0.05) for (let hi = lo + 0.05; hi <= 1.0001; hi += 0.05) {
    const d = dice(source, lo, hi);
    if (d > best.d) best = { d, lo, hi };
  }
  assert.ok(best.d < 0.9, `the brain is not a threshold away (best band Dice ${best.d})`);
  const losses = CC359_DOMAINS.filter((d) => d !== 'GE_3').filter((d) => dice([2, 3].map((i) => slices(d, i)), best.lo, best.hi) < best.d - 0.1);
  assert.ok(losses.length >= 3, `domains losing > 0.1 Dice: ${losses.join(', ')}`);
});

test('real anatomy, simulated scanners: presets applied to the Colin27 fixture', async () => {
  const img = await readNifti(fixture('real', 'colin27_t1.nii.gz'));
  const mask = (await readNifti(fixture('real', 'colin27_brainmask.nii.gz'))).data as Uint8Array;
  // The documented transfer: brain 8th/40th/85th percentiles -> CSF/GM/WM levels, brightest voxel -> scalp.
  const brain: number[] = [];
  let max = 0;
  img.data.forEach((v, q) => { if (mask[q]) brain.push(v); max = Math.max(max, v); });
  const [csf, gm, wm] = [0.08, 0.4, 0.85].map((q) => quantile(brain, q));
  for (const d of ['GE_15', 'Philips_15', 'Siemens_3'] as Domain[]) {
    const p = SCANNER_PRESETS[d];
    const levels = realToLevels(img.data, mask, p);
    const at = (value: number): number => levels[img.data.findIndex((v) => v === value)]!;
    assert.ok(Math.abs(at(csf!) - p.levels.csf) < 1e-6 && Math.abs(at(gm!) - p.levels.gm) < 1e-6, `${d} csf/gm`);
    assert.ok(Math.abs(at(wm!) - 1) < 1e-6 && Math.abs(at(max) - p.levels.scalp) < 1e-6, `${d} wm/fat`);
    const out = simulateScanner(img, mask, p, 4);
    assert.equal(out.datatype, p.datatype, d);
    assert.deepEqual(simulateScanner(img, mask, p, 4).data, out.data, `${d} is seeded`);
    if (p.levels.scalp > 1) {
      const vol = parseNifti(encodeNifti({ dims: img.dims, data: out.data, datatype: out.datatype, affine: img.affine }));
      assert.ok(contrast(vol, mask).fatOverWm > 1, `${d}: scalp fat brighter than white matter`);
    }
  }
});

function sink(): Writable & { text: string } {
  const w = new Writable({ write(chunk, _e, cb) { (w as unknown as { text: string }).text += String(chunk); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

test('worker threads write the same files as one thread, and report every volume', async () => {
  const opts = { size: 24, volumes: 3, seed: 5, domains: ['GE_3', 'Philips_3'], scanners: 'physics' as const };
  const one = join(tempDir(), 'one'), three = join(tempDir(), 'three');
  await generatePhantomDataset(one, { ...opts, workers: 1 });
  const seen: string[] = [];
  await generatePhantomDataset(three, { ...opts, workers: 3, onProgress: (done, total, stem) => { assert.equal(total, 6); seen.push(`${done}:${stem}`); } });
  assert.equal(seen.length, 6);
  assert.deepEqual(seen.map((s) => Number(s.split(':')[0])), [1, 2, 3, 4, 5, 6]);
  for (const tree of ['Original', 'Silver-standard']) {
    for (const domain of opts.domains) {
      const names = readdirSync(join(one, tree, domain)).sort();
      assert.equal(names.length, 3);
      assert.deepEqual(readdirSync(join(three, tree, domain)).sort(), names);
      for (const n of names) assert.ok(readFileSync(join(one, tree, domain, n)).equals(readFileSync(join(three, tree, domain, n))), `${tree}/${domain}/${n}`);
    }
  }
  assert.equal(readFileSync(join(three, 'dataset.json'), 'utf8'), readFileSync(join(one, 'dataset.json'), 'utf8'));
});

test('CLI: convlora phantom writes the layout and prints the root; usage errors exit 2', async () => {
  const out = join(tempDir(), 'ph');
  const stdout = sink(), stderr = sink();
  const code = await main(['phantom', '--out', out, '--size', '24', '--volumes', '2', '--seed', '3', '--domains', 'GE_3,Siemens_3'], { stdout, stderr, env: {} });
  assert.equal(code, 0, stderr.text);
  assert.equal(stdout.text, `${out}\n`);
  assert.match(stderr.text, /phantom \[#+\] 4\/4/);
  assert.deepEqual(readdirSync(join(out, 'Original')).sort(), ['GE_3', 'Siemens_3']);
  assert.deepEqual(readdirSync(join(out, 'Silver-standard', 'Siemens_3')).sort(), ['PH0011_siemens_3_ss.nii.gz', 'PH0012_siemens_3_ss.nii.gz']);
  assert.ok(existsSync(join(out, 'dataset.json')));
  for (const args of [['phantom'], ['phantom', '--out', out, '--domains', 'GE_9'], ['phantom', '--out', out, '--size', 'x'], ['phantom', '--out', out, '--workers', '0']]) {
    const err = sink();
    assert.equal(await main(args, { stdout: sink(), stderr: err, env: {} }), 2, args.join(' '));
    assert.match(err.text, /error E_USAGE/);
  }
});
