/**
 * Voxel-to-world affines of NIfTI headers (4x4, row-major, world in millimetres).
 * Voxel (i, j, k) maps to affine @ [i, j, k, 1].
 */
import type { NiftiHeader } from './header.js';

export type Affine = number[][];

/** The affine a reader should use: sform if sform_code > 0, else qform if qform_code > 0, else the pixdim diagonal. */
export function niftiAffine(h: NiftiHeader): Affine {
  if (h.sformCode > 0) return [[...h.srowX], [...h.srowY], [...h.srowZ], [0, 0, 0, 1]];
  if (h.qformCode > 0) return qformAffine(h);
  const p = (i: number): number => Math.abs(h.pixdim[i] ?? 1) || 1;
  return [[p(1), 0, 0, 0], [0, p(2), 0, 0], [0, 0, p(3), 0], [0, 0, 0, 1]];
}

/** The qform affine: rotation from the unit quaternion (a, b, c, d), zooms pixdim[1..3], qfac = pixdim[0]. */
export function qformAffine(h: NiftiHeader): Affine {
  const b = h.quaternB, c = h.quaternC, d = h.quaternD;
  // a is implied. Float32 storage leaves 1 - (b^2 + c^2 + d^2) slightly off for half-turns; like the
  // reference nifti1_io (and unlike nibabel), a value below 1e-7 means a = 0 and (b, c, d) is renormalised.
  const s = b * b + c * c + d * d;
  const tiny = 1 - s < 1e-7;
  const a = tiny ? 0 : Math.sqrt(1 - s);
  const [qb, qc, qd] = tiny && s > 0 ? [b / Math.sqrt(s), c / Math.sqrt(s), d / Math.sqrt(s)] : [b, c, d];
  const qfac = (h.pixdim[0] ?? 1) < 0 ? -1 : 1;
  const zi = Math.abs(h.pixdim[1] ?? 1), zj = Math.abs(h.pixdim[2] ?? 1), zk = Math.abs(h.pixdim[3] ?? 1) * qfac;
  const r = [
    [a * a + qb * qb - qc * qc - qd * qd, 2 * (qb * qc - a * qd), 2 * (qb * qd + a * qc)],
    [2 * (qb * qc + a * qd), a * a + qc * qc - qb * qb - qd * qd, 2 * (qc * qd - a * qb)],
    [2 * (qb * qd - a * qc), 2 * (qc * qd + a * qb), a * a + qd * qd - qb * qb - qc * qc],
  ];
  const off = [h.qoffsetX, h.qoffsetY, h.qoffsetZ];
  return [0, 1, 2].map((row) => {
    const rr = r[row] as number[];
    return [(rr[0] ?? 0) * zi, (rr[1] ?? 0) * zj, (rr[2] ?? 0) * zk, off[row] ?? 0];
  }).concat([[0, 0, 0, 1]]);
}

/** The quaternion fields that encode `affine`, or null if its 3x3 part is not a rotation times zooms. */
export interface Quatern { b: number; c: number; d: number; qx: number; qy: number; qz: number; zooms: [number, number, number]; qfac: 1 | -1 }

export function affineToQuatern(affine: Affine): Quatern | null {
  const col = (j: number): number[] => [0, 1, 2].map((i) => affine[i]?.[j] ?? 0);
  const cols = [col(0), col(1), col(2)];
  const zooms = cols.map((v) => Math.hypot(...v)) as [number, number, number];
  if (zooms.some((z) => z === 0 || !Number.isFinite(z))) return null;
  const u = cols.map((v, j) => v.map((x) => x / (zooms[j] ?? 1)));
  const dot = (p: number[], q: number[]): number => p.reduce((acc, x, i) => acc + x * (q[i] ?? 0), 0);
  if (Math.abs(dot(u[0]!, u[1]!)) > 1e-4 || Math.abs(dot(u[0]!, u[2]!)) > 1e-4 || Math.abs(dot(u[1]!, u[2]!)) > 1e-4) return null;
  const det = dot(u[0]!, cross(u[1]!, u[2]!));
  const qfac: 1 | -1 = det < 0 ? -1 : 1;
  if (qfac < 0) u[2] = u[2]!.map((x) => -x);
  // r[i][j] = u[j][i]: columns are the unit axes.
  const r = (i: number, j: number): number => u[j]?.[i] ?? 0;
  let a: number, b: number, c: number, d: number;
  const trace = r(0, 0) + r(1, 1) + r(2, 2) + 1;
  if (trace > 0.5) {
    a = 0.5 * Math.sqrt(trace);
    b = 0.25 * (r(2, 1) - r(1, 2)) / a; c = 0.25 * (r(0, 2) - r(2, 0)) / a; d = 0.25 * (r(1, 0) - r(0, 1)) / a;
  } else {
    const xd = 1 + r(0, 0) - (r(1, 1) + r(2, 2)), yd = 1 + r(1, 1) - (r(0, 0) + r(2, 2)), zd = 1 + r(2, 2) - (r(0, 0) + r(1, 1));
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd); c = 0.25 * (r(0, 1) + r(1, 0)) / b; d = 0.25 * (r(0, 2) + r(2, 0)) / b; a = 0.25 * (r(2, 1) - r(1, 2)) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd); b = 0.25 * (r(0, 1) + r(1, 0)) / c; d = 0.25 * (r(1, 2) + r(2, 1)) / c; a = 0.25 * (r(0, 2) - r(2, 0)) / c;
    } else {
      d = 0.5 * Math.sqrt(zd); b = 0.25 * (r(0, 2) + r(2, 0)) / d; c = 0.25 * (r(1, 2) + r(2, 1)) / d; a = 0.25 * (r(1, 0) - r(0, 1)) / d;
    }
    if (a < 0) { b = -b; c = -c; d = -d; }
  }
  return { b, c, d, qx: affine[0]?.[3] ?? 0, qy: affine[1]?.[3] ?? 0, qz: affine[2]?.[3] ?? 0, zooms, qfac };
}

function cross(p: number[], q: number[]): number[] {
  const [p0 = 0, p1 = 0, p2 = 0] = p, [q0 = 0, q1 = 0, q2 = 0] = q;
  return [p1 * q2 - p2 * q1, p2 * q0 - p0 * q2, p0 * q1 - p1 * q0];
}

/** Largest absolute element-wise difference of two 4x4 affines. */
export function affineDistance(a: Affine, b: Affine): number {
  let m = 0;
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) m = Math.max(m, Math.abs((a[i]?.[j] ?? 0) - (b[i]?.[j] ?? 0)));
  return m;
}
