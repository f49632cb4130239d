import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePhantomDataset } from '../../src/data/simulation/phantom.js';
import { cell, TABLE2 } from '../../src/pipeline/experiment.js';
import { fmt } from '../../src/pipeline/report.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

test('cell: mean and population sd over seeds (hand values), NaN skipped', () => {
  // [0.5, 0.7]: mean 0.6; deviations +-0.1, so the population sd is 0.1.
  const c = cell([0.5, 0.7, NaN]);
  assert.equal(c.n, 2);
  assert.ok(Math.abs(c.mean - 0.6) < 1e-12 && Math.abs(c.sd - 0.1) < 1e-12);
  assert.equal(fmt(c.mean, c.sd, c.n), '0.6000 ± 0.1000');
  assert.equal(fmt(0.83, 0, 1), '0.8300', 'one seed: no ± part');
  assert.deepEqual(cell([NaN]), { mean: NaN, sd: NaN, n: 0 });
});

test('experiment --table 2 writes results.json, table.md in the paper layout, and the two figures', async () => {
  const root = tempDir('convlora-exp-');
  const data = join(root, 'data');
  const out = join(root, 'out');
  await generatePhantomDataset(data, { size: 32, volumes: 13, seed: 5, domains: ['GE_3', 'Philips_15'] });
  const r = await runCli(['experiment', '--data', data, '--out', out, '--table', '2', '--targets', 'Philips_15', '--seeds', '1,2',
    '--source-epochs', '1', '--head-epochs', '1', '--adapt-epochs', '1', '--filters', '4', '--batch-size', '16', '--tolerance', '8', '--quiet']);
  assert.equal(r.code, 0, r.err);
  const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { rows: { label: string; seed: number; surfaceDice: number; adapter: string }[]; table: Record<string, Record<string, { n: number }>> };
  assert.equal(res.rows.length, TABLE2.length * 2, 'one row per method and seed');
  assert.deepEqual(Object.keys(res.table), TABLE2.map((m) => m.label));
  for (const label of Object.keys(res.table)) assert.equal(res.table[label]!.Philips_15!.n, 2, label);
  for (const row of res.rows) {
    assert.ok(row.surfaceDice >= 0 && row.surfaceDice <= 1, `${row.label} SDS ${row.surfaceDice}`);
    assert.ok(readFileSync(row.adapter).length > 0, 'adapter file written');
  }
  const md = readFileSync(join(out, 'table.md'), 'utf8');
  assert.match(md, /\| Target Domain \| Enc\. Block 1 \| Enc\. Block 1-2 \| Enc\. Block 1-3 \| Full Enc\. Block \| Full Enc\. Block \+ AdaBN \|/);
  assert.match(md, /\| Philips 1\.5 \| \d\.\d{4} ± \d\.\d{4} \|/);
  for (const svg of ['sds.svg', 'examples.svg']) {
    assert.match(readFileSync(join(out, svg), 'utf8'), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^]*<\/svg>\n$/, svg);
  }
  assert.match(r.out, /\| Philips 1\.5 \|/, 'the table is printed on stdout');
});
