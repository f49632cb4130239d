// The model zoo's registry: lookups and their coded errors, each spec's taps and BatchNorm selections
// against the networks' actual shapes and modules, and checkpoints that name (or do not name) their
// architecture. Placement counts and numbers are checked against PyTorch in zoo-parity.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { architectures, headInput, modelSpec, registerModelSpec, specOf } from '../../src/models/zoo.js';
import { UNet2D } from '../../src/models/unet.js';
import { PlainUNet } from '../../src/models/plain-unet.js';
import { UpConcat } from '../../src/models/concat-unet.js';
import { BatchNorm2d, Conv2d, MaxPool2d } from '../../src/nn/layers.js';
import { Module } from '../../src/nn/module.js';
import { planPlacement } from '../../src/lora/placement.js';
import { selectBatchNorms } from '../../src/lora/adabn.js';
import { statisticsLayers } from '../../src/lora/fingerprint.js';
import { loadUnet, saveNetwork } from '../../src/pipeline/models.js';
import { trainSource } from '../../src/pipeline/train/source.js';
import { uniform } from '../../src/engine/create.js';
import { noGrad } from '../../src/engine/runtime.js';
import { liveTensors, tidy, type Tensor } from '../../src/engine/tensor.js';
import { tempDir } from '../helpers/tmp.js';

const coded = (code: string, re: RegExp) => (e: Error & { code?: string }): boolean => e.code === code && re.test(e.message);

class NotInZoo extends Module {
  readonly conv = this.registerModule('conv', new Conv2d(1, 1, 3));
  forward(x: Tensor): Tensor { return this.conv.forward(x); }
}

test('registry: three architectures, the paper\'s U-Net first; unknown names and networks are coded errors naming the value', () => {
  assert.deepEqual(architectures(), ['dart-unet', 'unet', 'basic-unet']);
  assert.throws(() => modelSpec('resnet'), coded('E_INVALID_ARG', /Expected one of dart-unet, unet, basic-unet for `arch` but received "resnet"/));
  assert.throws(() => modelSpec(7), coded('E_INVALID_ARG', /for `arch` but received 7/));
  assert.throws(() => registerModelSpec(modelSpec('unet')), coded('E_INVALID_ARG', /received "unet", which is registered/));
  const other = new NotInZoo();
  assert.throws(() => specOf(other), coded('E_INVALID_ARG', /Expected a network of the model zoo .* but received a NotInZoo; adapt other networks with injectAdapters/));
  assert.throws(() => planPlacement(other, 'convlora'), coded('E_INVALID_ARG', /received a NotInZoo/));
  assert.throws(() => selectBatchNorms(other, 'encoder'), coded('E_INVALID_ARG', /received a NotInZoo/));
  other.dispose();
  const net = new PlainUNet({ filters: 2 });
  assert.throws(() => planPlacement(net, 'magic' as never), coded('E_INVALID_ARG', /for `method` but received "magic"/));
  assert.throws(() => planPlacement(net, 'convlora', '2-3' as never), coded('E_INVALID_ARG', /for `blocks` but received "2-3"/));
  assert.throws(() => (net.child('up1') as UpConcat).forward(), coded('E_INVALID_ARG', /needs the skip feature/));
  net.dispose();
});

for (const arch of architectures()) {
  test(`${arch}: the spec's taps have the channels and strides of the forward's features; encoder and statistics BatchNorms are those inside its blocks`, () => {
    const live = liveTensors();
    const spec = modelSpec(arch);
    const net = spec.create({ filters: 4 });
    assert.equal(specOf(net), spec);
    net.eval();
    noGrad(() => tidy(() => {
      const f = net.forwardFeatures(uniform([2, 1, 24, 16]));
      assert.deepEqual(f.logits.shape, [2, 1, 24, 16]);
      for (const kind of ['esh', 'udas'] as const) {
        const tap = spec.taps[kind];
        assert.deepEqual(headInput(spec, kind, f).shape, [2, tap.channels(4), 24 / tap.stride, 16 / tap.stride], `${kind} tap`);
      }
      assert.equal(spec.taps.esh.stride, spec.divisor, 'the ESH reads the encoder output, at the input divisor');
      // encode(x, n) stops after the n-th encoder block: its output is the ESH tap for n = all.
      assert.deepEqual(net.encode(uniform([1, 1, 24, 16]), spec.encoderBlocks.length).shape, [1, spec.taps.esh.channels(4), 3, 2]);
    }));
    const inside = (blocks: readonly string[]) => (p: string): boolean => blocks.some((b) => p.startsWith(`${b}.`));
    const bns = net.namedModules().filter(([, m]) => m instanceof BatchNorm2d).map(([p]) => p);
    assert.deepEqual(selectBatchNorms(net, 'encoder').map(([p]) => p), bns.filter(inside(spec.encoderBlocks)));
    assert.deepEqual(statisticsLayers(net).map(([p]) => p), bns.filter(inside(spec.statisticsBlocks)));
    assert.ok(statisticsLayers(net).length >= 2);
    assert.deepEqual(planPlacement(net, 'udas').fullyTrainable, [spec.udasBlock]);
    net.dispose();
    assert.equal(liveTensors(), live);
  });
}

test('the zoo\'s concatenation U-Nets have two BatchNorms per encoder block, all adapted with the block', () => {
  for (const arch of ['unet', 'basic-unet']) {
    const net = modelSpec(arch).create({ filters: 2 });
    assert.equal(selectBatchNorms(net, 'encoder').length, 8, arch);
    assert.equal(planPlacement(net, 'convlora', '1-2').trainableBatchNorms.length, 4, arch);
    assert.equal(planPlacement(net, 'convlora', '1-2').loraTargets.length, 4, `${arch}: two 3x3 convs per block`);
    net.dispose();
  }
});

test('MaxPool2d refuses sizes that are not multiples of its window, naming the shape', () => {
  tidy(() => assert.throws(() => new MaxPool2d(2).forward(uniform([1, 1, 5, 4])), coded('E_SHAPE', /multiples of 2 .* received \[1, 1, 5, 4\]/)));
});

test('checkpoints: `arch` picks the network; none means the paper\'s U-Net; an unknown one is E_CHECKPOINT naming the file', async () => {
  const live = liveTensors();
  const dir = tempDir('convlora-zoo-');
  const net = new PlainUNet({ filters: 2 });
  const old = new UNet2D({ filters: 2 });
  const files = { plain: join(dir, 'plain.safetensors'), old: join(dir, 'old.safetensors'), bad: join(dir, 'bad.safetensors') };
  await saveNetwork(files.plain, net, { kind: 'unet2d', arch: 'unet', filters: 2 });
  await saveNetwork(files.old, old, { kind: 'unet2d', filters: 2 });
  await saveNetwork(files.bad, net, { kind: 'unet2d', arch: 'resnet', filters: 2 });
  const a = await loadUnet(files.plain);
  assert.ok(a.model instanceof PlainUNet);
  const b = await loadUnet(files.old);
  assert.ok(b.model instanceof UNet2D);
  assert.equal(b.info.arch, 'dart-unet', 'no arch: the paper\'s U-Net');
  await assert.rejects(loadUnet(files.bad), coded('E_CHECKPOINT', new RegExp(`${files.bad.replace(/[.]/g, '\\.')}: Expected one of .* for \`arch\` but received "resnet"`)));
  for (const m of [net, old, a.model, b.model]) m.dispose();
  assert.equal(liveTensors(), live);
});

test('trainSource validates `arch` before it reads any data', async () => {
  const dir = tempDir('convlora-zoo-arch-');
  await assert.rejects(trainSource({ data: join(dir, 'missing'), out: dir, arch: 'resnet' }), coded('E_INVALID_ARG', /for `arch` but received "resnet"/));
});
