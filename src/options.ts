/**
 * Options tables: each stage keeps the default and the valid range of every numeric option in one table
 * beside its code (SOURCE_OPTIONS, HEAD_OPTIONS, ADAPT_OPTIONS, LORA_OPTIONS). The library validates what
 * it is given against the table (E_INVALID_ARG naming the option); the CLI, and the config files it reads,
 * parse flags against the same entries (cli/command.ts tableOpt: E_USAGE naming the flag), so a default or a
 * bound is written once.
 */
import { checkInt, checkNumber } from './errors.js';

/** One numeric option: its default and the smallest accepted value (inclusive); `integer` for counts. */
export interface NumberOption {
  readonly default: number;
  readonly min: number;
  readonly integer?: boolean;
}

export type OptionTable = Readonly<Record<string, NumberOption>>;

/** `value`, or the entry's default when it is undefined, checked against the entry (E_INVALID_ARG naming `name`). */
export function optionValue(name: string, value: unknown, entry: NumberOption): number {
  const v = value ?? entry.default;
  return entry.integer === true ? checkInt(name, v, entry.min) : checkNumber(name, v, entry.min);
}

/** The defaults of a table, by option name. */
export function defaultsOf<T extends OptionTable>(table: T): { readonly [K in keyof T]: number } {
  return Object.fromEntries(Object.entries(table).map(([k, e]) => [k, e.default])) as { [K in keyof T]: number };
}
