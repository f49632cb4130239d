/**
 * Which adapter fits a scan: the one whose scanner's statistics best explain what the scan's slices
 * look like to the network (`segment --adapters`), and how far a scan is from the source model's
 * training scans (`segment`'s warning).
 *
 * Statistics are the per-channel mean and variance of the inputs of the early encoder's BatchNorm
 * layers (lora/fingerprint.ts), on STATISTICS_SLICES evenly spaced slices of the scan's head.
 *
 * Distance between a scan's statistics (m1, v1) and a reference (m2, v2): the Jeffreys divergence
 * (symmetrised Kullback-Leibler) of the two Gaussians per channel,
 *     J = 1/2 [ v1'/v2' + v2'/v1' - 2 + (m1 - m2)^2 (1/v1' + 1/v2') ],   v' = v + 1e-5 (BatchNorm's eps),
 * averaged over the channels of a layer, then over the layers (each normalisation step counts once).
 * It is 0 for identical statistics and grows with the squared mean shift in units of the standard
 * deviations and with the log variance ratio.
 *
 * Two ways to get the references:
 *  - fingerprint (used when every adapter has one): a single pass of the *source* model over the scan,
 *    compared with each candidate's fingerprint (the source model's statistics on that scanner's
 *    training volumes, pooled into one Gaussian per channel); the source candidate's reference is the
 *    source checkpoint's own fingerprint, or its BN running statistics for checkpoints without one.
 *    Everything is measured under the same network, so the numbers are comparable.
 *  - self-consistency (any adapter file): each candidate model itself (its weights and statistics, eval
 *    mode) on the scan, against its own running statistics. An adapter's running statistics at layer k
 *    were measured under the adapted layers before k, so comparing them with statistics measured under
 *    the source model (the naive choice) mixes two networks.
 *
 * "No adapter is close": the threshold is the largest leave-one-out distance of any candidate's own
 * training volume from the pool of the rest of its scanner, i.e. the farthest a scan of a known scanner
 * was seen to lie from it. A scan farther than that from every candidate gets test-time AdaBN. Without
 * fingerprints (self-consistency) there is no spread to judge by, and the choice never falls back.
 */
import { ConvLoraError } from '../errors.js';
import type { Device } from '../engine/tensor.js';
import type { UNet2D } from '../models/unet.js';
import type { AdapterRegistry } from '../lora/adapter.js';
import { bnInputStatistics, runningStatistics, statisticSlices, type Fingerprint, type LayerStatistics, type ScanStatistics } from '../lora/fingerprint.js';

const EPS = 1e-5;

/** Jeffreys divergence of per-channel Gaussians, mean over channels, then over layers (see the file comment). */
export function statisticsDistance(a: readonly LayerStatistics[], b: readonly LayerStatistics[]): number {
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

/** A scanner's volumes as one Gaussian per channel: mean of the means; mean variance plus the variance of the means. */
export function pooledStatistics(volumes: readonly (readonly LayerStatistics[])[]): LayerStatistics[] {
  if (volumes.length === 0) throw new ConvLoraError('E_INVALID_ARG', 'Expected at least one volume to pool but received none');
  const n = volumes.length;
  return volumes[0]!.map((_, k) => {
    const mean = volumes[0]![k]!.mean.map((_, c) => volumes.reduce((s, v) => s + v[k]!.mean[c]!, 0) / n);
    const variance = mean.map((m, c) => volumes.reduce((s, v) => s + v[k]!.var[c]! + (v[k]!.mean[c]! - m) ** 2, 0) / n);
    return { mean, var: variance };
  });
}

/** Distance of each volume of a fingerprint from the pool of its other volumes (empty below two volumes). */
export function leaveOneOutDistances(fp: Fingerprint): number[] {
  if (fp.volumes.length < 2) return [];
  return fp.volumes.map((v, i) => statisticsDistance(v, pooledStatistics(fp.volumes.filter((_, j) => j !== i))));
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
  /** Largest leave-one-out distance of any candidate's training volume (null: no candidate has a fingerprint of two or more volumes). */
  threshold: number | null;
  /** The closest candidate, or null when it is farther than the threshold (then: test-time AdaBN). */
  chosen: string | null;
  /** Slices (indices into the prepared scan) the statistics were measured on. */
  slices: number[];
}

/** A fingerprint usable with this model: measured at the same layers with the same channel counts. */
export function fitsModel(fp: Fingerprint | null | undefined, layers: ScanStatistics): fp is Fingerprint {
  return fp != null && fp.version === 1 && fp.volumes.length > 0 && fp.layers.join('\n') === layers.layers.join('\n')
    && fp.volumes.every((v) => v.length === layers.stats.length && v.every((l, k) => l.mean.length === layers.stats[k]!.mean.length && l.var.length === l.mean.length));
}

/** The threshold over the candidates that have a fingerprint of two or more volumes, or null. */
export function spreadThreshold(fingerprints: readonly (Fingerprint | null)[]): number | null {
  const d = fingerprints.flatMap((fp) => (fp === null ? [] : leaveOneOutDistances(fp)));
  return d.length === 0 ? null : Math.max(...d);
}

/**
 * Measure the scan (slices [S, H, W], prepared for the model) and pick a candidate. `sourceStats`, the
 * scan's statistics under the source model on `statisticSlices`, may be passed in when already measured.
 * Leaves the registry with the source model active.
 */
export function chooseAdapter(registry: AdapterRegistry, candidates: readonly Candidate[], images: Float32Array, shape: readonly [number, number, number],
  opts: { device?: Device; sourceStats?: ScanStatistics } = {}): AdapterChoice {
  if (candidates.length === 0) throw new ConvLoraError('E_INVALID_ARG', 'Expected at least one candidate but received none');
  const model = registry.model as UNet2D;
  const slices = statisticSlices(images, shape);
  const dev = opts.device === undefined ? {} : { device: opts.device };
  registry.activate(null);
  const layout = runningStatistics(model);
  const useFingerprints = candidates.every((c) => c.adapter === null || fitsModel(c.fingerprint, layout));
  let distances: number[];
  let threshold: number | null = null;
  if (useFingerprints) {
    const scan = opts.sourceStats ?? bnInputStatistics(model, images, shape, { slices, ...dev });
    const fps = candidates.map((c) => (fitsModel(c.fingerprint, layout) ? c.fingerprint : null));
    distances = candidates.map((c, i) => statisticsDistance(scan.stats, fps[i] === null ? layout.stats : pooledStatistics(fps[i]!.volumes)));
    threshold = spreadThreshold(fps);
  } else {
    distances = candidates.map((c) => {
      registry.activate(c.adapter);
      return statisticsDistance(bnInputStatistics(model, images, shape, { slices, ...dev }).stats, runningStatistics(model).stats);
    });
    registry.activate(null);
  }
  const best = distances.reduce((b, d, i) => (d < distances[b]! ? i : b), 0);
  const closest = candidates[best]!.name;
  return {
    method: useFingerprints ? 'fingerprint' : 'self-consistency',
    distances: candidates.map((c, i) => ({ name: c.name, domain: c.domain, distance: distances[i]! })),
    closest, threshold, chosen: threshold !== null && distances[best]! > threshold ? null : closest, slices,
  };
}

/**
 * How far a scan's statistics under the source model lie from the source's training scans, against
 * the largest leave-one-out distance of those scans (null when the checkpoint has no usable fingerprint).
 */
export function sourceDistance(model: UNet2D, stats: ScanStatistics, fingerprint: unknown): { distance: number; threshold: number } | null {
  const layout = runningStatistics(model);
  if (!fitsModel(fingerprint as Fingerprint | null, layout)) return null;
  const fp = fingerprint as Fingerprint;
  const threshold = spreadThreshold([fp]);
  if (threshold === null) return null;
  return { distance: statisticsDistance(stats.stats, pooledStatistics(fp.volumes)), threshold };
}

