import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSubject, renderSubject } from '../../../src/data/simulation/phantom-anatomy.js';
import { Rng } from '../../../src/data/rng.js';
import { proceduralTissues, simulatedSubject, subjectGrid } from '../../../src/data/simulation/simulated-subjects.js';
import { TISSUES, mixSignals } from '../../../src/data/simulation/tissue.js';
import { loadColin27 } from '../../../src/data/simulation/colin27/anatomy.js';

test('procedural fractions reproduce the renderer: mixing them with any levels gives its image (within 8-bit rounding)', () => {
  const { grid, center } = subjectGrid(3, { voxel: 8 });
  const sub = makeSubject(new Rng(9), center);
  const neutral = { ...sub, contrast: Object.fromEntries(Object.keys(sub.contrast).map((k) => [k, 1])) as typeof sub.contrast };
  const levels = { scalp: 0.8, orbitFat: 0.8, skin: 0.5, muscle: 0.4, bone: 0.05, marrow: 0.6, csf: 0.15, gm: 0.55, wm: 1, vitreous: 0.12 };
  const direct = renderSubject(neutral, grid, levels);
  const vol = proceduralTissues(sub, grid);
  const signal = { csf: 0.15, gm: 0.55, wm: 1, fat: 0.8, muscle: 0.4, skin: 0.5, bone: 0.05, marrow: 0.6, vitreous: 0.12 };
  const mixed = mixSignals(vol, signal);
  let worst = 0;
  for (let i = 0; i < mixed.length; i++) worst = Math.max(worst, Math.abs(mixed[i]! - direct.intensity[i]!));
  // Each of 9 fractions is rounded to 1/255: at most 9 * 0.5/255 of the largest level.
  assert.ok(worst <= (9 * 0.5) / 255 + 1e-6, `largest difference ${worst}`);
  assert.deepEqual(vol.brain, direct.mask);
  const n = vol.brain.length;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < TISSUES.length; k++) s += vol.fractions[k * n + i]!;
    assert.ok(s <= 255 + TISSUES.length, `fractions of voxel ${i} sum to ${s}/255`);
  }
});

test('simulated subjects are seeded, sit inside a cubic field of view, and have a plausible brain volume', async () => {
  const colin = await loadColin27();
  for (const kind of ['colin27', 'procedural'] as const) {
    const a = simulatedSubject(kind, 4, { voxel: 8 }, colin), b = simulatedSubject(kind, 4, { voxel: 8 }, colin);
    assert.deepEqual(a.fractions, b.fractions, `${kind} is seeded`);
    assert.deepEqual(a.dims, [32, 32, 32]);
    assert.deepEqual(a.spacing, [8, 8, 8]);
    const ml = a.brain.reduce((s, v) => s + v, 0) * 512 / 1000;
    // Adult brains (cerebrum, cerebellum, stem, inner CSF) hold about 1000-1800 ml; 8 mm voxels add +-20 %.
    assert.ok(ml > 800 && ml < 2200, `${kind} brain ${ml} ml`);
  }
});
