/**
 * Which adapter fits a scan: the one whose scanner's statistics best explain what the scan's slices
 * look like to the network (`segment --adapters`), and how far a scan is from the source model's
 * training scans (`segment`'s warning).
 *
 * Statistics are measured at the inputs of the early encoder's BatchNorm layers (lora/fingerprint.ts),
 * on STATISTICS_SLICES evenly spaced slices of the scan's head.
 *
 * By fingerprint (used when every candidate has one): a single pass of the *source* model over the
 * scan gives its feature vector f, the per-channel means over the cells of a 2 x 2 grid of the slice,
 * at every statistics layer. Each candidate's fingerprint holds the same vector for each of its
 * scanner's training volumes, measured under the same network. A scanner is the centre mu_k of its
 * volumes; the spread that is *not* the scanner (anatomy, head position, noise) is the within-scanner
 * variance w_j of each feature, pooled over the volumes of all candidates (each about its own centre,
 * N - K degrees of freedom). The distance is the mean squared standardized difference
 *     d_k = (1/J) sum_j (f_j - mu_kj)^2 / w_j,
 * the nearest-centre rule of linear discriminant analysis with a diagonal covariance: features that
 * vary from head to head within a scanner weigh little, those that only change with the scanner weigh
 * much. A feature with (near) zero spread is floored at VARIANCE_FLOOR times the median spread.
 *
 * Why not a divergence between per-channel Gaussians (the Jeffreys divergence of statisticsDistance,
 * against each scanner's pooled mean and variance): its unit is the spread of the activations *within
 * a slice*, which is mostly anatomy, and global channel statistics miss where in the slice a channel
 * fires. On the phantom demos' validation scans it picked the right scanner for 16 of 20 (seeds 42 and
 * 123), the nearest standardized centre on global means and variances 16 of 20, and the grid means
 * 17 of 20; the scanners of near-equal contrast (GE 1.5 T and Siemens 1.5 T) differ most in their
 * bias fields and coverage, which only the grid sees (docs/segment.md).
 *
 * "No adapter is close": the threshold is the largest leave-one-out distance of any candidate's
 * training volume from the centre of the rest of its scanner, i.e. the farthest a scan of a known
 * scanner was seen to lie from it. A scan farther than that from every candidate gets test-time AdaBN.
 *
 * By self-consistency (any adapter file, e.g. without a fingerprint): each candidate model itself (its
 * weights and statistics, eval mode) on the scan, against its own running statistics, by the Jeffreys
 * divergence. An adapter's running statistics at layer k were measured under the adapted layers before
 * k, so comparing them with statistics measured under the source model (the naive choice) mixes two
 * networks. There is no spread to judge by, and the choice never falls back.
 */
import { ConvLoraError } from '../../errors.js';
import type { Device } from '../../engine/tensor.js';
import { asSegmentationNet, type SegmentationNet } from '../../models/zoo.js';
import type { AdapterRegistry } from '../../lora/adapter.js';
import { STATISTICS_GRID, bnInputStatistics, gridFeatures, runningStatistics, statisticSlices, type ChannelMoments, type Fingerprint, type ScanStatistics } from '../../lora/fingerprint.js';

const EPS = 1e-5;

/** Jeffreys divergence of per-channel Gaussians, mean over channels, then over layers (see the file comment). */
export function statisticsDistance(a: readonly ChannelMoments[], b: readonly ChannelMoments[]): number {
  if (a.length !== b.length || a.length === 0) throw new ConvLoraError('E_SHAPE', `Expected statistics of the same layers but received ${a.length} and ${b.length} layers`);
  let total = 0;
  a.forEach((la, k) => {
    const lb = b[k]!;
    if (la.mean.length !== lb.mean.length) throw new ConvLoraError('E_SHAPE', `Expected ${la.mean.length} channels in layer ${k} but received ${lb.mean.length}`);
    let sum = 0;
    la.mean.forEach((m1, c) => {
      const v1 = la.var[c]! + EPS, v2 = lb.var[c]! + EPS, d = m1 - lb.mean[c]!;
      sum += 0.5 * (v1 / v2 + v2 / v1 - 2 + d * d * (1 / v1 + 1 / v2));
    });
    total += sum / la.mean.length;
  });
  return total / a.length;
}

/** A feature's within-scanner variance is at least this share of the median feature's. */
export const VARIANCE_FLOOR = 1e-3;

/** Scanners as points: each fingerprint's centre, one pooled within-scanner variance per feature, and the fallback threshold. */
export interface ScannerSpace { centres: number[][]; within: number[]; threshold: number }

const centreOf = (fs: readonly number[][]): number[] => fs[0]!.map((_, j) => fs.reduce((s, f) => s + f[j]!, 0) / fs.length);

/** Mean squared standardized difference of `f` from `centre` (see the file comment). */
export function standardizedDistance(f: readonly number[], centre: readonly number[], within: readonly number[]): number {
  if (f.length !== centre.length || f.length !== within.length || f.length === 0) {
    throw new ConvLoraError('E_SHAPE', `Expected feature vectors of one length but received ${f.length}, ${centre.length} and ${within.length}`);
  }
  let sum = 0;
  for (let j = 0; j < f.length; j++) sum += (f[j]! - centre[j]!) ** 2 / within[j]!;
  return sum / f.length;
}

/**
 * The space of the given fingerprints (see the file comment), or null when no fingerprint has two
 * volumes (no spread to measure).
 */
export function scannerSpace(fingerprints: readonly Fingerprint[]): ScannerSpace | null {
  const sets = fingerprints.map((fp) => fp.volumes);
  const n = sets.reduce((s, v) => s + v.length, 0);
  if (sets.length === 0 || n - sets.length < 1) return null;
  const centres = sets.map(centreOf);
  const dim = centres[0]!.length;
  const raw = new Array<number>(dim).fill(0);
  sets.forEach((fs, k) => { for (const f of fs) f.forEach((x, j) => { raw[j] = raw[j]! + (x - centres[k]![j]!) ** 2; }); });
  const pooled = raw.map((x) => x / (n - sets.length));
  const median = [...pooled].sort((a, b) => a - b)[Math.floor(dim / 2)]!;
  const floor = Math.max(median * VARIANCE_FLOOR, Number.MIN_VALUE);
  const within = pooled.map((x) => Math.max(x, floor));
  const loo = sets.flatMap((fs) => (fs.length < 2 ? [] : fs.map((f, i) => standardizedDistance(f, centreOf(fs.filter((_, j) => j !== i)), within))));
  return { centres, within, threshold: Math.max(...loo) };
}

/** One thing `segment --adapters` can pick: the source model (adapter null) or an adapter registered under `adapter`. */
export interface Candidate {
  name: string;
  /** The adapter's target domain (null: the source model). */
  domain: string | null;
  /** Registry name of the adapter, or null for the source model. */
  adapter: string | null;
  fingerprint: Fingerprint | null;
}

export interface AdapterChoice {
  method: 'fingerprint' | 'self-consistency';
  /** Distance of the scan to each candidate, in candidate order. */
  distances: { name: string; domain: string | null; distance: number }[];
  closest: string;
  /** Largest leave-one-out distance of any candidate's training volume (null: self-consistency, no spread to judge by). */
  threshold: number | null;
  /** The closest candidate, or null when it is farther than the threshold (then: test-time AdaBN). */
  chosen: string | null;
  /** Slices (indices into the prepared scan) the statistics were measured on. */
  slices: number[];
}

/** A fingerprint usable with this model: version 2, measured at the same layers with the same channel counts. */
export function fitsModel(fp: Fingerprint | null | undefined, layers: { layers: string[]; stats: { mean: number[] }[] }): fp is Fingerprint {
  if (fp == null || fp.version !== 2 || fp.grid !== STATISTICS_GRID || !Array.isArray(fp.volumes) || fp.volumes.length === 0) return false;
  if (fp.layers.join('\n') !== layers.layers.join('\n') || fp.channels.join(',') !== layers.stats.map((l) => l.mean.length).join(',')) return false;
  const size = fp.channels.reduce((s, c) => s + c, 0) * STATISTICS_GRID ** 2;
  return fp.volumes.every((v) => Array.isArray(v) && v.length === size);
}

/**
 * Measure the scan (slices [S, H, W], prepared for the model) and pick a candidate. `sourceStats`, the
 * scan's statistics under the source model on `statisticSlices`, may be passed in when already measured.
 * Leaves the registry with the source model active.
 */
export function chooseAdapter(registry: AdapterRegistry, candidates: readonly Candidate[], images: Float32Array, shape: readonly [number, number, number],
  opts: { device?: Device; sourceStats?: ScanStatistics } = {}): AdapterChoice {
  if (candidates.length === 0) throw new ConvLoraError('E_INVALID_ARG', 'Expected at least one candidate but received none');
  const model = asSegmentationNet(registry.model);
  const slices = statisticSlices(images, shape);
  const dev = opts.device === undefined ? {} : { device: opts.device };
  registry.activate(null);
  const layout = runningStatistics(model);
  const fps = candidates.map((c) => (fitsModel(c.fingerprint, layout) ? c.fingerprint : null));
  const space = fps.every((fp) => fp !== null) ? scannerSpace(fps as Fingerprint[]) : null;
  let distances: number[];
  if (space !== null) {
    const f = gridFeatures((opts.sourceStats ?? bnInputStatistics(model, images, shape, { slices, ...dev })).stats);
    distances = space.centres.map((c) => standardizedDistance(f, c, space.within));
  } else {
    distances = candidates.map((c) => {
      registry.activate(c.adapter);
      return statisticsDistance(bnInputStatistics(model, images, shape, { slices, ...dev }).stats, runningStatistics(model).stats);
    });
    registry.activate(null);
  }
  const threshold = space?.threshold ?? null;
  const best = distances.reduce((b, d, i) => (d < distances[b]! ? i : b), 0);
  const closest = candidates[best]!.name;
  return {
    method: space !== null ? 'fingerprint' : 'self-consistency',
    distances: candidates.map((c, i) => ({ name: c.name, domain: c.domain, distance: distances[i]! })),
    closest, threshold, chosen: threshold !== null && distances[best]! > threshold ? null : closest, slices,
  };
}

/**
 * How far a scan's statistics under the source model lie from the source's training scans, against
 * the largest leave-one-out distance of those scans (null when the checkpoint has no usable fingerprint).
 */
export function sourceDistance(model: SegmentationNet, stats: ScanStatistics, fingerprint: unknown): { distance: number; threshold: number } | null {
  const layout = runningStatistics(model);
  if (!fitsModel(fingerprint as Fingerprint | null, layout)) return null;
  const space = scannerSpace([fingerprint as Fingerprint]);
  if (space === null) return null;
  return { distance: standardizedDistance(gridFeatures(stats.stats), space.centres[0]!, space.within), threshold: space.threshold };
}
