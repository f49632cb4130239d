import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { applyConfig } from '../../src/cli/pipeline-opts.js';
import { adaptCommand } from '../../src/cli/commands/adapt.js';
import { cudaAvailable } from '../../src/engine/runtime.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir('convlora-cli-');

const usage: [string, string[], RegExp][] = [
  ['adapt without --target', ['adapt', '--data', dir, '--unet', 'x.safetensors'], /Missing required option --target/],
  ['adapt with an unknown method', ['adapt', '--data', dir, '--unet', 'u', '--target', 'GE_15', '--method', 'magic'], /Expected one of adabn, self-training, udas, udas-convlora, convlora, teacher for --method but received "magic"/],
  ['adapt with bad blocks', ['adapt', '--data', dir, '--unet', 'u', '--target', 'GE_15', '--blocks', '2-3'], /Expected one of 1, 1-2, 1-3, all for --blocks but received "2-3"/],
  ['adapt with a non-domain target', ['adapt', '--data', dir, '--unet', 'u', '--target', 'Canon_3'], /Expected one of GE_15, GE_3, Philips_15, Philips_3, Siemens_15, Siemens_3 for `target` but received "Canon_3"/],
  ['train-source with zero epochs', ['train-source', '--data', dir, '--out', dir, '--epochs=0'], /Expected an integer >= 1 for --epochs but received "0"/],
  ['an unknown flag', ['train-esh', '--bogus'], /Unknown option '--bogus'/],
  ['experiment with bad seeds', ['experiment', '--data', dir, '--out', dir, '--seeds', '42,x'], /Expected comma-separated integers >= 0 for --seeds but received "42,x"/],
  ['demo with a size not divisible by 8', ['demo', '--size', '60', '--out', join(dir, 'd')], /Expected a multiple of 8 for --size/],
  ['adapt with --scans and --bids', ['adapt', '--scans', dir, '--bids', dir, '--unet', 'u'], /Expected --scans or --bids, not both/],
  ['adapt with --scans and --data', ['adapt', '--scans', dir, '--data', dir, '--unet', 'u'], /Expected --data \(CC359 layout\) or --scans, not both/],
  ['adapt --scanner without --bids', ['adapt', '--scans', dir, '--scanner', 'GE_Signa_3T', '--unet', 'u'], /--scanner picks a scanner group of a BIDS dataset: use it with --bids/],
  ['adapt --bids with an unsafe --scanner', ['adapt', '--bids', dir, '--scanner', 'GE Signa', '--unet', 'u'], /for --scanner but received "GE Signa"/],
  ['adapt --name with --data', ['adapt', '--data', dir, '--target', 'GE_15', '--unet', 'u', '--name', 'x'], /--name goes with --scans or --bids, not --data/],
  ['adapt --scans with --name and another --target', ['adapt', '--scans', dir, '--unet', 'u', '--name', 'A', '--target', 'B'], /Expected --name or --target, not both \(received "A" and "B"\)/],
  ['evaluate --scans without --model', ['evaluate', '--scans', dir], /Missing required option --model: --scans and --bids score a model/],
  ['evaluate --scans with --domain', ['evaluate', '--model', 'u', '--scans', dir, '--domain', 'GE_15'], /--domain and --split go with --data/],
  ['scanners without a folder', ['scanners'], /Expected one BIDS dataset folder but received 0 arguments/],
  ['adapters with two folders', ['adapters', dir, dir], /Expected one folder but received 2 arguments/],
];
for (const [name, args, msg] of usage) {
  test(`usage error (exit 2): ${name}`, async () => {
    const r = await runCli(args);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, msg);
    assert.equal(r.out, '', 'nothing on stdout');
  });
}

test('cuda without a GPU build is a usage error that says how to get one', { skip: cudaAvailable() ? 'a GPU is present' : false }, async () => {
  const r = await runCli(['train-source', '--data', dir, '--out', dir, '--device', 'cuda']);
  assert.equal(r.code, 2);
  assert.match(r.err, /no CUDA GPU available\. Build against a CUDA libtorch/);
});

test('a missing dataset directory fails with exit 1 and E_DATA naming the directory', async () => {
  const r = await runCli(['train-source', '--data', join(dir, 'nope'), '--out', join(dir, 'o'), '--quiet']);
  assert.equal(r.code, 1);
  assert.match(r.err, /E_DATA/);
  assert.ok(r.err.includes(join(dir, 'nope', 'Original', 'GE_3')), r.err);
});

test('config files: YAML and JSON, command sections override, flags win, unknown keys and bad types refused', () => {
  const yml = join(dir, 'run.yaml');
  writeFileSync(yml, 'epochs: 3\nlr: 0.001\nadapt:\n  epochs: 7\n  adabn: true\ntrain-source:\n  epochs: 50\n');
  const v = applyConfig('adapt', { config: yml, lr: '0.01' }, adaptCommand.options);
  assert.equal(v.epochs, '7', 'the adapt section overrides the top level');
  assert.equal(v.lr, '0.01', 'a flag wins over the file');
  assert.equal(v.adabn, true);
  const json = join(dir, 'run.json');
  writeFileSync(json, JSON.stringify({ 'batch-size': 8, target: 'GE_15' }));
  const w = applyConfig('adapt', { config: json }, adaptCommand.options);
  assert.equal(w['batch-size'], '8');
  assert.equal(w.target, 'GE_15');
  writeFileSync(yml, 'epoch: 3\n');
  assert.throws(() => applyConfig('adapt', { config: yml }, adaptCommand.options), /Unknown key "epoch" in config .*run\.yaml for `convlora adapt`; valid keys: /);
  writeFileSync(yml, 'adabn: 3\n');
  assert.throws(() => applyConfig('adapt', { config: yml }, adaptCommand.options), /Expected true or false for "adabn" in config .* but received 3/);
  assert.throws(() => applyConfig('adapt', { config: join(dir, 'missing.yaml') }, adaptCommand.options), /Could not read config/);
});

test('a config error through the CLI exits 2', async () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'learning-rate: 1\n');
  const r = await runCli(['adapt', '--config', bad]);
  assert.equal(r.code, 2);
  assert.match(r.err, /Unknown key "learning-rate"/);
});

test('summary --json gives totalParams and trainableParams for every method', async () => {
  const cases: [string[], number, number][] = [
    [['--method', 'udas'], 14_160, 2_434_771], [['--method', 'udas-convlora'], 3_954, 2_438_533],
    [['--method', 'convlora', '--blocks', '1-2'], 11_634, 2_445_829], [['--method', 'convlora', '--blocks', '1-3'], 26_994, 2_460_421],
    [['--method', 'convlora', '--blocks', 'all'], 57_714, 2_489_605],
  ];
  for (const [args, trainable, total] of cases) {
    const r = await runCli(['summary', ...args, '--json']);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as { trainableParams: number; totalParams: number };
    assert.equal(j.trainableParams, trainable, args.join(' '));
    // total = 2,434,771 base + LoRA parameters (trainable minus the BN affine, which is part of the base)
    assert.equal(j.totalParams, total, args.join(' '));
  }
  const text = await runCli(['summary', '--method', 'convlora']);
  assert.match(text.out, /^trainable params: 57,714 \|\| all params: 2,489,605 \|\| trainable%: 2\.3182$/m);
});

test('demo --config is honoured: its values reach the demo\'s checks, and flags win', async () => {
  const cfg = join(dir, 'demo.yaml');
  writeFileSync(cfg, 'demo:\n  size: 60\n');
  const r = await runCli(['demo', '--config', cfg, '--out', join(dir, 'demo-cfg')]);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /Expected a multiple of 8 for --size \(the U-Net halves the slices three times\) but received 60/);
  const flagged = await runCli(['demo', '--config', cfg, '--size', '44', '--out', join(dir, 'demo-cfg')]);
  assert.equal(flagged.code, 2);
  assert.match(flagged.err, /but received 44/, 'the flag wins over the config');
});
