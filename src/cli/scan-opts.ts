/** Options naming a user's own scans (`--scans`, `--bids`, `--scanner`, ...), shared by adapt and evaluate. */
import { ConvLoraError } from '../errors.js';
import { checkDomainName } from '../data/scans/names.js';
import type { ScanSource } from '../pipeline/scans.js';
import { stringOpt, type OptionSpec } from './command.js';

export const SCAN_OPTIONS: OptionSpec = {
  scans: { type: 'string', multiple: true }, bids: { type: 'string' }, scanner: { type: 'string' }, 'by-sequence': { type: 'boolean' },
};

type Values = Record<string, unknown>;

/** A name given on the command line; one that is not a safe file name is a usage error (exit 2). */
function cliName(value: string, flag: string): string {
  try { return checkDomainName(value, flag); } catch (err) { throw new ConvLoraError('E_USAGE', (err as Error).message.replace(`\`${flag}\``, `--${flag}`)); }
}

/** `{ source }` from --scans (repeatable) or --bids, with --scanner, --by-sequence and --masks. */
export function scanSourceOpts(v: Values): { source: ScanSource } {
  const raw = v.scans;
  const scans = raw === undefined ? undefined : Array.isArray(raw) ? raw.map(String) : [String(raw)];
  const bids = stringOpt(v, 'bids');
  if (scans !== undefined && bids !== undefined) throw new ConvLoraError('E_USAGE', 'Expected --scans or --bids, not both');
  if (v.data !== undefined) throw new ConvLoraError('E_USAGE', `Expected --data (CC359 layout) or --${bids === undefined ? 'scans' : 'bids'}, not both`);
  const scanner = stringOpt(v, 'scanner');
  if (scanner !== undefined && bids === undefined) throw new ConvLoraError('E_USAGE', '--scanner picks a scanner group of a BIDS dataset: use it with --bids');
  const masks = stringOpt(v, 'masks');
  const source: ScanSource = {
    ...(scans === undefined ? { bids: bids! } : { scans }),
    ...(scanner === undefined ? {} : { scanner: cliName(scanner, 'scanner') }),
    ...(masks === undefined ? {} : { masks }),
    ...(v['by-sequence'] === true ? { sequence: true } : {}),
  };
  return { source };
}

/** `{ name }` from --name (or --target, its synonym for one's own scans), checked as a safe file name. */
export function scanNameOpt(v: Values): { name?: string } {
  const name = stringOpt(v, 'name'), target = stringOpt(v, 'target');
  if (name !== undefined && target !== undefined && name !== target) throw new ConvLoraError('E_USAGE', `Expected --name or --target, not both (received ${JSON.stringify(name)} and ${JSON.stringify(target)})`);
  const given = name ?? target;
  return given === undefined ? {} : { name: cliName(given, name === undefined ? 'target' : 'name') };
}
