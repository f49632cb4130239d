// The zoo's other networks end to end through the CLI on phantoms: `train-source --arch`, `train-esh` (both
// heads), `adapt` with every method and AdaBN mode, and `segment` with the ConvLoRA adapter; `summary --arch` gives the PyTorch twin's
// trainable counts. Tiny settings (32^3 phantoms, 4 filters, one epoch each): this checks that every
// stage runs and records the architecture, not that adaptation helps (the paper's U-Net tests do that).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { generatePhantomDataset } from '../../src/data/simulation/phantom.js';
import { loadAdapter, disposeAdapter } from '../../src/lora/adapter.js';
import { loadUnet, loadHead } from '../../src/pipeline/models.js';
import { planPlacement } from '../../src/lora/placement.js';
import { modelSpec } from '../../src/models/zoo.js';
import { loadSafetensors } from '../../src/nn/safetensors.js';
import { dispose, liveTensors } from '../../src/engine/tensor.js';

const root = tempDir('convlora-zoo-cli-');
const data = join(root, 'data');
await generatePhantomDataset(data, { size: 32, volumes: 12, seed: 13, domains: ['GE_3', 'Philips_3'], workers: 1 });
// One libtorch thread: on a shared machine, more threads than free cores make these runs ten times slower.
const TINY = ['--epochs', '1', '--batch-size', '16', '--tolerance', '8', '--threads', '1', '--quiet'];

for (const arch of ['unet', 'basic-unet']) {
  test(`${arch}: train-source --arch, train-esh, adapt with every method and segment run through the CLI on phantoms`, async (t) => {
    const live = liveTensors();
    let t0 = Date.now();
    const lap = (what: string): void => { t.diagnostic(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`); t0 = Date.now(); };
    const run = join(root, arch);
    const src = await runCli(['train-source', '--arch', arch, '--data', data, '--out', run, '--filters', '4', ...TINY]);
    assert.equal(src.code, 0, src.err);
    const unet = src.out.trim();
    const { model, info } = await loadUnet(unet);
    assert.equal(info.arch, arch, 'the checkpoint records its architecture');
    assert.ok(info.fingerprint !== undefined, 'the source model\'s BN-input fingerprint, from the spec\'s statistics blocks');
    const placements: Record<string, string[]> = { convlora: planPlacement(model, 'convlora', 'all').loraTargets, 'udas-convlora': planPlacement(model, 'udas-convlora').loraTargets };
    model.dispose();
    lap('train-source');

    const esh = await runCli(['train-esh', '--data', data, '--unet', unet, '--out', run, ...TINY]);
    assert.equal(esh.code, 0, esh.err);
    const head = await loadHead(esh.out.trim());
    assert.equal(head.info.arch, arch, 'the head records the architecture it reads');
    head.head.dispose();
    lap('train-esh');

    const udas = await runCli(['train-esh', '--head', 'udas', '--data', data, '--unet', unet, '--out', run, ...TINY]);
    assert.equal(udas.code, 0, udas.err);
    lap('train-esh --head udas');

    // Every adaptation method, with each AdaBN mode somewhere.
    const modes: Record<string, string[]> = { convlora: ['--adabn', '--adabn-mode', 'explicit'], 'udas-convlora': ['--adabn'], udas: [], adabn: [], 'self-training': ['--adabn'] };
    for (const [method, adabn] of Object.entries(modes)) {
      const out = join(run, `philips-${method}.safetensors`);
      const ad = await runCli(['adapt', '--method', method, ...adabn, '--data', data, '--unet', unet, '--target', 'Philips_3', '--out', out, ...TINY]);
      assert.equal(ad.code, 0, `${method}: ${ad.err}`);
      const adapter = await loadAdapter(out);
      try {
        assert.equal(adapter.config.method, method);
        const lora = method === 'convlora' || method === 'udas-convlora';
        assert.deepEqual(adapter.config.placement.loraTargets, lora ? placements[method] : [], `${method}: the spec's placement`);
        for (const p of adapter.config.placement.loraTargets) assert.ok(adapter.tensors.has(`${p}.lora_A`) && adapter.tensors.has(`${p}.lora_B`), `${method}: ${p} adapter saved`);
        if (method === 'udas') assert.ok([...adapter.tensors.keys()].some((k) => k.startsWith(`${modelSpec(arch).udasBlock}.`)), 'udas: the first block\'s weights saved');
        const history = (adapter.config.notes as { history: { epoch: number; loss: number }[] }).history;
        assert.deepEqual(history.map((h) => h.epoch), method === 'adabn' ? [0] : [0, 1], `${method}: epochs`);
        if (method !== 'adabn') assert.ok(Number.isFinite(history[1]!.loss), `${method}: one adaptation epoch ran`);
      } finally { disposeAdapter(adapter); }
    }
    lap('adapt x 5 methods');
    const out = join(run, 'philips-convlora.safetensors');

    const scan = readdirSync(join(data, 'Original', 'Philips_3')).filter((f) => f.endsWith('.nii.gz')).sort()[0]!;
    const mask = join(run, 'mask.nii.gz');
    const seg = await runCli(['segment', '--model', unet, '--adapter', out, '--in', join(data, 'Original', 'Philips_3', scan), '--out', mask, '--threads', '1', '--quiet']);
    assert.equal(seg.code, 0, seg.err);
    assert.ok(existsSync(mask), 'segment wrote the mask');
    lap('segment');
    assert.equal(liveTensors(), live);
  });

  test(`${arch}: summary --arch --json gives the PyTorch twin's trainable and total counts`, async () => {
    const ref = await loadSafetensors(fileURLToPath(new URL(`../../../test/fixtures/models/zoo-${arch}.reference.safetensors`, import.meta.url)));
    dispose([...ref.tensors.values()]);
    const counts = JSON.parse(ref.metadata.counts!) as Record<string, Record<string, [number, number]>>;
    for (const [key, [trainable, total]] of Object.entries(counts['16']!)) {
      const [method, blocks] = key.split(' ') as [string, string];
      const r = await runCli(['summary', '--arch', arch, '--method', method, '--blocks', blocks, '--json']);
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(r.out) as { arch: string; trainableParams: number; totalParams: number };
      assert.deepEqual([j.arch, j.trainableParams, j.totalParams], [arch, trainable, total], key);
    }
  });
}

test('adapt with a head made for another architecture is E_CHECKPOINT naming both, before any training', async () => {
  const unet = join(root, 'unet', 'unet.safetensors');
  const other = join(root, 'basic-unet', 'esh.safetensors');
  assert.ok(existsSync(unet) && existsSync(other), 'the end-to-end tests above ran');
  const r = await runCli(['adapt', '--data', data, '--unet', unet, '--head', other, '--target', 'Philips_3', '--out', join(root, 'mismatch.safetensors'), ...TINY]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /E_CHECKPOINT.*esh\.safetensors is a head for a basic-unet with 4 filters, but the model is a unet with 4 filters/);
  assert.ok(!existsSync(join(root, 'mismatch.safetensors')), 'no adapter written');
});

test('train-source and summary with an unknown --arch are usage errors naming the flag and the value', async () => {
  for (const args of [['train-source', '--arch', 'resnet', '--data', data, '--out', root], ['summary', '--arch', 'resnet']]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /Expected one of dart-unet, unet, basic-unet for --arch but received "resnet"/);
  }
});
