// The bundled models (models/) on real T1 heads, as a user runs them: `convlora segment --in HEAD --out MASK`
// and nothing else (the default model), or `--model v1` (the previous one, trained on simulated scans only).
// The heads are the downsampled fixtures of test/fixtures/real (Colin27 at 3 mm, the ITK head at 4 x 4 x 3 mm);
// the ITK head never entered any simulation, training or selection.
// Thresholds, each fixed before the model it applies to was trained or scored on these heads:
//  - v1: 0.85 (2026-11-30; the issue then asked for 0.92 at full resolution, and at 3-4 mm a mask loses about a
//    voxel's shell of agreement at the brain's surface);
//  - the default model: 0.90 (2026-12-08 01:00 UTC, while model v2 was training and before it was scored on any
//    of these heads; issue 23 asks for 0.95 on the ITK head at full resolution, and the same voxel-shell loss applies).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readNifti } from '../../../src/data/nifti/index.js';
import { dice } from '../../../src/metrics/index.js';
import { liveTensors } from '../../../src/engine/tensor.js';
import { bundledModelPath } from '../../../src/pipeline/infer/bundled.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';
import { fixture } from '../../data/helpers.js';

const THRESHOLD = 0.90;
const V1_THRESHOLD = 0.85;

test('the bundled model exists and `segment` without --model uses it', () => {
  assert.ok(existsSync(bundledModelPath()), `${bundledModelPath()} is part of the package`);
});

// Measured 2026-11-30 with the bundled model (the 12-epoch EMA fine-tune, models/README.md): 0.9532 (Colin27)
// and 0.9167 (ITK head) here; the 3-epoch fine-tune 0.9562 and 0.9231; the model both were fine-tuned from
// (commit c2b05ae's training, epoch 30) 0.9530 and 0.9214; the first bundled model scored 0.7530 on the ITK head
// and was reported as a todo.
for (const [head, model, threshold] of [['colin27', null, THRESHOLD], ['itk-head', null, THRESHOLD], ['colin27', 'v1', V1_THRESHOLD], ['itk-head', 'v1', V1_THRESHOLD]] as const) {
  test(`segment --in ${head} (real T1, downsampled) --out mask${model === null ? '' : ` --model ${model}`}: Dice >= ${threshold} with the bundled model${model === null ? '' : ` ${model}`}`, async () => {
    const live = liveTensors();
    const dir = tempDir('convlora-bundled-');
    const out = join(dir, 'mask.nii.gz');
    const r = await runCli(['segment', '--in', fixture('real', `${head}_t1.nii.gz`), '--out', out, ...(model === null ? [] : ['--model', model])]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, model === null ? /model: the bundled .*convlora-t1-2mm\.safetensors/ : /model: the bundled .*convlora-t1-2mm-v1\.safetensors/);
    const [mask, ref] = [await readNifti(out), await readNifti(fixture('real', `${head}_brainmask.nii.gz`))];
    assert.deepEqual(mask.dims, ref.dims, 'the mask is on the input grid');
    const d = dice(ref.data, mask.data);
    assert.ok(d >= threshold, `Dice ${d.toFixed(4)} against the fixture's brain mask (threshold ${threshold})`);
    assert.equal(liveTensors(), live);
  });
}
