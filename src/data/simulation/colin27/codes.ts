/**
 * The anatomy code of the committed Colin27 map (`data/colin27/colin27_anatomy.nii.gz`, uint8, 1 mm):
 *
 * - 0: air (outside the head);
 * - 1..9: one whole tissue outside the brain mask, TISSUES[code - 1] (csf 1, fat 4, muscle 5, skin 6,
 *   bone 7, marrow 8, vitreous 9; gm 2 and wm 3 are valid but not produced);
 * - 16..216: brain. t = (code - 16) / 100 in [0, 2] walks CSF -> GM -> WM: t <= 1 is CSF (1 - t) and
 *   GM (t); t >= 1 is GM (2 - t) and WM (t - 1). A two-tissue mix per voxel is what a single T1 value
 *   can tell; 1 % steps are finer than the 1/255 steps of TissueVolume would make worth storing more.
 *
 * One byte per voxel: the whole 181 x 217 x 181 head compresses to well under a megabyte.
 */
import { TISSUES } from '../tissue.js';

export const CODE_AIR = 0;

/** Code of a voxel outside the brain mask holding only `tissue` (its TISSUES index + 1). */
export function tissueCode(tissue: number): number {
  return tissue + 1;
}
/** Code of the purest CSF; GM is BRAIN_BASE + BRAIN_STEPS, WM BRAIN_BASE + 2 * BRAIN_STEPS. */
export const BRAIN_BASE = 16;
export const BRAIN_STEPS = 100;
export const BRAIN_MAX = BRAIN_BASE + 2 * BRAIN_STEPS;

/** Whether a code is a brain voxel (the ground-truth mask). */
export function isBrainCode(code: number): boolean {
  return code >= BRAIN_BASE && code <= BRAIN_MAX;
}

/** Brain code of CSF/GM/WM fractions (summing to 1): t = 1 + wm - csf, exact on the CSF-GM-WM path. */
export function brainCode(csf: number, wm: number): number {
  const t = Math.min(2, Math.max(0, 1 + wm - csf));
  return BRAIN_BASE + Math.round(t * BRAIN_STEPS);
}

/**
 * Per code, the two tissues it holds and their shares: `a`/`b` are TISSUES indices (TISSUES.length
 * for "none": air), `wa`/`wb` the shares (summing to 1 for tissue, 0 for air and unused codes).
 * Lookup tables make the sampling loop branch-free.
 */
export interface CodeTable {
  a: Uint8Array;
  b: Uint8Array;
  wa: Float64Array;
  wb: Float64Array;
  brain: Uint8Array;
}

export function codeTable(): CodeTable {
  const none = TISSUES.length;
  const a = new Uint8Array(256).fill(none), b = new Uint8Array(256).fill(none);
  const wa = new Float64Array(256), wb = new Float64Array(256), brain = new Uint8Array(256);
  for (let k = 0; k < TISSUES.length; k++) { a[tissueCode(k)] = k; wa[tissueCode(k)] = 1; }
  for (let c = BRAIN_BASE; c <= BRAIN_MAX; c++) {
    const t = (c - BRAIN_BASE) / BRAIN_STEPS;
    brain[c] = 1;
    if (t <= 1) { a[c] = 0; wa[c] = 1 - t; b[c] = 1; wb[c] = t; } else { a[c] = 1; wa[c] = 2 - t; b[c] = 2; wb[c] = t - 1; }
  }
  return { a, b, wa, wb, brain };
}

/** Index of the first voxel whose code is undefined, or -1 (for validating a loaded file). */
export function firstInvalidCode(code: Uint8Array): number {
  for (let v = 0; v < code.length; v++) {
    const c = code[v]!;
    if (c > TISSUES.length && !isBrainCode(c)) return v;
  }
  return -1;
}
