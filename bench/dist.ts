/**
 * bench/dist: data-parallel training step of the paper's U-Net (16 filters, global batch 16 of 128 x 128,
 * Adam, BCE) as 1 process (2 threads) against 2 ranks on this machine (Gloo on 127.0.0.1, 1 thread
 * each, the same global batch), in one run, with the all-reduce share: time inside the gradient
 * all-reduce (which includes waiting for the slower rank), and the step with SyncBatchNorm turned off
 * (CONVLORA_SYNC_BN=0) to price its per-layer collectives. Also a bare all-reduce of the gradient's
 * size. Writes bench/results/dist.json and prints a table.
 *   node dist/bench/dist.js [--steps 12] [--warmup 3]
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { machine, median, writeResult } from './common.js';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '12' }, warmup: { type: 'string' , default: '3' }, child: { type: 'boolean' } } });
const steps = Number(values.steps), warmup = Number(values.warmup);
const BATCH = 16, SIZE = 128, FILTERS = 16;

interface ChildResult { stepSeconds: number; allReduceSeconds: number; bareAllReduceSeconds: number | null; smallAllReduceSeconds: number | null; worldSize: number; gradientBytes: number; batchNorms: number }

async function child(): Promise<void> {
  const { tensor, randn, manualSeed, ops, Adam, tidy, allReduce } = await import('../src/engine/index.js');
  const { modelSpec } = await import('../src/models/zoo.js');
  const { BatchNorm2d } = await import('../src/nn/layers.js');
  const { joinDataParallel, leaveDataParallel } = await import('../src/pipeline/dist/parallel.js');
  const dp = joinDataParallel();
  manualSeed(1);
  const model = modelSpec('dart-unet').create({ filters: FILTERS });
  model.train();
  const params = model.parameters();
  const opt = new Adam(params, { lr: 1e-3 });
  if (dp !== null) dp.broadcastState([model]);
  const x = randn([BATCH, 1, SIZE, SIZE]).keep();
  const y = ops.to(ops.gt(randn([BATCH, 1, SIZE, SIZE]), 0), { dtype: 'float32' }).keep();
  const rows = dp === null ? [0, BATCH] : [Math.floor((BATCH * dp.rank) / dp.worldSize), Math.floor((BATCH * (dp.rank + 1)) / dp.worldSize)];
  const xs = ops.clone(ops.slice(x, 0, rows[0]!, rows[1]!)).keep(), ys = ops.clone(ops.slice(y, 0, rows[0]!, rows[1]!)).keep();
  const share = (rows[1]! - rows[0]!) / BATCH;
  if (dp !== null) dp.syncBatchNorm([model], true);
  const times: number[] = [], reduce: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    let tr = 0;
    tidy(() => {
      opt.zeroGrad();
      const l = tidy(() => ops.mul(ops.bceWithLogits(model.forward(xs), ys), share));
      l.backward();
      const r0 = performance.now();
      if (dp !== null) dp.reduceGradients(params, l.item()); else l.item();
      tr = performance.now() - r0;
      opt.step();
    });
    if (i >= warmup) { times.push((performance.now() - t0) / 1000); reduce.push(tr / 1000); }
  }
  let bare: number | null = null, smallLatency: number | null = null;
  const gradientBytes = params.reduce((n, p) => n + p.size * 4, 0);
  if (dp !== null) {
    const buf = tensor(new Float32Array(gradientBytes / 4), [gradientBytes / 4]);
    const bt: number[] = [];
    for (let i = 0; i < 10; i++) { const t0 = performance.now(); allReduce([buf]); bt.push((performance.now() - t0) / 1000); }
    bare = median(bt);
    buf.dispose();
    // The latency of one SyncBatchNorm-sized collective (2 x 64 channels + 1 values).
    const small = tensor(new Float64Array(129), [129], { dtype: 'float64' });
    const st: number[] = [];
    for (let i = 0; i < 200; i++) { const t0 = performance.now(); allReduce([small]); st.push((performance.now() - t0) / 1000); }
    smallLatency = median(st);
    small.dispose();
  }
  const res: ChildResult = { stepSeconds: median(times), allReduceSeconds: median(reduce), bareAllReduceSeconds: bare, smallAllReduceSeconds: smallLatency, worldSize: dp?.worldSize ?? 1, gradientBytes,
    batchNorms: model.namedModules().filter(([, m]) => m instanceof BatchNorm2d).length };
  if (dp === null || dp.main) process.stdout.write(`RESULT ${JSON.stringify(res)}\n`);
  leaveDataParallel(dp, true);
}

function runRanks(ranks: number, env: Record<string, string>): Promise<ChildResult> {
  const me = fileURLToPath(import.meta.url);
  const port = String(29600 + Math.floor(Math.random() * 300));
  return new Promise((resolve, reject) => {
    let out = '';
    let left = ranks;
    for (let r = 0; r < ranks; r++) {
      const c = spawn(process.execPath, [me, '--child', '--steps', String(steps), '--warmup', String(warmup)], {
        env: { ...process.env, ...env, ...(ranks > 1 ? { RANK: String(r), WORLD_SIZE: String(ranks), MASTER_ADDR: '127.0.0.1', MASTER_PORT: port } : {}) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      c.on('exit', (code) => {
        if (code !== 0) reject(new Error(`rank ${r} exited ${code}`));
        if (--left === 0) {
          const line = out.split('\n').find((l) => l.startsWith('RESULT '));
          if (line === undefined) reject(new Error('no result')); else resolve(JSON.parse(line.slice(7)) as ChildResult);
        }
      });
    }
  });
}

if (values.child === true) await child();
else {
  const one = await runRanks(1, {});
  const two = await runRanks(2, { CONVLORA_THREADS: '1' });
  const twoNoSync = await runRanks(2, { CONVLORA_THREADS: '1', CONVLORA_SYNC_BN: '0' });
  const result = {
    date: new Date().toISOString(), machine: machine(), batch: BATCH, size: SIZE, filters: FILTERS, steps, warmup,
    oneProcess: one, twoRanks: two, twoRanksWithoutSyncBatchNorm: twoNoSync,
    speedup: one.stepSeconds / two.stepSeconds, gradientAllReduceShare: two.allReduceSeconds / two.stepSeconds,
    syncBatchNormShare: (two.stepSeconds - twoNoSync.stepSeconds) / two.stepSeconds,
  };
  writeResult(fileURLToPath(new URL('../../bench/results/dist.json', import.meta.url)), result);
  const s = (x: number): string => x.toFixed(3);
  process.stdout.write([
    `data-parallel U-Net step, global batch ${BATCH} of ${SIZE} x ${SIZE}, ${FILTERS} filters (${(one.gradientBytes / 1e6).toFixed(1)} MB of gradients, ${one.batchNorms} BatchNorm layers), ${result.date}`,
    '| run | step (s) | gradient all-reduce (s) |', '|---|---|---|',
    `| 1 process, 2 threads | ${s(one.stepSeconds)} | |`,
    `| 2 ranks x 1 thread, SyncBatchNorm | ${s(two.stepSeconds)} | ${s(two.allReduceSeconds)} (bare all-reduce of the same size ${s(two.bareAllReduceSeconds ?? NaN)}) |`,
    `| 2 ranks x 1 thread, per-rank BatchNorm | ${s(twoNoSync.stepSeconds)} | ${s(twoNoSync.allReduceSeconds)} |`,
    `one small all-reduce (129 float64, SyncBatchNorm's size) between idle ranks: ${(1e6 * (two.smallAllReduceSeconds ?? NaN)).toFixed(0)} us`,
    `speed-up 2 ranks vs 1 process: ${result.speedup.toFixed(2)}x; gradient all-reduce ${(100 * result.gradientAllReduceShare).toFixed(1)} % of the 2-rank step; SyncBatchNorm ${(100 * result.syncBatchNormShare).toFixed(1)} %`,
  ].join('\n') + '\n');
}
