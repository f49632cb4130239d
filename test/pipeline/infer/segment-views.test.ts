// A three-view model (data/image/views.ts, infer/core.ts) through both engines: `segment --engine torch` and
// `--engine onnx` (an exported model and its statistics graph) predict every view, re-estimate the statistics
// over all three views' head slices, fuse the probabilities and map them back; only the logits differ, so the
// masks agree. The model is an untrained tiny U-Net whose BatchNorm layers, re-estimated on each scan, give
// a mask that follows the head's intensity (checked neither empty nor full).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { phantomVolume } from '../../../src/data/simulation/phantom.js';
import { readNifti, writeNifti } from '../../../src/data/nifti/index.js';
import { manualSeed } from '../../../src/engine/runtime.js';
import { UNet2D } from '../../../src/models/unet.js';
import { saveNetwork } from '../../../src/pipeline/models.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

test('segment --views 3: libtorch and onnxruntime give the same fused mask; one view differs from three', async () => {
  const dir = tempDir('convlora-views-');
  const v = phantomVolume('GE_3', 0, { size: 32, seed: 5 });
  const scan = join(dir, 'head.nii.gz');
  await writeNifti(scan, { dims: v.image.dims, spacing: v.image.spacing!, affine: v.image.affine!, data: v.image.data });
  manualSeed(11);
  const net = new UNet2D({ filters: 4 });
  const model = join(dir, 'm.safetensors');
  await saveNetwork(model, net, { kind: 'unet2d', filters: 4, size: 32, orientation: 'RAS', spacing: [...v.image.spacing!.slice(0, 3)], views: 3, inferenceViews: 3, inference: 'adabn', adabnSlices: 40 });
  net.dispose();
  const e = await runCli(['export', '--model', model, '--out', join(dir, 'm.onnx')]);
  assert.equal(e.code, 0, e.err);
  const seg = async (args: string[], out: string): Promise<{ views: number; adabn: { slices: number } | null; mask: Float32Array | Uint8Array }> => {
    const r = await runCli(['segment', ...args, '--in', scan, '--out', join(dir, out), '--no-cleanup', '--json']);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as { views: number; adabn: { slices: number } | null };
    return { ...j, mask: (await readNifti(join(dir, out))).data as Uint8Array };
  };
  const torch = await seg(['--model', model], 't.nii.gz');
  const onnx = await seg(['--model', join(dir, 'm.onnx'), '--engine', 'onnx'], 'o.nii.gz');
  const one = await seg(['--model', model, '--views', '1'], 'one.nii.gz');
  assert.deepEqual([torch.views, onnx.views, one.views], [3, 3, 1]);
  assert.deepEqual([torch.adabn?.slices, onnx.adabn?.slices], [40, 40], 'the slice budget the model records, over the three views');
  let differ = 0, on = 0, vsOne = 0;
  for (let i = 0; i < torch.mask.length; i++) {
    if (torch.mask[i] !== onnx.mask[i]) differ++;
    if (torch.mask[i] !== one.mask[i]) vsOne++;
    on += torch.mask[i]! > 0 ? 1 : 0;
  }
  assert.ok(on > 0 && on < torch.mask.length, `the mask is neither empty nor full (${on} of ${torch.mask.length})`);
  assert.ok(differ <= 0.001 * on, `${differ} voxels differ between the engines (of ${on})`);
  assert.ok(vsOne > 0, 'fusing three views changes the mask of view 0 alone');
});
