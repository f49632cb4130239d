/** Options shared by the pipeline commands: config files, devices, progress reporting. */
import { joinDataParallel, leaveDataParallel, type DataParallel } from '../pipeline/dist/parallel.js';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConvLoraError } from '../errors.js';
import { resolveDevice, setThreads } from '../engine/runtime.js';
import type { Device } from '../engine/tensor.js';
import type { PipelineEvent, Reporter } from '../pipeline/events.js';
import { checkDomain } from '../pipeline/train/dataset.js';
import type { Domain } from '../data/scans/cc359.js';
import type { CliIO, OptionSpec } from './command.js';
import { numberOpt, stringOpt } from './command.js';
import { Progress, formatSeconds } from './progress.js';

export const COMMON_OPTIONS: OptionSpec = {
  config: { type: 'string' }, device: { type: 'string' }, threads: { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' },
};

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

/**
 * Merge a YAML/JSON config file into parsed flags: flags win. Keys are the long option names
 * (`batch-size: 16`); a section named after the command (`adapt: { epochs: 5 }`) overrides top-level keys.
 * Unknown keys and values of the wrong type are usage errors naming the key.
 */
export function applyConfig(command: string, values: Values, options: OptionSpec): Values {
  const path = stringOpt(values, 'config');
  if (path === undefined) return values;
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConvLoraError('E_USAGE', `Could not read config ${path}: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConvLoraError('E_USAGE', `Config ${path} must be a mapping of option names to values`);
  const top = raw as Record<string, unknown>;
  const section = top[command];
  const merged: Record<string, unknown> = { ...top, ...(section !== null && typeof section === 'object' ? section : {}) };
  const out: Values = { ...values };
  for (const [key, v] of Object.entries(merged)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) continue; // another command's section
    const spec = options[key];
    if (spec === undefined || key === 'config') {
      throw new ConvLoraError('E_USAGE', `Unknown key ${JSON.stringify(key)} in config ${path} for \`convlora ${command}\`; valid keys: ${Object.keys(options).filter((k) => k !== 'config').join(', ')}`);
    }
    if (out[key] !== undefined) continue;
    if (spec.type === 'boolean') {
      if (typeof v !== 'boolean') throw new ConvLoraError('E_USAGE', `Expected true or false for ${JSON.stringify(key)} in config ${path} but received ${JSON.stringify(v)}`);
      out[key] = v;
    } else {
      if (typeof v !== 'string' && typeof v !== 'number' && !Array.isArray(v)) throw new ConvLoraError('E_USAGE', `Expected a string or number for ${JSON.stringify(key)} in config ${path} but received ${JSON.stringify(v)}`);
      out[key] = Array.isArray(v) ? v.join(',') : String(v);
    }
  }
  return out;
}

/** A domain named on the command line; a wrong name is a usage error (exit 2). */
export function cliDomain(value: string, what: string): Domain {
  try { return checkDomain(value, what); } catch (err) { throw new ConvLoraError('E_USAGE', (err as Error).message); }
}

/** Device and threads from the options (validated; `cuda` fails clearly without a GPU build). */
export function setupDevice(values: Values): Device {
  const t = stringOpt(values, 'threads');
  if (t !== undefined) setThreads(numberOpt(values, 'threads', 1, { integer: true, min: 1 }));
  try {
    return resolveDevice(stringOpt(values, 'device') ?? 'cpu');
  } catch (err) {
    throw new ConvLoraError('E_USAGE', (err as Error).message);
  }
}

/** Progress bars (one per epoch) and per-epoch summary lines on stderr. */
export function progressReporter(io: CliIO, quiet = false): Reporter {
  let bar: Progress | undefined;
  return (e: PipelineEvent) => {
    if (quiet) return;
    switch (e.type) {
      case 'stage': io.stderr.write(`[${e.stage}] ${e.message}\n`); break;
      case 'epoch-start': bar = new Progress(io.stderr, `[${e.stage}] epoch ${e.epoch}/${e.epochs}`, e.steps); break;
      case 'step': bar?.update(e.step, `loss ${e.loss.toFixed(4)}`); break;
      case 'epoch-end': {
        if (bar !== undefined && io.stderr.isTTY === true) bar.done();
        bar = undefined;
        const metric = e.metric === undefined ? '' : `  ${e.metricName} ${Number.isNaN(e.metric) ? 'n/a' : e.metric.toFixed(4)}${e.best === true ? ' (best)' : ''}`;
        const loss = Number.isNaN(e.loss) ? 'before adaptation' : `loss ${e.loss.toFixed(4)}`;
        io.stderr.write(`[${e.stage}] epoch ${e.epoch}/${e.epochs} ${loss}${metric}  ${formatSeconds(e.seconds)}\n`);
        break;
      }
    }
  };
}

/**
 * Run a training command as one rank of a data-parallel job when it was launched as one (torchrun,
 * `srun`, `convlora launch`: pipeline/dist/parallel.ts), else as a single process. The group is left after
 * a final barrier on success, so no rank exits while rank 0 still writes.
 */
export async function withDataParallel<T>(io: CliIO, run: (dp: DataParallel | null) => Promise<T>): Promise<T> {
  const dp = joinDataParallel(io.env);
  let ok = false;
  try {
    const r = await run(dp);
    ok = true;
    return r;
  } finally { leaveDataParallel(dp, ok); }
}
