/**
 * Tensors and scopes: tidy/keep/dispose/using, the live-handle count, dtype round trips, autograd
 * state, no-grad scopes, seeds and threads.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  Adam, dispose, enableGrad, getThreads, isGradEnabled, liveTensors, manualSeed, noGrad, ones, ops, randn, scalar,
  setThreads, tensor, tidy, uniform, zeros, type DType, type Tensor,
} from '../../src/engine/index.js';
import { repoRoot, values } from './helpers.js';

/** Asserts that `fn` leaves the live native-tensor count where it found it. */
function noLeak<T>(fn: () => T): T {
  const before = liveTensors();
  const r = fn();
  assert.equal(liveTensors(), before, 'live tensor count changed');
  return r;
}

describe('tidy', () => {
  test('frees every tensor made inside except the returned one', () => noLeak(() => {
    const before = liveTensors();
    let inner: Tensor[] = [];
    const r = tidy(() => {
      inner = [zeros([2]), ones([3])];
      const s = ops.add(inner[0]!, 1);
      return ops.mul(s, 2);
    });
    assert.equal(liveTensors(), before + 1);
    assert.ok(inner.every((t) => t.isDisposed));
    assert.deepEqual(values(r), [2, 2]);
    r.dispose();
  }));

  test('keeps tensors found in returned arrays, plain objects and Maps', () => noLeak(() => {
    const before = liveTensors();
    const r = tidy(() => {
      zeros([1]);
      return { a: [zeros([1]), { b: ones([1]) }], m: new Map([['c', scalar(3)]]), n: 5 };
    });
    assert.equal(liveTensors(), before + 3);
    const c = r.m.get('c');
    assert.ok(c !== undefined && !c.isDisposed && c.item() === 3);
    dispose(r);
    assert.ok(r.a[0] instanceof Object && (r.a[0] as Tensor).isDisposed);
  }));

  test('nested scopes: the inner result moves to the outer scope and is freed there unless returned', () => noLeak(() => {
    let fromInner: Tensor | undefined;
    const kept = tidy(() => {
      fromInner = tidy(() => { zeros([4]); return ones([4]); });
      assert.equal(fromInner.isDisposed, false, 'inner result must survive the inner scope');
      const other = tidy(() => ones([2]));
      return other;
    });
    assert.ok(fromInner?.isDisposed, 'the outer scope frees the inner result it did not return');
    assert.equal(kept.isDisposed, false);
    kept.dispose();
  }));

  test('keep() exempts a tensor from every scope; it lives until dispose()', () => noLeak(() => {
    let kept: Tensor | undefined;
    let plain: Tensor | undefined;
    tidy(() => tidy(() => { kept = ones([2]).keep(); plain = zeros([2]); }));
    assert.ok(plain?.isDisposed);
    assert.ok(kept !== undefined && kept.isKept && !kept.isDisposed);
    assert.deepEqual(values(kept), [1, 1]);
    kept.dispose();
  }));

  test('frees everything when fn throws, and rethrows', () => noLeak(() => {
    let made: Tensor | undefined;
    assert.throws(() => tidy(() => { made = ones([3]); throw new Error('boom'); }), /boom/);
    assert.ok(made?.isDisposed);
  }));

  test('tensors made before the scope are untouched', () => noLeak(() => {
    const outer = ones([2]);
    const r = tidy(() => outer);
    assert.equal(r, outer);
    tidy(() => { ops.add(outer, outer); });
    assert.equal(outer.isDisposed, false);
    outer.dispose();
  }));
});

describe('dispose and the live count', () => {
  test('each tensor is one live handle; dispose() frees it once', () => {
    const before = liveTensors();
    const ts = [zeros([2]), ones([2, 2]), randn([3])];
    assert.equal(liveTensors(), before + 3);
    ts[0]!.dispose();
    ts[0]!.dispose(); // second dispose is a no-op
    assert.equal(liveTensors(), before + 2);
    dispose(ts);
    assert.equal(liveTensors(), before);
    assert.ok(ts.every((t) => t.isDisposed));
    assert.equal(String(ts[1]), 'Tensor(disposed)');
  });

  test('`using` disposes at the end of the block (Symbol.dispose)', () => noLeak(() => {
    let seen: Tensor | undefined;
    {
      using t = ones([5]);
      seen = t;
      assert.equal(t.isDisposed, false);
    }
    assert.ok(seen.isDisposed);
  }));

  test('gradients and views handed out are handles too', () => noLeak(() => {
    const x = ones([3], { requiresGrad: true });
    tidy(() => ops.sum(ops.mul(x, x)).backward());
    const before = liveTensors();
    const g = x.grad;
    const v = ops.slice(x, 0, 0, 2);
    assert.equal(liveTensors(), before + 2);
    dispose([g, v, x]);
  }));
});

describe('dtypes round trip through the engine', () => {
  const cases: { dtype: DType; data: ArrayLike<number> | BigInt64Array }[] = [
    { dtype: 'float32', data: Float32Array.of(1.5, -0, NaN, Infinity, -3.4e38, 1e-45, 0.1) },
    { dtype: 'float64', data: Float64Array.of(Math.PI, -0, NaN, -Infinity, 1e308, 5e-324) },
    { dtype: 'int64', data: BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 2n ** 53n + 1n) },
    { dtype: 'int32', data: Int32Array.of(-(2 ** 31), 2 ** 31 - 1, 0, 7) },
    { dtype: 'uint8', data: Uint8Array.of(0, 255, 128, 1) },
    { dtype: 'bool', data: Uint8Array.of(0, 1, 1, 0) },
  ];
  for (const c of cases) {
    test(c.dtype, () => noLeak(() => tidy(() => {
      const n = c.data.length;
      const t = tensor(c.data as unknown as Float32Array, [n], { dtype: c.dtype });
      assert.equal(t.dtype, c.dtype);
      assert.deepEqual(t.shape, [n]);
      const back = t.data();
      assert.equal(back.constructor, c.dtype === 'bool' ? Uint8Array : c.data.constructor);
      for (let i = 0; i < n; i++) assert.ok(Object.is(back[i], c.data[i]), `${c.dtype}[${i}]: ${back[i]} vs ${c.data[i]}`);
      // Through a reshape [n] -> [n, 1] and back: the bytes survive a native op.
      assert.deepEqual(ops.reshape(ops.reshape(t, [n, 1]), [n]).data(), back);
    })));
  }

  test('bool from numbers follows PyTorch: non-zero (and NaN) is true', () => noLeak(() => tidy(() => {
    const b = tensor([0, 2, -1, 0.5, NaN], [5], { dtype: 'bool' });
    assert.deepEqual(values(b), [0, 1, 1, 1, 1]);
    assert.equal(ops.sum(b).item(), 4);
    const fromBytes = tensor(Uint8Array.of(0, 7, 255), [3], { dtype: 'bool' });
    assert.deepEqual(values(ops.logicalNot(fromBytes)), [1, 0, 0]);
  })));

  test('casts follow PyTorch: float -> int truncates toward zero, float -> bool is non-zero', () => noLeak(() => tidy(() => {
    const x = tensor([-1.7, 2.9, 0, -0.2], [4]);
    assert.deepEqual(values(ops.to(x, { dtype: 'int64' })), [-1, 2, 0, 0]);
    assert.deepEqual(values(ops.to(x, { dtype: 'bool' })), [1, 1, 0, 1]);
    assert.equal(ops.to(x, { dtype: 'float64' }).dtype, 'float64');
    assert.deepEqual(Array.from(tensor([3, 4], [2], { dtype: 'int64' }).toFloat32()), [3, 4]);
  })));

  test('item() reads one-element tensors of any dtype', () => noLeak(() => tidy(() => {
    assert.equal(scalar(2.5).item(), 2.5);
    assert.equal(tensor(BigInt64Array.of(-42n), [1, 1]).item(), -42);
    assert.equal(tensor(Uint8Array.of(1), [], { dtype: 'bool' }).item(), 1);
  })));
});

describe('autograd', () => {
  test('requiresGrad, backward and grad: d/dx sum(x^2) = 2x, accumulated over backward calls', () => noLeak(() => {
    const x = tensor([1, -2, 3], [3], { requiresGrad: true });
    assert.equal(x.requiresGrad, true);
    assert.equal(x.grad, null);
    tidy(() => ops.sum(ops.mul(x, x)).backward());
    tidy(() => assert.deepEqual(values(x.grad!), [2, -4, 6]));
    tidy(() => ops.sum(ops.mul(x, x)).backward());
    tidy(() => assert.deepEqual(values(x.grad!), [4, -8, 12]));
    x.dispose();
  }));

  test('backward with an explicit upstream gradient; requiresGrad can be switched off', () => noLeak(() => tidy(() => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const y = ops.mul(x, 3);
    assert.equal(y.requiresGrad, true);
    y.backward(tensor([10, 100], [2]));
    assert.deepEqual(values(x.grad!), [30, 300]);
    assert.equal(ops.detach(y).requiresGrad, false);
    x.requiresGrad = false;
    assert.equal(ops.mul(x, 3).requiresGrad, false);
  })));

  test('retainGraph allows a second backward through the same graph', () => noLeak(() => tidy(() => {
    const x = tensor([2], [1], { requiresGrad: true });
    const y = ops.sum(ops.mul(x, x));
    y.backward(undefined, { retainGraph: true });
    y.backward();
    assert.deepEqual(values(x.grad!), [8]);
  })));

  test('Adam.zeroGrad drops gradients (set to none, as PyTorch)', () => noLeak(() => {
    const p = ones([2], { requiresGrad: true }).keep();
    const opt = new Adam([p]);
    tidy(() => ops.sum(p).backward());
    tidy(() => assert.deepEqual(p.grad === null ? [] : values(p.grad), [1, 1]));
    opt.zeroGrad();
    assert.equal(p.grad, null);
    opt.dispose();
    p.dispose();
  }));
});

describe('noGrad', () => {
  test('records no graph inside and restores the mode after, even on throw', () => noLeak(() => tidy(() => {
    const x = ones([2], { requiresGrad: true });
    assert.equal(isGradEnabled(), true);
    const y = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      assert.equal(enableGrad(() => ops.mul(x, 2)).requiresGrad, true);
      assert.equal(isGradEnabled(), false, 'enableGrad restores the enclosing no-grad mode');
      return ops.mul(x, 2);
    });
    assert.equal(y.requiresGrad, false);
    assert.equal(isGradEnabled(), true);
    assert.throws(() => noGrad(() => { throw new Error('inside'); }), /inside/);
    assert.equal(isGradEnabled(), true);
  })));
});

describe('seeds', () => {
  test('manualSeed makes random draws reproducible; the stream moves on after a draw', () => noLeak(() => tidy(() => {
    manualSeed(5);
    const a = values(randn([64]));
    const u = values(uniform([16], -1, 1));
    manualSeed(5);
    assert.deepEqual(values(randn([64])), a);
    assert.deepEqual(values(uniform([16], -1, 1)), u);
    assert.notDeepEqual(values(randn([64])), a);
    manualSeed(6);
    assert.notDeepEqual(values(randn([64])), a);
    assert.ok(u.every((v) => v >= -1 && v < 1));
  })));

  test('rejects seeds that are not integers >= 0', () => {
    assert.throws(() => manualSeed(-1), { code: 'E_INVALID_ARG', message: 'Expected integer >= 0 for `seed` but received -1' });
    assert.throws(() => manualSeed(1.5), { code: 'E_INVALID_ARG', message: 'Expected integer >= 0 for `seed` but received 1.5' });
  });
});

describe('threads', () => {
  test('setThreads sets libtorch\'s intra-op thread count', () => {
    const prev = getThreads();
    try {
      for (const n of [1, 3, 2]) {
        setThreads(n);
        assert.equal(getThreads(), n);
      }
    } finally {
      setThreads(prev);
    }
  });

  test('setThreads rejects counts below 1 and non-integers', () => {
    for (const bad of [0, -2, 1.5]) {
      assert.throws(() => setThreads(bad), { code: 'E_INVALID_ARG', message: `Expected integer >= 1 for \`threads\` but received ${bad}` });
    }
  });

  const probe = `import('${join(repoRoot, 'dist', 'src', 'engine', 'index.js')}').then((m) => console.log(m.getThreads()))`;
  const threadsOf = (env: Record<string, string | undefined>): number => {
    const childEnv = { ...process.env, ...env };
    if (env.CONVLORA_THREADS === undefined) delete childEnv.CONVLORA_THREADS;
    return Number(execFileSync(process.execPath, ['--input-type=module', '-e', probe], { env: childEnv }).toString().trim());
  };
  test('at load: the machine\'s cores by default, CONVLORA_THREADS when set and valid', () => {
    assert.equal(threadsOf({}), os.availableParallelism());
    assert.equal(threadsOf({ CONVLORA_THREADS: '1' }), 1);
    assert.equal(threadsOf({ CONVLORA_THREADS: '3' }), 3);
    assert.equal(threadsOf({ CONVLORA_THREADS: 'zero' }), os.availableParallelism());
  });
});
