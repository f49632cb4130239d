/**
 * Benchmark: Surface Dice (1 mm) of a 256 x 256 x 170 mask pair on one core, against the
 * numpy/scipy reference (tools/surface_dice_ref.py) timed in the same run on the same volumes.
 *
 *   npx tsc -p tsconfig.json && taskset -c 0 node dist/bench/metrics.js [--repeat 7] [--json]
 *
 * `taskset -c 0` keeps Node (and its GC/compiler threads) and the Python child on one core.
 * Times are per call, on masks already in memory (no file I/O), after one warm-up call.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { evaluateMasks, surfaceDice } from '../src/metrics/index.js';

// C order [z, y, x]: a NIfTI volume of dims 256 x 256 x 170 read as C order, with an anisotropic
// grid like CC359's Philips 1.5T (1.2 mm slices, 0.9375 mm in-plane).
const SHAPE = [170, 256, 256] as const;
const SPACING = [1.2, 0.9375, 0.9375];
const TOLERANCE = 1;

/**
 * A brain-sized blob: an ellipsoid (140 x 190 x 160 voxels) with a smooth wavy boundary. `wobble`
 * changes the waves' amplitude and `shift` moves it along axes 0 and 2.
 */
function brain(wobble: number, shift: number): Uint8Array {
  const [nz, ny, nx] = SHAPE;
  const m = new Uint8Array(nz * ny * nx);
  const sx = Float64Array.from({ length: nx }, (_, x) => Math.sin(x / 9 + shift));
  const cy = Float64Array.from({ length: ny }, (_, y) => Math.cos(y / 11));
  for (let z = 0; z < nz; z++) {
    const dz = (z - 85 - shift) / 70;
    const wz = Math.sin(z / 7);
    for (let y = 0; y < ny; y++) {
      const dy = (y - 128) / 95;
      const row = (z * ny + y) * nx;
      for (let x = 0; x < nx; x++) {
        const dx = (x - 128 + shift) / 80;
        const f = dx * dx + dy * dy + dz * dz + wobble * (sx[x] as number) * (cy[y] as number) * wz;
        if (f < 1) m[row + x] = 1;
      }
    }
  }
  return m;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const k = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[k] as number) : ((s[k - 1] as number) + (s[k] as number)) / 2;
}

function time(fn: () => unknown, repeat: number): { seconds: number[]; value: unknown } {
  let value = fn(); // warm-up: JIT and first allocations
  const seconds: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t = process.hrtime.bigint();
    value = fn();
    seconds.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  return { seconds, value };
}

function machine(): Record<string, string> {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try { cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu; } catch { /* not Linux */ }
  const nproc = (args: string[]): string => {
    try { return execFileSync('nproc', args, { encoding: 'utf8' }).trim(); } catch { return String(os.availableParallelism()); }
  };
  // `nproc` counts the cores this process may use (1 under taskset); `nproc --all` the machine's.
  return { nproc: nproc([]), nprocAll: nproc(['--all']), cpu, node: process.version, load: os.loadavg().map((l) => l.toFixed(2)).join(' ') };
}

interface PairResult {
  name: string;
  surfaceDice: number;
  pythonSurfaceDice: number;
  ts: { median: number; min: number; runs: number[] };
  tsAllFourMetrics: { median: number; min: number };
  python: { median: number; min: number; runs: number[] };
  speedup: { median: number; min: number };
}

/** Time both implementations on one pair; the Python child gets the masks as raw uint8 files. */
function benchPair(name: string, gt: Uint8Array, pred: Uint8Array, repeat: number): PairResult {
  const ts = time(() => surfaceDice(gt, pred, SHAPE, SPACING, TOLERANCE), repeat);
  const all = time(() => evaluateMasks(gt, pred, { shape: SHAPE, spacing: SPACING, tolerance: TOLERANCE }), repeat);
  const dir = mkdtempSync(join(os.tmpdir(), 'convlora-bench-'));
  let py: { seconds: number[]; surfaceDice: number };
  try {
    writeFileSync(join(dir, 'gt.raw'), gt);
    writeFileSync(join(dir, 'pred.raw'), pred);
    const script = new URL('../../tools/surface_dice_ref.py', import.meta.url).pathname;
    const args = [script, 'bench', join(dir, 'gt.raw'), join(dir, 'pred.raw'), SHAPE.join(','), SPACING.join(','), String(TOLERANCE), String(Math.max(3, Math.ceil(repeat / 2)))];
    const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
    const out = execFileSync(process.env.CONVLORA_PYTHON ?? '/usr/bin/python3', args, { encoding: 'utf8', env });
    py = JSON.parse(out.trim().split('\n').pop() ?? '{}') as typeof py;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const r = {
    name,
    surfaceDice: ts.value as number,
    pythonSurfaceDice: py.surfaceDice,
    ts: { median: median(ts.seconds), min: Math.min(...ts.seconds), runs: ts.seconds },
    tsAllFourMetrics: { median: median(all.seconds), min: Math.min(...all.seconds) },
    python: { median: median(py.seconds), min: Math.min(...py.seconds), runs: py.seconds },
    speedup: { median: 0, min: 0 },
  };
  r.speedup = { median: r.python.median / r.ts.median, min: r.python.min / r.ts.min };
  if (Math.abs(r.surfaceDice - r.pythonSurfaceDice) > 1e-9) {
    process.stderr.write(`bench/metrics: ${name}: the two implementations disagree: ${r.surfaceDice} vs ${r.pythonSurfaceDice}\n`);
    process.exitCode = 1;
  }
  return r;
}

const { values } = parseArgs({ options: { repeat: { type: 'string' }, json: { type: 'boolean' } } });
const repeat = Number(values.repeat ?? 7);
const gt = brain(0.06, 0);
// "close": a good segmentation, within a few voxels everywhere (the neighbourhood search path).
// "far": the same brain 8 voxels off, so most distances exceed the search radius and the
// distance transform does the work (the slow path).
const pairs = [benchPair('close', gt, brain(0.09, 1), repeat), benchPair('far', gt, brain(0.06, 8), repeat)];
const result = {
  shape: SHAPE, spacing: SPACING, tolerance: TOLERANCE, pairs,
  machine: machine(),
  date: new Date().toISOString(),
};
if (values.json === true) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  const f = (s: number): string => `${(s * 1000).toFixed(0)} ms`;
  process.stdout.write(`Surface Dice @ ${TOLERANCE} mm, ${SHAPE.join(' x ')} (C order), spacing ${SPACING.join(' x ')} mm\n`);
  for (const r of pairs) {
    process.stdout.write(
      `${r.name}: surfaceDice ${r.surfaceDice.toFixed(6)} (Python ${r.pythonSurfaceDice.toFixed(6)})\n` +
      `  TypeScript     median ${f(r.ts.median)}  min ${f(r.ts.min)}  (${r.ts.runs.length} runs)\n` +
      `  all 4 metrics  median ${f(r.tsAllFourMetrics.median)}  min ${f(r.tsAllFourMetrics.min)}\n` +
      `  numpy/scipy    median ${f(r.python.median)}  min ${f(r.python.min)}  (${r.python.runs.length} runs)\n` +
      `  speed-up       ${r.speedup.median.toFixed(2)}x (medians), ${r.speedup.min.toFixed(2)}x (minima)\n`,
    );
  }
  const m = result.machine;
  process.stdout.write(`machine: nproc ${m.nproc} (of ${m.nprocAll}), ${m.cpu}, Node ${m.node}, load average ${m.load}\n`);
}
