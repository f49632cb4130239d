/**
 * Simulated subjects with real anatomy: the Colin27 head (MRIcron's ch2/ch2bet, Debian mricron-data)
 * turned into a 1 mm anatomy code map by tools/derive-colin27.mjs and committed under data/colin27/.
 * The library reads that file; it never needs mricron-data.
 *
 * colin27Subject(anatomy, grid, { seed }) draws a pose (pose.ts) and samples the head onto a
 * scanner grid as partial-volume tissue fractions (render.ts); without a seed the head comes
 * out as it is (no rotation, scaling or deformation), on the grid's world coordinates.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ConvLoraError } from '../../../errors.js';
import { firstInvalidCode, isBrainCode } from './codes.js';
import { IDENTITY_POSE, drawColinPose, type PoseOptions } from './pose.js';
import { renderColin27, type RenderGrid, type RenderOptions } from './render.js';
import { parseNifti } from '../../nifti/index.js';
import type { TissueVolume } from '../tissue.js';

type Vec3 = [number, number, number];

/** The Colin27 anatomy: the code map on its 1 mm template grid. */
export interface Colin27Anatomy {
  /** [181, 217, 181] */
  dims: Vec3;
  /** Voxel size, mm ([1, 1, 1]). */
  spacing: Vec3;
  /** World mm (MNI-like RAS) of voxel (0, 0, 0); the template grid is axis-aligned. */
  origin: Vec3;
  /** Anatomy codes (codes.ts), file order. */
  code: Uint8Array;
  /** Centroid of the brain mask, world mm: the point a pose rotates and scales about. */
  center: Vec3;
}

/** The committed anatomy file in this package (data/colin27/ at the package root). */
export function colin27Path(): string {
  return fileURLToPath(new URL('../../../../../data/colin27/colin27_anatomy.nii.gz', import.meta.url));
}

/** Check and wrap a decoded code map. */
export function colin27FromNifti(bytes: Uint8Array, path = 'colin27 anatomy'): Colin27Anatomy {
  const vol = parseNifti(bytes);
  if (vol.dims.length !== 3 || !(vol.data instanceof Uint8Array)) {
    throw new ConvLoraError('E_DATA', `${path}: expected a 3D uint8 code map but received dims [${vol.dims.join(', ')}], datatype ${vol.datatype}`);
  }
  const A = vol.affine;
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) {
    const v = A[r]?.[c] ?? 0;
    if ((r === c && !(v > 0)) || (r !== c && v !== 0)) {
      throw new ConvLoraError('E_DATA', `${path}: expected an axis-aligned affine with positive voxel sizes but row ${r} is [${(A[r] ?? []).join(', ')}]`);
    }
  }
  const bad = firstInvalidCode(vol.data);
  if (bad >= 0) throw new ConvLoraError('E_DATA', `${path}: voxel ${bad} holds ${vol.data[bad]}, which is not an anatomy code`);
  const dims = vol.dims as Vec3;
  const spacing: Vec3 = [A[0]![0]!, A[1]![1]!, A[2]![2]!];
  const origin: Vec3 = [A[0]![3]!, A[1]![3]!, A[2]![3]!];
  let sx = 0, sy = 0, sz = 0, count = 0;
  const [nx, ny] = dims;
  for (let v = 0; v < vol.data.length; v++) {
    if (!isBrainCode(vol.data[v]!)) continue;
    sx += v % nx; sy += Math.floor(v / nx) % ny; sz += Math.floor(v / (nx * ny));
    count++;
  }
  if (count === 0) throw new ConvLoraError('E_DATA', `${path}: the code map holds no brain voxel`);
  const center = [sx, sy, sz].map((s, a) => origin[a]! + (s / count) * spacing[a]!) as Vec3;
  return { dims, spacing, origin, code: vol.data, center };
}

/** Read the committed Colin27 anatomy (or a code map at `path`). */
export async function loadColin27(path = colin27Path()): Promise<Colin27Anatomy> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new ConvLoraError('E_IO', `Could not read the Colin27 anatomy ${path}: ${(err as Error).message}`, { cause: err });
  }
  return colin27FromNifti(bytes, path);
}

/** Synchronous loadColin27, for worker threads that render many subjects. */
export function loadColin27Sync(path = colin27Path()): Colin27Anatomy {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ConvLoraError('E_IO', `Could not read the Colin27 anatomy ${path}: ${(err as Error).message}`, { cause: err });
  }
  return colin27FromNifti(bytes, path);
}

export interface Colin27SubjectOptions extends PoseOptions, RenderOptions {
  /** Seed of the pose; omitted: the template itself (identity pose). */
  seed?: number;
}

/**
 * One simulated subject on `grid`: tissue fractions and the brain mask, both through the same pose.
 * Same seed, options and grid: the same bytes.
 */
export function colin27Subject(anatomy: Colin27Anatomy, grid: RenderGrid, opts: Colin27SubjectOptions = {}): TissueVolume {
  const pose = opts.seed === undefined ? IDENTITY_POSE : drawColinPose(opts.seed, opts);
  return renderColin27(anatomy, pose, grid, opts);
}

export type { RenderGrid, RenderOptions } from './render.js';
export type { ColinPose, PoseOptions } from './pose.js';
