/**
 * Voxel-axis orientation of NIfTI volumes, and exact reorientation between orientations.
 *
 * A volume's orientation is three letters, one per voxel axis (x, y, z in file order), naming the world
 * direction that axis points toward in NIfTI's RAS+ world: R/L (world x), A/P (world y), S/I (world z).
 * Each voxel axis takes the world axis its affine column leans on most, largest first, so every world
 * axis is used once (oblique volumes get the nearest orthogonal orientation). Reorientation only
 * permutes and flips axes: no interpolation, so a round trip gives back the same voxels.
 */
import { ConvLoraError } from '../../errors.js';
import type { Affine } from '../nifti/affine.js';
import type { NiftiData } from '../nifti/codec.js';

const LABELS = [['L', 'R'], ['P', 'A'], ['I', 'S']] as const;

/** Three letters such as 'RAS' or 'LPI' for an affine's voxel axes. Throws E_NIFTI for a degenerate affine. */
export function axisCodes(affine: Affine): string {
  const m = [0, 1, 2].map((w) => [0, 1, 2].map((a) => affine[w]?.[a] ?? 0));
  const pairs: { w: number; a: number; v: number }[] = [];
  for (let w = 0; w < 3; w++) for (let a = 0; a < 3; a++) pairs.push({ w, a, v: Math.abs(m[w]![a]!) });
  pairs.sort((p, q) => q.v - p.v || p.a - q.a || p.w - q.w);
  const worldOf: number[] = [-1, -1, -1];
  const usedWorld = new Set<number>();
  for (const p of pairs) {
    if (worldOf[p.a] !== -1 || usedWorld.has(p.w) || !(p.v > 0)) continue;
    worldOf[p.a] = p.w;
    usedWorld.add(p.w);
  }
  if (worldOf.some((w) => w === -1)) {
    throw new ConvLoraError('E_NIFTI', `Cannot tell the orientation of a volume whose affine has a zero or repeated axis: ${JSON.stringify(m)}`);
  }
  return worldOf.map((w, a) => LABELS[w]![m[w]![a]! > 0 ? 1 : 0]).join('');
}

/** Checks a three-letter orientation code: one letter of each pair R/L, A/P, S/I. */
export function checkAxisCodes(codes: string, what = 'orientation'): string {
  const up = codes.toUpperCase();
  const worlds = [...up].map((c) => LABELS.findIndex((pair) => (pair as readonly string[]).includes(c)));
  if (up.length !== 3 || worlds.includes(-1) || new Set(worlds).size !== 3) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected three letters, one each of R/L, A/P and S/I (like "RAS"), for \`${what}\` but received ${JSON.stringify(codes)}`);
  }
  return up;
}

/** How to get `to` from `from`: output axis t reads input axis `axis[t]`, reversed where `flip[t]`. */
export interface Reorientation { from: string; to: string; axis: [number, number, number]; flip: [boolean, boolean, boolean] }

export function reorientation(from: string, to: string): Reorientation {
  const f = checkAxisCodes(from, 'from'), t = checkAxisCodes(to, 'to');
  const world = (c: string): number => LABELS.findIndex((pair) => (pair as readonly string[]).includes(c));
  const axis = [0, 1, 2].map((o) => [...f].findIndex((c) => world(c) === world(t[o]!))) as [number, number, number];
  const flip = [0, 1, 2].map((o) => f[axis[o]!] !== t[o]) as [boolean, boolean, boolean];
  return { from: f, to: t, axis, flip };
}

export function isIdentity(r: Reorientation): boolean {
  return r.axis.every((a, i) => a === i) && r.flip.every((x) => !x);
}

/** Dims (or spacing) of the reoriented volume. */
export function reorientShape<T>(values: readonly T[], r: Reorientation): [T, T, T] {
  return r.axis.map((a) => values[a]!) as [T, T, T];
}

/** Voxels (x fastest, dims [nx, ny, nz]) of the reoriented volume; a new array of the same type. */
export function reorientData<T extends NiftiData>(data: T, dims: readonly number[], r: Reorientation): T {
  const n = [dims[0] ?? 1, dims[1] ?? 1, dims[2] ?? 1];
  const total = n[0]! * n[1]! * n[2]!;
  if (data.length !== total) throw new ConvLoraError('E_SHAPE', `Expected ${total} voxels for dims [${n.join(', ')}] but received ${data.length}`);
  const stride = [1, n[0]!, n[0]! * n[1]!];
  const od = reorientShape(n, r);
  // Input offset of output index 0 along each output axis, and the input step per output step.
  const step = r.axis.map((a, t) => (r.flip[t] ? -stride[a]! : stride[a]!));
  const base = r.axis.reduce((s, a, t) => s + (r.flip[t] ? (n[a]! - 1) * stride[a]! : 0), 0);
  const out = new (data.constructor as new (n: number) => T)(total) as unknown as { [i: number]: number };
  let o = 0;
  for (let k = 0; k < od[2]; k++) {
    for (let j = 0; j < od[1]; j++) {
      let src = base + k * step[2]! + j * step[1]!;
      for (let i = 0; i < od[0]; i++, o++, src += step[0]!) out[o] = data[src]!;
    }
  }
  return out as unknown as T;
}

/** The voxel-to-world affine of the reoriented volume (the same world positions as the input's). */
export function reorientAffine(affine: Affine, dims: readonly number[], r: Reorientation): Affine {
  const out: Affine = affine.map((row) => [...row]);
  for (let w = 0; w < 3; w++) {
    let offset = affine[w]![3]!;
    for (let t = 0; t < 3; t++) {
      const a = r.axis[t]!;
      const col = affine[w]![a]!;
      out[w]![t] = r.flip[t] ? -col : col;
      if (r.flip[t]) offset += col * ((dims[a] ?? 1) - 1);
    }
    out[w]![3] = offset;
  }
  return out;
}
