/**
 * The Calgary-Campinas-359 layout:
 *   <root>/Original/<Domain>/<stem>.nii.gz           T1 images
 *   <root>/Silver-standard/<Domain>/<stem>_ss.nii.gz  brain masks
 * A volume's domain is the directory it sits in. A phantom root (written by `convlora phantom`) adds
 * `<root>/dataset.json`, declaring that it is a phantom and its per-domain slice ranges and size,
 * because phantom volumes are smaller than CC359's; without that file the CC359 ranges of docs/method.md §6 apply.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ConvLoraError } from '../../errors.js';
import { readNifti, readNiftiHeader, type NiftiHeader, type NiftiVolume } from '../nifti/index.js';
import { preprocessImage, preprocessMask, sliceCount, sliceGeometry, type SliceGeometry } from '../image/preprocess.js';

export const CC359_DOMAINS = ['GE_15', 'GE_3', 'Philips_15', 'Philips_3', 'Siemens_15', 'Siemens_3'] as const;
export type Domain = (typeof CC359_DOMAINS)[number];

/** Inclusive slice ranges along axis 0 per domain, chosen by the authors by inspection (docs/method.md §6). */
export const CC359_SLICE_RANGES: Readonly<Record<Domain, readonly [number, number]>> = {
  GE_15: [60, 195], GE_3: [25, 175], Philips_15: [10, 150], Philips_3: [20, 155], Siemens_15: [25, 165], Siemens_3: [60, 165],
};

/** The paper pads every slice to 256 x 256. */
export const CC359_SIZE = 256;
export const DATASET_FILE = 'dataset.json';

export function isDomain(name: string): name is Domain {
  return (CC359_DOMAINS as readonly string[]).includes(name);
}

/** How a root is to be read: slice ranges per domain and the common slice size. */
export interface DatasetInfo {
  root: string;
  /** True for a `convlora phantom` root (from dataset.json). */
  phantom: boolean;
  sliceRanges: Record<Domain, [number, number]>;
  /** Common output size of the slices (256 for CC359; the phantom's declared size). */
  size: number;
}

function dataError(message: string, detail?: string): ConvLoraError {
  return new ConvLoraError('E_DATA', message, detail === undefined ? undefined : { detail });
}

/** Read `<root>/dataset.json` if present (validated), else the CC359 defaults. */
export async function readDatasetInfo(root: string): Promise<DatasetInfo> {
  const path = join(root, DATASET_FILE);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConvLoraError('E_IO', `Could not read ${path}: ${(err as Error).message}`, { cause: err });
    const sliceRanges = Object.fromEntries(CC359_DOMAINS.map((d) => [d, [...CC359_SLICE_RANGES[d]]])) as Record<Domain, [number, number]>;
    return { root, phantom: false, sliceRanges, size: CC359_SIZE };
  }
  return parseDatasetInfo(root, path, text);
}

function parseDatasetInfo(root: string, path: string, text: string): DatasetInfo {
  let json: unknown;
  try { json = JSON.parse(text); } catch (err) { throw dataError(`${path} is not valid JSON: ${(err as Error).message}`, 'E_DATA_MANIFEST'); }
  const j = json as { phantom?: unknown; size?: unknown; sliceRanges?: Record<string, unknown> };
  if (typeof j !== 'object' || j === null) throw dataError(`${path}: expected a JSON object`, 'E_DATA_MANIFEST');
  const size = j.size ?? CC359_SIZE;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) throw dataError(`${path}: expected integer >= 1 for "size" but received ${JSON.stringify(size)}`, 'E_DATA_MANIFEST');
  const sliceRanges = {} as Record<Domain, [number, number]>;
  for (const d of CC359_DOMAINS) {
    const r = j.sliceRanges?.[d] ?? CC359_SLICE_RANGES[d];
    const ok = Array.isArray(r) && r.length === 2 && r.every((x) => Number.isInteger(x) && x >= 0) && (r[0] as number) <= (r[1] as number);
    if (!ok) throw dataError(`${path}: expected sliceRanges.${d} = [lo, hi] integers with 0 <= lo <= hi but received ${JSON.stringify(r)}`, 'E_DATA_MANIFEST');
    sliceRanges[d] = [r[0] as number, r[1] as number];
  }
  return { root, phantom: j.phantom === true, sliceRanges, size };
}

/** One scan: its image and mask files. */
export interface ScanEntry {
  domain: Domain;
  stem: string;
  imagePath: string;
  maskPath: string;
}

const IMAGE_RE = /^(.+)\.nii(\.gz)?$/;

/**
 * The scans of one domain, sorted by stem. Throws E_DATA (naming the path) when the domain directory is
 * missing or empty, or an image has no `<stem>_ss.nii[.gz]` mask.
 */
export async function listScans(root: string, domain: Domain): Promise<ScanEntry[]> {
  const imgDir = join(root, 'Original', domain), maskDir = join(root, 'Silver-standard', domain);
  const names = await readDir(imgDir, domain);
  const masks = new Set(await readDir(maskDir, domain));
  const entries: ScanEntry[] = [];
  for (const name of names.sort()) {
    const m = IMAGE_RE.exec(name);
    if (m === null || name.startsWith('.')) continue;
    const stem = m[1] as string;
    const mask = [`${stem}_ss.nii.gz`, `${stem}_ss.nii`].find((f) => masks.has(f));
    if (mask === undefined) throw dataError(`Missing mask for ${join(imgDir, name)}: expected ${join(maskDir, `${stem}_ss.nii.gz`)}`, 'E_DATA_MISSING_MASK');
    entries.push({ domain, stem, imagePath: join(imgDir, name), maskPath: join(maskDir, mask) });
  }
  if (entries.length === 0) throw dataError(`No .nii/.nii.gz volumes in ${imgDir} (domain ${domain})`, 'E_DATA_EMPTY');
  return entries;
}

async function readDir(dir: string, domain: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw dataError(`Missing directory ${dir} for domain ${domain}`, 'E_DATA_MISSING_DIR');
    throw new ConvLoraError('E_IO', `Could not list ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

function checkDomains(domains: readonly string[]): Domain[] {
  for (const d of domains) {
    if (!isDomain(d)) throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${CC359_DOMAINS.join(', ')} for \`domains\` but received ${JSON.stringify(d)}`);
  }
  return [...domains] as Domain[];
}

export interface ValidateOptions {
  /** Decode every voxel (finds corrupt gzip streams and NaNs); false checks headers only. Default true. */
  deep?: boolean;
  maxVoxels?: number;
}

export interface DatasetSummary {
  info: DatasetInfo;
  scans: Record<string, ScanEntry[]>;
  /** Slices each domain yields after clamping its range, summed over its scans. */
  slices: Record<string, number>;
}

/**
 * Check a dataset before training: every domain directory exists, every image has a mask of the same
 * shape, every file decodes, and every slice range meets its volumes. The first problem throws a coded
 * error naming the file: E_DATA (layout), E_NIFTI (corrupt file), E_SHAPE (mask/image mismatch).
 */
export async function validateDataset(root: string, domains: readonly string[] = CC359_DOMAINS, opts: ValidateOptions = {}): Promise<DatasetSummary> {
  const info = await readDatasetInfo(root);
  const scans: Record<string, ScanEntry[]> = {}, slices: Record<string, number> = {};
  for (const domain of checkDomains(domains)) {
    const entries = await listScans(root, domain);
    let total = 0;
    for (const e of entries) {
      const [img, mask] = opts.deep === false
        ? await Promise.all([readNiftiHeader(e.imagePath, opts), readNiftiHeader(e.maskPath, opts)]).then((hs) => hs.map(headerDims))
        : [(await readNifti(e.imagePath, opts)).dims, (await readNifti(e.maskPath, opts)).dims];
      checkSameShape(e, img ?? [], mask ?? []);
      total += sliceCount(sliceGeometry(img ?? [], info.sliceRanges[domain], info.size, e.imagePath));
    }
    scans[domain] = entries;
    slices[domain] = total;
  }
  return { info, scans, slices };
}

function headerDims(h: NiftiHeader): number[] {
  return h.dim.slice(1, (h.dim[0] ?? 0) + 1);
}

function checkSameShape(e: ScanEntry, img: readonly number[], mask: readonly number[]): void {
  if (img.length !== mask.length || img.some((d, i) => d !== mask[i])) {
    throw new ConvLoraError('E_SHAPE', `Mask ${e.maskPath} has dims [${mask.join(', ')}] but image ${e.imagePath} has [${img.join(', ')}]`);
  }
}

/** A preprocessed scan, ready for slicing into batches. */
export interface ScanData {
  stem: string;
  domain: Domain;
  /** [S, size, size] C-order, values in [0, 1]. */
  images: Float32Array;
  /** [S, size, size] C-order, 0/1. */
  masks: Uint8Array;
  /** [S, H, W] = [slices, size, size]. */
  shape: [number, number, number];
  /** Millimetres along [slice axis, rows, columns] after rotation: [|pixdim1|, |pixdim3|, |pixdim2|]. */
  spacing: [number, number, number];
  /** Map predictions back with toOriginalGrid(pred, geometry). */
  geometry: SliceGeometry;
  /** The source image's grid, to write a prediction as NIfTI on it (writeNifti({ ...source, data })). */
  source: Pick<NiftiVolume, 'dims' | 'spacing' | 'affine' | 'header'>;
}

export interface LoadOptions {
  /** Inclusive range along axis 0 (clamped to the volume). */
  sliceRange: readonly [number, number];
  /** Output slices are size x size (edge-padded or centre-cropped). */
  size: number;
  maxVoxels?: number;
}

/** Load, check and preprocess one scan (image and mask). */
export async function loadScan(entry: ScanEntry, opts: LoadOptions): Promise<ScanData> {
  const readOpts = opts.maxVoxels === undefined ? {} : { maxVoxels: opts.maxVoxels };
  const img = await readNifti(entry.imagePath, readOpts);
  const mask = await readNifti(entry.maskPath, { ...readOpts, nonFinite: 'zero' });
  checkSameShape(entry, img.dims, mask.dims);
  const geometry = sliceGeometry(img.dims, opts.sliceRange, opts.size, entry.imagePath);
  return { stem: entry.stem, domain: entry.domain, ...prepare(img, geometry), masks: preprocessMask(mask.data, geometry) };
}

/** Preprocess an image without a mask (for prediction on user data). */
export async function loadImageSlices(path: string, opts: LoadOptions): Promise<Omit<ScanData, 'masks' | 'stem' | 'domain'>> {
  const img = await readNifti(path, opts.maxVoxels === undefined ? {} : { maxVoxels: opts.maxVoxels });
  return prepareImage(img, opts, path);
}

/** Preprocess an image already in memory (slices along axis 0 within `opts.sliceRange`, `opts.size` square). */
export function prepareImage(img: NiftiVolume, opts: LoadOptions, what = 'volume'): Omit<ScanData, 'masks' | 'stem' | 'domain'> {
  return prepare(img, sliceGeometry(img.dims, opts.sliceRange, opts.size, what));
}

function prepare(img: NiftiVolume, geometry: SliceGeometry): Omit<ScanData, 'masks' | 'stem' | 'domain'> {
  const [sx = 1, sy = 1, sz = 1] = img.spacing;
  return {
    images: preprocessImage(img.data, geometry),
    shape: [sliceCount(geometry), geometry.size, geometry.size],
    spacing: [sx, sz, sy],
    geometry,
    source: { dims: img.dims, spacing: img.spacing, affine: img.affine, header: img.header },
  };
}
