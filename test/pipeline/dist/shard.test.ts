// Array jobs (issue 16 item 4): `segment --in DIR --shard i/N` takes scans i, i + N, ... of the folder;
// the shards together write exactly the unsharded run's masks (with --adabn too: every shard uses the
// whole folder's statistics), and the shard comes from Slurm's or a Kubernetes Indexed Job's environment.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { phantomVolume } from '../../../src/data/simulation/phantom.js';
import { writeNifti } from '../../../src/data/nifti/index.js';
import { saveNetwork } from '../../../src/pipeline/models.js';
import { parseShard, shardFromEnv, shardItems, checkShard } from '../../../src/pipeline/dist/shard.js';
import { segmentDirectory } from '../../../src/pipeline/infer/segment.js';
import { UNet2D } from '../../../src/models/unet.js';
import { manualSeed } from '../../../src/engine/runtime.js';
import { liveTensors } from '../../../src/engine/tensor.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

const root = tempDir('convlora-shard-');
const scans = join(root, 'scans');
const model = join(root, 'unet.safetensors');
const N_SCANS = 5;

before(async () => {
  for (let i = 0; i < N_SCANS; i++) await writeNifti(join(scans, `sub-${i}_T1w.nii.gz`), phantomVolume('GE_3', i, { size: 32, seed: 5, volumesPerDomain: N_SCANS }).image);
  manualSeed(2);
  const net = new UNet2D({ filters: 4 });
  await saveNetwork(model, net, { kind: 'unet2d', filters: 4, size: 32, source: 'test', orientation: 'RAS', spacing: [8, 8, 8] });
  net.dispose();
});

test('parseShard, checkShard and shardItems: i/N from 0, every item in exactly one shard; bad values are coded errors', () => {
  assert.deepEqual(parseShard('2/3'), { index: 2, count: 3 });
  assert.deepEqual(parseShard(' 0/1 '), { index: 0, count: 1 });
  for (const bad of ['3/3', '1/0', '-1/2', '1', '1/2/3', 'a/b', '']) {
    assert.throws(() => parseShard(bad), (e: Error & { code?: string }) => e.code === 'E_USAGE' && e.message.includes(JSON.stringify(bad)), bad);
  }
  for (const bad of [{ index: 2, count: 2 }, { index: 0.5, count: 2 }, null, { index: 0 }]) {
    assert.throws(() => checkShard(bad), (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG');
  }
  const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  const parts = [0, 1, 2].map((index) => shardItems(items, { index, count: 3 }));
  assert.deepEqual(parts, [['a', 'd', 'g'], ['b', 'e'], ['c', 'f']]);
  assert.deepEqual(shardItems(items, { index: 8, count: 9 }), [], 'more tasks than items: the last ones get none');
});

test('shardFromEnv: Slurm array (with a MIN offset) and Kubernetes Indexed Job; inconsistent variables are usage errors', () => {
  assert.equal(shardFromEnv({}), null);
  assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' })?.shard, { index: 3, count: 4 });
  assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '2' })?.shard, { index: 3, count: 4 });
  assert.deepEqual(shardFromEnv({ JOB_COMPLETION_INDEX: '0', CONVLORA_SHARDS: '2' })?.shard, { index: 0, count: 2 });
  const bad: [Record<string, string>, RegExp][] = [
    [{ SLURM_ARRAY_TASK_ID: '1' }, /SLURM_ARRAY_TASK_COUNT is not/],
    [{ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '4' }, /not within .*--array=0-3/],
    [{ SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '2' }, /not within/],
    [{ SLURM_ARRAY_TASK_ID: 'x', SLURM_ARRAY_TASK_COUNT: '4' }, /SLURM_ARRAY_TASK_ID but received "x"/],
    [{ JOB_COMPLETION_INDEX: '1' }, /CONVLORA_SHARDS is not/],
    [{ JOB_COMPLETION_INDEX: '2', CONVLORA_SHARDS: '2' }, /not below CONVLORA_SHARDS 2/],
  ];
  for (const [env, message] of bad) assert.throws(() => shardFromEnv(env), (e: Error & { code?: string }) => e.code === 'E_USAGE' && message.test(e.message), JSON.stringify(env));
});

/** The mask files of a folder, name -> bytes. */
function masks(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n))]));
}

test('three shards together write exactly the unsharded run\'s masks, with and without --adabn (folder statistics from every scan)', async () => {
  const live = liveTensors();
  for (const adabn of [false, true]) {
    const whole = join(root, `whole-${adabn}`);
    const all = await segmentDirectory({ model, inputDir: scans, outputDir: whole, adabn });
    assert.equal(all.results.length, N_SCANS);
    const expected = masks(whole);
    const got = new Map<string, Buffer>();
    for (let index = 0; index < 3; index++) {
      const out = join(root, `shard-${adabn}-${index}`);
      const r = await segmentDirectory({ model, inputDir: scans, outputDir: out, adabn, shard: { index, count: 3 } });
      assert.equal(r.scans, index < 2 ? 2 : 1, `shard ${index} of 3 over ${N_SCANS} scans`);
      for (const [n, b] of masks(out)) {
        assert.ok(!got.has(n), `${n} written by two shards`);
        got.set(n, b);
      }
    }
    assert.deepEqual([...got.keys()].sort(), [...expected.keys()]);
    for (const [n, b] of expected) assert.ok(b.equals(got.get(n)!), `${n} (adabn ${adabn}) differs from the unsharded run's`);
  }
  assert.equal(liveTensors(), live);
});

test('CLI: --shard, the Slurm environment, a shard with no scans, and --shard on one file', async () => {
  const out = join(root, 'cli');
  const r = await runCli(['segment', '--model', model, '--in', scans, '--out', out, '--shard', '1/2']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /shard 1\/2: scans 1, 3, \.\.\./);
  assert.deepEqual(readdirSync(out).sort(), ['sub-1_T1w_mask.nii.gz', 'sub-3_T1w_mask.nii.gz']);
  const env = await runCli(['segment', '--model', model, '--in', scans, '--out', join(root, 'slurm')], { SLURM_ARRAY_TASK_ID: '11', SLURM_ARRAY_TASK_COUNT: '2', SLURM_ARRAY_TASK_MIN: '10' });
  assert.equal(env.code, 0, env.err);
  assert.match(env.err, /shard 1\/2 \(from SLURM_ARRAY_TASK_ID 11 of 2 from 10\)/);
  assert.deepEqual(readdirSync(join(root, 'slurm')).sort(), ['sub-1_T1w_mask.nii.gz', 'sub-3_T1w_mask.nii.gz']);
  const empty = await runCli(['segment', '--model', model, '--in', scans, '--out', join(root, 'empty'), '--shard', '6/7']);
  assert.equal(empty.code, 0, empty.err);
  assert.match(empty.err, /no scans for this task/);
  const one = await runCli(['segment', '--model', model, '--in', join(scans, 'sub-0_T1w.nii.gz'), '--out', join(root, 'one.nii.gz'), '--shard', '0/2']);
  assert.equal(one.code, 2);
  assert.match(one.err, /E_USAGE.*--shard splits a folder/);
  const bad = await runCli(['segment', '--model', model, '--in', scans, '--out', join(root, 'bad'), '--shard', '2/2']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--shard i\/N .* received "2\/2"/);
});
