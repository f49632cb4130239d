// The one segmentation chain (src/pipeline/infer/core.ts) with a fake backend whose "network" thresholds
// the image: the chain's own steps (views, fusion, mapping back, clean-up, checks, option validation) are
// what is tested, with answers derived by hand. No engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelGrid, PreparedScan } from '../../../src/data/image/conform.js';
import { fusedMaskToInput, maskToInput, prepareForModel } from '../../../src/data/image/conform.js';
import type { Affine } from '../../../src/data/nifti/affine.js';
import type { FitOutcome, ScanBackend } from '../../../src/pipeline/infer/backend.js';
import { inferenceViews, segmentScan } from '../../../src/pipeline/infer/core.js';
import { maskChecks } from '../../../src/pipeline/infer/segment-checks.js';

const RAS2: Affine = [[2, 0, 0, -40], [0, 2, 0, -40], [0, 0, 2, -40], [0, 0, 0, 1]];

/** A 40^3 2 mm head: a bright ball (the "brain", 0.8) in a dimmer shell (0.3), air 0. */
function ball(): { dims: number[]; spacing: number[]; affine: Affine; data: Float32Array } {
  const n = 40, data = new Float32Array(n ** 3);
  for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    const r = Math.hypot(x - 19.5, y - 19.5, z - 19.5);
    data[x + n * (y + n * z)] = r < 11 ? 0.8 : r < 15 ? 0.3 : 0;
  }
  return { dims: [n, n, n], spacing: [2, 2, 2], affine: RAS2, data };
}

/** The fake network: logit = 10 (x - 0.55), so the mask is the bright ball, in every view. */
class Threshold implements ScanBackend {
  fits = 0;
  released = 0;
  seen: number[] = [];
  constructor(readonly grid: ModelGrid, readonly info = { kind: 'unet2d' as const, filters: 1, inferenceViews: 1 as 1 | 3 }) {}
  async fit(prep: PreparedScan): Promise<FitOutcome> {
    this.fits++;
    this.seen.push(prep.views.length);
    return { adabn: null, adapter: null, choice: null, distribution: null, warnings: [] };
  }
  async logits(x: Float32Array): Promise<Float32Array> { return Float32Array.from(x, (v) => 10 * (v - 0.55)); }
  async release(): Promise<void> { this.released++; }
}

const grid = (views: 1 | 3): ModelGrid => ({ size: 48, orientation: 'RAS', spacing: [2, 2, 2], views });

test('three views prepared and fused give the ball; one view gives the same mask as the one-view mapping', async () => {
  const img = ball();
  const one = await segmentScan(img, new Threshold(grid(3)), { cleanup: false });
  const b3 = new Threshold(grid(3), { kind: 'unet2d', filters: 1, inferenceViews: 3 });
  const three = await segmentScan(img, b3, { cleanup: false });
  assert.equal(one.views, 1);
  assert.equal(three.views, 3);
  assert.deepEqual(b3.seen, [3], 'the fit sees every trained view (test-time AdaBN estimates from all of them)');
  assert.equal(b3.released, 1);
  let expected = 0;
  for (const v of img.data) expected += v > 0.55 ? 1 : 0;
  assert.equal(three.brainVoxels, expected);
  assert.deepEqual(three.mask, one.mask, 'each view alone finds the same ball, so fusing changes nothing here');
  assert.ok(Math.abs(three.brainMl - expected * 8 / 1000) < 1e-9);
});

test('fused probabilities are the mean of the views: a voxel one view of three calls brain is not brain', () => {
  const img = ball();
  const prep = prepareForModel(img, grid(3), { conform: 'never' });
  const logit = (v: PreparedScan['views'][number], on: boolean): Float32Array => Float32Array.from(v.images, () => (on ? 10 : -10));
  const [v0, v1, v2] = prep.views;
  assert.equal(fusedMaskToInput(prep, [logit(v0!, true), logit(v1!, false), logit(v2!, false)]).reduce((a, b) => a + b, 0), 0);
  assert.equal(fusedMaskToInput(prep, [logit(v0!, true), logit(v1!, true), logit(v2!, false)]).reduce((a, b) => a + b, 0), 40 ** 3);
  const l0 = Float32Array.from(v0!.images, (x) => 10 * (x - 0.55));
  assert.deepEqual(fusedMaskToInput(prep, [l0]), maskToInput(prep, l0), 'view 0 alone: the one-view mapping');
});

test('the checks: an implausible volume, a mask at the edge of the field of view, a mask in pieces', () => {
  const dims: [number, number, number] = [20, 20, 20];
  const mask = new Uint8Array(8000);
  for (let z = 5; z < 15; z++) for (let y = 5; y < 15; y++) for (let x = 5; x < 15; x++) mask[x + 20 * (y + 20 * z)] = 1;
  // 1000 voxels of 1.2 ml: 1200 ml, plausible and inside.
  assert.deepEqual(maskChecks(mask, mask, dims, 1.2), []);
  assert.match(maskChecks(mask, mask, dims, 0.5).join(' '), /500 ml is outside 900-2100 ml, the range of adult brains/);
  assert.match(maskChecks(mask, mask, dims, 0.1).join(' '), /100 ml is outside 350-2300 ml/);
  const edge = mask.slice();
  edge[0] = 1;
  assert.match(maskChecks(edge, edge, dims, 1.2).join(' '), /reaches the edge of the field of view/);
  const raw = mask.slice();
  for (let k = 0; k < 6; k++) raw[2 + 3 * k + 20 * (2 + 20 * 2)] = 1; // six one-voxel pieces (1.2 ml each) besides the cube
  assert.match(maskChecks(raw, mask, dims, 1.2).join(' '), /in 7 pieces .* 6 other pieces of 1 ml or more/);
});

test('options are checked in the library, naming the option and the value; a batch size of 0 is refused, not looped on', async () => {
  const img = ball();
  const b = new Threshold(grid(3));
  await assert.rejects(segmentScan(img, b, { batchSize: 0 }), { code: 'E_INVALID_ARG', message: 'Expected integer >= 1 for `batchSize` but received 0' });
  await assert.rejects(segmentScan(img, b, { views: 2 }), { code: 'E_INVALID_ARG', message: /for `views` but received 2/ });
  await assert.rejects(segmentScan(img, b, { cleanup: 'yes' as unknown as boolean }), { code: 'E_INVALID_ARG', message: /for `cleanup` but received "yes"/ });
  await assert.rejects(segmentScan(img, b, { conform: 'sometimes' as never }), { code: 'E_INVALID_ARG', message: /for `conform` but received "sometimes"/ });
  assert.throws(() => inferenceViews(new Threshold(grid(1)), 3), { code: 'E_INVALID_ARG', message: /Expected 1 for `views` \(the model was trained on 1 view\) but received 3/ });
  assert.equal(b.fits, 0, 'nothing ran');
});
