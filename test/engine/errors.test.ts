/**
 * Errors: every libtorch failure reaches JS as a ConvLoraError with a code, libtorch's message and
 * the caller's stack, and the process carries on; a failed addon load says what was tried and how
 * to fix it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { ConvLoraError } from '../../src/errors.js';
import {
  addonCandidates, cudaAvailable, liveTensors, native, ops, resolveDevice, tensor, tidy, zeros,
} from '../../src/engine/index.js';
import { repoRoot, values } from './helpers.js';
import { NONE } from '../../src/engine/binding.js';

const THIS_FILE = 'errors.test.js';

interface Case { name: string; run: () => unknown; code: string; message: RegExp }

/** A throwing call inside a named function, so the stack can be checked for the caller's frame. */
function callerFrame(run: () => unknown): unknown {
  try {
    tidy(run);
  } catch (err) {
    return err;
  }
  return undefined;
}

const cases: Case[] = [
  {
    name: 'conv2d channel mismatch (libtorch shape check)',
    run: () => ops.conv2d(zeros([1, 3, 8, 8]), zeros([4, 2, 3, 3])),
    code: 'E_NATIVE',
    message: /^Given groups=1, weight of size \[4, 2, 3, 3\], expected input\[1, 3, 8, 8\] to have 2 channels, but got 3 channels instead/,
  },
  {
    name: 'matmul of incompatible shapes',
    run: () => ops.matmul(zeros([2, 3]), zeros([4, 5])),
    code: 'E_NATIVE',
    message: /mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)/,
  },
  {
    name: 'broadcast failure in add',
    run: () => ops.add(zeros([2, 3]), zeros([4])),
    code: 'E_NATIVE',
    message: /The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1/,
  },
  {
    name: 'mixed dtypes in matmul',
    run: () => ops.matmul(zeros([2, 2]), zeros([2, 2], { dtype: 'float64' })),
    code: 'E_NATIVE',
    // libtorch's own words, passed through; they differ by version (1.13: "expected scalar type Float but
    // found Double"; 2.13: "expected m1 and m2 to have the same dtype, but got: float != double").
    message: /expected scalar type Float but found Double|same dtype, but got: float != double/,
  },
  {
    name: 'conv2d on an integer tensor',
    run: () => ops.conv2d(zeros([1, 3, 8, 8], { dtype: 'int64' }), zeros([4, 3, 3, 3])),
    code: 'E_NATIVE',
    message: /expected scalar type Long but found Float/,
  },
  {
    name: 'a view of a non-contiguous tensor',
    run: () => ops.view(ops.permute(zeros([2, 3]), [1, 0]), [6]),
    code: 'E_NATIVE',
    message: /view size is not compatible with input tensor's size and stride/,
  },
  {
    name: 'backward from a non-scalar without a gradient',
    run: () => ops.mul(zeros([3], { requiresGrad: true }), 2).backward(),
    code: 'E_NATIVE',
    message: /grad can be implicitly created only for scalar outputs/,
  },
  {
    name: 'a second backward through a freed graph',
    run: () => {
      const x = zeros([3], { requiresGrad: true });
      const y = ops.sum(ops.mul(x, x)); // mul saves its inputs for backward; the first backward frees them
      y.backward();
      y.backward();
    },
    code: 'E_NATIVE',
    message: /Trying to backward through the graph a second time/,
  },
  {
    // 2^48 floats = 1 PiB: larger than the 47-bit user address space, so the allocation fails under
    // every overcommit policy (a 4 TB request could succeed with overcommit_memory=1 and then OOM-kill).
    name: 'an allocation no machine can satisfy',
    run: () => zeros([2 ** 24, 2 ** 24]),
    code: 'E_OOM',
    message: /DefaultCPUAllocator: can't allocate memory: you tried to allocate 1125899906842624 bytes/,
  },
  {
    name: 'a disposed tensor',
    run: () => { const t = zeros([2]); t.dispose(); return ops.relu(t); },
    code: 'E_DISPOSED',
    message: /^Tensor was used after dispose\(\)$/,
  },
  {
    name: 'tidy given an async function',
    run: () => tidy(async () => 1),
    code: 'E_INVALID_ARG',
    message: /tidy\(\) received a function that returned a Promise/,
  },
  {
    name: 'tensor() data that does not fit the shape',
    run: () => tensor([1, 2, 3], [2, 2]),
    code: 'E_SHAPE',
    message: /^Data of length 3 does not fit shape \[2, 2\] \(4 elements\)$/,
  },
  {
    name: 'tensor() with a negative dimension',
    run: () => tensor([1, 2], [2, -1]),
    code: 'E_INVALID_ARG',
    message: /^Expected an array of integers >= 0 for `shape` but received \[2, -1\]$/,
  },
  {
    name: 'tensor() with a typed array of another dtype',
    run: () => tensor(new Float64Array(2), [2], { dtype: 'float32' }),
    code: 'E_DTYPE',
    message: /^Expected a typed array for dtype float32 but received \[object Float64Array\]$/,
  },
  {
    name: 'tensor() with an unsupported typed array',
    run: () => tensor(new Int16Array(2), [2]),
    code: 'E_DTYPE',
    message: /Unsupported typed array \[object Int16Array\]/,
  },
  {
    name: 'conv2d stride 0 (validated in TypeScript)',
    run: () => ops.conv2d(zeros([1, 1, 4, 4]), zeros([1, 1, 3, 3]), null, { stride: 0 }),
    code: 'E_INVALID_ARG',
    message: /^Expected integer >= 1 for `stride` but received 0$/,
  },
  {
    name: 'an unknown device name',
    run: () => resolveDevice('gpu'),
    code: 'E_INVALID_ARG',
    message: /^Expected "cpu", "cuda" or "cuda:N" for `device` but received "gpu"$/,
  },
];

describe('errors reach JS as coded ConvLoraErrors with the caller\'s stack', () => {
  for (const c of cases) {
    test(c.name, () => {
      const before = liveTensors();
      const err = callerFrame(c.run);
      assert.ok(err instanceof ConvLoraError, `expected a ConvLoraError, got ${String(err)}`);
      assert.equal(err.code, c.code);
      assert.match(err.message, c.message);
      assert.ok(err.stack?.includes(THIS_FILE), `stack does not reach the caller:\n${err.stack}`);
      assert.match(err.stack ?? '', /callerFrame/);
      assert.equal(liveTensors(), before, 'tensors made before the error were freed by tidy');
      // The process and the engine carry on after the error.
      assert.deepEqual(tidy(() => values(ops.add(zeros([2]), 1))), [1, 1]);
    });
  }
});

describe('stale handles at the native boundary', () => {
  test('are E_DISPOSED errors, never a crash', () => {
    const b = native();
    for (const [name, fn] of [
      ['shape', () => b.shape(1 << 30)],
      ['unary', () => b.unary('relu', -5)],
      ['dispose', () => b.dispose(1 << 30)],
      ['binary', () => b.binary('add', 1 << 30, 1 << 30)],
    ] as const) {
      assert.throws(fn, (err: unknown) => err instanceof ConvLoraError && err.code === 'E_DISPOSED' && /is not live|already disposed/.test(err.message), name);
    }
  });

  test('ops cross the boundary by name: an unknown name is E_INVALID_ARG naming it, never another op', () => {
    const b = native();
    const t = zeros([2]);
    const live = liveTensors();
    for (const [family, fn] of [
      ['binary', () => b.binary('bogus' as never, t.handle, t.handle)],
      ['scalar', () => b.binaryScalar('bogus' as never, t.handle, 1)],
      ['unary', () => b.unary('bogus' as never, t.handle)],
      ['reduce', () => b.reduce('bogus' as never, t.handle, null, false)],
      ['join', () => b.join('bogus' as never, [t.handle], 0)],
      ['derive', () => b.derive(t.handle, 'bogus' as never)],
      ['in-place', () => b.inplace('bogus' as never, t.handle, NONE, 0)],
      ['binary', () => b.binary(3 as never, t.handle, t.handle)],
    ] as const) {
      assert.throws(fn, (err: unknown) => err instanceof ConvLoraError && err.code === 'E_INVALID_ARG' && err.message.startsWith(`Unknown ${family} op `), family);
    }
    assert.throws(() => b.unary('bogus' as never, t.handle), { message: 'Unknown unary op "bogus"' });
    assert.throws(() => b.binary(3 as never, t.handle, t.handle), { message: 'Unknown binary op 3 (expected an op name, received a number)' });
    assert.throws(() => b.inplace('copy', t.handle, NONE, 0), { code: 'E_INVALID_ARG', message: 'In-place op "copy" needs a source tensor' });
    assert.equal(liveTensors(), live, 'nothing made');
    assert.deepEqual(values(t), [0, 0], 'and nothing changed');
    t.dispose();
  });

  test('a handle freed twice at the native boundary is refused', () => {
    const t = zeros([1]);
    const h = t.handle;
    native().dispose(h);
    assert.throws(() => native().dispose(h), { code: 'E_DISPOSED', message: `Tensor handle ${h} was already disposed` });
  });
});

test('cuda without a GPU is an E_INVALID_ARG that says how to get one', { skip: cudaAvailable() ? 'a CUDA GPU is present' : false }, () => {
  assert.throws(() => resolveDevice('cuda'), { code: 'E_INVALID_ARG', message: /no CUDA GPU available.*LIBTORCH/s });
  // Creating a tensor there directly is libtorch's error, still coded.
  assert.throws(() => zeros([1], { device: 'cuda' }), (err: unknown) => err instanceof ConvLoraError && err.code === 'E_NATIVE');
});

describe('loading the addon', () => {
  test('addonCandidates: CONVLORA_ADDON first (resolved), then the package build', () => {
    const built = join(repoRoot, 'build', 'Release', 'convlora.node');
    assert.deepEqual(addonCandidates({}), [built]);
    assert.deepEqual(addonCandidates({ CONVLORA_ADDON: 'some/where.node' }), [resolve('some/where.node'), built]);
  });

  /**
   * Loads dist/src/engine/binding.js from a copy of dist/src in a temp dir that has no build/ folder,
   * so the default candidate is missing too, and reports what native() did.
   */
  function loadInCopy(addon: string | ((dir: string) => string)): { code?: string; message?: string; loaded?: boolean; dir: string } {
    const dir = mkdtempSync(join(os.tmpdir(), 'convlora-load-'));
    try {
      cpSync(join(repoRoot, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
      const script = `import('${join(dir, 'dist', 'src', 'engine', 'binding.js')}').then((m) => {
        try { m.native(); console.log(JSON.stringify({ loaded: true })); }
        catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
      })`;
      const env = { ...process.env, CONVLORA_ADDON: typeof addon === 'string' ? addon : addon(dir) };
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, cwd: dir }).toString();
      return { ...(JSON.parse(out) as { code?: string; message?: string; loaded?: boolean }), dir };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test('a missing addon: E_NATIVE_LOAD listing every path tried and the possible solutions', () => {
    const r = loadInCopy((dir) => join(dir, 'nowhere', 'convlora.node'));
    assert.equal(r.code, 'E_NATIVE_LOAD');
    const msg = r.message ?? '';
    assert.match(msg, /^Could not load the convlora native addon \(libtorch engine\)\./);
    assert.ok(msg.includes(`  - ${join(r.dir, 'nowhere', 'convlora.node')}: not found`), msg);
    assert.ok(msg.includes(`  - ${join(r.dir, 'build', 'Release', 'convlora.node')}: not found`), msg);
    assert.match(msg, /Possible solutions:/);
    assert.match(msg, /apt-get install -y libtorch-dev/);
    assert.match(msg, /LIBTORCH=/);
    assert.match(msg, /npm run build:native/);
  });

  test('an addon that cannot be opened: the reason is in the list', () => {
    const r = loadInCopy((dir) => {
      const bad = join(dir, 'bad.node');
      writeFileSync(bad, 'this is not a shared object\n');
      return bad;
    });
    assert.equal(r.code, 'E_NATIVE_LOAD');
    const line = (r.message ?? '').split('\n').find((l) => l.includes('bad.node'));
    assert.ok(line !== undefined && !line.endsWith('not found'), r.message);
    assert.match(line, /invalid ELF header|file too short/);
  });

  test('CONVLORA_ADDON pointing at a built addon is used', () => {
    const r = loadInCopy(join(repoRoot, 'build', 'Release', 'convlora.node'));
    assert.deepEqual({ loaded: r.loaded, code: r.code }, { loaded: true, code: undefined });
  });
});
