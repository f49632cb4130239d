// Robustness of training runs: determinism on CPU, --resume after an interruption (also after kill -9),
// and bad data stopping the run before any training.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, writeFileSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generatePhantomDataset } from '../../../src/data/simulation/phantom.js';
import { trainSource } from '../../../src/pipeline/train/source.js';
import { liveTensors } from '../../../src/engine/tensor.js';
import { tempDir } from '../../helpers/tmp.js';

const root = tempDir('convlora-resume-');
const data = join(root, 'data');
const cli = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const small = { data, epochs: 2, batchSize: 16, filters: 4, seed: 7 } as const;

before(async () => {
  await generatePhantomDataset(data, { size: 32, volumes: 8, seed: 3, domains: ['GE_3'] });
});

/** Tensors of a checkpoint as raw bytes by name (metadata such as wall-clock seconds excluded). */
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
const sameWeights = (a: string, b: string): boolean => {
  const x = weights(a);
  const y = weights(b);
  return x.size > 100 && x.size === y.size && [...x].every(([k, v]) => y.get(k) === v);
};

test('training is deterministic on CPU: the same seed gives byte-identical checkpoints', async () => {
  const live = liveTensors();
  const a = await trainSource({ ...small, out: join(root, 'a') });
  const b = await trainSource({ ...small, out: join(root, 'b') });
  assert.ok(sameWeights(a.checkpoint, b.checkpoint), 'weights differ between two runs with the same seed');
  assert.deepEqual(a.history.map((h) => h.loss), b.history.map((h) => h.loss));
  assert.equal(liveTensors(), live, 'no native tensor leaked by a training run');
});

test('resume after epoch 1 reproduces the uninterrupted run exactly (model and Adam state restored)', async () => {
  const straight = await trainSource({ ...small, out: join(root, 'straight') });
  await trainSource({ ...small, epochs: 1, out: join(root, 'resumed') });
  const resumed = await trainSource({ ...small, out: join(root, 'resumed'), resume: true });
  assert.equal(resumed.history.length, 2);
  assert.ok(sameWeights(straight.checkpoint, resumed.checkpoint), 'resumed weights differ from the straight run');
});

test('resume refuses changed settings with a usage error', async () => {
  await trainSource({ ...small, epochs: 1, out: join(root, 'changed') });
  await assert.rejects(trainSource({ ...small, lr: 0.5, out: join(root, 'changed'), resume: true }),
    (e: Error & { code?: string }) => e.code === 'E_USAGE' && /lr was 0\.001, now 0\.5/.test(e.message));
});

test('kill -9 during training, then --resume, gives the uninterrupted result', async () => {
  const out = join(root, 'killed');
  const args = [cli, 'train-source', '--data', data, '--out', out, '--epochs', '3', '--batch-size', '16', '--filters', '4', '--seed', '7', '--quiet', '--threads', '1'];
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  const state = join(out, 'source-run', 'state.json');
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (existsSync(state)) { clearInterval(t); child.kill('SIGKILL'); resolve(); }
    }, 20);
    child.on('exit', () => { clearInterval(t); reject(new Error('training finished before it could be killed')); });
  });
  await new Promise((r) => child.on('exit', r));
  assert.equal(existsSync(join(out, 'unet.safetensors')), false, 'the killed run did not finish');
  const done = JSON.parse(readFileSync(state, 'utf8')) as { epochsDone: number };
  assert.ok(done.epochsDone >= 1 && done.epochsDone < 3);
  const code = await new Promise<number | null>((r) => spawn(process.execPath, [...args, '--resume'], { stdio: 'ignore' }).on('exit', r));
  assert.equal(code, 0);
  // The reference runs through the same CLI with the same thread count (reduction order matters).
  const refOut = join(root, 'killed-ref');
  const refArgs = args.map((a) => (a === out ? refOut : a));
  assert.equal(await new Promise<number | null>((r) => spawn(process.execPath, refArgs, { stdio: 'ignore' }).on('exit', r)), 0);
  assert.ok(sameWeights(join(refOut, 'unet.safetensors'), join(out, 'unet.safetensors')), 'weights after kill + resume differ from the straight run');
  assert.deepEqual(readdirSync(join(out, 'source-run')).filter((f) => f.endsWith('.tmp')), []);
});

test('a corrupt volume is named and stops the run before training', async () => {
  const bad = join(root, 'bad');
  await generatePhantomDataset(bad, { size: 32, volumes: 8, seed: 4, domains: ['GE_3'] });
  const dir = join(bad, 'Original', 'GE_3');
  const victim = join(dir, readdirSync(dir).sort()[2]!);
  writeFileSync(victim, readFileSync(victim).subarray(0, 200)); // truncated gzip
  await assert.rejects(trainSource({ ...small, data: bad, out: join(root, 'bad-out') }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'E_NIFTI');
    assert.ok(e.message.includes(victim), e.message);
    return true;
  });
  assert.equal(existsSync(join(root, 'bad-out', 'source-run')), false, 'nothing was trained');
  const maskDir = join(bad, 'Silver-standard', 'GE_3');
  unlinkSync(join(maskDir, readdirSync(maskDir).sort()[0]!));
  await assert.rejects(trainSource({ ...small, data: bad, out: join(root, 'bad-out') }), (e: Error & { code?: string }) => e.code === 'E_DATA' && /Missing mask/.test(e.message));
});
