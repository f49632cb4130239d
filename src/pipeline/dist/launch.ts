/**
 * Start N local ranks of one command with torchrun's environment contract (RANK, WORLD_SIZE,
 * LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), forward their output line by line, and stop
 * them all when one fails, as torchrun does for a single node. Not an elastic agent: no restarts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import os from 'node:os';
import { ConvLoraError, checkInt, describe, invalidArg } from '../../errors.js';

export interface LaunchOptions {
  /** Number of ranks (processes) to start on this machine. */
  nproc: number;
  /** Program and arguments every rank runs, e.g. [process.execPath, 'dist/src/cli/main.js', 'adapt', ...]. */
  argv: readonly string[];
  /** Port of rank 0's rendezvous store on 127.0.0.1; default: one the OS reports free. */
  masterPort?: number;
  /** Base environment of the ranks (default process.env); the launch variables are added to it. */
  env?: Record<string, string | undefined>;
  /** Each complete line a rank writes, as it comes (the last partial line at exit). */
  onLine(rank: number, stream: 'stdout' | 'stderr', line: string): void;
  /** After one rank fails, how long the others get after SIGTERM before SIGKILL; default 10 000 ms. */
  graceMs?: number;
}

export interface LaunchResult {
  /** 0 when every rank exited 0; else the first failing rank's code (1 when it was killed by a signal). */
  code: number;
  /** The first rank that failed, how, and when; null when all succeeded. */
  failure: { rank: number; exitCode: number | null; signal: NodeJS.Signals | null } | null;
}

/** A TCP port nobody listens on right now on 127.0.0.1 (the OS's choice, released before use). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

/**
 * Threads per rank when the environment sets none: the cores shared out, at least 1 (N ranks each
 * taking every core would oversubscribe the machine N times; torchrun sets OMP_NUM_THREADS=1 for this).
 */
function threadsPerRank(nproc: number): string {
  return String(Math.max(1, Math.floor(os.availableParallelism() / nproc)));
}

/** Run the ranks to completion; see LaunchResult. */
export async function launchRanks(opts: LaunchOptions): Promise<LaunchResult> {
  const nproc = checkInt('nproc', opts.nproc, 1);
  if (!Array.isArray(opts.argv) || opts.argv.length === 0) invalidArg('argv', 'a program and its arguments', opts.argv);
  const port = opts.masterPort === undefined ? await freePort() : checkInt('masterPort', opts.masterPort, 1);
  if (port > 65535) invalidArg('masterPort', 'integer in [1, 65535]', port);
  const graceMs = checkInt('graceMs', opts.graceMs ?? 10_000, 0);
  const base = opts.env ?? process.env;
  const [program, ...args] = opts.argv as [string, ...string[]];
  let failure: LaunchResult['failure'] = null;
  let killTimer: NodeJS.Timeout | undefined;
  const children: ChildProcess[] = [];
  const stopAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    killTimer ??= setTimeout(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); }, graceMs);
  };
  // The launcher interrupted (Ctrl-C, a scheduler's SIGTERM): pass it on to the ranks, then exit as they do.
  const onSignal = (): void => stopAll();
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  try {
    const exits = Array.from({ length: nproc }, (_, rank) => {
      const env = {
        ...base, RANK: String(rank), WORLD_SIZE: String(nproc), LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: String(nproc),
        MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), CONVLORA_THREADS: base.CONVLORA_THREADS ?? threadsPerRank(nproc),
      };
      const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      for (const stream of ['stdout', 'stderr'] as const) forwardLines(child[stream]!, (line) => opts.onLine(rank, stream, line));
      return new Promise<void>((resolve, reject) => {
        child.on('error', (err) => reject(new ConvLoraError('E_IO', `Could not start rank ${rank} (${describe(program)}): ${err.message}`)));
        // 'close', not 'exit': the rank's output is all forwarded by then.
        child.on('close', (exitCode, signal) => {
          if ((exitCode !== 0 || signal !== null) && failure === null) {
            failure = { rank, exitCode, signal };
            stopAll();
          }
          resolve();
        });
      });
    });
    await Promise.all(exits);
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    clearTimeout(killTimer);
  }
  const f = failure as LaunchResult['failure'];
  return { code: f === null ? 0 : f.exitCode !== null && f.exitCode > 0 ? f.exitCode : 1, failure: f };
}

function forwardLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => { if (buf !== '') onLine(buf); });
}
