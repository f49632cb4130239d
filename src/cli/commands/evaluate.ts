import { basename, join } from 'node:path';
import { ConvLoraError } from '../../errors.js';
import { isDirectory } from '../../fsutil.js';
import { aggregate, type AggregateRow, type CaseMetrics } from '../../metrics/aggregate.js';
import { evaluateMaskDirs, evaluateMaskFiles, pairMaskDirs } from '../../metrics/files.js';
import { formatAggregate, formatCases, formatValue } from '../../metrics/format.js';
import { numberOpt, stringOpt, type CliIO, type Command } from '../command.js';
import { Progress } from '../progress.js';
import { evaluateModel, evaluateScans } from '../../pipeline/evaluate-model.js';
import { SCAN_OPTIONS, scanSourceOpts } from '../scan-opts.js';

import { setupDevice, cliDomain } from '../pipeline-opts.js';

/** JSON has no NaN or Infinity: an undefined metric (both masks empty) or an infinite distance (one empty) is null. */
function num(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function summaryJson(row: AggregateRow): Record<string, unknown> {
  const metric = (k: 'surfaceDice' | 'dice' | 'hd95' | 'assd'): Record<string, unknown> =>
    ({ n: row[k].n, mean: num(row[k].mean), std: num(row[k].std) });
  return { domain: row.domain, cases: row.cases, surfaceDice: metric('surfaceDice'), dice: metric('dice'), hd95: metric('hd95'), assd: metric('assd') };
}

/** One predicted mask file against one GT mask file. */
async function evaluatePair(pred: string, gt: string, tolerance: number, json: boolean, io: CliIO): Promise<number> {
  const m = await evaluateMaskFiles(pred, gt, { tolerance });
  if (json) {
    const out = {
      pred, gt, tolerance, shape: m.shape, spacing: m.spacing, gtVoxels: m.gtVoxels, predVoxels: m.predVoxels,
      surfaceDice: num(m.surfaceDice), dice: num(m.dice), hd95: num(m.hd95), assd: num(m.assd),
    };
    io.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    io.stdout.write(
      `surfaceDice  ${formatValue(m.surfaceDice)}  (tolerance ${tolerance} mm)\n` +
      `dice         ${formatValue(m.dice)}\n` +
      `hd95         ${formatValue(m.hd95)} mm\n` +
      `assd         ${formatValue(m.assd)} mm\n`,
    );
  }
  if (m.gtVoxels === 0 || m.predVoxels === 0) {
    io.stderr.write(`convlora evaluate: warning: ${m.gtVoxels === 0 ? 'the ground truth' : 'the prediction'}${m.gtVoxels === 0 && m.predVoxels === 0 ? ' and the prediction are' : ' is'} empty\n`);
  }
  return 0;
}

/** Unpaired files listed on stderr; the rest are counted (all of them are in --json output). */
const UNPAIRED_SHOWN = 10;

/** Every predicted mask in `predDir` with a GT mask of the same case in `gtDir`. */
async function evaluateDirs(predDir: string, gtDir: string, tolerance: number, json: boolean, io: CliIO): Promise<number> {
  const pairing = await pairMaskDirs(predDir, gtDir);
  if (pairing.pairs.length === 0) {
    // Nothing paired, so every file is unpaired: name what each side holds.
    const holds = (dir: string): string => {
      const names = pairing.unpaired.map((u) => u.file).filter((f) => join(dir, basename(f)) === f).map((f) => basename(f)).sort();
      if (names.length === 0) return `${dir} has no .nii/.nii.gz files`;
      return `${dir} has ${names.slice(0, 5).join(', ')}${names.length > 5 ? `, ... (${names.length} files)` : ''}`;
    };
    throw new ConvLoraError('E_DATA', `Expected files of the same cases in ${predDir} and ${gtDir} but found none in common (a case is a file name without .nii[.gz] and one trailing _mask, _prob, _brain or _ss): ${holds(predDir)}; ${holds(gtDir)}`);
  }
  if (pairing.unpaired.length > 0) {
    const shown = pairing.unpaired.slice(0, UNPAIRED_SHOWN).map((u) => `  ${u.file}: ${u.reason}\n`).join('');
    const more = pairing.unpaired.length > UNPAIRED_SHOWN ? `  ... and ${pairing.unpaired.length - UNPAIRED_SHOWN} more${json ? '' : ' (--json lists them all)'}\n` : '';
    io.stderr.write(`convlora evaluate: warning: ${pairing.unpaired.length} file(s) stayed unpaired:\n${shown}${more}`);
  }
  const progress = new Progress(io.stderr, 'evaluate', pairing.pairs.length);
  const cases: CaseMetrics[] = await evaluateMaskDirs(pairing, { tolerance }, (done, r) =>
    progress.update(done, `${r.id} surfaceDice ${formatValue(r.surfaceDice)}`));
  progress.done();
  const table = aggregate(cases);
  if (json) {
    const out = {
      pred: predDir, gt: gtDir, tolerance,
      unpaired: pairing.unpaired,
      cases: cases.map((c) => ({ id: c.id, domain: c.domain, surfaceDice: num(c.surfaceDice), dice: num(c.dice), hd95: num(c.hd95), assd: num(c.assd) })),
      domains: table.rows.map(summaryJson),
      overall: summaryJson(table.overall),
    };
    io.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    io.stdout.write(`${formatCases(cases)}\n\n${formatAggregate(table)}\n`);
  }
  return 0;
}

/** A model (optionally with an adapter) scored on a user's own labelled scans (folder or BIDS group). */
async function evaluateScansCommand(values: Record<string, unknown>, io: CliIO): Promise<number> {
  const adapter = stringOpt(values, 'adapter');
  if (values.domain !== undefined || values.split !== undefined) throw new ConvLoraError('E_USAGE', '--domain and --split go with --data (CC359 layout), not --scans or --bids');
  const r = await evaluateScans({
    unet: stringOpt(values, 'model', true), ...(adapter === undefined ? {} : { adapter }), ...scanSourceOpts(values),
    tolerance: numberOpt(values, 'tolerance', 1, { min: 0 }), device: setupDevice(values as Parameters<typeof setupDevice>[0]),
  });
  for (const s of r.skipped) io.stderr.write(`convlora evaluate: note: skipping ${s}: no mask\n`);
  return writeScores(io, values.json === true, { model: values.model, adapter: r.adapter, scanner: r.scanner, skipped: r.skipped }, r.cases, r.summary);
}

/** Per-case scores and their summary: one JSON object (`head` first) or the two text tables. */
function writeScores(io: CliIO, json: boolean, head: Record<string, unknown>, cases: CaseMetrics[], summary: Parameters<typeof summaryJson>[0]): number {
  if (json) {
    const out = { ...head,
      cases: cases.map((c) => ({ id: c.id, domain: c.domain, surfaceDice: num(c.surfaceDice), dice: num(c.dice), hd95: num(c.hd95), assd: num(c.assd) })),
      overall: summaryJson(summary) };
    io.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    io.stdout.write(`${formatCases(cases)}\n\n${formatAggregate(aggregate(cases))}\n`);
  }
  return 0;
}

/** A model (optionally with a domain adapter) scored on a domain's split of a dataset. */
async function evaluateModelCommand(values: Record<string, unknown>, io: CliIO): Promise<number> {
  if (values.scans !== undefined || values.bids !== undefined) return evaluateScansCommand(values, io);
  const split = stringOpt(values, 'split') ?? 'test';
  if (split !== 'train' && split !== 'val' && split !== 'test') throw new ConvLoraError('E_USAGE', `Expected train, val or test for --split but received ${JSON.stringify(split)}`);
  const adapter = stringOpt(values, 'adapter');
  const r = await evaluateModel({
    unet: stringOpt(values, 'model', true), ...(adapter === undefined ? {} : { adapter }), data: stringOpt(values, 'data', true),
    domain: cliDomain(stringOpt(values, 'domain', true), 'domain'), split, tolerance: numberOpt(values, 'tolerance', 1, { min: 0 }),
    device: setupDevice(values as Parameters<typeof setupDevice>[0]),
  });
  return writeScores(io, values.json === true, { model: values.model, adapter: r.adapter, domain: r.domain, split }, r.cases, r.summary);
}

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: 'Surface Dice, Dice, HD95 and ASSD of predicted masks against ground truth',
  usage: [
    'convlora evaluate --pred P.nii.gz --gt G.nii.gz [--tolerance MM] [--json]',
    '       convlora evaluate --pred PRED_DIR --gt GT_DIR [--tolerance MM] [--json]',
    '       convlora evaluate --model unet.safetensors [--adapter A.safetensors] --data DIR --domain D [--split test] [--tolerance MM] [--device cpu|cuda] [--json]',
    '       convlora evaluate --model unet.safetensors [--adapter A.safetensors] --scans DIR|FILE|PATTERN [--masks DIR] [--tolerance MM] [--json]',
    '       convlora evaluate --model unet.safetensors [--adapter A.safetensors] --bids DIR [--scanner KEY] [--by-sequence] [--masks DIR] [--tolerance MM] [--json]',
    '',
    'Masks of any integer or float type; voxels > 0 are foreground. The GT header gives the spacing;',
    'the two files must share dims and spacing. --tolerance is the Surface Dice tolerance in mm',
    '(default 1, as in the paper). With directories, files are matched by case: the name without .nii/.nii.gz',
    'and one trailing _mask, _prob, _brain or _ss (what segment, CC359 and phantom write), so segment\'s <id>_mask',
    'pairs with <id>, <id>_ss or <id>_mask; a folder holding several files of a case uses _mask, _ss, plain, _prob,',
    'then _brain. Files left unpaired are listed, and a per-case and per-domain (mean ± std) table is printed.',
    'A _prob file is foreground above 0.5, a _brain file (skull-stripped scan) wherever it is not 0.',
    'With --model, the model (and domain adapter) segments the domain\'s split and is scored per volume.',
    'With --scans or --bids, each scan is segmented as `segment` does and scored on its own grid against its mask',
    '(<name>_mask.nii[.gz] beside it, or <name>_mask|_ss|<name>.nii[.gz] in --masks DIR); scans without a mask are skipped.',
    'In --json output an undefined value (both masks empty) or an infinite distance (one empty) is null.',
  ].join('\n'),
  options: {
    pred: { type: 'string' },
    gt: { type: 'string' },
    tolerance: { type: 'string' },
    json: { type: 'boolean' },
    model: { type: 'string' }, adapter: { type: 'string' }, data: { type: 'string' }, domain: { type: 'string' },
    split: { type: 'string' }, device: { type: 'string' }, ...SCAN_OPTIONS, masks: { type: 'string' },
  },
  async run(values, _positionals, io) {
    if (values.model !== undefined) return evaluateModelCommand(values, io);
    if (values.scans !== undefined || values.bids !== undefined) throw new ConvLoraError('E_USAGE', 'Missing required option --model: --scans and --bids score a model on your scans');
    const pred = stringOpt(values, 'pred', true);
    const gt = stringOpt(values, 'gt', true);
    const tolerance = numberOpt(values, 'tolerance', 1, { min: 0 });
    const json = values.json === true;
    const [predIsDir, gtIsDir] = await Promise.all([isDirectory(pred, { mustExist: true }), isDirectory(gt, { mustExist: true })]);
    if (predIsDir !== gtIsDir) {
      throw new ConvLoraError('E_USAGE', `Expected --pred and --gt to be both files or both directories but --${predIsDir ? 'pred' : 'gt'} is a directory`);
    }
    return predIsDir ? evaluateDirs(pred, gt, tolerance, json, io) : evaluatePair(pred, gt, tolerance, json, io);
  },
};
