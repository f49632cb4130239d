/**
 * The pipeline's view of a user's own scans (a plain folder, files or patterns, or one scanner group
 * of a BIDS dataset): open and check them before any work starts, then prepare each exactly as
 * `segment` does (conform.ts: orient, conform, all slices, pad), so an adapter trained or scored on them
 * sees what `segment` will give it.
 */
import { basename } from 'node:path';
import { ConvLoraError } from '../errors.js';
import { listBidsScans, groupByScanner } from '../data/scans/bids.js';
import { DEFAULT_CONFORM, prepareForModel, type ConformMode, type ModelGrid, type PreparedScan } from '../data/image/conform.js';
import { checkDomainName } from '../data/scans/names.js';
import { readNifti, type NiftiVolume } from '../data/nifti/index.js';
import { checkOneScanner, readScanHeader, summarizeHeaders, type ScanHeader } from '../data/scans/check.js';
import { listScanFiles, type UserScan } from '../data/scans/folder.js';
import { scannerKey, type ScannerKeyOptions } from '../data/scans/sidecar.js';
import type { AdaptScan } from './train/adapt.js';

/** Where a user's scans are: `scans` (folders, files or patterns) or `bids` (a dataset root), not both. */
export interface ScanSource extends ScannerKeyOptions {
  scans?: string | readonly string[];
  bids?: string;
  /** The BIDS scanner group; may be left out when the dataset has one scanner. */
  scanner?: string;
  /** A folder of masks (data/scans/folder.ts findMask); default: `<stem>_mask.nii[.gz]` beside each scan. */
  masks?: string;
  /** Refuse a plain folder of several scanners (default true; evaluation may score a mixed folder). */
  oneScanner?: boolean;
}

/** Checked scans of one scanner, with their headers (`headers[i]` is `scans[i]`'s). */
export interface ScanSet {
  kind: 'scans' | 'bids';
  inputs: string[];
  /** Scanner key from the sidecars, or null (a plain folder without sidecars). */
  scanner: string | null;
  scans: UserScan[];
  headers: ScanHeader[];
}

/** One scanner group of a BIDS dataset, as `convlora scanners` lists it. */
export interface ScannerSummary { key: string; scans: number; voxelSizes: string[]; orientations: string[]; files: string[] }

function sourceKind(src: ScanSource): 'scans' | 'bids' {
  if ((src.scans === undefined) === (src.bids === undefined)) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected exactly one of \`scans\` and \`bids\` but received ${src.scans === undefined ? 'neither' : 'both'}`);
  }
  return src.scans === undefined ? 'bids' : 'scans';
}

async function headersOf(scans: readonly UserScan[]): Promise<ScanHeader[]> {
  const out: ScanHeader[] = [];
  for (const s of scans) out.push(await readScanHeader(s.imagePath));
  return out;
}

/**
 * List and check a user's scans of one scanner (no voxel decoding): coded errors name the file or folder
 * (data/scans/: folder.ts, bids.ts, check.ts). A plain folder must hold one scanner (data/scans/check.ts rule); a BIDS
 * dataset is grouped by its sidecars and `scanner` picks the group.
 */
export async function openScanSet(src: ScanSource): Promise<ScanSet> {
  const kind = sourceKind(src);
  const keyOpts: ScannerKeyOptions = src.sequence === true ? { sequence: true } : {};
  const maskOpt = src.masks === undefined ? {} : { masks: src.masks };
  if (kind === 'scans') {
    const inputs = typeof src.scans === 'string' ? [src.scans] : [...src.scans!];
    const scans = await listScanFiles(inputs, maskOpt);
    const headers = await headersOf(scans);
    if (src.oneScanner === false) return { kind, inputs, scanner: null, scans, headers };
    checkOneScanner(scans, headers, keyOpts);
    const first = scans[0]!;
    return { kind, inputs, scanner: first.sidecar === null ? null : scannerKey(first.sidecar, keyOpts), scans, headers };
  }
  const root = src.bids!;
  const groups = groupByScanner(await listBidsScans(root, { ...keyOpts, ...maskOpt }));
  const list = groups.map((g) => `${g.key} (${g.scans.length} scan${g.scans.length === 1 ? '' : 's'})`).join(', ');
  let group = groups[0]!;
  if (src.scanner !== undefined) {
    const key = checkDomainName(src.scanner, 'scanner');
    const found = groups.find((g) => g.key === key);
    if (found === undefined) throw new ConvLoraError('E_DATA', `No scans of scanner ${JSON.stringify(key)} in the BIDS dataset ${root}; its scanners: ${list}`, { detail: 'E_DATA_NO_SCANNER' });
    group = found;
  } else if (groups.length > 1) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected \`scanner\`, one of the ${groups.length} scanners of ${root} (${list}), but received none`);
  }
  return { kind, inputs: [root], scanner: group.key, scans: group.scans, headers: await headersOf(group.scans) };
}

/** Every scanner group of a BIDS dataset with its scan count, voxel sizes and orientations (headers read). */
export async function bidsScanners(root: string, opts: ScannerKeyOptions = {}): Promise<ScannerSummary[]> {
  const out: ScannerSummary[] = [];
  for (const g of groupByScanner(await listBidsScans(root, opts))) {
    out.push({ key: g.key, scans: g.scans.length, ...summarizeHeaders(await headersOf(g.scans)), files: g.scans.map((s) => s.imagePath) });
  }
  return out;
}

/** A user's scan read and prepared for a model; `volume` is the scan as stored. */
export interface PreparedUserScan { scan: UserScan; volume: NiftiVolume; prep: PreparedScan }

/** Read (E_NIFTI naming a corrupt file) and prepare one scan exactly as `segment` does. */
export async function prepareUserScan(scan: UserScan, grid: ModelGrid, conform: ConformMode = DEFAULT_CONFORM): Promise<PreparedUserScan> {
  const volume = await readNifti(scan.imagePath);
  return { scan, volume, prep: prepareForModel(volume, grid, { conform, what: scan.imagePath }) };
}

/** The prepared slices of a scan as adaptation takes them (no mask), named `domain`. */
export function adaptScanOf(p: PreparedUserScan, domain: string): AdaptScan {
  return { stem: p.scan.stem, domain, images: p.prep.images, shape: p.prep.shape, spacing: p.prep.spacing };
}

/** A pixel shows the head when above this fraction of the scan's intensity range (background noise stays below). */
export const HEAD_LEVEL = 0.2;
/** A slice shows the head when its head area is at least this fraction of the scan's largest slice's. */
export const HEAD_AREA = 0.05;

/**
 * Indices of the slices that show the head: the label-free counterpart of CC359's per-domain slice
 * ranges, within which the source model was trained and its BatchNorm statistics measured. On the 64^3
 * phantoms (seeds 11 and 13) it keeps a span within 1-3 slices of the scaled CC359 range at each end
 * (GE_3 range 6-44: spans 4-46 to 8-42; Philips_3 range 5-39: 2-42 to 6-37), and drops the slices of air
 * beyond the head, which `segment` also sees but which bias re-estimated statistics
 * (test/pipeline/train/adapt-scans.test.ts). `images` is [S, H, W] in [0, 1] (min-max over the scan).
 */
export function headSlices(images: Float32Array, shape: readonly [number, number, number]): number[] {
  const [S, H, W] = shape, plane = H * W;
  const area = Array.from({ length: S }, (_, s) => {
    let n = 0;
    for (let p = s * plane; p < (s + 1) * plane; p++) if (images[p]! > HEAD_LEVEL) n++;
    return n;
  });
  const most = Math.max(0, ...area);
  return area.flatMap((a, s) => (most > 0 && a >= HEAD_AREA * most ? [s] : []));
}

/** The same scan with only the given slices (a copy). */
export function keepSlices(scan: AdaptScan, slices: readonly number[]): AdaptScan {
  const [, H, W] = scan.shape, plane = H * W;
  const images = new Float32Array(slices.length * plane);
  slices.forEach((s, i) => images.set(scan.images.subarray(s * plane, (s + 1) * plane), i * plane));
  return { ...scan, images, shape: [slices.length, H, W] };
}

/** A scan's file name, for records and messages. */
export function fileOf(scan: UserScan): string {
  return basename(scan.imagePath);
}
