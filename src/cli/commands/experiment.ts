import { ConvLoraError } from '../../errors.js';
import { defaultsOf } from '../../options.js';
import { EXPERIMENT_OPTIONS, PAPER_SEEDS, runExperiment, TABLE1, TABLE2 } from '../../pipeline/experiment.js';
import { markdownTable, paperTable, writeReport } from '../../pipeline/report.js';

import { writeFigures } from '../figures.js';
import { stringOpt, tableOpt, type Command } from '../command.js';
import { applyConfig, COMMON_OPTIONS, progressReporter, setupDevice, cliDomain, withDataParallel } from '../pipeline-opts.js';

export function parseSeeds(raw: string | undefined, fallback: number[]): number[] {
  if (raw === undefined) return fallback;
  const seeds = raw.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new ConvLoraError('E_USAGE', `Expected comma-separated integers >= 0 for --seeds but received ${JSON.stringify(raw)}`);
  }
  return seeds;
}

const E = EXPERIMENT_OPTIONS, D = defaultsOf(EXPERIMENT_OPTIONS);

export const experimentCommand: Command = {
  name: 'experiment',
  summary: 'Run the paper\'s protocol (Table 1 or 2) over all targets and seeds; write results.json, table.md, figures',
  usage: `convlora experiment --data DIR --out DIR [--table 1|2] [--seeds ${PAPER_SEEDS.join(',')}] [--targets GE_15,...] [--unet unet.safetensors] [--source-epochs ${D.sourceEpochs}] [--head-epochs ${D.headEpochs}] [--adapt-epochs ${D.adaptEpochs}] [--filters ${D.filters}] [--batch-size ${D.batchSize}] [--tolerance ${D.tolerance}] [--device cpu|cuda] [--resume] [--config FILE] [--json]`,
  options: {
    ...COMMON_OPTIONS, data: { type: 'string' }, out: { type: 'string' }, table: { type: 'string' }, seeds: { type: 'string' }, targets: { type: 'string' },
    unet: { type: 'string' }, 'source-epochs': { type: 'string' }, 'head-epochs': { type: 'string' }, 'adapt-epochs': { type: 'string' },
    filters: { type: 'string' }, 'batch-size': { type: 'string' }, tolerance: { type: 'string' }, resume: { type: 'boolean' },
  },
  async run(v0, _p, io) {
    // Over the ranks of a data-parallel job when launched as one (torchrun, srun, `convlora launch`).
    return withDataParallel(io, async (dp) => {
      const v = applyConfig('experiment', v0, this.options);
      const device = setupDevice(v);
      const table = stringOpt(v, 'table') ?? '1';
      if (table !== '1' && table !== '2') throw new ConvLoraError('E_USAGE', `Expected 1 or 2 for --table but received ${JSON.stringify(table)}`);
      const targets = stringOpt(v, 'targets')?.split(',').map((t) => cliDomain(t.trim(), 'targets'));
      const unet = stringOpt(v, 'unet');
      const out = stringOpt(v, 'out', true);
      const r = await runExperiment({
        data: stringOpt(v, 'data', true), out, methods: table === '1' ? TABLE1 : TABLE2, seeds: parseSeeds(stringOpt(v, 'seeds'), [...PAPER_SEEDS]),
        ...(targets === undefined ? {} : { targets }), ...(unet === undefined ? {} : { unet }),
        sourceEpochs: tableOpt(v, 'source-epochs', E.sourceEpochs), headEpochs: tableOpt(v, 'head-epochs', E.headEpochs),
        adaptEpochs: tableOpt(v, 'adapt-epochs', E.adaptEpochs), filters: tableOpt(v, 'filters', E.filters),
        batchSize: tableOpt(v, 'batch-size', E.batchSize), tolerance: tableOpt(v, 'tolerance', E.tolerance),
        device, resume: v.resume === true, report: progressReporter(io, v.quiet === true), parallel: dp,
      });
      // Every rank holds the gathered result; rank 0 writes it.
      if (dp !== null && !dp.main) return 0;
      const files = await writeReport(r, out, { figures: (res) => writeFigures(res, out) });
      if (v.json === true) io.stdout.write(`${JSON.stringify({ files, table: r.table }, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2)}\n`);
      else io.stdout.write(`${markdownTable(r)}\n\n${paperTable(r)}\n\n${files.join('\n')}\n`);
      return 0;
    });
  },
};
