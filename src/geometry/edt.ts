/**
 * Grid geometry below both data/ and metrics/: the one exact Euclidean distance transform of the project,
 * used by the surface metrics (metrics/surface-distance.ts) and by the morphology of binary volumes
 * (data/image/morphology.ts distanceMap). Imports nothing but the error helpers.
 */
import { invalidArg } from '../errors.js';

/**
 * Exact squared Euclidean distance transform with per-axis spacing.
 *
 * For every grid point, the squared distance in mm^2 to the nearest feature point (nonzero entry of
 * `feature`), where the point with index (i0, i1, ...) sits at (i0 * s0, i1 * s1, ...) mm. Separable:
 * a two-sweep scan along axis 0 on the binary input, then one Felzenszwalb-Huttenlocher lower-envelope
 * pass per further axis. The axis order makes each value sum as ((t0 + t1) + t2), t_k = (dk * sk)^2,
 * which is also the order scipy's `distance_transform_edt` sums in, so both agree to the last bit
 * whenever they pick the same nearest feature.
 *
 * @param feature C-order grid, length prod(shape); nonzero marks a feature point.
 * @param shape   C-order shape, any number of axes >= 1 (axis 0 slowest).
 * @param spacing mm per axis, same order as `shape`, each finite and > 0.
 * @param out     optional buffer of length prod(shape) to write into (reused to save allocation).
 * @returns squared distances in mm^2; every entry is Infinity when there is no feature point.
 */
export function squaredEdt(
  feature: Uint8Array,
  shape: readonly number[],
  spacing: readonly number[],
  out?: Float64Array,
): Float64Array {
  const total = checkGrid(feature, shape, spacing);
  const dist = out ?? new Float64Array(total);
  if (dist.length !== total) invalidArg('out', `length ${total}`, dist.length);
  if (total === 0) return dist;
  allButLastAxis(feature, shape, spacing, dist, undefined);
  const last = shape.length - 1;
  if (last > 0) envelopeAxis(dist, total / (shape[last] ?? 1), shape[last] ?? 1, 1, spacing[last] ?? 1, undefined);
  return dist;
}

/**
 * Squared distances (mm^2) to the nearest feature, at the query points only: the same values as
 * `squaredEdt(...)[queries[k]]`, but the last axis is only transformed on the lines that hold
 * queries, and only the lines that hold queries are written by the pass before it.
 *
 * @param queries flat C-order indices into the grid, ascending.
 * @param buffer  optional scratch of length prod(shape), reused between calls.
 * @returns one squared distance per query; Infinity when there is no feature point.
 */
export function squaredEdtAt(
  feature: Uint8Array,
  shape: readonly number[],
  spacing: readonly number[],
  queries: Int32Array,
  buffer?: Float64Array,
): Float64Array {
  const total = checkGrid(feature, shape, spacing);
  const dist = buffer ?? new Float64Array(total);
  if (dist.length !== total) invalidArg('buffer', `length ${total}`, dist.length);
  const result = new Float64Array(queries.length);
  if (queries.length === 0) return result;
  for (let k = 0; k < queries.length; k++) {
    const q = queries[k] as number;
    if (!(q >= 0 && q < total) || (k > 0 && q < (queries[k - 1] as number))) {
      invalidArg(`queries[${k}]`, `an ascending index in [0, ${total})`, q);
    }
  }
  const last = shape.length - 1;
  const n = shape[last] ?? 1;
  if (last === 0) {
    sweepAxis0(feature, dist, n, 1, spacing[0] ?? 1);
    for (let k = 0; k < queries.length; k++) result[k] = dist[queries[k] as number] as number;
    return result;
  }
  const needed = new Uint8Array(total / n); // lines along the last axis that hold a query
  for (let k = 0; k < queries.length; k++) needed[Math.floor((queries[k] as number) / n)] = 1;
  allButLastAxis(feature, shape, spacing, dist, needed);
  envelopeAtQueries(dist, n, spacing[last] ?? 1, queries, result);
  return result;
}

function checkGrid(feature: Uint8Array, shape: readonly number[], spacing: readonly number[]): number {
  if (shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d >= 0)) invalidArg('shape', 'non-negative integer dims', shape);
  if (shape.length !== spacing.length || !spacing.every((x) => Number.isFinite(x) && x > 0)) {
    invalidArg('spacing', `${shape.length} finite numbers > 0 (mm per axis)`, spacing);
  }
  const total = shape.reduce((a, b) => a * b, 1);
  if (feature.length !== total) invalidArg('feature', `length ${total} for shape [${shape.join(', ')}]`, feature.length);
  return total;
}

/**
 * The sweep along axis 0 and the envelope passes along axes 1 .. last - 1. `needed`, if given,
 * limits the writes of the final pass here to the lines (along the last axis) it marks.
 */
function allButLastAxis(
  feature: Uint8Array,
  shape: readonly number[],
  spacing: readonly number[],
  dist: Float64Array,
  needed: Uint8Array | undefined,
): void {
  const total = dist.length;
  sweepAxis0(feature, dist, shape[0] ?? 1, total / (shape[0] ?? 1), spacing[0] ?? 1);
  let outer = shape[0] ?? 1;
  const last = shape.length - 1;
  for (let axis = 1; axis < last; axis++) {
    const n = shape[axis] ?? 1;
    const inner = total / (outer * n);
    envelopeAxis(dist, outer, n, inner, spacing[axis] ?? 1, axis === last - 1 ? needed : undefined);
    outer *= n;
  }
}

/**
 * Axis 0 on the binary input, viewed as [n, inner]: distance to the nearest feature in the same
 * column, found by a forward and a backward sweep over whole planes (contiguous, cache friendly).
 */
function sweepAxis0(feature: Uint8Array, dist: Float64Array, n: number, inner: number, s: number): void {
  const last = new Int32Array(inner).fill(-1);
  for (let i = 0; i < n; i++) {
    const row = i * inner;
    for (let j = 0; j < inner; j++) {
      if (feature[row + j] !== 0) last[j] = i;
      const l = last[j] as number;
      dist[row + j] = l < 0 ? Infinity : i - l;
    }
  }
  last.fill(-1); // now: index of the nearest feature at or after i
  for (let i = n - 1; i >= 0; i--) {
    const row = i * inner;
    for (let j = 0; j < inner; j++) {
      if (feature[row + j] !== 0) last[j] = i;
      const l = last[j] as number;
      let steps = dist[row + j] as number;
      if (l >= 0 && l - i < steps) steps = l - i;
      const d = steps * s; // Infinity stays Infinity
      dist[row + j] = d * d;
    }
  }
}

/**
 * One lower-envelope pass along the middle axis of `dist` viewed as [outer, n, inner]: each line
 * f (squared distances so far) becomes min_p ((i - p) * s)^2 + f[p]. Infinite entries contribute
 * no parabola; a line with none stays Infinity. With `needed` (one flag per (o, i)), only flagged
 * entries are written.
 */
function envelopeAxis(
  dist: Float64Array,
  outer: number,
  n: number,
  inner: number,
  s: number,
  needed: Uint8Array | undefined,
): void {
  const env = newEnvelope(n);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const start = o * n * inner + j;
      const top = buildEnvelope(dist, start, inner, n, s, env);
      if (top < 0) continue; // the line is all Infinity and stays so
      // Walk the envelope's segments left to right, writing each one's points.
      const { v, fv, z } = env;
      let i = 0;
      let idx = start;
      for (let k = 0; k <= top; k++) {
        const p = v[k] as number;
        const fp = fv[k] as number;
        const end = z[k + 1] as number;
        for (; i < n && i * s <= end; i++, idx += inner) {
          if (needed !== undefined && needed[o * n + i] === 0) continue;
          const d = (i - p) * s;
          dist[idx] = d * d + fp;
        }
      }
    }
  }
}

/**
 * The last-axis pass at the query points only: `dist` viewed as [rows, n]. A row holding a few
 * queries is scanned directly, min over p of ((i - p) s)^2 + f[p] per query; a row holding many
 * gets its envelope built once and walked left to right (queries are ascending).
 */
function envelopeAtQueries(dist: Float64Array, n: number, s: number, queries: Int32Array, result: Float64Array): void {
  const env = newEnvelope(n);
  const { v, fv, z } = env;
  let k = 0;
  while (k < queries.length) {
    const start = Math.floor((queries[k] as number) / n) * n;
    let end = k;
    while (end < queries.length && (queries[end] as number) < start + n) end++;
    if (end - k <= DIRECT_SCAN_MAX) {
      for (; k < end; k++) {
        const i = (queries[k] as number) - start;
        let best = Infinity;
        for (let p = 0; p < n; p++) {
          const d = (i - p) * s;
          const x = d * d + (dist[start + p] as number);
          if (x < best) best = x;
        }
        result[k] = best;
      }
      continue;
    }
    const top = buildEnvelope(dist, start, 1, n, s, env);
    let q = 0;
    for (; k < end; k++) {
      if (top < 0) {
        result[k] = Infinity;
        continue;
      }
      const i = (queries[k] as number) - start;
      while (q < top && (z[q + 1] as number) < i * s) q++;
      const d = (i - (v[q] as number)) * s;
      result[k] = d * d + (fv[q] as number);
    }
  }
}

/** Up to this many queries in a row, scanning the row per query is cheaper than an envelope. */
const DIRECT_SCAN_MAX = 4;

/** Scratch for one line's lower envelope: roots v, their values fv and h = f + (p s)^2, bounds z. */
interface Envelope {
  v: Int32Array;
  fv: Float64Array;
  hv: Float64Array;
  z: Float64Array;
}

function newEnvelope(n: number): Envelope {
  return { v: new Int32Array(n), fv: new Float64Array(n), hv: new Float64Array(n), z: new Float64Array(n + 1) };
}

/**
 * Lower envelope (Felzenszwalb-Huttenlocher) of the parabolas (x - p s)^2 + f[p] over the line
 * f[i] = dist[start + i * stride], for every p with finite f[p]; fills `env` and returns the index
 * of the last parabola (-1 for none). Parabolas p < q meet at x = (h[q] - h[p]) / (2 s (q - p)),
 * h = f + (p s)^2; the loop tests x <= z[k] multiplied out, dividing once per kept parabola.
 */
function buildEnvelope(dist: Float64Array, start: number, stride: number, n: number, s: number, env: Envelope): number {
  const { v, fv, hv, z } = env;
  let k = -1;
  for (let q = 0, idx = start; q < n; q++, idx += stride) {
    const fq = dist[idx] as number;
    if (fq === Infinity) continue;
    const qs = q * s;
    const hq = fq + qs * qs;
    if (k >= 0) {
      let den = 2 * (qs - (v[k] as number) * s);
      let num = hq - (hv[k] as number);
      while (k > 0 && num <= (z[k] as number) * den) {
        k--;
        den = 2 * (qs - (v[k] as number) * s);
        num = hq - (hv[k] as number);
      }
      k++;
      z[k] = num / den;
    } else {
      k = 0;
      z[0] = -Infinity;
    }
    v[k] = q;
    fv[k] = fq;
    hv[k] = hq;
  }
  z[k + 1] = Infinity;
  return k;
}
