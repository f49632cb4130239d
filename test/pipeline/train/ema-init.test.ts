// train-source with a weight EMA (--ema) and from an initial model (--init): the checkpoint holds the
// averaged weights, --resume restores the shadow exactly, bad settings are coded errors.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { generatePhantomDataset } from '../../../src/data/simulation/phantom.js';
import { trainSource } from '../../../src/pipeline/train/source.js';
import { loadUnet } from '../../../src/pipeline/models.js';
import { liveTensors } from '../../../src/engine/tensor.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

const root = tempDir('convlora-ema-');
const data = join(root, 'data');
const small = { data, epochs: 2, batchSize: 16, filters: 4, seed: 7 } as const;
type Coded = Error & { code?: string };

before(async () => {
  await generatePhantomDataset(data, { size: 32, volumes: 8, seed: 3, domains: ['GE_3'] });
});

/** Tensors of a safetensors file as raw bytes by name (metadata excluded). */
function weights(path: string): Map<string, string> {
  const raw = readFileSync(path);
  const n = Number(raw.readBigUInt64LE(0));
  const header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(header)) {
    if (k !== '__metadata__') out.set(k, raw.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]).toString('base64'));
  }
  return out;
}
const same = (a: Map<string, string>, b: Map<string, string>, keys: (k: string) => boolean = () => true): boolean =>
  [...a.keys()].filter(keys).length > 10 && [...a].filter(([k]) => keys(k)).every(([k, v]) => b.get(k) === v);
const isParam = (k: string): boolean => !/running_|num_batches/.test(k);

test('with --ema the checkpoint holds the averaged weights; resume restores the shadow and gives the uninterrupted result', async () => {
  const live = liveTensors();
  const straight = await trainSource({ ...small, ema: 0.9, out: join(root, 'straight') });
  assert.equal(liveTensors(), live, 'no native tensor leaked by a run with EMA');
  const run = join(root, 'straight', 'source-run');
  assert.deepEqual(readdirSync(run).filter((f) => f.endsWith('.safetensors')).sort(),
    ['epoch-0002-ema.safetensors', 'epoch-0002-optim.safetensors', 'epoch-0002.safetensors'], 'older epochs pruned, the shadow kept');
  const ckpt = weights(straight.checkpoint);
  assert.ok(same(weights(join(run, 'epoch-0002-ema.safetensors')), ckpt), 'unet.safetensors is the EMA shadow');
  assert.ok(!same(weights(join(run, 'epoch-0002.safetensors')), ckpt, isParam), 'and not the live weights');
  assert.ok(straight.history.every((h) => h.live !== undefined && Number.isFinite(h.live.valSurfaceDice)), 'live weights scored too');
  const { model, info } = await loadUnet(straight.checkpoint);
  model.dispose();
  assert.equal(info.ema, 0.9);

  await trainSource({ ...small, ema: 0.9, epochs: 1, out: join(root, 'resumed') });
  const resumed = await trainSource({ ...small, ema: 0.9, out: join(root, 'resumed'), resume: true });
  assert.equal(resumed.history.length, 2);
  assert.ok(same(weights(resumed.checkpoint), ckpt), 'resumed EMA weights differ from the straight run');
  assert.deepEqual(resumed.history.map((h) => h.loss), straight.history.map((h) => h.loss));
});

test('resume refuses a changed, added or dropped EMA decay (usage error)', async () => {
  await trainSource({ ...small, ema: 0.9, epochs: 1, out: join(root, 'changed') });
  await assert.rejects(trainSource({ ...small, ema: 0.8, out: join(root, 'changed'), resume: true }), (e: Coded) => e.code === 'E_USAGE' && /ema was 0\.9, now 0\.8/.test(e.message));
  await assert.rejects(trainSource({ ...small, out: join(root, 'changed'), resume: true }), (e: Coded) => e.code === 'E_USAGE' && /ema was 0\.9, now not set/.test(e.message));
  await trainSource({ ...small, epochs: 1, out: join(root, 'plain') });
  await assert.rejects(trainSource({ ...small, ema: 0.9, out: join(root, 'plain'), resume: true }), (e: Coded) => e.code === 'E_USAGE' && /ema was not set, now 0\.9/.test(e.message));
});

test('a bad EMA decay is E_INVALID_ARG naming the value, before any training (library and CLI)', async () => {
  for (const bad of [0, 1, 1.5, -0.1]) {
    await assert.rejects(trainSource({ ...small, ema: bad, out: join(root, 'bad-ema') }), (e: Coded) => e.code === 'E_INVALID_ARG' && e.message.includes(String(bad)), String(bad));
  }
  assert.equal(existsSync(join(root, 'bad-ema')), false, 'nothing was written');
  const r = await runCli(['train-source', '--data', data, '--out', join(root, 'bad-ema'), '--ema', '1.5', '--quiet']);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /0 < decay < 1.*1\.5/);
});

test('--init starts from the given weights (lr 0 keeps them exactly), records them, and refuses another filter count or architecture', async () => {
  const live = liveTensors();
  const base = await trainSource({ ...small, epochs: 1, out: join(root, 'base') });
  const sha = createHash('sha256').update(readFileSync(base.checkpoint)).digest('hex');
  const fresh = await trainSource({ ...small, epochs: 1, lr: 0, seed: 8, out: join(root, 'fresh') });
  const tuned = await trainSource({ ...small, epochs: 1, lr: 0, seed: 8, init: base.checkpoint, out: join(root, 'tuned') });
  assert.equal(liveTensors(), live, 'no native tensor leaked');
  const b = weights(base.checkpoint);
  assert.ok(same(b, weights(tuned.checkpoint), isParam), 'the fine-tuned run did not start from --init');
  assert.ok(!same(b, weights(fresh.checkpoint), isParam), 'without --init the weights are another random draw');
  const { model, info } = await loadUnet(tuned.checkpoint);
  model.dispose();
  assert.deepEqual(info.init, { path: base.checkpoint, sha256: sha, epoch: 1 });
  const state = JSON.parse(readFileSync(join(root, 'tuned', 'source-run', 'state.json'), 'utf8')) as { fingerprint: { init?: string } };
  assert.equal(state.fingerprint.init, sha, 'the resume fingerprint names the initial weights');
  await assert.rejects(trainSource({ ...small, epochs: 2, lr: 0, seed: 8, init: fresh.checkpoint, out: join(root, 'tuned'), resume: true }), (e: Coded) => e.code === 'E_USAGE' && /init was/.test(e.message));

  await assert.rejects(trainSource({ ...small, filters: 8, init: base.checkpoint, out: join(root, 'bad-init') }),
    (e: Coded) => e.code === 'E_INVALID_ARG' && /8 filters/.test(e.message) && /has 4/.test(e.message));
  await assert.rejects(trainSource({ ...small, arch: 'unet', init: base.checkpoint, out: join(root, 'bad-init') }),
    (e: Coded) => e.code === 'E_INVALID_ARG' && /Expected a unet network/.test(e.message) && /holds a dart-unet/.test(e.message));
  await assert.rejects(trainSource({ ...small, init: join(root, 'missing.safetensors'), out: join(root, 'bad-init') }), (e: Coded) => typeof e.code === 'string' && e.code.startsWith('E_'));
  assert.equal(existsSync(join(root, 'bad-init')), false, 'nothing was trained');
  assert.equal(liveTensors(), live, 'no native tensor leaked by the refused runs');
});
