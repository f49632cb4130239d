/**
 * What the real-head benchmarks report per head (bench/real-heads.ts, bench/real-adapt.ts): Dice, Surface
 * Dice at 2 mm, HD95 (mm), gross false positives (ml of the mask farther than 6 mm outside the reference:
 * face, orbits, skull base, not an edge convention), missed brain (ml of the reference outside the mask,
 * and the part deeper than 6 mm inside it), and the volumes. Masks are file-order volumes [nx, ny, nz].
 */
import { distanceMap } from '../src/data/image/morphology.js';
import { evaluateMasks } from '../src/metrics/index.js';

export interface HeadMetrics {
  dice: number; surfaceDice2mm: number; hd95: number;
  grossFpMl: number; fpMl: number; missedMl: number; deepMissedMl: number; maskMl: number; referenceMl: number;
}

/** Gross: farther than this from the other mask (mm). */
export const GROSS_MM = 6;

export function headMetrics(ref: Uint8Array, mask: Uint8Array, dims: readonly number[], spacing: readonly number[]): HeadMetrics {
  const d = [dims[0]!, dims[1]!, dims[2]!] as [number, number, number];
  const sp = [spacing[0]!, spacing[1]!, spacing[2]!] as [number, number, number];
  // evaluateMasks takes C-order [S, H, W]: a file-order volume is [nz, ny, nx] with spacing reversed.
  const m = evaluateMasks(ref, mask, { shape: [d[2], d[1], d[0]], spacing: [sp[2], sp[1], sp[0]], tolerance: 2 });
  const outsideRef = distanceMap(ref, d, sp);
  const insideRef = distanceMap(Uint8Array.from(ref, (v) => 1 - v), d, sp);
  const ml = sp[0] * sp[1] * sp[2] / 1000;
  let gross = 0, fp = 0, missed = 0, deep = 0, maskN = 0, refN = 0;
  for (let i = 0; i < ref.length; i++) {
    if (mask[i]) { maskN++; if (!ref[i]) { fp++; if (outsideRef[i]! > GROSS_MM) gross++; } }
    if (ref[i]) { refN++; if (!mask[i]) { missed++; if (insideRef[i]! > GROSS_MM) deep++; } }
  }
  return { dice: m.dice, surfaceDice2mm: m.surfaceDice, hd95: m.hd95, grossFpMl: gross * ml, fpMl: fp * ml, missedMl: missed * ml, deepMissedMl: deep * ml, maskMl: maskN * ml, referenceMl: refN * ml };
}

/** Mean of each metric over heads. */
export function meanMetrics(rows: readonly HeadMetrics[]): HeadMetrics {
  const keys = Object.keys(rows[0]!) as (keyof HeadMetrics)[];
  return Object.fromEntries(keys.map((k) => [k, rows.reduce((s, r) => s + r[k], 0) / rows.length])) as unknown as HeadMetrics;
}

/** Spearman rank correlation of two equally long series (average ranks for ties). */
export function spearman(a: readonly number[], b: readonly number[]): number {
  const rank = (x: readonly number[]): number[] => {
    const order = x.map((v, i) => [v, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(x.length);
    for (let i = 0; i < order.length;) {
      let j = i;
      while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
      for (let k = i; k <= j; k++) r[order[k]![1]] = (i + j) / 2 + 1;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a), rb = rank(b);
  const ma = ra.reduce((s, v) => s + v, 0) / ra.length, mb = rb.reduce((s, v) => s + v, 0) / rb.length;
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < ra.length; i++) { num += (ra[i]! - ma) * (rb[i]! - mb); da += (ra[i]! - ma) ** 2; db += (rb[i]! - mb) ** 2; }
  return num / Math.sqrt(da * db);
}
