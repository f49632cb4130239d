/**
 * bench/repeat: the engine step (bench/engine) and the adaptation epoch (bench/adapt), each against the
 * Python PyTorch baseline in the same run, `--runs` times alternately; every run's ratios are reported
 * (issue 17 asks for five runs each, all reported). The baseline is CONVLORA_PYTHON's torch (e.g. a venv
 * with pip's torch 2.13.0+cpu), else /usr/bin/python3's (Debian's 1.13). Writes bench/results/repeat.json.
 *   CONVLORA_PYTHON=/venv/bin/python node dist/bench/repeat.js [--runs 5]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { libtorchBuild, machine, median, writeResult } from './common.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const result = (f: string): Record<string, unknown> => JSON.parse(readFileSync(here(`../../bench/results/${f}`), 'utf8')) as Record<string, unknown>;

interface Row { engineStep: number; enginePeakRss: number; adaptEpoch: number; adaptWall: number; adaptPeakRss: number; oursStepS: number; torchStepS: number; oursEpochS: number; torchEpochS: number; torch: string }
const rows: Row[] = [];
for (let i = 0; i < runs; i++) {
  execFileSync(process.execPath, [here('engine.js')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const e = result('engine-cpu.json') as { stepTimeRatio: number; peakRssRatio: number; convlora: { medianStepSeconds: number }; pytorch: { medianStepSeconds: number; version: string } };
  execFileSync(process.execPath, [here('adapt.js')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const a = result('adapt.json') as { epochTimeRatio: number; wallPerTargetRatio: number; peakRssRatio: number; convlora: { medianTrainEpochSeconds: number }; pytorch: { medianTrainEpochSeconds: number } };
  rows.push({ engineStep: e.stepTimeRatio, enginePeakRss: e.peakRssRatio, adaptEpoch: a.epochTimeRatio, adaptWall: a.wallPerTargetRatio, adaptPeakRss: a.peakRssRatio,
    oursStepS: e.convlora.medianStepSeconds, torchStepS: e.pytorch.medianStepSeconds, oursEpochS: a.convlora.medianTrainEpochSeconds, torchEpochS: a.pytorch.medianTrainEpochSeconds, torch: e.pytorch.version });
  process.stderr.write(`run ${i + 1}/${runs}: step ${e.stepTimeRatio.toFixed(3)}x, adaptation epoch ${a.epochTimeRatio.toFixed(3)}x\n`);
}
const f = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(', ');
const col = (k: keyof Row): number[] => rows.map((r) => r[k] as number);
const table = [
  `convlora on ${libtorchBuild()} vs PyTorch ${rows[0]?.torch ?? '?'} (default settings), ${runs} runs, ${new Date().toISOString()}`,
  '| measurement | ratio per run | median |', '|---|---|---|',
  `| U-Net training step (batch 8, 128 x 128) | ${f(col('engineStep'))} | ${median(col('engineStep')).toFixed(2)} |`,
  `| adaptation epoch (ConvLoRA + AdaBN, batch 32, 64 x 64) | ${f(col('adaptEpoch'))} | ${median(col('adaptEpoch')).toFixed(2)} |`,
  `| adaptation wall time per target | ${f(col('adaptWall'))} | ${median(col('adaptWall')).toFixed(2)} |`,
  `| peak RSS, training step | ${f(col('enginePeakRss'))} | ${median(col('enginePeakRss')).toFixed(2)} |`,
  `| peak RSS, adaptation | ${f(col('adaptPeakRss'))} | ${median(col('adaptPeakRss')).toFixed(2)} |`,
  `| seconds: step ours / PyTorch | ${rows.map((r) => `${r.oursStepS.toFixed(3)}/${r.torchStepS.toFixed(3)}`).join(', ')} | |`,
  `| seconds: epoch ours / PyTorch | ${rows.map((r) => `${r.oursEpochS.toFixed(2)}/${r.torchEpochS.toFixed(2)}`).join(', ')} | |`,
].join('\n');
writeResult(here('../../bench/results/repeat.json'), { date: new Date().toISOString(), machine: machine(), runs: rows });
process.stdout.write(`${table}\n`);
