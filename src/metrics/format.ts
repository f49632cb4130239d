import { METRIC_KEYS, type AggregateRow, type AggregateTable, type CaseMetrics } from './aggregate.js';

/** A number for a human table: fixed digits, with `nan` / `inf` spelled out. */
export function formatValue(v: number, digits = 4): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  return v.toFixed(digits);
}

/** Left-aligned first column, right-aligned others, two spaces between columns. */
export function renderColumns(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Per-case table: id, domain and the four metrics. */
export function formatCases(cases: readonly CaseMetrics[]): string {
  return renderColumns(
    ['case', 'domain', ...METRIC_KEYS],
    cases.map((c) => [c.id, c.domain, ...METRIC_KEYS.map((k) => formatValue(c[k]))]),
  );
}

/** Per-domain table of `mean ± std` for each metric, with an `overall` row. */
export function formatAggregate(table: AggregateTable): string {
  const cell = (row: AggregateRow, key: (typeof METRIC_KEYS)[number]): string =>
    `${formatValue(row[key].mean)} ± ${formatValue(row[key].std)}`;
  const rows = [...table.rows, table.overall].map((r) => [r.domain, String(r.cases), ...METRIC_KEYS.map((k) => cell(r, k))]);
  return renderColumns(['domain', 'n', ...METRIC_KEYS], rows);
}
