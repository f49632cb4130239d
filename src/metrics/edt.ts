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
  const f = new Float64Array(n); // the line before this pass (dist is overwritten in place)
  const h = new Float64Array(n); // h[p] = f[p] + (p s)^2: the parabola rooted at p is x^2 - 2 p s x + h[p]
  const v = new Int32Array(n); // roots of the parabolas in the envelope, left to right
  const z = new Float64Array(n + 1); // parabola v[k] is lowest on [z[k], z[k + 1]] (mm)
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const start = o * n * inner + j;
      for (let i = 0, idx = start; i < n; i++, idx += inner) f[i] = dist[idx] as number;
      const top = buildEnvelope(f, h, n, s, v, z);
      if (top < 0) continue; // the line is all Infinity and stays so
      // Walk the envelope's segments left to right, writing each one's points.
      let i = 0;
      let idx = start;
      for (let k = 0; k <= top; k++) {
        const p = v[k] as number;
        const fp = f[p] as number;
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
 * The last-axis pass at the query points only: `dist` viewed as [rows, n]; for each row holding
 * queries, build its envelope once and evaluate it at those queries (ascending, so one left-to-right walk).
 */
function envelopeAtQueries(dist: Float64Array, n: number, s: number, queries: Int32Array, result: Float64Array): void {
  const f = new Float64Array(n);
  const h = new Float64Array(n);
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  let k = 0;
  while (k < queries.length) {
    const row = Math.floor((queries[k] as number) / n);
    const start = row * n;
    for (let i = 0; i < n; i++) f[i] = dist[start + i] as number;
    const top = buildEnvelope(f, h, n, s, v, z);
    let q = 0;
    for (; k < queries.length && (queries[k] as number) < start + n; k++) {
      if (top < 0) {
        result[k] = Infinity;
        continue;
      }
      const i = (queries[k] as number) - start;
      const pos = i * s;
      while (q < top && (z[q + 1] as number) < pos) q++;
      const p = v[q] as number;
      const d = (i - p) * s;
      result[k] = d * d + (f[p] as number);
    }
  }
}

/**
 * Lower envelope (Felzenszwalb-Huttenlocher) of the parabolas rooted at every p with finite f[p];
 * fills v and z and returns the index of the last parabola. Parabolas p < q meet at
 * x = (h[q] - h[p]) / (2 s (q - p)); the loop tests x <= z[k] multiplied out, dividing only once
 * per kept parabola.
 */
function buildEnvelope(f: Float64Array, h: Float64Array, n: number, s: number, v: Int32Array, z: Float64Array): number {
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[q] as number;
    if (fq === Infinity) continue;
    const qs = q * s;
    const hq = fq + qs * qs;
    h[q] = hq;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -Infinity;
      continue;
    }
    let p = v[k] as number;
    let den = 2 * (qs - p * s);
    let num = hq - (h[p] as number);
    while (k > 0 && num <= (z[k] as number) * den) {
      k--;
      p = v[k] as number;
      den = 2 * (qs - p * s);
      num = hq - (h[p] as number);
    }
    k++;
    v[k] = q;
    z[k] = num / den;
  }
  z[k + 1] = Infinity;
  return k;
}
