/**
 * Memory: 500 training steps of a small conv net (helpers' makeSmallNet: conv-BN-ReLU twice, the
 * second with stride 2, a 1x1 head, bilinear upsampling; BCE with soft targets, Adam), one tidy per
 * step. The live native-tensor count must return exactly to its starting value after every step,
 * and RSS must stay flat once the allocator has warmed up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Adam, liveTensors, manualSeed, native, ops, randn, tidy } from '../../src/engine/index.js';
import { disposeSmallNet, makeSmallNet, repoRoot, rssMiB, smallNetForward } from './helpers.js';

const engineUrl = pathToFileURL(join(repoRoot, 'dist', 'src', 'engine', 'index.js')).href;

const STEPS = 500;
const WARMUP = 100;
const B = 4;
const HW = 32;

/**
 * Bound on RSS growth from step 100 to step 500, in MiB. One step's tensors total about 3 MiB
 * (each [4, 8, 32, 32] float32 activation or gradient is 128 KiB, some 20 of them), so leaking even
 * one activation per step would add 50 MiB over the 400 measured steps, and leaking a step's
 * autograd graph ~1.2 GiB. By step 100 glibc's arenas and the OpenMP pool have reached their working
 * size; what is left is allocator noise of a few MiB (measured 0-4 MiB here).
 */
const RSS_BOUND_MIB = 30;

test(`${STEPS} training steps: live tensor count exact after every step, RSS flat`, (t) => {
  manualSeed(11);
  const gc = (globalThis as { gc?: () => void }).gc;
  const start = liveTensors();
  const net = makeSmallNet(8);
  const opt = new Adam(net.params, { lr: 1e-2 });
  const base = liveTensors();
  const losses: number[] = [];
  let rssAtWarmup = 0;
  for (let step = 1; step <= STEPS; step++) {
    tidy(() => {
      const x = randn([B, 1, HW, HW]);
      const target = ops.sigmoid(ops.mul(x, 3)); // soft targets the net can learn
      opt.zeroGrad();
      const loss = ops.bceWithLogits(smallNetForward(net, x), target);
      loss.backward();
      opt.step();
      losses.push(loss.item());
    });
    const live = liveTensors();
    if (live !== base) assert.fail(`step ${step}: ${live - base} tensors leaked (live ${live}, expected ${base})`);
    if (step === WARMUP) {
      gc?.();
      rssAtWarmup = rssMiB();
    }
  }
  gc?.();
  const growth = rssMiB() - rssAtWarmup;
  t.diagnostic(`RSS ${rssAtWarmup.toFixed(1)} MiB at step ${WARMUP}, growth ${growth.toFixed(1)} MiB by step ${STEPS}; loss ${losses[0]?.toFixed(4)} -> ${losses[STEPS - 1]?.toFixed(4)}`);
  assert.ok(growth < RSS_BOUND_MIB, `RSS grew ${growth.toFixed(1)} MiB between step ${WARMUP} and ${STEPS} (bound ${RSS_BOUND_MIB} MiB)`);
  // The loop really trained: otherwise a flat RSS would prove little.
  const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(losses.every(Number.isFinite));
  assert.ok(mean(losses.slice(-50)) < mean(losses.slice(0, 50)), `loss did not decrease: ${mean(losses.slice(0, 50))} -> ${mean(losses.slice(-50))}`);
  opt.zeroGrad();
  opt.dispose();
  disposeSmallNet(net);
  assert.equal(liveTensors(), start);
});

test('freed memory stays in the heap (glibc) unless CONVLORA_MALLOC=system', (t) => {
  const b = native();
  if (process.platform !== 'linux') { t.skip('glibc only'); return; }
  // This process: retained, unless the environment asked for the system's policy.
  const expected = process.env.CONVLORA_MALLOC !== 'system' && !(process.env.GLIBC_TUNABLES ?? '').includes('glibc.malloc.');
  assert.equal(b.mallocRetains, expected);
  const probe = (env: Record<string, string>): string => execFileSync(process.execPath, ['--input-type=module', '-e',
    `import { native } from ${JSON.stringify(engineUrl)}; process.stdout.write(String(native().mallocRetains));`], { env: { ...process.env, ...env } }).toString();
  assert.equal(probe({ CONVLORA_MALLOC: 'system' }), 'false');
  assert.equal(probe({ CONVLORA_MALLOC: 'retain', GLIBC_TUNABLES: '' }), 'true');
});
