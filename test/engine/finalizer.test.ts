/**
 * CONVLORA_FINALIZER (issue 25): the FinalizationRegistry frees a dropped tensor whenever the garbage
 * collector gets to it, so a leak fails a liveTensors() check only by chance. With `off` (what the test
 * command sets) a leaked tensor stays live however often the collector runs, and the check fails every time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const LEAK = fileURLToPath(new URL('./finalizer-leak.js', import.meta.url));

/** Run finalizer-leak.js with CONVLORA_FINALIZER = `value` (undefined: unset). */
function leak(value: string | undefined): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env.CONVLORA_FINALIZER;
  if (value !== undefined) env.CONVLORA_FINALIZER = value;
  return spawnSync(process.execPath, ['--expose-gc', LEAK], { env, encoding: 'utf8' });
}

test('CONVLORA_FINALIZER=off: a leaked tensor stays live after 50 garbage collections', () => {
  const r = leak('off');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { leaked: 1 });
});

test('by default (and with on) the finalizer frees the dropped tensor once collected: the leak is invisible', () => {
  for (const value of [undefined, 'on']) {
    const r = leak(value);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { leaked: 0 }, `CONVLORA_FINALIZER=${value}`);
  }
});

test('CONVLORA_FINALIZER takes on or off: anything else fails at import, naming the value', () => {
  const r = leak('0');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /E_INVALID_ARG|ConvLoraError/);
  assert.match(r.stderr, /Expected 'on' or 'off' for `CONVLORA_FINALIZER` but received "0"/);
});
