/** Experiment reports: results.json, a Markdown table in the paper's layout, figures. */
import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil.js';
import type { Domain } from '../data/scans/cc359.js';
import { PAPER_SDS, type ExperimentResult } from './experiment.js';

const DOMAIN_LABEL: Record<Domain, string> = { GE_15: 'GE 1.5', GE_3: 'GE 3', Philips_15: 'Philips 1.5', Philips_3: 'Philips 3', Siemens_15: 'Siemens 1.5', Siemens_3: 'Siemens 3' };

export const fmt = (mean: number, sd: number, n: number): string =>
  Number.isNaN(mean) ? 'n/a' : n > 1 ? `${mean.toFixed(4)} ± ${sd.toFixed(4)}` : mean.toFixed(4);

/** The results in the paper's Table 1/2 layout: one row per target, one column per method. */
export function markdownTable(r: ExperimentResult): string {
  const labels = Object.keys(r.table);
  const targets = (r.settings.targets as Domain[]);
  const lines = [`| Target Domain | ${labels.join(' | ')} |`, `|---|${labels.map(() => '---').join('|')}|`];
  for (const t of targets) {
    const cells = labels.map((l) => { const c = r.table[l]![t]!; return fmt(c.mean, c.sd, c.n); });
    lines.push(`| ${DOMAIN_LABEL[t]} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The paper's numbers for the same columns (where it has them), for side-by-side reading. */
export function paperTable(r: ExperimentResult): string {
  const labels = Object.keys(r.table).filter((l) => PAPER_SDS[l] !== undefined);
  if (labels.length === 0) return '';
  const targets = (r.settings.targets as Domain[]);
  const lines = [`| Target Domain (paper, Table 1) | ${labels.join(' | ')} |`, `|---|${labels.map(() => '---').join('|')}|`];
  for (const t of targets) lines.push(`| ${DOMAIN_LABEL[t]} | ${labels.map((l) => PAPER_SDS[l]![t]?.toFixed(4) ?? '').join(' | ')} |`);
  return lines.join('\n');
}

/** How many targets a method beats another on (mean SDS). */
export function wins(r: ExperimentResult, a: string, b: string): { wins: number; of: number } {
  const targets = (r.settings.targets as Domain[]);
  let w = 0;
  for (const t of targets) if ((r.table[a]?.[t]?.mean ?? NaN) > (r.table[b]?.[t]?.mean ?? NaN)) w += 1;
  return { wins: w, of: targets.length };
}

export async function writeReport(r: ExperimentResult, out: string, extra: { figures?: (r: ExperimentResult) => Promise<string[]> } = {}): Promise<string[]> {
  const files: string[] = [];
  const { examples, ...rest } = r;
  await writeFileAtomic(join(out, 'results.json'), `${JSON.stringify(rest, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  files.push(join(out, 'results.json'));
  const seeds = r.settings.seeds as number[];
  const over = seeds.length > 1 ? `± sd over seeds ${seeds.join(', ')}` : `seed ${String(seeds[0])}`;
  const md = [`# Results (Surface Dice at ${String(r.settings.tolerance)} mm, mean over test volumes; ${over})`, '',
    markdownTable(r), '', paperTable(r), ''].join('\n');
  await writeFileAtomic(join(out, 'table.md'), md);
  files.push(join(out, 'table.md'));
  if (extra.figures !== undefined) files.push(...await extra.figures(r));
  void examples;
  return files;
}
