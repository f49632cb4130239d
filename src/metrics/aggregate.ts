import { ConvLoraError } from '../errors.js';
import { evaluateMasks, type EvaluateOptions, type MaskMetrics } from './mask-metrics.js';
import type { MaskData } from './surfels.js';

/** Metrics of one evaluated volume. */
export interface CaseMetrics extends MaskMetrics {
  /** Case identifier, e.g. the file stem `CC0001_philips_15_55_M`. */
  id: string;
  /** Domain (scanner) the case belongs to, e.g. `Philips_15`. */
  domain: string;
}

/** Mean and standard deviation of one metric over the cases where it is defined. */
export interface MetricSummary {
  /** Cases whose value is not NaN (NaN marks an undefined value: both masks empty). */
  n: number;
  /** Mean over those cases; Infinity if any is Infinity; NaN if n = 0. */
  mean: number;
  /**
   * Population standard deviation (divide by n), as numpy's default `np.std`, which the paper's
   * Python code base reports with. NaN if n = 0 or any value is infinite.
   */
  std: number;
}

export const METRIC_KEYS = ['surfaceDice', 'dice', 'hd95', 'assd'] as const;
export type MetricKey = (typeof METRIC_KEYS)[number];

/** One table row: a domain (or `overall`) with its case count and per-metric summaries. */
export type AggregateRow = { domain: string; cases: number } & Record<MetricKey, MetricSummary>;

export interface AggregateTable {
  /** One row per domain, sorted by domain name. */
  rows: AggregateRow[];
  /** All cases together, labelled `overall`. */
  overall: AggregateRow;
}

/** Summarize values: NaN skipped, infinite values propagate to the mean. */
export function summarize(values: readonly number[]): MetricSummary {
  const kept = values.filter((v) => !Number.isNaN(v));
  const n = kept.length;
  if (n === 0) return { n, mean: NaN, std: NaN };
  const mean = kept.reduce((a, b) => a + b, 0) / n;
  if (!Number.isFinite(mean)) return { n, mean, std: NaN };
  const variance = kept.reduce((a, b) => a + (b - mean) * (b - mean), 0) / n;
  return { n, mean, std: Math.sqrt(variance) };
}

function rowOf(domain: string, cases: readonly CaseMetrics[]): AggregateRow {
  const row = { domain, cases: cases.length } as AggregateRow;
  for (const key of METRIC_KEYS) row[key] = summarize(cases.map((c) => c[key]));
  return row;
}

/** Per-domain and overall mean / std of every metric (a pure function of the cases). */
export function aggregate(cases: readonly CaseMetrics[]): AggregateTable {
  const byDomain = new Map<string, CaseMetrics[]>();
  for (const c of cases) {
    const list = byDomain.get(c.domain) ?? [];
    list.push(c);
    byDomain.set(c.domain, list);
  }
  const domains = [...byDomain.keys()].sort();
  return {
    rows: domains.map((d) => rowOf(d, byDomain.get(d) ?? [])),
    overall: rowOf('overall', cases),
  };
}

/**
 * Accumulates per-volume metrics across calls (like MONAI's metric objects) and aggregates them.
 *
 *   const acc = new MetricsAccumulator({ tolerance: 1 });
 *   acc.evaluate('CC0001', 'GE_3', gt, pred, { shape, spacing });
 *   acc.aggregate().overall.surfaceDice.mean;
 */
export class MetricsAccumulator {
  private readonly list: CaseMetrics[] = [];
  private readonly defaults: Pick<EvaluateOptions, 'tolerance' | 'percentile'>;

  /** @param defaults tolerance (mm) and percentile used by `evaluate` unless it overrides them. */
  constructor(defaults: Pick<EvaluateOptions, 'tolerance' | 'percentile'> = {}) {
    this.defaults = { ...defaults };
  }

  /** Evaluate one volume, record it, and return its metrics. */
  evaluate(id: string, domain: string, gt: MaskData, pred: MaskData, options: EvaluateOptions): CaseMetrics {
    const metrics = evaluateMasks(gt, pred, { ...this.defaults, ...options });
    const record: CaseMetrics = { id, domain, ...metrics };
    this.add(record);
    return record;
  }

  /** Record metrics computed elsewhere. Ids must be unique. */
  add(record: CaseMetrics): void {
    if (this.list.some((c) => c.id === record.id)) {
      throw new ConvLoraError('E_INVALID_ARG', `Expected a new case id for \`record.id\` but received ${JSON.stringify(record.id)}, which is already recorded`);
    }
    this.list.push({ ...record });
  }

  /** Recorded cases, in insertion order. */
  get cases(): readonly CaseMetrics[] {
    return this.list;
  }

  aggregate(): AggregateTable {
    return aggregate(this.list);
  }

  reset(): void {
    this.list.length = 0;
  }
}
