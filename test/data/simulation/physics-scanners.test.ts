import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CC359_DOMAINS, type Domain } from '../../../src/data/scans/cc359.js';
import { encodeNifti, parseNifti } from '../../../src/data/nifti/index.js';
import { generatePhantomDataset, phantomVolume } from '../../../src/data/simulation/phantom.js';
import { PHYSICS_SCANNERS, physicsPreset, scannerPreset, scannerSignals } from '../../../src/data/simulation/physics-scanners.js';
import { SCANNER_PRESETS } from '../../../src/data/simulation/presets.js';
import { tissueSignals } from '../../../src/data/simulation/mr-signal.js';
import { acquire } from '../../../src/data/simulation/scanner.js';
import { mixSignals, TISSUES } from '../../../src/data/simulation/tissue.js';
import { main } from '../../../src/cli/main.js';
import { isCoded, tempDir } from '../helpers.js';

test('physics presets: tissue signals relative to white matter, scalp and orbit are fat, no contrast curve', () => {
  for (const d of CC359_DOMAINS) {
    const s = PHYSICS_SCANNERS[d];
    const sig = tissueSignals(s.protocol, s.field);
    const l = physicsPreset(d).levels;
    assert.equal(l.wm, 1);
    for (const [level, tissue] of [['scalp', 'fat'], ['orbitFat', 'fat'], ['skin', 'skin'], ['csf', 'csf'], ['gm', 'gm'], ['marrow', 'marrow'], ['bone', 'bone']] as const) {
      assert.ok(Math.abs(l[level]! - sig[tissue] / sig.wm) < 1e-12, `${d} ${level}`);
    }
    assert.equal(physicsPreset(d).gamma, 1);
    assert.deepEqual(scannerSignals(d), sig);
  }
});

test('physics scanners follow CC359: field, noise and bias by field, header voxel sizes, vendor storage', () => {
  const field: Record<Domain, number> = { GE_15: 1.5, GE_3: 3, Philips_15: 1.5, Philips_3: 3, Siemens_15: 1.5, Siemens_3: 3 };
  for (const d of CC359_DOMAINS) {
    const s = PHYSICS_SCANNERS[d], p = physicsPreset(d);
    assert.equal(s.field, field[d]);
    assert.equal(p.noise, s.field === 3 ? 0.03 : 0.045, d);
    assert.equal(p.bias.range, s.field === 3 ? 0.4 : 0.2, d);
    // Storage as the levels presets, but Siemens_3 as Siemens_15 (uint16, Siemens' 12-bit images).
    assert.deepEqual([p.datatype, p.scale], d === 'Siemens_3' ? [512, 600] : [SCANNER_PRESETS[d].datatype, SCANNER_PRESETS[d].scale], d);
  }
  assert.deepEqual(physicsPreset('Siemens_3').voxel, [1.33, 1, 1]);
  assert.deepEqual(physicsPreset('Philips_15').voxel, [1, 0.889, 0.889]);
  // At size 64 a voxel is 4 mm times the header factors.
  const v = phantomVolume('Philips_15', 0, { size: 64, seed: 1, scanners: 'physics' });
  assert.deepEqual(v.image.spacing, [4, 4 * 0.889, 4 * 0.889]);
  assert.equal(phantomVolume('Siemens_3', 0, { size: 64, seed: 1, scanners: 'physics' }).image.spacing![0], 4 * 1.33);
});

test('the bias field spans its range over the brain: 0.9-1.1 at 1.5 T, 0.8-1.2 at 3 T, new for each subject', () => {
  // Uniform tissue, no noise, float storage: the stored image is the field itself.
  const dims = [67, 81, 61], spacing = [2, 2, 2], centerVoxel = [33, 40, 30];
  const n = dims[0]! * dims[1]! * dims[2]!;
  const fields: Float32Array[] = [];
  for (const [d, seed] of [['GE_15', 1], ['GE_3', 1], ['GE_3', 2]] as const) {
    const preset = { ...physicsPreset(d), noise: 0, datatype: 16, scale: 1 };
    const out = acquire(new Float32Array(n).fill(1), preset, { dims, spacing, centerVoxel, seed }).data as Float32Array;
    let lo = Infinity, hi = 0, at = 0;
    for (let k = 0; k < dims[2]!; k++) for (let j = 0; j < dims[1]!; j++) for (let i = 0; i < dims[0]!; i++, at++) {
      const x = ((i - 33) * 2) / 65, y = ((j - 40) * 2) / 80, z = ((k - 30) * 2) / 60;
      if (x * x + y * y + z * z > 1) continue;
      lo = Math.min(lo, out[at]!);
      hi = Math.max(hi, out[at]!);
    }
    const r = preset.bias.range!;
    const want = (1 + r / 2) / (1 - r / 2);
    assert.ok(Math.abs(hi / lo / want - 1) < 0.03, `${d} seed ${seed}: max/min ${hi / lo} vs ${want}`);
    assert.ok(Math.abs(Math.sqrt(hi * lo) - 1) < 0.03, `${d}: centred on 1 (${lo}-${hi})`);
    fields.push(out);
  }
  assert.notDeepEqual(fields[1], fields[2], 'each subject draws its own field');
});

/** A physics phantom as the reader sees it. */
function physicsScan(d: Domain, size = 48): ReturnType<typeof parseNifti> {
  return parseNifti(encodeNifti(phantomVolume(d, 0, { size, seed: 7, scanners: 'physics' }).image));
}

test('physics phantoms: Rician noise in air matches the field\'s level; integers stored without saturating', () => {
  const typeMax: Record<number, number> = { 2: 255, 4: 32767, 512: 65535 };
  for (const d of CC359_DOMAINS) {
    const vol = physicsScan(d);
    const p = physicsPreset(d);
    const [nx, ny, nz] = vol.dims as [number, number, number];
    let air = 0;
    for (let k = 0; k < nz; k++) for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) air += vol.data[i + nx * (j + ny * k)]!;
    // Noise alone is Rayleigh with mean sigma sqrt(pi/2); white matter is stored at `scale`.
    const noise = air / (16 * nz) / Math.sqrt(Math.PI / 2) / p.scale;
    assert.ok(Math.abs(noise - p.noise) < 0.15 * p.noise, `${d}: noise ${noise} vs ${p.noise}`);
    const max = typeMax[p.datatype];
    if (max !== undefined) {
      let top = 0;
      for (const v of vol.data) top = Math.max(top, v / (vol.header.sclSlope || 1));
      assert.ok(top < max, `${d}: stored values reach ${top} of ${max}`);
    }
  }
});

test('physics and levels phantoms share the anatomy and mask, not the intensities; the library default is levels', () => {
  const physics = phantomVolume('GE_15', 1, { size: 24, seed: 4, scanners: 'physics' });
  const levels = phantomVolume('GE_15', 1, { size: 24, seed: 4, scanners: 'levels' });
  assert.deepEqual(physics.mask.data, levels.mask.data);
  assert.notDeepEqual(physics.image.data, levels.image.data);
  assert.deepEqual(encodeNifti(phantomVolume('GE_15', 1, { size: 24, seed: 4 }).image), encodeNifti(levels.image));
  assert.deepEqual(encodeNifti(phantomVolume('GE_15', 1, { size: 24, seed: 4, scanners: 'physics' }).image), encodeNifti(physics.image), 'seeded');
  assert.throws(() => phantomVolume('GE_15', 1, { scanners: 'bloch' as 'physics' }), isCoded('E_INVALID_ARG', undefined, /`scanners` but received "bloch"/));
  assert.equal(scannerPreset('GE_3', 'levels'), SCANNER_PRESETS.GE_3);
});

test('scanner signals weight TissueVolume fractions through mixSignals (the contract of other anatomies)', () => {
  const sig = scannerSignals('Philips_3');
  const n = 3, fractions = new Uint8Array(TISSUES.length * n);
  const at = (t: (typeof TISSUES)[number], voxel: number, f: number): void => { fractions[TISSUES.indexOf(t) * n + voxel] = f; };
  at('wm', 0, 255);
  at('gm', 1, 102); at('csf', 1, 153); // 40 % GM, 60 % CSF
  at('fat', 2, 51); // 20 % fat, the rest air
  const out = mixSignals({ dims: [3, 1, 1], fractions }, sig);
  assert.ok(Math.abs(out[0]! - sig.wm) < 1e-7);
  assert.ok(Math.abs(out[1]! - (0.4 * sig.gm + 0.6 * sig.csf)) < 1e-7);
  assert.ok(Math.abs(out[2]! - 0.2 * sig.fat) < 1e-7);
});

function sink(): Writable & { text: string } {
  const w = new Writable({ write(chunk, _e, cb) { (w as unknown as { text: string }).text += String(chunk); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

test('CLI: convlora phantom defaults to physics scanners, --scanners levels gives the calibrated ones, dataset.json says which', async () => {
  const run = async (extra: string[]): Promise<{ code: number; dir: string; err: string }> => {
    const dir = join(tempDir(), 'ph');
    const stderr = sink();
    const code = await main(['phantom', '--out', dir, '--size', '24', '--volumes', '1', '--seed', '2', '--domains', 'Philips_15', '--workers', '1', ...extra], { stdout: sink(), stderr, env: {} });
    return { code, dir, err: stderr.text };
  };
  const image = (dir: string): Buffer => readFileSync(join(dir, 'Original', 'Philips_15', 'PH0003_philips_15.nii.gz'));
  const manifest = (dir: string): { scanners: string; grids: Record<string, { spacing: number[] }> } => JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8'));
  const physics = await run([]);
  assert.equal(physics.code, 0, physics.err);
  assert.equal(manifest(physics.dir).scanners, 'physics');
  assert.deepEqual(manifest(physics.dir).grids.Philips_15!.spacing, [256 / 24, (256 / 24) * 0.889, (256 / 24) * 0.889]);
  const levels = await run(['--scanners', 'levels']);
  assert.equal(levels.code, 0, levels.err);
  assert.equal(manifest(levels.dir).scanners, 'levels');
  const lib = join(tempDir(), 'lib');
  await generatePhantomDataset(lib, { size: 24, volumes: 1, seed: 2, domains: ['Philips_15'], workers: 1 });
  assert.ok(image(levels.dir).equals(image(lib)), '--scanners levels is the library default');
  assert.ok(!image(physics.dir).equals(image(lib)));
  const bad = await run(['--scanners', 'bloch']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /E_USAGE.*--scanners physics\|levels but received "bloch"/);
});
