/**
 * Exact nearest-feature distances by searching a small neighbourhood: the fast path for surfaces
 * that lie close to each other, which is the usual case for a segmentation against its ground truth.
 *
 * For each query corner, the offsets o with |o| <= radius (mm, with spacing) are tried in order of
 * increasing length; the first that lands on a feature gives the exact distance, since any nearer
 * feature would sit at an earlier offset. Lengths are summed as ((t0 + t1) + t2), t_k = (o_k s_k)^2,
 * like the distance transform, so both give the same value for the same feature. Queries with no
 * feature within the radius are left to the distance transform.
 */

interface Offset {
  /** Squared length in mm^2. */
  sq: number;
  d0: number;
  d1: number;
  d2: number;
}

/** Offsets of a [*, *, *] grid within `radius` mm, nearest first (2D grids pass spacing [1, s0, s1] with r0 = 0). */
function offsetsWithin(spacing: readonly [number, number, number], radius: number, flat: boolean): Offset[] {
  const [s0, s1, s2] = spacing;
  const r0 = flat ? 0 : Math.floor(radius / s0);
  const r1 = Math.floor(radius / s1);
  const r2 = Math.floor(radius / s2);
  const out: Offset[] = [];
  for (let d0 = -r0; d0 <= r0; d0++) {
    for (let d1 = -r1; d1 <= r1; d1++) {
      for (let d2 = -r2; d2 <= r2; d2++) {
        const a = d0 * s0;
        const b = d1 * s1;
        const c = d2 * s2;
        const sq = (a * a + b * b) + c * c;
        if (sq <= radius * radius) out.push({ sq, d0, d1, d2 });
      }
    }
  }
  return out.sort((x, y) => x.sq - y.sq);
}

/**
 * Squared distances (mm^2) from each query corner to the nearest feature corner within `radius` mm.
 *
 * @param codes     neighbourhood codes of the target surface over the corner grid (C order).
 * @param full      the all-inside code (255 in 3D, 15 in 2D); a feature is a code other than 0 and full.
 * @param shape     corner-grid shape, [c0, c1, c2] or [c1, c2].
 * @param spacing   mm per axis, same order.
 * @param queries   flat corner indices.
 * @param radius    search radius in mm.
 * @param maxMisses give up (return null) once more queries than this have no feature within the radius.
 * @returns squared distances, NaN where no feature lies within the radius; or null when given up.
 */
export function squaredDistancesNear(
  codes: Uint8Array,
  full: number,
  shape: readonly number[],
  spacing: readonly number[],
  queries: Int32Array,
  radius: number,
  maxMisses: number,
): { sq: Float64Array; misses: number } | null {
  const flat = shape.length === 2;
  const [c0, c1, c2] = flat ? [1, shape[0] ?? 1, shape[1] ?? 1] : [shape[0] ?? 1, shape[1] ?? 1, shape[2] ?? 1];
  const sp: [number, number, number] = flat ? [1, spacing[0] ?? 1, spacing[1] ?? 1] : [spacing[0] ?? 1, spacing[1] ?? 1, spacing[2] ?? 1];
  const offsets = offsetsWithin(sp, radius, flat);
  const n = offsets.length;
  const sqOf = Float64Array.from(offsets, (o) => o.sq);
  const delta = Int32Array.from(offsets, (o) => (o.d0 * c1 + o.d1) * c2 + o.d2);
  const od0 = Int32Array.from(offsets, (o) => o.d0);
  const od1 = Int32Array.from(offsets, (o) => o.d1);
  const od2 = Int32Array.from(offsets, (o) => o.d2);
  const plane = c1 * c2;
  const sq = new Float64Array(queries.length);
  let misses = 0;
  for (let k = 0; k < queries.length; k++) {
    const q = queries[k] as number;
    const q0 = Math.floor(q / plane);
    const q1 = Math.floor((q - q0 * plane) / c2);
    const q2 = q - q0 * plane - q1 * c2;
    let found = NaN;
    for (let j = 0; j < n; j++) {
      const a = q0 + (od0[j] as number);
      const b = q1 + (od1[j] as number);
      const c = q2 + (od2[j] as number);
      if (a < 0 || a >= c0 || b < 0 || b >= c1 || c < 0 || c >= c2) continue;
      const code = codes[q + (delta[j] as number)] as number;
      if (code !== 0 && code !== full) {
        found = sqOf[j] as number;
        break;
      }
    }
    sq[k] = found;
    if (Number.isNaN(found) && ++misses > maxMisses) return null;
  }
  return { sq, misses };
}
