/**
 * Checks on a set of user scans before any training starts, from their headers (the voxels are
 * decoded later, when the scans are prepared, which finds a corrupt data stream):
 *   - every scan is a 3D volume with at least MIN_SCAN_EDGE voxels along each axis;
 *   - all scans come from one scanner: by their sidecars when they have them (every scan then needs
 *     one), otherwise by their headers: the same voxel orientation, and voxel sizes within
 *     MIXED_SPACING_TOLERANCE of the first scan's along every axis.
 */
import { ConvLoraError } from '../../errors.js';
import { readNiftiHeader } from '../nifti/index.js';
import { niftiAffine } from '../nifti/affine.js';
import { axisCodes } from '../image/orientation.js';
import { scannerKey, type ScannerKeyOptions } from './sidecar.js';
import type { UserScan } from './folder.js';

/**
 * Fewest voxels along any axis. The U-Net halves a slice three times (8x smaller at the encoder
 * output, where the early head reads), so an axis of fewer than 8 voxels would not fill a single
 * pixel there with scan content, only padding. A real T1 has 150-256 voxels per axis.
 */
export const MIN_SCAN_EDGE = 8;

/**
 * Two scans whose voxel sizes differ by more than this fraction along an axis (relative to the smaller)
 * are taken for two scanners or protocols. 25 %: one scanner's T1s differ by a few per cent (CC359's
 * Philips 1.5 T: 1 vs 0.89 mm, 12 %), while CC359's Siemens 3 T slices (1.33 mm) are 33 % from the
 * others' 1 mm. The same tolerance decides when `segment` resamples (conform.ts CONFORM_TOLERANCE).
 */
export const MIXED_SPACING_TOLERANCE = 0.25;

/** What a header says about a scan. */
export interface ScanHeader {
  dims: [number, number, number];
  /** Voxel size (mm) along the file axes. */
  spacing: [number, number, number];
  /** Axis codes such as 'RAS', or null for a degenerate affine. */
  orientation: string | null;
}

/**
 * Read and check one scan's header: E_NIFTI (corrupt or not NIfTI) or E_IO naming the file; E_SHAPE
 * for a volume that is not 3D, or E_SHAPE/E_SCAN_TOO_SMALL for an axis under MIN_SCAN_EDGE voxels.
 */
export async function readScanHeader(path: string): Promise<ScanHeader> {
  const h = await readNiftiHeader(path);
  const dims = h.dim.slice(1, 1 + (h.dim[0] ?? 0));
  if (dims.length < 3 || dims.slice(3).some((d) => d !== 1)) {
    throw new ConvLoraError('E_SHAPE', `Expected a 3D volume in ${path} but received dims [${dims.join(', ')}]`);
  }
  const d3 = dims.slice(0, 3) as [number, number, number];
  if (d3.some((d) => d < MIN_SCAN_EDGE)) {
    throw new ConvLoraError('E_SHAPE', `${path} has dims [${d3.join(', ')}]: the network needs at least ${MIN_SCAN_EDGE} voxels along every axis`, { detail: 'E_SCAN_TOO_SMALL' });
  }
  let orientation: string | null = null;
  try { orientation = axisCodes(niftiAffine(h)); } catch { /* degenerate affine: no orientation */ }
  const spacing = h.pixdim.slice(1, 4).map((x) => Math.abs(x) || 1) as [number, number, number];
  return { dims: d3, spacing, orientation };
}

function mixed(message: string): ConvLoraError {
  return new ConvLoraError('E_DATA', message, { detail: 'E_DATA_MIXED_SCANNERS' });
}

const mm = (s: readonly number[]): string => s.map((x) => +x.toFixed(3)).join(' x ');

/** Largest relative voxel-size difference between two scans along any axis (relative to the smaller). */
export function spacingDifference(a: readonly number[], b: readonly number[]): number {
  return Math.max(...[0, 1, 2].map((i) => Math.abs(a[i]! - b[i]!) / Math.min(a[i]!, b[i]!)));
}

/**
 * Throw E_DATA/E_DATA_MIXED_SCANNERS, naming two scans that differ, unless all come from one scanner
 * (rule in the file comment). `headers[i]` belongs to `scans[i]`.
 */
export function checkOneScanner(scans: readonly UserScan[], headers: readonly ScanHeader[], opts: ScannerKeyOptions = {}): void {
  const first = scans[0];
  if (first === undefined) return;
  const withSidecar = scans.filter((s) => s.sidecar !== null);
  if (withSidecar.length > 0) {
    const bare = scans.find((s) => s.sidecar === null);
    if (bare !== undefined) {
      throw mixed(`${bare.imagePath} has no sidecar but ${withSidecar[0]!.imagePath} has one: give every scan its <name>.json sidecar, or none, so that they can be told to come from one scanner`);
    }
    const key0 = scannerKey(first.sidecar!, opts);
    for (const s of scans) {
      const key = scannerKey(s.sidecar!, opts);
      if (key !== key0) throw mixed(`${first.imagePath} (${key0}) and ${s.imagePath} (${key}) come from different scanners, by their sidecars; put each scanner's scans in its own folder`);
    }
    return;
  }
  const h0 = headers[0]!;
  scans.forEach((s, i) => {
    const h = headers[i]!;
    if (h.orientation !== h0.orientation) {
      throw mixed(`${first.imagePath} is stored ${h0.orientation ?? 'with no orientation'} but ${s.imagePath} ${h.orientation ?? 'with no orientation'}: scans stored differently are taken for different scanners; put each scanner's scans in its own folder (or add <name>.json sidecars)`);
    }
    const diff = spacingDifference(h0.spacing, h.spacing);
    if (diff > MIXED_SPACING_TOLERANCE) {
      throw mixed(`${first.imagePath} has ${mm(h0.spacing)} mm voxels but ${s.imagePath} ${mm(h.spacing)} mm (${Math.round(diff * 100)} % apart, more than ${MIXED_SPACING_TOLERANCE * 100} %): taken for different scanners; put each scanner's scans in its own folder (or add <name>.json sidecars)`);
    }
  });
}

/** Distinct voxel sizes ('1 x 1 x 1.2') and orientations of a group, for listing. */
export function summarizeHeaders(headers: readonly ScanHeader[]): { voxelSizes: string[]; orientations: string[] } {
  const voxelSizes = [...new Set(headers.map((h) => mm(h.spacing)))].sort();
  const orientations = [...new Set(headers.map((h) => h.orientation ?? 'unknown'))].sort();
  return { voxelSizes, orientations };
}
