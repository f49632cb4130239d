/**
 * The brain's partial-volume intensity model for Colin27: a five-component mixture on the T1 histogram
 * inside the brain mask. Pure CSF, GM and WM are Gaussians (own mean and sd); the two mixed classes
 * (CSF/GM, GM/WM) hold voxels whose tissue share is uniform in 0..1, so their density is a uniform
 * between the two pure means blurred by Gaussian noise (sd: the mean of the two pure sds), the
 * "mixel" model of partial-volume segmentation. Fitted on the 256-bin histogram (uint8 intensities):
 * cheap and deterministic.
 *
 * A voxel's fractions are the posterior-weighted mix of each component's answer: a pure component
 * says "all of one tissue"; a mixed component unmixes linearly between its two pure means (a voxel's
 * signal is the fraction-weighted sum of its tissues' signals). Pure components keep the small
 * intensity noise of pure tissue from turning into fake partial volume.
 */
import { ConvLoraError } from '../../../errors.js';

/** Fitted model: means of pure CSF, GM, WM (intensity units); per component sd and weight. */
export interface PvMixture {
  means: [number, number, number];
  /** Components in order CSF, CSF/GM, GM, GM/WM, WM (a mixed one's sd is its noise sd). */
  sds: number[];
  weights: number[];
}

/**
 * Upper tail 1 - CDF of the standard normal at z >= 0, from erfc by Abramowitz & Stegun 7.1.26
 * (absolute error < 1.5e-7), computed as the tail itself so that far tails keep their relative size.
 */
function upperTail(z: number): number {
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  return 0.5 * ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
}

/** P(a < Z < b) for the standard normal, without cancellation when both ends are in the same tail. */
function normalBetween(a: number, b: number): number {
  if (a >= 0) return upperTail(a) - upperTail(b);
  if (b <= 0) return upperTail(-b) - upperTail(-a);
  return 1 - upperTail(-a) - upperTail(b);
}

const SQRT_2PI = Math.sqrt(2 * Math.PI);

/** Density of each component at intensity x (weights not applied). */
function densities(m: PvMixture, x: number, out: Float64Array): void {
  const [c, g, w] = m.means;
  const gauss = (mu: number, sd: number): number => { const d = (x - mu) / sd; return Math.exp(-0.5 * d * d) / (sd * SQRT_2PI); };
  const mixel = (lo: number, hi: number, sd: number): number => normalBetween((x - hi) / sd, (x - lo) / sd) / (hi - lo);
  out[0] = gauss(c, m.sds[0]!);
  out[1] = mixel(c, g, m.sds[1]!);
  out[2] = gauss(g, m.sds[2]!);
  out[3] = mixel(g, w, m.sds[3]!);
  out[4] = gauss(w, m.sds[4]!);
}

/** Log-likelihood of the histogram under the model (-Infinity if the means are out of order). */
function logLikelihood(m: PvMixture, hist: ArrayLike<number>, p: Float64Array): number {
  if (!(m.means[0] < m.means[1] && m.means[1] < m.means[2])) return -Infinity;
  let ll = 0;
  for (let x = 0; x < hist.length; x++) {
    if (hist[x] === 0) continue;
    densities(m, x, p);
    let z = 0;
    for (let k = 0; k < 5; k++) z += m.weights[k]! * p[k]!;
    ll += hist[x]! * Math.log(Math.max(z, 1e-300));
  }
  return ll;
}

/** Intensity at cumulative fraction q of a histogram. */
function quantile(hist: ArrayLike<number>, q: number): number {
  let total = 0;
  for (let x = 0; x < hist.length; x++) total += hist[x]!;
  let acc = 0;
  for (let x = 0; x < hist.length; x++) {
    acc += hist[x]!;
    if (acc >= q * total) return x;
  }
  return hist.length - 1;
}

/** Golden-section search for the maximum of f on [lo, hi] (f unimodal enough there). */
function goldenMax(f: (v: number) => number, lo: number, hi: number, tol = 0.01): number {
  const r = (Math.sqrt(5) - 1) / 2;
  let a = lo, b = hi, c = b - r * (b - a), d = a + r * (b - a);
  let fc = f(c), fd = f(d);
  while (b - a > tol) {
    if (fc > fd) { b = d; d = c; fd = fc; c = b - r * (b - a); fc = f(c); } else { a = c; c = d; fc = fd; d = a + r * (b - a); fd = f(d); }
  }
  return (a + b) / 2;
}

/**
 * Fit the mixture to a histogram (`hist[x]` = voxels with intensity x) by expectation / conditional
 * maximisation: weights and pure sds in closed form from the posteriors, then each pure mean by a
 * golden-section search of the histogram's log-likelihood between its neighbours. Starts from the
 * 3rd, 40th and 85th percentiles (CSF is the small dark tail of a brain mask, WM the bright bulk).
 */
export function fitPvMixture(hist: ArrayLike<number>, iterations = 60): PvMixture {
  const means: [number, number, number] = [quantile(hist, 0.03), quantile(hist, 0.4), quantile(hist, 0.85)];
  if (!(means[0] < means[1] && means[1] < means[2])) {
    throw new ConvLoraError('E_DATA', `Expected a brain histogram with distinct CSF, GM and WM levels but its 3/40/85th percentiles are ${means.join(', ')}`);
  }
  const sd0 = (means[2] - means[0]) / 10;
  const m: PvMixture = { means, sds: Array<number>(5).fill(sd0), weights: Array<number>(5).fill(0.2) };
  const p = new Float64Array(5);
  for (let it = 0; it < iterations; it++) {
    const n = new Float64Array(5), ss = new Float64Array(5);
    const pureMu = [m.means[0], 0, m.means[1], 0, m.means[2]];
    for (let x = 0; x < hist.length; x++) {
      if (hist[x] === 0) continue;
      densities(m, x, p);
      let z = 0;
      for (let k = 0; k < 5; k++) { p[k] = m.weights[k]! * p[k]!; z += p[k]!; }
      if (!(z > 0)) continue;
      for (let k = 0; k < 5; k++) {
        const r = (hist[x]! * p[k]!) / z;
        n[k] = n[k]! + r;
        ss[k] = ss[k]! + r * (x - pureMu[k]!) ** 2;
      }
    }
    const total = n.reduce((a, v) => a + v, 0);
    m.weights = [...n].map((v) => v / total);
    // sd floor of one intensity step: a component cannot collapse onto a single histogram bin.
    for (const k of [0, 2, 4]) m.sds[k] = Math.max(1, Math.sqrt(ss[k]! / Math.max(n[k]!, 1e-9)));
    m.sds[1] = (m.sds[0]! + m.sds[2]!) / 2;
    m.sds[3] = (m.sds[2]! + m.sds[4]!) / 2;
    for (let i = 0; i < 3; i++) {
      const lo = i === 0 ? 0 : m.means[i - 1]! + 1, hi = i === 2 ? hist.length - 1 : m.means[i + 1]! - 1;
      m.means[i] = goldenMax((v) => { const keep = m.means[i]!; m.means[i] = v; const ll = logLikelihood(m, hist, p); m.means[i] = keep; return ll; }, lo, hi);
    }
  }
  return m;
}

/**
 * Fractions [csf, gm, wm] (summing to 1) of a brain voxel of intensity `x` under the model:
 * posterior-weighted answers of the five components. Intensities beyond the CSF and WM means count
 * as those means: far out, a mixture's widest component wins the tails whatever it is (WM-bright
 * vessels would turn into GM).
 */
export function pvFractions(model: PvMixture, intensity: number): [number, number, number] {
  const [c, g, w] = model.means;
  const x = Math.min(w, Math.max(c, intensity));
  const post = new Float64Array(5);
  densities(model, x, post);
  let z = 0;
  for (let k = 0; k < 5; k++) { post[k] = model.weights[k]! * post[k]!; z += post[k]!; }
  if (!(z > 0)) {
    // Far beyond every component (numerically zero): the nearest pure tissue.
    post.fill(0);
    post[x <= c ? 0 : x >= w ? 4 : 2] = 1;
    z = 1;
  }
  const clamp = (v: number): number => Math.min(1, Math.max(0, v));
  const a = clamp((x - c) / (g - c)); // GM share in a CSF/GM mix
  const b = clamp((x - g) / (w - g)); // WM share in a GM/WM mix
  return [
    (post[0]! + post[1]! * (1 - a)) / z,
    (post[1]! * a + post[2]! + post[3]! * (1 - b)) / z,
    (post[3]! * b + post[4]!) / z,
  ];
}
