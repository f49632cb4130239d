/**
 * Collectives across processes (src/engine/dist.ts, native/dist.cc): two ranks as child processes on
 * 127.0.0.1 give the hand-computed sums, averages and broadcasts on both ranks; a killed rank makes the
 * other's collective fail with E_DIST well inside the timeout, and the survivor carries on; launch
 * variables that do not fit together are E_USAGE; an addon built without gloo says how to get it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ConvLoraError } from '../../src/errors.js';
import { allReduce, barrier, broadcast, destroyProcessGroup, distAvailable, initProcessGroup, launchEnv, native, tensor } from '../../src/engine/index.js';
import { freePort } from '../../src/pipeline/dist/launch.js';
import { repoRoot } from './helpers.js';

const engineUrl = pathToFileURL(join(repoRoot, 'dist', 'src', 'engine', 'index.js')).href;
const NO_GLOO = 'this addon was built without gloo (apt-get install -y libgloo-dev, then npm run build:native)';

/** Every rank started, killed after each test so a failed assertion never leaves one running. */
const started: ChildProcess[] = [];
afterEach(() => { for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });

interface Rank { child: ChildProcess; lines: string[]; exit: Promise<number | null>; line(match: RegExp): Promise<string> }

/** Start `script` (an ES module body; `E` is the engine) as rank `rank` of `worldSize`. */
function startRank(script: string, rank: number, worldSize: number, port: number): Rank {
  const body = `import * as E from ${JSON.stringify(engineUrl)};\n${script}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', body], {
    env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(worldSize), LOCAL_RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), CONVLORA_THREADS: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  started.push(child);
  const lines: string[] = [];
  const waiters: { match: RegExp; resolve: (l: string) => void }[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(l);
      for (const w of waiters.filter((x) => x.match.test(l))) { waiters.splice(waiters.indexOf(w), 1); w.resolve(l); }
    }
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exit = new Promise<number | null>((res) => child.on('exit', (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`rank ${rank} exited ${code}: ${err}\n`);
    res(code);
  }));
  const line = (match: RegExp): Promise<string> => {
    const seen = lines.find((l) => match.test(l));
    return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
  };
  return { child, lines, exit, line };
}

/** The JSON printed by a rank on its line starting with `tag `. */
function result(r: Rank, tag: string): unknown {
  const l = r.lines.find((x) => x.startsWith(`${tag} `));
  assert.ok(l !== undefined, `no "${tag}" line in ${JSON.stringify(r.lines)}`);
  return JSON.parse(l.slice(tag.length + 1));
}

// A hang fails the test after 90 s instead of holding the run.
const LIMIT = { timeout: 90_000 };

describe('collectives between two local ranks (Gloo on 127.0.0.1)', { skip: distAvailable() ? false : NO_GLOO }, () => {
  test('all-reduce sum and average, broadcast from rank 1 and barrier give the hand-computed values on both ranks', LIMIT, async () => {
    const port = await freePort();
    // Rank r holds a = [[1, 2, 3], [4, 5, 6]] * (r + 1) (float32) and b = [10 * (r + 1), -r] (int64):
    // the sum is 3 * a0 and [30, -1]. A fresh d = a0 * (r + 1) averages to 1.5 * a0.
    const script = `
      const live0 = E.liveTensors();
      const g = E.initProcessGroup({ timeoutMs: 20000 });
      const r = g.rank;
      const a = E.tensor([1, 2, 3, 4, 5, 6].map((v) => v * (r + 1)), [2, 3]);
      const b = E.tensor([10 * (r + 1), -r], [2], { dtype: 'int64' });
      E.allReduce([a, b]);
      console.log('sum ' + JSON.stringify({ a: Array.from(a.data()), b: Array.from(b.data(), Number) }));
      const d = E.tensor([1, 2, 3, 4, 5, 6].map((v) => v * (r + 1)), [3, 2]);
      E.allReduce([d], { average: true });
      console.log('avg ' + JSON.stringify(Array.from(d.data())));
      const c = E.tensor([r, r + 0.5, -r], [3]);
      E.broadcast([c], 1);
      console.log('bcast ' + JSON.stringify(Array.from(c.data())));
      E.barrier();
      console.log('group ' + JSON.stringify(E.processGroup()));
      // What data parallelism reduces: a channels-last 4-D tensor (strides kept) and a leaf's gradient,
      // reached through .grad (the same storage). w = [0..7] * (r + 1) as [1, 2, 2, 2]; grad(sum(w * k)) = k = r + 1.
      E.tidy(() => {
        const w = E.ops.channelsLast(E.tensor([0, 1, 2, 3, 4, 5, 6, 7].map((v) => v * (r + 1)), [1, 2, 2, 2]));
        const strides = w.strides;
        const p = E.tensor([1, 1, 1], [3]); p.requiresGrad = true;
        E.ops.sum(E.ops.mul(p, r + 1)).backward();
        E.allReduce([w, p.grad]);
        console.log('layout ' + JSON.stringify({ w: Array.from(w.data()), kept: JSON.stringify(w.strides) === JSON.stringify(strides), grad: Array.from(p.grad.data()) }));
      });
      E.dispose([a, b, c, d]);
      E.destroyProcessGroup();
      console.log('after ' + JSON.stringify({ group: E.processGroup(), leaked: E.liveTensors() - live0 }));
    `;
    const ranks = [0, 1].map((r) => startRank(script, r, 2, port));
    assert.deepEqual(await Promise.all(ranks.map((r) => r.exit)), [0, 0]);
    for (const [i, r] of ranks.entries()) {
      assert.deepEqual(result(r, 'sum'), { a: [3, 6, 9, 12, 15, 18], b: [30, -1] }, `rank ${i}`);
      assert.deepEqual(result(r, 'avg'), [1.5, 3, 4.5, 6, 7.5, 9], `rank ${i}`);
      assert.deepEqual(result(r, 'bcast'), [1, 1.5, -1], `rank ${i}`);
      assert.deepEqual(result(r, 'group'), { rank: i, worldSize: 2, localRank: i });
      assert.deepEqual(result(r, 'layout'), { w: [0, 3, 6, 9, 12, 15, 18, 21], kept: true, grad: [3, 3, 3] }, `rank ${i}`);
      assert.deepEqual(result(r, 'after'), { group: null, leaked: 0 });
    }
  });

  // Both ways a peer dies: while the survivor is already waiting inside a collective, and before its next one.
  for (const when of ['during', 'before'] as const) {
    test(`a rank killed ${when} the other's all-reduce makes it fail with E_DIST in under 60 s, and the survivor carries on`, LIMIT, async () => {
      const port = await freePort();
      // 15 s timeout: a dead peer must be noticed from the closed connection (or at worst the timeout), never a hang.
      const script = `
        const g = E.initProcessGroup({ timeoutMs: 15000 });
        const a = E.tensor([1, 2], [2]);
        E.allReduce([a]);
        E.barrier();
        console.log('ready');
        if (g.rank === 1) setInterval(() => {}, 1000);
        else {
          const go = () => {
            const t0 = Date.now();
            try { E.allReduce([a]); console.log('no-error'); }
            catch (e) { console.log('failed ' + JSON.stringify({ code: e.code, message: e.message, ms: Date.now() - t0 })); }
            E.destroyProcessGroup();
            const b = E.tensor([2], [1]);
            console.log('alive ' + JSON.stringify(Array.from(E.ops.add(b, b).data())));
          };
          ${when === 'during' ? 'go();' : "process.stdin.once('data', go);"}
        }
      `;
      const [r0, r1] = [0, 1].map((r) => startRank(script, r, 2, port)) as [Rank, Rank];
      await Promise.all([r0.line(/^ready$/), r1.line(/^ready$/)]);
      const t0 = Date.now();
      if (when === 'during') await new Promise((res) => setTimeout(res, 300));  // rank 0 is now blocked in allReduce
      r1.child.kill('SIGKILL');
      assert.equal(await r1.exit, null);
      if (when === 'before') r0.child.stdin!.end('go\n');  // end: an open stdin would keep rank 0 alive
      assert.equal(await r0.exit, 0);
      const failed = result(r0, 'failed') as { code: string; message: string; ms: number };
      assert.equal(failed.code, 'E_DIST');
      assert.match(failed.message, /^allReduce\(sum\) on rank 0 failed: /);
      assert.ok(Date.now() - t0 < 60_000, `took ${Date.now() - t0} ms`);
      assert.deepEqual(result(r0, 'alive'), [4]);
    });
  }

  test('verifySameTensors passes when ranks agree and is E_DIST on both ranks when a shape differs', LIMIT, async () => {
    const port = await freePort();
    const script = `
      E.initProcessGroup({ timeoutMs: 20000 });
      const r = E.processGroup().rank;
      const same = [E.zeros([2, 3]), E.zeros([4], { dtype: 'int64' })];
      E.verifySameTensors(same);
      console.log('same ok');
      const differ = [E.zeros([2, 3]), E.zeros([r === 0 ? 4 : 5])];
      try { E.verifySameTensors(differ); console.log('differ ok'); } catch (e) { console.log('differ ' + JSON.stringify({ code: e.code, message: e.message })); }
      E.destroyProcessGroup();
    `;
    const ranks = [0, 1].map((r) => startRank(script, r, 2, port));
    assert.deepEqual(await Promise.all(ranks.map((r) => r.exit)), [0, 0]);
    for (const [i, r] of ranks.entries()) {
      assert.ok(r.lines.includes('same ok'), `rank ${i}: ${JSON.stringify(r.lines)}`);
      const d = result(r, 'differ') as { code: string; message: string };
      assert.equal(d.code, 'E_DIST');
      assert.match(d.message, new RegExp(`^Rank ${i}'s 2 tensors \\(${i === 0 ? 10 : 11} elements\\) differ from another rank's in count, shape or dtype`));
    }
  });

  test('a rank whose peer never comes fails to join with E_DIST within about the timeout', LIMIT, async () => {
    const port = await freePort();
    const r1 = startRank(`
      const t0 = Date.now();
      try { E.initProcessGroup({ timeoutMs: 2000 }); console.log('joined'); }
      catch (e) { console.log('failed ' + JSON.stringify({ code: e.code, message: e.message, ms: Date.now() - t0 })); }
    `, 1, 2, port);
    assert.equal(await r1.exit, 0);
    const failed = result(r1, 'failed') as { code: string; message: string; ms: number };
    assert.equal(failed.code, 'E_DIST');
    assert.match(failed.message, new RegExp(`^Process group init \\(rank 1 of 2, store 127\\.0\\.0\\.1:${port}\\) failed: `));
    assert.ok(failed.ms < 20_000, `took ${failed.ms} ms`);
  });
});

describe('launch variables (torchrun\'s contract, or Slurm\'s when RANK is absent)', () => {
  const base = { MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29500' };
  test('torchrun, Slurm, and none at all', () => {
    assert.deepEqual(launchEnv({ ...base, RANK: '3', WORLD_SIZE: '8', LOCAL_RANK: '1' }),
      { rank: 3, worldSize: 8, localRank: 1, masterAddr: '10.0.0.1', masterPort: 29500, from: 'RANK/WORLD_SIZE' });
    assert.deepEqual(launchEnv({ ...base, SLURM_PROCID: '5', SLURM_NTASKS: '6', SLURM_LOCALID: '1' }),
      { rank: 5, worldSize: 6, localRank: 1, masterAddr: '10.0.0.1', masterPort: 29500, from: 'SLURM_PROCID/SLURM_NTASKS' });
    // torchrun's variables win over Slurm's (torchrun started inside an srun step).
    assert.equal(launchEnv({ ...base, RANK: '0', WORLD_SIZE: '2', SLURM_PROCID: '1', SLURM_NTASKS: '1' })?.worldSize, 2);
    assert.equal(launchEnv({ PATH: '/bin' }), null);
  });
  const bad: [string, Record<string, string>, RegExp][] = [
    ['rank not below the world size', { ...base, RANK: '2', WORLD_SIZE: '2' }, /^RANK 2 is not below the world size 2$/],
    ['Slurm rank not below the task count', { ...base, SLURM_PROCID: '4', SLURM_NTASKS: '4' }, /^SLURM_PROCID 4 is not below the world size 4$/],
    ['a missing port', { MASTER_ADDR: 'h', RANK: '0', WORLD_SIZE: '2' }, /^MASTER_PORT is not set \(needed with RANK\/WORLD_SIZE\)$/],
    ['a missing address', { MASTER_PORT: '29500', RANK: '0', WORLD_SIZE: '2' }, /^MASTER_ADDR is not set/],
    ['a non-integer rank', { ...base, RANK: '1.5', WORLD_SIZE: '2' }, /^Expected a non-negative integer in RANK but received "1\.5"$/],
    ['a non-integer port', { ...base, MASTER_PORT: 'http', RANK: '0', WORLD_SIZE: '2' }, /^Expected a non-negative integer in MASTER_PORT but received "http"$/],
    ['a port out of range', { ...base, MASTER_PORT: '70000', RANK: '0', WORLD_SIZE: '2' }, /^Expected MASTER_PORT in \[1, 65535\] but received 70000$/],
    ['WORLD_SIZE without RANK', { ...base, WORLD_SIZE: '2' }, /^RANK is not set/],
    ['a zero world size', { ...base, RANK: '0', WORLD_SIZE: '0' }, /^Expected WORLD_SIZE >= 1 but received 0$/],
    ['a local rank above the rank', { ...base, RANK: '0', WORLD_SIZE: '2', LOCAL_RANK: '1' }, /^LOCAL_RANK 1 is above the rank 0$/],
  ];
  for (const [name, env, message] of bad) {
    test(`${name} is E_USAGE`, () => {
      assert.throws(() => launchEnv(env), (e: unknown) => e instanceof ConvLoraError && e.code === 'E_USAGE' && message.test(e.message));
    });
  }
  test('initProcessGroup outside a launch is E_USAGE; a bad timeout variable too; bad explicit options are E_INVALID_ARG', () => {
    assert.throws(() => initProcessGroup({ env: {} }), { code: 'E_USAGE', message: /^Not launched as a distributed job: set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT/ });
    assert.throws(() => initProcessGroup({ env: { ...base, RANK: '0', WORLD_SIZE: '1', CONVLORA_DIST_TIMEOUT_MS: '5s' } }),
      { code: 'E_USAGE', message: 'Expected an integer >= 1 in CONVLORA_DIST_TIMEOUT_MS but received "5s"' });
    assert.throws(() => initProcessGroup({ rank: 2, worldSize: 2, masterAddr: '127.0.0.1', masterPort: 1 }),
      { code: 'E_INVALID_ARG', message: 'Expected integer < worldSize 2 for `rank` but received 2' });
    assert.throws(() => initProcessGroup({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 1, timeoutMs: 0 }),
      { code: 'E_INVALID_ARG', message: 'Expected integer >= 1 for `timeoutMs` but received 0' });
  });
});

describe('without a process group', () => {
  test('an addon built without gloo throws E_DIST_UNAVAILABLE saying how to enable it', (t) => {
    if (distAvailable()) { t.skip('this addon has gloo; build one with CONVLORA_DIST=0 and point CONVLORA_ADDON at it to run this'); return; }
    const a = tensor([1], [1]);
    for (const call of [() => initProcessGroup({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 1 }), () => allReduce([a]), () => broadcast([a], 0), () => barrier()]) {
      assert.throws(call, { code: 'E_DIST_UNAVAILABLE', message: /built without distributed support.*apt-get install -y libgloo-dev.*npm run build:native/ });
    }
    // The addon itself, called past the TypeScript check, says the same.
    assert.throws(() => native().distAllReduce([a.handle], 'sum'), { code: 'E_DIST_UNAVAILABLE', message: /apt-get install -y libgloo-dev/ });
    assert.equal(native().distAvailable(), false);
    destroyProcessGroup();  // nothing to destroy: no error
    a.dispose();
  });
  test('collectives before initProcessGroup are E_DIST naming the call', (t) => {
    if (!distAvailable()) { t.skip(NO_GLOO); return; }
    const a = tensor([1], [1]);
    assert.throws(() => allReduce([a]), { code: 'E_DIST', message: 'allReduce: no process group (call initProcessGroup first)' });
    assert.throws(() => barrier(), { code: 'E_DIST', message: 'barrier: no process group (call initProcessGroup first)' });
    a.dispose();
  });
});
