/**
 * JSON sidecars (BIDS `*_T1w.json`, or `<stem>.json` beside a scan in a plain folder) and the scanner
 * key they give a scan: `<Manufacturer>_<ManufacturersModelName>_<MagneticFieldStrength>T`, e.g.
 * `Siemens_Prisma_3T`, optionally followed by the sequence (`SequenceName`, else `PulseSequenceType`).
 * Values are used as written (`SIEMENS` and `Siemens` are two keys); characters unsafe in a file name
 * become '-' (names.ts).
 */
import { promises as fsp } from 'node:fs';
import { ConvLoraError } from '../../errors.js';
import { checkDomainName, keyPart } from './names.js';

/** The fields a scanner key is made of. */
export const SCANNER_FIELDS = ['Manufacturer', 'ManufacturersModelName', 'MagneticFieldStrength'] as const;
/** Sequence fields, in order of preference, when keys also separate sequences. */
export const SEQUENCE_FIELDS = ['SequenceName', 'PulseSequenceType'] as const;

/** A scan's metadata: the sidecar files that apply to it (most general first) and their merged fields. */
export interface Sidecar {
  files: string[];
  fields: Record<string, unknown>;
}

export interface ScannerKeyOptions {
  /** Also separate scans by sequence (`SequenceName`, else `PulseSequenceType`). Default false. */
  sequence?: boolean;
}

function sidecarError(detail: string, message: string): ConvLoraError {
  return new ConvLoraError('E_DATA', message, { detail });
}

/** Read one JSON sidecar: an object, or E_DATA/E_DATA_SIDECAR naming the file. */
export async function readSidecarFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    throw new ConvLoraError('E_IO', `Could not read the sidecar ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try { json = JSON.parse(text); } catch (err) {
    throw sidecarError('E_DATA_SIDECAR', `The sidecar ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw sidecarError('E_DATA_SIDECAR', `The sidecar ${path} must hold a JSON object but holds ${Array.isArray(json) ? 'an array' : JSON.stringify(json)}`);
  }
  return json as Record<string, unknown>;
}

/** Where a field came from: the most specific sidecar that sets it, else the list of files read. */
function whereOf(sidecar: Sidecar, field: string, fields: Record<string, unknown>[]): string {
  for (let i = sidecar.files.length - 1; i >= 0; i--) if (fields[i] !== undefined && field in fields[i]!) return sidecar.files[i]!;
  return sidecar.files.join(' + ');
}

/** Read the sidecars (general first; later files override earlier ones, as BIDS inheritance says) and merge them. */
export async function readSidecars(files: readonly string[]): Promise<Sidecar & { perFile: Record<string, unknown>[] }> {
  const perFile: Record<string, unknown>[] = [];
  for (const f of files) perFile.push(await readSidecarFile(f));
  return { files: [...files], fields: Object.assign({}, ...perFile) as Record<string, unknown>, perFile };
}

function textField(sidecar: Sidecar, field: string, perFile: Record<string, unknown>[]): string {
  const v = sidecar.fields[field];
  const part = typeof v === 'string' ? keyPart(v) : '';
  if (part === '') {
    const what = v === undefined ? 'no' : `${JSON.stringify(v)} as its`;
    throw sidecarError('E_DATA_SIDECAR_FIELD', `The sidecar ${whereOf(sidecar, field, perFile)} has ${what} "${field}": expected a text with a letter or digit, needed to group scans by scanner`);
  }
  return part;
}

function fieldStrength(sidecar: Sidecar, perFile: Record<string, unknown>[]): string {
  const v = sidecar.fields.MagneticFieldStrength;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!(Number.isFinite(n) && n > 0)) {
    const what = v === undefined ? 'no' : `${JSON.stringify(v)} as its`;
    throw sidecarError('E_DATA_SIDECAR_FIELD', `The sidecar ${whereOf(sidecar, 'MagneticFieldStrength', perFile)} has ${what} "MagneticFieldStrength": expected a number of tesla > 0`);
  }
  return `${n}T`;
}

/**
 * The scanner key of merged sidecar fields. Throws E_DATA/E_DATA_SIDECAR_FIELD naming the sidecar and
 * the field when a field is missing or unusable.
 */
export function scannerKey(sidecar: Sidecar & { perFile?: Record<string, unknown>[] }, opts: ScannerKeyOptions = {}): string {
  const perFile = sidecar.perFile ?? [];
  const parts = [textField(sidecar, 'Manufacturer', perFile), textField(sidecar, 'ManufacturersModelName', perFile), fieldStrength(sidecar, perFile)];
  if (opts.sequence === true) {
    const field = SEQUENCE_FIELDS.find((f) => typeof sidecar.fields[f] === 'string' && keyPart(sidecar.fields[f] as string) !== '');
    if (field === undefined) {
      throw sidecarError('E_DATA_SIDECAR_FIELD', `The sidecar ${sidecar.files.join(' + ')} has neither "SequenceName" nor "PulseSequenceType", needed to group scans by sequence`);
    }
    parts.push(keyPart(sidecar.fields[field] as string));
  }
  return checkDomainName(parts.join('_'), 'scanner key');
}
