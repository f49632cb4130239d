import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gaussianBlurAxis, randomizeImage } from '../../../src/data/simulation/randomize.js';
import { TISSUES, type TissueVolume } from '../../../src/data/simulation/tissue.js';

/** A 16^3 volume: a WM cube inside a GM shell inside a fat shell, air outside; voxel 0 is air. */
function shells(): Pick<TissueVolume, 'dims' | 'fractions'> {
  const n = 16, N = n * n * n;
  const fractions = new Uint8Array(TISSUES.length * N);
  const at = (t: string): number => TISSUES.indexOf(t as never) * N;
  for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    const d = Math.max(Math.abs(x - 7.5), Math.abs(y - 7.5), Math.abs(z - 7.5));
    const i = x + n * (y + n * z);
    if (d < 3) fractions[at('wm') + i] = 255;
    else if (d < 5) fractions[at('gm') + i] = 255;
    else if (d < 7) { fractions[at('fat') + i] = 128; } // half fat, half air
  }
  return { dims: [n, n, n], fractions };
}

const OFF = { textureSd: 0, lowResShare: 0, maxBlur: 0, maxBias: 0, gammaSd: 0, maxNoise: 0, physicsShare: 0 };

test('with every random effect off the image is the fraction-weighted mix of the drawn means, divided by its maximum', () => {
  const vol = shells();
  const { image, draw } = randomizeImage(vol, 7, OFF);
  const max = Math.max(draw.means.wm, draw.means.gm, draw.means.fat * 128 / 255);
  const n = 16, at = (x: number, y: number, z: number): number => image[x + n * (y + n * z)]!;
  assert.ok(Math.abs(at(8, 8, 8) - draw.means.wm / max) < 1e-6);
  assert.ok(Math.abs(at(8, 8, 4) - draw.means.gm / max) < 1e-6);
  assert.ok(Math.abs(at(8, 8, 2) - (draw.means.fat * 128 / 255) / max) < 1e-6);
  assert.equal(at(0, 0, 0), 0, 'air has no signal');
});

test('the same seed gives the same image; contrasts vary across seeds, including reversed WM/GM order', () => {
  const vol = shells();
  const a = randomizeImage(vol, 3).image, b = randomizeImage(vol, 3).image;
  assert.deepEqual(a, b);
  let wmBrighter = 0;
  for (let s = 0; s < 40; s++) {
    const { draw } = randomizeImage(vol, s, OFF);
    if (draw.means.wm > draw.means.gm) wmBrighter++;
  }
  assert.ok(wmBrighter > 5 && wmBrighter < 35, `WM brighter than GM in ${wmBrighter} of 40 draws`);
});

test('realistic contrasts are drawn when physicsShare is 1 (jittered within about 15 %)', () => {
  const vol = shells();
  const real = Object.fromEntries(TISSUES.map((t) => [t, t === 'wm' ? 2 : t === 'gm' ? 1 : 0.5])) as Record<(typeof TISSUES)[number], number>;
  const { draw } = randomizeImage(vol, 11, { ...OFF, physicsShare: 1, realistic: [real] });
  assert.equal(draw.realistic, true);
  const ratio = draw.means.gm / draw.means.wm;
  assert.ok(ratio > 0.5 * 0.6 && ratio < 0.5 / 0.6, `GM/WM ${ratio}`);
});

test('gaussianBlurAxis: a delta spreads with unit sum and variance sigma^2 along that axis only', () => {
  const dims: [number, number, number] = [21, 3, 3];
  const img = new Float32Array(21 * 9);
  const centre = 10 + 21 * (1 + 3 * 1);
  img[centre] = 1;
  gaussianBlurAxis(img, dims, 0, 1.5);
  let sum = 0, m2 = 0;
  for (let x = 0; x < 21; x++) { const v = img[x + 21 * (1 + 3)]!; sum += v; m2 += v * (x - 10) ** 2; }
  assert.ok(Math.abs(sum - 1) < 1e-6, `sum ${sum}`);
  // The kernel is truncated at 3 sigma and renormalised: variance within 2 % of sigma^2.
  assert.ok(Math.abs(m2 - 2.25) < 0.05, `variance ${m2}`);
  assert.equal(img[10 + 21 * (0 + 3)], 0, 'nothing leaks to the neighbouring row');
});

test('noise and bias change the image but keep air darker than tissue on average', () => {
  const vol = shells();
  const { image } = randomizeImage(vol, 5, { physicsShare: 0, lowResShare: 0, maxNoise: 0.05 });
  const n = 16;
  let air = 0, na = 0, tissue = 0, nt = 0;
  for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    const d = Math.max(Math.abs(x - 7.5), Math.abs(y - 7.5), Math.abs(z - 7.5));
    const v = image[x + n * (y + n * z)]!;
    if (d >= 7.4) { air += v; na++; } else if (d < 5) { tissue += v; nt++; }
  }
  assert.ok(air / na < tissue / nt, `air ${air / na} vs tissue ${tissue / nt}`);
});
