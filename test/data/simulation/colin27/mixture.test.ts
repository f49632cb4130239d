// The partial-volume mixture: it must recover the pure-tissue means of a histogram drawn from the model
// it assumes (pure Gaussians plus uniform two-tissue mixes blurred by noise), and its fractions must
// behave like fractions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitPvMixture, pvFractions } from '../../../../src/data/simulation/colin27/mixture.js';
import { Rng } from '../../../../src/data/rng.js';
import { isCoded } from '../../helpers.js';

/** 400k voxels: CSF 30 (sd 2), GM 80 (sd 6), WM 110 (sd 3); mixes of CSF/GM and GM/WM with uniform shares. */
function synthetic(): Float64Array {
  const rng = new Rng(3);
  const hist = new Float64Array(256);
  const add = (x: number): void => { const b = Math.min(255, Math.max(0, Math.round(x))); hist[b] = hist[b]! + 1; };
  for (let v = 0; v < 400_000; v++) {
    const u = rng.next();
    if (u < 0.05) add(30 + 2 * rng.normal());
    else if (u < 0.15) { const a = rng.next(); add(30 + a * 50 + 4 * rng.normal()); }
    else if (u < 0.5) add(80 + 6 * rng.normal());
    else if (u < 0.8) { const a = rng.next(); add(80 + a * 30 + 4.5 * rng.normal()); }
    else add(110 + 3 * rng.normal());
  }
  return hist;
}

test('the fit recovers the pure means of a histogram drawn from the model', () => {
  const m = fitPvMixture(synthetic());
  [30, 80, 110].forEach((want, k) => assert.ok(Math.abs(m.means[k]! - want) < 1.5, `mean ${k}: ${m.means[k]} vs ${want}`));
  assert.ok(Math.abs(m.weights.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  // A plain three-Gaussian fit would put CSF in the middle of the CSF/GM shelf; pure CSF stays near 30.
  assert.ok(m.weights[0]! < 0.1, `CSF weight ${m.weights[0]}`);
});

test('fractions sum to 1, pure at the pure means, CSF falls and WM rises with intensity', () => {
  const m = fitPvMixture(synthetic());
  let csf = 1, wm = 0;
  for (let x = 0; x < 256; x++) {
    const f = pvFractions(m, x);
    assert.ok(Math.abs(f[0] + f[1] + f[2] - 1) < 1e-9 && f.every((v) => v >= 0), `x ${x}: ${f}`);
    assert.ok(f[0] <= csf + 1e-9 && f[2] >= wm - 1e-9, `x ${x}: not monotonic`);
    csf = f[0]; wm = f[2];
  }
  assert.ok(pvFractions(m, 30)[0] > 0.95 && pvFractions(m, 80)[1] > 0.9 && pvFractions(m, 112)[2] > 0.95);
  const mid = pvFractions(m, 55); // halfway between CSF and GM: a mix
  assert.ok(mid[0] > 0.3 && mid[1] > 0.3, `${mid}`);
});

test('a histogram without three levels is refused', () => {
  const flat = new Float64Array(256);
  flat[100] = 1000;
  assert.throws(() => fitPvMixture(flat), isCoded('E_DATA', undefined, /percentiles are 100, 100, 100/));
});
