/** Helpers shared by the benchmarks: statistics, machine description, result files. */
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function machine(): string {
  let cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  try { cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpu; } catch { /* not Linux */ }
  return `${os.availableParallelism()} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, addon on ${libtorchBuild()}`;
}

/** Which libtorch the addon was built against (build/Release/convlora.json, written by scripts/build-native.mjs). */
export function libtorchBuild(): string {
  try {
    const b = JSON.parse(readFileSync(fileURLToPath(new URL('../../build/Release/convlora.json', import.meta.url)), 'utf8')) as { libtorch: string; torchVersion: string | null };
    return `libtorch ${b.torchVersion ?? '?'} (${b.libtorch === 'system' ? "Debian's libtorch-dev" : b.libtorch})`;
  } catch { return 'libtorch (build info missing)'; }
}

/** Run the Python baseline (Debian's /usr/bin/python3 with python3-torch) and parse its JSON line. */
export function runPython<T>(script: string, args: (string | number)[]): T {
  const out = execFileSync(process.env.CONVLORA_PYTHON ?? '/usr/bin/python3', [script, ...args.map(String)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

export function writeResult(path: string, result: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
}
