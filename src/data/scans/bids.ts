/**
 * T1-weighted scans of a BIDS dataset, grouped into scanner domains by their JSON sidecars.
 *
 * Scans: `<root>/sub-<label>/[ses-<label>/]anat/*_T1w.nii[.gz]`. Metadata follows the BIDS inheritance
 * principle: a `*T1w.json` file applies to a scan when it sits in the scan's folder or a folder above
 * it (down from the dataset root: root, subject, session, anat) and every entity in its name
 * (`acq-mprage`, `sub-01`, ...) appears in the scan's name with the same value; files nearer the scan
 * override the fields of files above them. Several applicable files in one folder are read in order of
 * their entities (`T1w.json` before `acq-fast_T1w.json`), each one's entities a strict superset of the
 * one before; files that cannot be so ordered are an error (BIDS forbids them), as is a scan with no
 * applicable file. The scanner key of each scan comes from the merged fields (sidecar.ts).
 */
import { join } from 'node:path';
import { ConvLoraError } from '../../errors.js';
import { isDirectory } from '../../fsutil.js';
import { findMask, listFolder, niftiStem, type UserScan } from './folder.js';
import { readSidecars, scannerKey, type ScannerKeyOptions } from './sidecar.js';

export interface BidsScan extends UserScan {
  subject: string;
  session: string | null;
  /** Entities of the file name (`{ sub: '01', ses: '1', acq: 'mprage' }`). */
  entities: Record<string, string>;
  /** Scanner key from the sidecars, e.g. `Siemens_Prisma_3T`. */
  scanner: string;
}

export interface BidsOptions extends ScannerKeyOptions {
  /** Folder of masks keyed by scan stem (folder.ts findMask); default: `<stem>_mask.nii[.gz]` beside each scan. */
  masks?: string;
}

const T1W_RE = /_T1w\.nii(\.gz)?$/;

function dataError(detail: string, message: string): ConvLoraError {
  return new ConvLoraError('E_DATA', message, { detail });
}

/** `sub-01_acq-x_T1w` -> entities and suffix; null when a part is not `key-value`. */
export function parseBidsName(stem: string): { entities: Record<string, string>; suffix: string } | null {
  const parts = stem.split('_');
  const suffix = parts.pop()!;
  const entities: Record<string, string> = {};
  for (const p of parts) {
    const m = /^([A-Za-z0-9]+)-([A-Za-z0-9]+)$/.exec(p);
    if (m === null) return null;
    entities[m[1]!] = m[2]!;
  }
  return { entities, suffix };
}

/**
 * The T1w sidecar files of one folder that apply to a scan with these entities, in reading order (fewer
 * entities first). Throws E_DATA/E_DATA_SIDECAR for two that cannot be ordered (neither's entities a
 * strict superset of the other's).
 */
function applicable(dir: string, names: readonly string[], entities: Record<string, string>, scan: string): string[] {
  const found: { path: string; keys: string[] }[] = [];
  for (const n of names) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue;
    const parsed = parseBidsName(n.slice(0, -'.json'.length));
    if (parsed === null || parsed.suffix !== 'T1w' || !Object.entries(parsed.entities).every(([k, v]) => entities[k] === v)) continue;
    found.push({ path: join(dir, n), keys: Object.keys(parsed.entities) });
  }
  found.sort((a, b) => a.keys.length - b.keys.length);
  for (let i = 1; i < found.length; i++) {
    const [a, b] = [found[i - 1]!, found[i]!];
    if (b.keys.length === a.keys.length || !a.keys.every((k) => b.keys.includes(k))) {
      throw dataError('E_DATA_SIDECAR', `${a.path} and ${b.path} both apply to ${scan} at one level and neither's entities include the other's, so BIDS gives no order to read them in`);
    }
  }
  return found.map((f) => f.path);
}

/**
 * Every T1w scan of a BIDS dataset with its sidecars and scanner key, sorted by path. Throws E_DATA
 * naming the file or folder: no such folder or no `sub-*` folder (E_DATA_MISSING_DIR / E_DATA_EMPTY),
 * no T1w scan (E_DATA_EMPTY), a scan without sidecar (E_DATA_NO_SIDECAR), two sidecars at one level,
 * malformed JSON (E_DATA_SIDECAR), a missing or unusable field (E_DATA_SIDECAR_FIELD).
 */
export async function listBidsScans(root: string, opts: BidsOptions = {}): Promise<BidsScan[]> {
  const top = await listFolder(root, 'BIDS dataset');
  if (opts.masks !== undefined) await listFolder(opts.masks, 'masks folder');
  const subjects: string[] = [];
  for (const n of top) if (/^sub-[A-Za-z0-9]+$/.test(n) && (await isDirectory(join(root, n)))) subjects.push(n);
  if (subjects.length === 0) throw dataError('E_DATA_EMPTY', `${root} is not a BIDS dataset: it has no sub-<label> folders`);
  const listings = new Map<string, string[]>([[root, top]]);
  const list = async (dir: string): Promise<string[]> => {
    let names = listings.get(dir);
    if (names === undefined) { names = await listFolder(dir); listings.set(dir, names); }
    return names;
  };
  const scans: BidsScan[] = [];
  for (const sub of subjects) {
    const subDir = join(root, sub);
    const levels: string[][] = [[root, subDir]];
    for (const n of await list(subDir)) if (/^ses-[A-Za-z0-9]+$/.test(n) && (await isDirectory(join(subDir, n)))) levels.push([root, subDir, join(subDir, n)]);
    for (const dirs of levels) {
      const anat = join(dirs[dirs.length - 1]!, 'anat');
      if (!(await isDirectory(anat))) continue;
      for (const name of (await list(anat)).filter((n) => T1W_RE.test(n) && !n.startsWith('.'))) {
        scans.push(await bidsScan(join(anat, name), [...dirs, anat], list, opts));
      }
    }
  }
  if (scans.length === 0) throw dataError('E_DATA_EMPTY', `No T1-weighted scans (sub-*/[ses-*/]anat/*_T1w.nii[.gz]) in the BIDS dataset ${root}`);
  return scans;
}

async function bidsScan(imagePath: string, dirs: readonly string[], list: (dir: string) => Promise<string[]>, opts: BidsOptions): Promise<BidsScan> {
  const anat = dirs[dirs.length - 1]!;
  const stem = niftiStem(imagePath.slice(anat.length + 1))!;
  const parsed = parseBidsName(stem);
  if (parsed === null || parsed.entities.sub === undefined) {
    throw dataError('E_DATA_BIDS_NAME', `${imagePath} is not named as BIDS says (sub-<label>[_<key>-<value>...]_T1w.nii[.gz])`);
  }
  const files: string[] = [];
  for (const dir of dirs) {
    files.push(...applicable(dir, await list(dir), parsed.entities, imagePath));
  }
  if (files.length === 0) {
    throw dataError('E_DATA_NO_SIDECAR', `No JSON sidecar for ${imagePath}: expected ${join(anat, `${stem}.json`)} or an inherited T1w.json above it`);
  }
  const sidecar = await readSidecars(files);
  return {
    stem, imagePath, maskPath: await findMask(stem, anat, opts.masks), sidecar,
    subject: parsed.entities.sub, session: parsed.entities.ses ?? null, entities: parsed.entities, scanner: scannerKey(sidecar, opts),
  };
}

/** Scans grouped by scanner key (keys sorted; scans in path order). */
export function groupByScanner<T extends { scanner: string }>(scans: readonly T[]): { key: string; scans: T[] }[] {
  const groups = new Map<string, T[]>();
  for (const s of scans) groups.set(s.scanner, [...(groups.get(s.scanner) ?? []), s]);
  return [...groups.keys()].sort().map((key) => ({ key, scans: groups.get(key)! }));
}
