// The bundled model (models/, trained on simulated scans only) on real T1 heads, as a user runs it:
// `convlora segment --in HEAD --out MASK` and nothing else. The heads are the downsampled fixtures of
// test/fixtures/real (Colin27 at 3 mm, the ITK head at 4 x 4 x 3 mm); the ITK head never entered any
// simulation or training. The threshold, 0.85, was fixed before the model was trained: the issue asks
// for 0.92 at full resolution (bench/real-heads.ts), and at 3-4 mm a mask loses about a voxel's shell
// of agreement at the brain's surface. A classical baseline is scored on the same heads for scale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readNifti } from '../../src/data/nifti.js';
import { dice } from '../../src/metrics/index.js';
import { liveTensors } from '../../src/engine/tensor.js';
import { bundledModelPath } from '../../src/pipeline/bundled.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { fixture } from '../data/helpers.js';

const THRESHOLD = 0.85;

test('the bundled model exists and `segment` without --model uses it', () => {
  assert.ok(existsSync(bundledModelPath()), `${bundledModelPath()} is part of the package`);
});

// Measured 2026-11-30 with the bundled model (the 12-epoch EMA fine-tune, models/README.md): 0.9532 (Colin27)
// and 0.9167 (ITK head) here; the 3-epoch fine-tune 0.9562 and 0.9231; the model both were fine-tuned from
// (commit c2b05ae's training, epoch 30) 0.9530 and 0.9214; the first bundled model scored 0.7530 on the ITK head
// and was reported as a todo.
for (const head of ['colin27', 'itk-head']) {
  test(`segment --in ${head} (real T1, downsampled) --out mask: Dice >= ${THRESHOLD} with the bundled model`, async () => {
    const live = liveTensors();
    const dir = tempDir('convlora-bundled-');
    const out = join(dir, 'mask.nii.gz');
    const r = await runCli(['segment', '--in', fixture('real', `${head}_t1.nii.gz`), '--out', out]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /model: the bundled .*convlora-t1-2mm\.safetensors/);
    const [mask, ref] = [await readNifti(out), await readNifti(fixture('real', `${head}_brainmask.nii.gz`))];
    assert.deepEqual(mask.dims, ref.dims, 'the mask is on the input grid');
    const d = dice(ref.data, mask.data);
    assert.ok(d >= THRESHOLD, `Dice ${d.toFixed(4)} against the fixture's brain mask (threshold ${THRESHOLD})`);
    assert.equal(liveTensors(), live);
  });
}
