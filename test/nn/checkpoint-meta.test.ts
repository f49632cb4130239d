import { test } from 'node:test';
import assert from 'node:assert/strict';
import { META_KEY, readConvloraMeta } from '../../src/nn/checkpoint.js';

test('one parser classifies convlora metadata: adapter, network, other, missing, invalid', () => {
  const m = (v: string): Record<string, string> => ({ [META_KEY]: v });
  assert.equal(readConvloraMeta(m(JSON.stringify({ format: 'convlora-adapter', domain: 'x' }))).kind, 'adapter');
  // A checkpoint from before the model zoo has no `arch`: it is the paper's U-Net.
  assert.deepEqual(readConvloraMeta(m(JSON.stringify({ kind: 'unet2d', filters: 16 }))), { kind: 'network', value: { kind: 'unet2d', filters: 16, arch: 'dart-unet' } });
  assert.deepEqual(readConvloraMeta(m(JSON.stringify({ kind: 'unet2d', filters: 8, arch: 'basic-unet' }))), { kind: 'network', value: { kind: 'unet2d', filters: 8, arch: 'basic-unet' } });
  assert.equal(readConvloraMeta(m(JSON.stringify({ kind: 'unet2d', filters: 8, arch: 3 }))).kind, 'other', 'an arch must be a name');
  assert.equal(readConvloraMeta(m(JSON.stringify({ kind: 'head', filters: 8, head: 'esh' }))).kind, 'network');
  assert.equal(readConvloraMeta(m(JSON.stringify({ kind: 'unet2d' }))).kind, 'other', 'a network needs its filter count');
  assert.equal(readConvloraMeta(m('[1, 2]')).kind, 'other');
  assert.equal(readConvloraMeta(m('null')).kind, 'other');
  assert.deepEqual(readConvloraMeta({}), { kind: 'missing', value: null });
  assert.deepEqual(readConvloraMeta(m('{not json')), { kind: 'invalid', value: null });
});
