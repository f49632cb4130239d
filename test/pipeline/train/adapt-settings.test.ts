// Method, blocks, AdaBN mode and LoRA settings are validated by the library (coded E_INVALID_ARG naming
// the option and what it accepts), so a program calling adaptDomain gets the same checks as the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADAPT_DEFAULTS, adaptDomain, checkAdaptSettings } from '../../../src/pipeline/train/adapt.js';
import { PAPER_LORA } from '../../../src/lora/convlora.js';

const bad = (re: RegExp) => (e: Error & { code?: string }): boolean => e.code === 'E_INVALID_ARG' && re.test(e.message);

test('checkAdaptSettings: every method, blocks choice, AdaBN mode and layout of the paper passes; anything else is a coded error', () => {
  for (const method of ['adabn', 'self-training', 'udas', 'udas-convlora', 'convlora', 'teacher']) checkAdaptSettings({ method });
  for (const blocks of ['1', '1-2', '1-3', 'all']) checkAdaptSettings({ blocks });
  for (const adabn of ['none', 'implicit', 'explicit']) checkAdaptSettings({ adabn });
  for (const layout of ['loralib', 'peft']) checkAdaptSettings({ lora: { ...PAPER_LORA, layout } });
  assert.throws(() => checkAdaptSettings({ method: 'magic' }), bad(/adabn, self-training, udas, udas-convlora, convlora, teacher for `method` but received "magic"/));
  assert.throws(() => checkAdaptSettings({ method: 3 }), bad(/`method` but received 3/));
  assert.throws(() => checkAdaptSettings({ blocks: '2-3' }), bad(/`blocks`/));
  assert.throws(() => checkAdaptSettings({ adabn: 'sometimes' }), bad(/none, implicit, explicit for `adabn`/));
  assert.throws(() => checkAdaptSettings({ lora: { rank: 2, alpha: 2, layout: 'keras' } }), bad(/loralib, peft for `lora.layout`/));
  assert.throws(() => checkAdaptSettings({ lora: { rank: 0, alpha: 2, layout: 'loralib' } }), bad(/lora\.rank/));
  assert.throws(() => checkAdaptSettings({ lora: { rank: 2, alpha: -1, layout: 'loralib' } }), bad(/lora\.alpha/));
  assert.deepEqual({ ...ADAPT_DEFAULTS }, { method: 'convlora', blocks: 'all', adabn: 'none', epochs: 5, lr: 1e-4, batchSize: 32, seed: 42, tolerance: 1 }, 'the paper\'s §5 settings');
});

test('adaptDomain refuses bad settings before it touches the model or the data', async () => {
  const registry = { model: {} } as never; // never reached: validation comes first
  const call = (o: Record<string, unknown>): Promise<unknown> => adaptDomain(registry, null, [], [], { size: 32 }, { target: 'MyScanner', method: 'convlora', ...o } as never);
  await assert.rejects(call({ method: 'magic' }), bad(/`method`/));
  await assert.rejects(call({ adabn: 'yes' }), bad(/`adabn`/));
  await assert.rejects(call({ blocks: 'most' }), bad(/`blocks`/));
  await assert.rejects(call({ lora: { rank: 2, alpha: 2, layout: 'tf' } }), bad(/`lora.layout`/));
});
