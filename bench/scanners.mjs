#!/usr/bin/env node
/**
 * bench/scanners: one 256^3 phantom subject per domain rendered and written as .nii.gz (image and
 * mask) on one thread, with the physics scanners and with the calibrated levels, alternating within
 * one run (`taskset -c 0` keeps Node and its helper threads on one core).
 *   npx tsc -p tsconfig.json && taskset -c 0 node bench/scanners.mjs [--runs 3] [--domains GE_3,...] [--size 256]
 * Target (issue 12): physics <= 5 s per subject and no slower than levels. Prints a Markdown table
 * for BENCHMARKS.md and writes bench/results/scanners.json.
 */
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { tmpdir, cpus, totalmem, availableParallelism } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writePhantomVolume, phantomStem } from '../dist/src/data/simulation/phantom.js';
import { phantomGrid } from '../dist/src/data/simulation/presets.js';
import { scannerPreset } from '../dist/src/data/simulation/physics-scanners.js';
import { CC359_DOMAINS } from '../dist/src/data/scans/cc359.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, domains: { type: 'string', default: CC359_DOMAINS.join(',') }, size: { type: 'string', default: '256' } } });
const runs = Number(values.runs), domains = values.domains.split(','), size = Number(values.size);

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
function machine() {
  let cpu = cpus()[0]?.model ?? 'unknown CPU';
  try { cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpu; } catch { /* not Linux */ }
  return `${availableParallelism()} cores visible (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

const dir = mkdtempSync(join(tmpdir(), 'convlora-bench-scanners-'));
try {
  const models = ['physics', 'levels'];
  // times[model][domain] = seconds per run
  // Wall time and this process's CPU time (user + system): on a shared machine CPU time is the steadier measure.
  const times = { physics: {}, levels: {} }, cpu = { physics: {}, levels: {} }, bytes = { physics: {}, levels: {} };
  for (let r = 0; r < runs; r++) {
    for (const domain of domains) {
      // Alternate the order so that a busy moment on a shared machine hits both alike.
      for (const scanners of r % 2 === 0 ? models : [...models].reverse()) {
        const out = join(dir, scanners);
        const t = performance.now(), c = process.cpuUsage();
        await writePhantomVolume({ out, domain, index: r, size, seed: 0, volumes: runs, scanners });
        (times[scanners][domain] ??= []).push((performance.now() - t) / 1000);
        const used = process.cpuUsage(c);
        (cpu[scanners][domain] ??= []).push((used.user + used.system) / 1e6);
        bytes[scanners][domain] = statSync(join(out, 'Original', domain, `${phantomStem(domain, r, runs)}.nii.gz`)).size;
      }
    }
  }
  const per = (m, d) => median(times[m][d]);
  const perCpu = (m, d) => median(cpu[m][d]);
  const result = {
    date: new Date().toISOString(), machine: machine(), runs, size,
    domains: Object.fromEntries(domains.map((d) => [d, Object.fromEntries(models.map((m) => [m, {
      dims: phantomGrid(d, size, scannerPreset(d, m)).dims, medianS: per(m, d), runsS: times[m][d], cpuMedianS: perCpu(m, d), cpuRunsS: cpu[m][d], imageBytes: bytes[m][d],
    }]))])),
    totalMedianS: Object.fromEntries(models.map((m) => [m, sum(domains.map((d) => per(m, d)))])),
    totalCpuMedianS: Object.fromEntries(models.map((m) => [m, sum(domains.map((d) => perCpu(m, d)))])),
  };
  const here = dirname(fileURLToPath(import.meta.url));
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'scanners.json'), `${JSON.stringify(result, null, 2)}\n`);
  const cell = (m, d) => `${per(m, d).toFixed(2)} s / ${perCpu(m, d).toFixed(2)} s`;
  const ratio = (d) => `${(per('physics', d) / per('levels', d)).toFixed(2)} / ${(perCpu('physics', d) / perCpu('levels', d)).toFixed(2)}`;
  const tot = result.totalMedianS, totCpu = result.totalCpuMedianS;
  process.stdout.write([
    `Machine: ${result.machine}; ${result.date.slice(0, 10)}; size ${size}, median of ${runs} runs per domain and model`,
    '',
    '| domain | dims (physics) | physics: wall / CPU | levels: wall / CPU | physics / levels: wall / CPU | image file physics / levels |',
    '|---|---|---|---|---|---|',
    ...domains.map((d) => `| ${d} | ${result.domains[d].physics.dims.join(' x ')} | ${cell('physics', d)} | ${cell('levels', d)} | ${ratio(d)} | ${(bytes.physics[d] / 2 ** 20).toFixed(1)} / ${(bytes.levels[d] / 2 ** 20).toFixed(1)} MiB |`),
    `| all ${domains.length} | | ${tot.physics.toFixed(2)} s / ${totCpu.physics.toFixed(2)} s | ${tot.levels.toFixed(2)} s / ${totCpu.levels.toFixed(2)} s | ${(tot.physics / tot.levels).toFixed(2)} / ${(totCpu.physics / totCpu.levels).toFixed(2)} | |`,
    '',
  ].join('\n'));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
