/**
 * Simulated people as tissue volumes on a scanner-like grid, from either anatomy model: Colin27 (real
 * anatomy, seeded rotation, scaling and smooth deformation: colin27/anatomy.ts) or the procedural head
 * (phantom-anatomy.ts). The grid is axis-aligned RAS with a cubic field of view (CC359's is about
 * 256 mm); the head sits near its centre, shifted by a few millimetres per subject as heads sit in real
 * scans. These feed domain randomization (randomize.ts) and the physics scanners (physics-scanners.ts).
 */
import { ConvLoraError, checkNumber } from '../../errors.js';
import { colin27Subject, type Colin27Anatomy } from './colin27/anatomy.js';
import { makeSubject, renderSubject, type Grid, type Subject } from './phantom-anatomy.js';
import type { TissueLevels } from './presets.js';
import { Rng, hashSeed } from '../rng.js';
import { TISSUES, type Tissue, type TissueVolume } from './tissue.js';

export type AnatomyKind = 'colin27' | 'procedural';
export const ANATOMY_KINDS: readonly AnatomyKind[] = ['colin27', 'procedural'];

export interface SubjectGridOptions {
  /** Isotropic voxel size, mm. */
  voxel: number;
  /** Field of view along every axis, mm. Default 256 (CC359's). */
  fov?: number;
  /** Largest head shift from the grid centre per axis, mm. Default 8. */
  shift?: number;
}

/** The grid and the head centre (world mm) for subject `seed`. */
export function subjectGrid(seed: number, o: SubjectGridOptions): { grid: Grid; center: [number, number, number] } {
  const voxel = checkNumber('voxel', o.voxel, 0.5, 16);
  const fov = checkNumber('fov', o.fov ?? 256, 4 * voxel);
  const n = Math.round(fov / voxel);
  const half = ((n - 1) / 2) * voxel;
  const rng = new Rng(hashSeed(seed, 0x9a1d));
  const s = o.shift ?? 8;
  const center: [number, number, number] = [rng.uniform(-s, s), rng.uniform(-s, s), rng.uniform(-s, s)];
  return { grid: { dims: [n, n, n], spacing: [voxel, voxel, voxel], origin: [-half, -half, -half] }, center };
}

function affineOf(grid: Grid): number[][] {
  const [sx, sy, sz] = grid.spacing, [ox, oy, oz] = grid.origin;
  return [[sx, 0, 0, ox], [0, sy, 0, oy], [0, 0, sz, oz], [0, 0, 0, 1]];
}

// Each tissue class as the procedural renderer's levels: the renderer mixes levels linearly (its
// brainstem and deep nuclei are fixed GM/WM blends), so rendering each class with level 1 and every
// other at 0 gives that class's partial-volume fraction exactly.
const LEVEL_KEYS: Record<Tissue, (keyof TissueLevels)[]> = {
  csf: ['csf'], gm: ['gm'], wm: ['wm'], fat: ['scalp', 'orbitFat'], muscle: ['muscle'], skin: ['skin'],
  bone: ['bone'], marrow: ['marrow'], vitreous: ['vitreous'],
};

/** A procedural head's tissue fractions and brain mask on `grid` (one render per tissue class). */
export function proceduralTissues(subject: Subject, grid: Grid): TissueVolume {
  const n = grid.dims[0] * grid.dims[1] * grid.dims[2];
  const fractions = new Uint8Array(TISSUES.length * n);
  // Neutral per-subject contrast: fractions must not carry the levels model's contrast jitter.
  const neutral: Subject = { ...subject, contrast: Object.fromEntries(Object.keys(subject.contrast).map((k) => [k, 1])) as Subject['contrast'] };
  let brain: Uint8Array | null = null;
  TISSUES.forEach((t, k) => {
    const levels = { scalp: 0, muscle: 0, bone: 0, marrow: 0, csf: 0, gm: 0, wm: 0, vitreous: 0, orbitFat: 0, skin: 0 } as TissueLevels;
    for (const key of LEVEL_KEYS[t]) levels[key] = 1;
    const { intensity, mask } = renderSubject(neutral, grid, levels);
    brain ??= mask;
    const out = fractions.subarray(k * n, (k + 1) * n);
    for (let i = 0; i < n; i++) out[i] = Math.round(255 * Math.min(1, Math.max(0, intensity[i]!)));
  });
  return { dims: [...grid.dims], spacing: [...grid.spacing], affine: affineOf(grid), fractions, brain: brain! };
}

/** Subject `seed` of the given anatomy on its own grid (seeded pose and head position). */
export function simulatedSubject(kind: AnatomyKind, seed: number, o: SubjectGridOptions, colin27?: Colin27Anatomy): TissueVolume {
  const { grid, center } = subjectGrid(seed, o);
  if (kind === 'colin27') {
    if (colin27 === undefined) throw new ConvLoraError('E_INVALID_ARG', 'Expected the Colin27 anatomy (loadColin27()) for colin27 subjects but received none');
    // The template's brain centroid goes to the subject's head centre.
    return colin27Subject(colin27, grid, { seed, center });
  }
  if (kind === 'procedural') return proceduralTissues(makeSubject(new Rng(hashSeed(seed, 0x70c)), center), grid);
  throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${ANATOMY_KINDS.join(', ')} for \`anatomy\` but received ${JSON.stringify(kind)}`);
}
