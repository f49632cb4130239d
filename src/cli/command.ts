import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConvLoraError } from '../errors.js';
import type { NumberOption } from '../options.js';

/** Streams a command writes to: data on stdout, messages and progress on stderr. */
export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/**
 * One CLI command. `run` returns the exit code (0 ok, 1 failure); usage errors are thrown as
 * ConvLoraError('E_USAGE') and become exit code 2 in main.
 */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec;
  allowPositionals?: boolean;
  run(values: Record<string, string | boolean | string[] | boolean[] | undefined>, positionals: string[], io: CliIO): Promise<number>;
}

export function parseCommandArgs(cmd: Command, argv: string[]): { values: Record<string, string | boolean | string[] | boolean[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: cmd.allowPositionals ?? false,
      strict: true,
    });
    return { values: values as Record<string, string | boolean | string[] | boolean[] | undefined>, positionals };
  } catch (err) {
    throw new ConvLoraError('E_USAGE', `${(err as Error).message}\nUsage: ${cmd.usage}`);
  }
}

/** Read a string option, or throw a usage error when it is required and missing. */
export function stringOpt(values: Record<string, unknown>, name: string, required: true): string;
export function stringOpt(values: Record<string, unknown>, name: string, required?: false): string | undefined;
export function stringOpt(values: Record<string, unknown>, name: string, required = false): string | undefined {
  const v = values[name];
  if (v === undefined) {
    if (required) throw new ConvLoraError('E_USAGE', `Missing required option --${name}`);
    return undefined;
  }
  if (typeof v !== 'string') throw new ConvLoraError('E_USAGE', `Option --${name} takes a value`);
  return v;
}

/** Parse a numeric option; usage error naming the option and the value received. */
export function numberOpt(values: Record<string, unknown>, name: string, fallback: number, opts: { integer?: boolean; min?: number } = {}): number {
  const raw = stringOpt(values, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  const min = opts.min ?? -Infinity;
  if (raw.trim() === '' || !Number.isFinite(n) || (opts.integer === true && !Number.isInteger(n)) || n < min) {
    const what = opts.integer === true ? 'an integer' : 'a number';
    const bound = min === -Infinity ? '' : ` >= ${min}`;
    throw new ConvLoraError('E_USAGE', `Expected ${what}${bound} for --${name} but received ${JSON.stringify(raw)}`);
  }
  return n;
}

/**
 * Parse a numeric flag against its entry in the library's options table (default, integer, minimum), so the
 * CLI and the library accept the same values; usage error naming the flag. `fallback` overrides the table's
 * default where it depends on another option (LoRA alpha defaults to the rank).
 */
export function tableOpt(values: Record<string, unknown>, name: string, entry: NumberOption, fallback = entry.default): number {
  return numberOpt(values, name, fallback, entry);
}

/** Whether colour may be used on a stream (NO_COLOR and non-TTY respected). */
export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '') && env.TERM !== 'dumb';
}
