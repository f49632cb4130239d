#!/usr/bin/env node
/**
 * bench/data: NIfTI reading/writing at CC359 size and phantom-set generation, over dist/.
 *   npx tsc -p tsconfig.json && node bench/data.mjs [--runs 5] [--volumes 20] [--size 64]
 * Targets (issue 4): read a 256 x 256 x 170 int16 .nii.gz in under 1 s; write the demo's six-domain
 * phantom set (size 64, 20 volumes per domain) in under 60 s. Prints a Markdown table for
 * BENCHMARKS.md and writes bench/results/data.json.
 */
import { mkdtempSync, rmSync, statSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem, availableParallelism } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readNifti, writeNifti } from '../dist/src/data/nifti/index.js';
import { makeSubject, renderSubject } from '../dist/src/data/simulation/phantom-anatomy.js';
import { acquire } from '../dist/src/data/simulation/scanner.js';
import { SCANNER_PRESETS } from '../dist/src/data/simulation/presets.js';
import { Rng } from '../dist/src/data/rng.js';
import { sliceGeometry, preprocessImage } from '../dist/src/data/image/preprocess.js';
import { generatePhantomDataset } from '../dist/src/data/simulation/phantom.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, volumes: { type: 'string', default: '20' }, size: { type: 'string', default: '64' } } });
const runs = Number(values.runs), volumes = Number(values.volumes), size = Number(values.size);

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const seconds = async (fn) => { const t = performance.now(); await fn(); return (performance.now() - t) / 1000; };
function machine() {
  let cpu = cpus()[0]?.model ?? 'unknown CPU';
  try { cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpu; } catch { /* not Linux */ }
  return `${availableParallelism()} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

const dir = mkdtempSync(join(tmpdir(), 'convlora-bench-data-'));
try {
  // A realistic CC359-sized T1: a phantom head rendered on a 256 x 256 x 170 grid of 1 mm voxels, GE_3 preset.
  const dims = [256, 256, 170], spacing = [1, 1, 1], origin = [-128, -122, -115];
  const sub = makeSubject(new Rng(1), [0, 0, 0]);
  const { intensity } = renderSubject(sub, { dims, spacing, origin }, SCANNER_PRESETS.GE_3.levels);
  const stored = acquire(intensity, SCANNER_PRESETS.GE_3, { dims, spacing, centerVoxel: [128, 122, 115], seed: 1 });
  const path = join(dir, 'CC_like_256x256x170_int16.nii.gz');
  const affine = [[1, 0, 0, -128], [0, 1, 0, -122], [0, 0, 1, -115], [0, 0, 0, 1]];
  const write = [];
  for (let r = 0; r < runs; r++) write.push(await seconds(() => writeNifti(path, { dims, data: stored.data, affine })));
  const read = [];
  let vol;
  for (let r = 0; r < runs; r++) read.push(await seconds(async () => { vol = await readNifti(path); }));
  const pre = [];
  for (let r = 0; r < runs; r++) pre.push(await seconds(() => preprocessImage(vol.data, sliceGeometry(vol.dims, [25, 175], 256))));
  const mb = statSync(path).size / 2 ** 20;

  const root = join(dir, 'phantoms');
  const gen = await seconds(() => generatePhantomDataset(root, { size, volumes, seed: 0 }));

  const result = {
    date: new Date().toISOString(), machine: machine(), runs,
    readNiiGz256x256x170Int16: { medianS: median(read), runsS: read, fileMiB: mb },
    writeNiiGz256x256x170Int16: { medianS: median(write) },
    preprocess151Slices256: { medianS: median(pre) },
    phantomSet: { domains: 6, volumesPerDomain: volumes, size, seconds: gen, perVolumeS: gen / (6 * volumes) },
  };
  const here = dirname(fileURLToPath(import.meta.url));
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'data.json'), `${JSON.stringify(result, null, 2)}\n`);
  const f = (s) => `${s.toFixed(3)} s`;
  process.stdout.write([
    `Machine: ${result.machine}; ${result.date.slice(0, 10)}; median of ${runs} runs`,
    '',
    '| measurement | result | target |',
    '|---|---|---|',
    `| readNifti, 256x256x170 int16 .nii.gz (${mb.toFixed(1)} MiB) | ${f(median(read))} | < 1 s |`,
    `| writeNifti, same volume (gzip level 6, atomic) | ${f(median(write))} | - |`,
    `| preprocess 151 slices to 256x256 (crop, min-max, rot90, pad) | ${f(median(pre))} | - |`,
    `| convlora phantom: 6 domains x ${volumes} volumes, size ${size} | ${gen.toFixed(1)} s (${(gen / (6 * volumes)).toFixed(3)} s/volume) | < 60 s |`,
    '',
  ].join('\n'));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
