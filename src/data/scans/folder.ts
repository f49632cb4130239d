/**
 * A user's own T1 scans, outside the CC359 layout: a plain folder (or a list of files, or a glob such
 * as `dir/*_T1.nii.gz`) of NIfTI files with any names.
 *   - Masks are optional and only ever used for evaluation: `<stem>_mask.nii[.gz]` beside the scan, or
 *     a separate masks folder holding `<stem>_mask`, `<stem>_ss` or `<stem>` `.nii[.gz]`. A file
 *     named `*_mask.nii[.gz]` is a mask, never a scan.
 *   - A sidecar `<stem>.json` beside a scan, when present, tells its scanner (sidecar.ts).
 * Plain file-system work: no decoding of voxels here (check.ts reads headers).
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConvLoraError } from '../../errors.js';
import { readSidecars, type Sidecar } from './sidecar.js';

/** One scan of a user's folder or BIDS dataset. */
export interface UserScan {
  /** File name without `.nii`/`.nii.gz`; unique within a set. */
  stem: string;
  imagePath: string;
  /** Brain mask for evaluation, or null (adaptation never reads masks). */
  maskPath: string | null;
  /** The JSON sidecar(s) describing the scan, or null when there is none. */
  sidecar: (Sidecar & { perFile?: Record<string, unknown>[] }) | null;
}

const NIFTI_RE = /^(.+)\.nii(\.gz)?$/;
const MASK_RE = /_mask\.nii(\.gz)?$/;

/** `scan.nii.gz` -> `scan`; null for a name that is not a NIfTI file. */
export function niftiStem(name: string): string | null {
  const m = NIFTI_RE.exec(name);
  return m === null ? null : m[1]!;
}

/** A NIfTI file that is a scan (not hidden, not a `*_mask` file). */
export function isScanName(name: string): boolean {
  return !name.startsWith('.') && NIFTI_RE.test(name) && !MASK_RE.test(name);
}

function dataError(detail: string, message: string): ConvLoraError {
  return new ConvLoraError('E_DATA', message, { detail });
}

/** Entries of a folder; E_DATA/E_DATA_MISSING_DIR naming it when it does not exist. */
export async function listFolder(dir: string, what = 'folder'): Promise<string[]> {
  try {
    return (await fsp.readdir(dir)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw dataError('E_DATA_MISSING_DIR', `The ${what} ${dir} does not exist or is not a folder`);
    throw new ConvLoraError('E_IO', `Could not list ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

async function exists(path: string): Promise<boolean> {
  return fsp.stat(path).then((s) => s.isFile(), () => false);
}

/** `dir/*.nii.gz`-style pattern on file names ('*' any run, '?' one character); folders take no wildcards. */
function globRegex(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

const GLOB_CHARS = /[*?]/;

/** The scan files one input names: a folder's scans, a glob's matches, or the file itself. */
async function expandInput(input: string): Promise<string[]> {
  if (GLOB_CHARS.test(basename(input))) {
    const dir = dirname(input);
    if (GLOB_CHARS.test(dir)) throw new ConvLoraError('E_INVALID_ARG', `Expected wildcards only in the file name part of \`scans\` but received ${JSON.stringify(input)}`);
    const re = globRegex(basename(input));
    const found = (await listFolder(dir)).filter((n) => re.test(n) && isScanName(n)).map((n) => join(dir, n));
    if (found.length === 0) throw dataError('E_DATA_EMPTY', `No scans match ${input} (.nii/.nii.gz files, *_mask files excluded)`);
    return found;
  }
  const st = await fsp.stat(input).catch(() => null);
  if (st === null) throw dataError('E_DATA_MISSING', `The scan or folder ${input} does not exist`);
  if (st.isDirectory()) {
    const found = (await listFolder(input)).filter(isScanName).map((n) => join(input, n));
    if (found.length === 0) throw dataError('E_DATA_EMPTY', `No scans in the folder ${input}: expected .nii or .nii.gz files (*_mask files are masks, not scans)`);
    return found;
  }
  if (!NIFTI_RE.test(basename(input))) throw dataError('E_DATA_NOT_NIFTI', `${input} is not a .nii or .nii.gz file`);
  if (MASK_RE.test(basename(input))) throw dataError('E_DATA_NOT_NIFTI', `${input} is named as a mask (*_mask), not a scan`);
  return [input];
}

/**
 * The mask of a scan, or null: `masksDir/<stem>_mask|_ss|<stem>.nii[.gz]` when a masks folder is
 * given, else `<stem>_mask.nii[.gz]` beside the scan.
 */
export async function findMask(stem: string, scanDir: string, masksDir?: string): Promise<string | null> {
  const names = masksDir === undefined
    ? [`${stem}_mask.nii.gz`, `${stem}_mask.nii`].map((n) => join(scanDir, n))
    : [`${stem}_mask`, `${stem}_ss`, stem].flatMap((s) => [`${s}.nii.gz`, `${s}.nii`]).map((n) => join(masksDir, n));
  for (const p of names) if (await exists(p)) return p;
  return null;
}

export interface ListScansOptions {
  /** Folder of masks (see findMask); default: masks beside the scans. */
  masks?: string;
}

/**
 * Every scan the inputs name, sorted by stem. Throws E_DATA naming the path for a missing input, an
 * empty folder or glob, a non-NIfTI file, two scans with one stem, or a missing masks folder; a
 * malformed `<stem>.json` sidecar is E_DATA/E_DATA_SIDECAR naming it.
 */
export async function listScanFiles(inputs: string | readonly string[], opts: ListScansOptions = {}): Promise<UserScan[]> {
  const list = typeof inputs === 'string' ? [inputs] : [...inputs];
  if (list.length === 0) throw new ConvLoraError('E_INVALID_ARG', 'Expected at least one folder, file or pattern for `scans` but received none');
  if (opts.masks !== undefined) await listFolder(opts.masks, 'masks folder');
  const byStem = new Map<string, string>();
  for (const input of list) {
    for (const path of await expandInput(input)) {
      const stem = niftiStem(basename(path))!;
      const other = byStem.get(stem);
      if (other !== undefined && other !== path) throw dataError('E_DATA_DUPLICATE', `${other} and ${path} have the same name ${JSON.stringify(stem)}; rename one`);
      byStem.set(stem, path);
    }
  }
  const scans: UserScan[] = [];
  for (const stem of [...byStem.keys()].sort()) {
    const imagePath = byStem.get(stem)!;
    const json = join(dirname(imagePath), `${stem}.json`);
    const sidecar = (await exists(json)) ? await readSidecars([json]) : null;
    scans.push({ stem, imagePath, maskPath: await findMask(stem, dirname(imagePath), opts.masks), sidecar });
  }
  return scans;
}
