/**
 * Local rank launcher (src/pipeline/dist/launch.ts) and `convlora launch`: each rank gets torchrun's
 * variables; a rank that fails or is killed stops the others and is named; `convlora launch --nproc 2
 * -- dist-check` all-reduces across two real ranks and prints the sum on both.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { distAvailable } from '../../../src/engine/index.js';
import { launchRanks } from '../../../src/pipeline/dist/launch.js';
import { runCli } from '../../helpers/cli.js';

const LIMIT = { timeout: 90_000 };

/** Ranks running `node -e script`, with every line they write collected as "rank stream line". */
async function launchScript(nproc: number, script: string, graceMs?: number) {
  const lines: string[] = [];
  const t0 = Date.now();
  const res = await launchRanks({
    nproc, argv: [process.execPath, '-e', script], ...(graceMs === undefined ? {} : { graceMs }),
    onLine: (rank, stream, line) => lines.push(`${rank} ${stream} ${line}`),
  });
  return { ...res, lines, ms: Date.now() - t0 };
}

describe('launchRanks', () => {
  test('every rank gets the launch variables; all exit 0: code 0', LIMIT, async () => {
    const r = await launchScript(3, `const e = process.env; console.log([e.RANK, e.WORLD_SIZE, e.LOCAL_RANK, e.LOCAL_WORLD_SIZE, e.MASTER_ADDR, /^\\d+$/.test(e.MASTER_PORT)].join(' ')); console.error('note'); process.stdout.write('partial')`);
    assert.deepEqual(r, { ...r, code: 0, failure: null });
    assert.deepEqual(r.lines.filter((l) => l.includes('stdout')).sort(),
      ['0 stdout 0 3 0 3 127.0.0.1 true', '0 stdout partial', '1 stdout 1 3 1 3 127.0.0.1 true', '1 stdout partial', '2 stdout 2 3 2 3 127.0.0.1 true', '2 stdout partial']);
    assert.deepEqual(r.lines.filter((l) => l.includes('stderr')).sort(), ['0 stderr note', '1 stderr note', '2 stderr note']);
  });

  test('a rank that exits non-zero stops the others (SIGTERM) and its code is the result', LIMIT, async () => {
    const r = await launchScript(2, `if (process.env.RANK === '1') setTimeout(() => process.exit(3), 200); else setInterval(() => {}, 1000)`);
    assert.equal(r.code, 3);
    assert.deepEqual(r.failure, { rank: 1, exitCode: 3, signal: null });
    assert.ok(r.ms < 30_000, `rank 0 was not stopped: ${r.ms} ms`);
  });

  test('a killed rank is named with its signal, the result is 1, and a rank ignoring SIGTERM is killed after the grace period', LIMIT, async () => {
    const r = await launchScript(2, `if (process.env.RANK === '0') setTimeout(() => process.kill(process.pid, 'SIGKILL'), 200); else { process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); }`, 500);
    assert.equal(r.code, 1);
    assert.deepEqual(r.failure, { rank: 0, exitCode: null, signal: 'SIGKILL' });
    assert.ok(r.ms < 30_000, `rank 1 was not killed: ${r.ms} ms`);
  });

  test('bad options are E_INVALID_ARG', async () => {
    await assert.rejects(launchRanks({ nproc: 0, argv: ['x'], onLine: () => {} }), { code: 'E_INVALID_ARG', message: 'Expected integer >= 1 for `nproc` but received 0' });
    await assert.rejects(launchRanks({ nproc: 1, argv: [], onLine: () => {} }), { code: 'E_INVALID_ARG', message: /for `argv` but received \[\]/ });
    await assert.rejects(launchRanks({ nproc: 1, argv: ['x'], masterPort: 70000, onLine: () => {} }), { code: 'E_INVALID_ARG', message: 'Expected integer in [1, 65535] for `masterPort` but received 70000' });
  });
});

describe('convlora launch', () => {
  test('--nproc 2 -- dist-check: both ranks all-reduce [rank + 1, 1] to [3, 2] and print it', { ...LIMIT, skip: distAvailable() ? false : 'the addon was built without gloo' }, async () => {
    const r = await runCli(['launch', '--nproc', '2', '--', 'dist-check', '--json']);
    assert.equal(r.code, 0, r.err);
    const out = r.out.trim().split('\n').sort();
    assert.equal(out.length, 2);
    for (const [i, line] of out.entries()) {
      assert.ok(line.startsWith(`[rank ${i}] `), line);
      const j = JSON.parse(line.slice(`[rank ${i}] `.length)) as Record<string, unknown>;
      assert.deepEqual({ rank: j.rank, worldSize: j.worldSize, allReduce: j.allReduce }, { rank: i, worldSize: 2, allReduce: [3, 2] });
    }
  });

  test('a failing rank is named and its exit code kept (a usage error in every rank: 2)', LIMIT, async () => {
    const r = await runCli(['launch', '--nproc', '2', '--', 'dist-check', '--timeout-ms', 'soon']);
    assert.equal(r.code, 2);
    assert.match(r.err, /\[rank [01]\] convlora dist-check: error E_USAGE: Expected an integer >= 1 for --timeout-ms but received "soon"/);
    assert.match(r.err, /convlora launch: rank [01] exited with code 2; stopped the ranks still running\n$/);
  });

  const usage: [string, string[], RegExp][] = [
    ['no --nproc', ['launch', '--', 'dist-check'], /^Missing required option --nproc/],
    ['--nproc 0', ['launch', '--nproc', '0', '--', 'dist-check'], /^Expected an integer >= 1 for --nproc but received "0"$/],
    ['a port out of range', ['launch', '--nproc', '2', '--master-port', '99999', '--', 'dist-check'], /^Expected an integer in \[1, 65535\] for --master-port but received "99999"$/],
    ['no command', ['launch', '--nproc', '2'], /^No command to launch: give it after --/],
    ['itself', ['launch', '--nproc', '2', '--', 'launch', '--nproc', '2'], /^convlora launch cannot launch itself$/],
  ];
  for (const [name, args, message] of usage) {
    test(`usage error: ${name}`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2);
      assert.match(r.err.replace(/^convlora launch: error E_USAGE: /, '').trim(), message);
    });
  }
});
