// Parameter counts from docs/method.md §1-3 (the authors' code; the paper's "24.3 million" is a slipped decimal).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UNet2D } from '../../src/models/unet.js';
import { EarlySegHead, UdasHead } from '../../src/models/esh.js';
import { applyPlacement, planPlacement, paramSummary, formatSummary, targetsByPattern, type Method, type Blocks } from '../../src/lora/placement.js';
import { liveTensors } from '../../src/engine/tensor.js';

test('UNet2D(16) has 2,434,771 parameters with the per-block counts of the spec', () => {
  const m = new UNet2D();
  assert.equal(m.countParameters(), 2_434_771);
  const blocks: [string, number][] = [['init_path', 14_160], ['shortcut0', 272], ['down1', 57_760], ['shortcut1', 1_056],
    ['down2', 230_208], ['shortcut2', 4_160], ['down3', 919_168], ['up3', 919_296], ['up2', 230_272], ['up1', 57_792], ['out_path', 627]];
  for (const [name, n] of blocks) assert.equal(m.getModule(name).countParameters(), n, name);
  m.dispose();
});

test('heads: ESH 14,821 (reads 128 channels), UDAS head 2,685 (reads 16)', () => {
  const e = new EarlySegHead(128);
  const u = new UdasHead(16);
  assert.equal(e.countParameters(), 14_821);
  assert.equal(u.countParameters(), 2_685);
  e.dispose(); u.dispose();
});

const cases: [Method, Blocks, number][] = [
  ['udas', 'all', 14_160], ['udas-convlora', 'all', 3_954], ['convlora', '1', 3_954],
  ['convlora', '1-2', 11_634], ['convlora', '1-3', 26_994], ['convlora', 'all', 57_714],
];
for (const [method, blocks, expected] of cases) {
  test(`trainable parameters of ${method} (blocks ${blocks}) = ${expected.toLocaleString('en-US')}`, () => {
    const before = liveTensors();
    const m = new UNet2D();
    applyPlacement(m, planPlacement(m, method, blocks));
    const s = paramSummary(m);
    assert.equal(s.trainableParams, expected);
    // LoRA adds parameters: all params = base + (trainable - BN affine) for the LoRA modes.
    assert.ok(s.totalParams >= 2_434_771);
    assert.match(formatSummary(s), new RegExp(`^trainable params: ${expected.toLocaleString('en-US')} \\|\\| all params: [\\d,]+ \\|\\| trainable%: \\d+\\.\\d{4}$`));
    m.dispose();
    assert.equal(liveTensors(), before);
  });
}

test('full-encoder all params = 2,434,771 + 57,714 - BN affine (2,880 = 2 x 6 x (16 + 32 + 64 + 128))', () => {
  const m = new UNet2D();
  applyPlacement(m, planPlacement(m, 'convlora', 'all'));
  assert.equal(m.countParameters(), 2_434_771 + 57_714 - 2_880);
  m.dispose();
});

test('target modules by pattern: regex and PEFT-style suffixes; an empty match is an error', () => {
  const m = new UNet2D();
  assert.deepEqual(targetsByPattern(m, /^down1\.1$/), ['down1.1']);
  assert.equal(targetsByPattern(m, ['layer']).length, 7 * 3 * 2); // 2 convs x 3 ResBlocks x 7 blocks; out_path's are 1x1, excluded
  assert.throws(() => targetsByPattern(m, /^shortcut0$/), /No conv with kernel > 1 matches/);
  m.dispose();
});
