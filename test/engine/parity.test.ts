/**
 * Op and gradient parity with PyTorch 1.13.1. Inputs, outputs, upstream gradients and input
 * gradients come from tools/make_engine_fixtures.py (run with Debian's /usr/bin/python3); each case's
 * options are read from the fixture's metadata, so they are written once, in the script.
 * Tolerance: see assertClose (max |ours - ref| <= 1e-5 * max(max |ref|, 1e-2)).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  Adam, kaimingUniform, liveTensors, manualSeed, ops, randn, tidy, uniform, type Tensor,
} from '../../src/engine/index.js';
import { assertClose, assertExact, fromRaw, readSafetensors, repoRoot, type RawTensor } from './helpers.js';

const fixture = readSafetensors(join(repoRoot, 'test', 'fixtures', 'engine', 'ops.safetensors'));

function raw(name: string): RawTensor {
  const r = fixture.tensors.get(name);
  assert.ok(r !== undefined, `fixture has no tensor ${name}`);
  return r;
}

/** Options of one case, as the script wrote them. */
type Opts = Record<string, unknown> & { op: string };
type Inputs = Record<string, Tensor>;
const num = (o: Opts, k: string): number => o[k] as number;
const arr = (o: Opts, k: string): number[] => o[k] as number[];
const dimsOf = (o: Opts): number[] | undefined => (o.dims === null ? undefined : arr(o, 'dims'));
const pair = (o: Opts, k: string): [number, number] => arr(o, k) as [number, number];
function input(t: Inputs, k: string): Tensor {
  const v = t[k];
  assert.ok(v !== undefined, `missing input ${k}`);
  return v;
}

/** How each fixture op runs through the engine. */
const RUN: Record<string, (t: Inputs, o: Opts) => Tensor> = {
  conv2d: (t, o) => ops.conv2d(input(t, 'x'), input(t, 'w'), t.b ?? null,
    { stride: pair(o, 'stride'), padding: pair(o, 'padding'), dilation: pair(o, 'dilation'), groups: num(o, 'groups') }),
  convTranspose2d: (t, o) => ops.convTranspose2d(input(t, 'x'), input(t, 'w'), t.b ?? null, {
    stride: pair(o, 'stride'), padding: pair(o, 'padding'), outputPadding: pair(o, 'outputPadding'),
    dilation: pair(o, 'dilation'), groups: num(o, 'groups'),
  }),
  batchNorm: (t, o) => ops.batchNorm(input(t, 'x'), {
    weight: t.w ?? null, bias: t.b ?? null, runningMean: t.rm ?? null, runningVar: t.rv ?? null,
    training: o.training as boolean, momentum: num(o, 'momentum'), eps: num(o, 'eps'),
  }),
  unary: (t, o) => ({ relu: ops.relu, sigmoid: ops.sigmoid }[o.fn as 'relu' | 'sigmoid'])(input(t, 'x')),
  binary: (t, o) => ({ add: ops.add, sub: ops.sub, mul: ops.mul, div: ops.div }[o.fn as 'add'])(input(t, 'a'), input(t, 'b')),
  scalar: (t, o) => (o.fn === 'rsub' ? ops.rsub(num(o, 's'), input(t, 'a')) : ops.mul(input(t, 'a'), num(o, 's'))),
  matmul: (t) => ops.matmul(input(t, 'a'), input(t, 'b')),
  reduce: (t, o) => ({ sum: ops.sum, mean: ops.mean, amax: ops.amax }[o.fn as 'sum'])(input(t, 'x'), dimsOf(o), o.keepdim as boolean),
  argmax: (t, o) => ops.argmax(input(t, 'x'), o.dim === null ? undefined : num(o, 'dim'), o.keepdim as boolean),
  cat: (t, o) => ops.cat([input(t, 't0'), input(t, 't1'), input(t, 't2')], num(o, 'dim')),
  slice: (t, o) => ops.slice(input(t, 'x'), num(o, 'dim'), num(o, 'start'), num(o, 'end'), num(o, 'step')),
  // [2, 3, 4, 5] -permute-> [2, 4, 5, 3] -reshape-> [2, 20, 3]
  permuteReshape: (t, o) => ops.reshape(ops.permute(input(t, 'x'), arr(o, 'dims')), arr(o, 'shape')),
  pixelShuffle: (t, o) => ops.pixelShuffle(input(t, 'x'), num(o, 'r')),
  pixelUnshuffle: (t, o) => ops.pixelUnshuffle(input(t, 'x'), num(o, 'r')),
  upsampleBilinear: (t, o) => {
    const x = input(t, 'x');
    const [, , h, w] = x.shape as [number, number, number, number];
    return ops.interpolateBilinear(x, [h * num(o, 'scale'), w * num(o, 'scale')], false);
  },
  bceWithLogits: (t) => ops.bceWithLogits(input(t, 'logits'), input(t, 'target'), { reduction: 'mean' }),
  gt: (t, o) => (t.x !== undefined ? ops.gt(t.x, num(o, 's')) : ops.gt(input(t, 'a'), input(t, 'b'))),
};

const cases = Object.entries(fixture.metadata)
  .filter(([k]) => k.startsWith('case:'))
  .map(([k, v]) => [k.slice(5), JSON.parse(v) as Opts] as const);

test('the fixture holds every op family of the engine issue', () => {
  const families = new Set(cases.map(([, o]) => o.op));
  for (const f of [...Object.keys(RUN), 'random', 'adam']) assert.ok(families.has(f), `no fixture case for ${f}`);
  assert.ok(cases.length >= 40, `only ${cases.length} cases`);
});

/** Tensors of one case under `<case>.<part>.` keyed by the rest of the name. */
function part(name: string, p: string): Map<string, RawTensor> {
  const prefix = `${name}.${p}.`;
  const out = new Map<string, RawTensor>();
  for (const [k, v] of fixture.tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

describe('op parity (outputs and gradients)', () => {
  for (const [name, o] of cases.filter(([, c]) => c.op in RUN)) {
    test(name, () => {
      const before = liveTensors();
      tidy(() => {
        const grads = part(name, 'grad');
        const inputs: Inputs = {};
        for (const [k, r] of part(name, 'in')) {
          inputs[k] = fromRaw(r);
          if (grads.has(k)) inputs[k].requiresGrad = true;
        }
        const run = RUN[o.op];
        assert.ok(run !== undefined);
        const out = run(inputs, o);
        const ref = raw(`${name}.out`);
        if (ref.dtype === 'int64') {
          assert.equal(out.dtype, o.op === 'gt' ? 'bool' : 'int64', `${name}: dtype`);
          assertExact(out, ref, `${name}: out`);
        } else {
          assert.equal(out.dtype, ref.dtype, `${name}: dtype`);
          assertClose(out, ref, `${name}: out`);
        }
        for (const [k, r] of part(name, 'after')) assertClose(input(inputs, k), r, `${name}: ${k} after the op`);
        if (grads.size === 0) return;
        out.backward(fromRaw(raw(`${name}.gout`)));
        for (const [k, r] of grads) {
          const g = input(inputs, k).grad;
          assert.ok(g !== null, `${name}: no gradient for ${k}`);
          assertClose(g, r, `${name}: d/d${k}`);
        }
      });
      assert.equal(liveTensors(), before, `${name}: tensors leaked`);
    });
  }
});

describe('seeded random matches torch.manual_seed', () => {
  for (const [name, o] of cases.filter(([, c]) => c.op === 'random')) {
    test(name, () => {
      tidy(() => {
        manualSeed(num(o, 'seed'));
        const shape = arr(o, 'shape');
        const t = o.kind === 'uniform' ? uniform(shape, num(o, 'low'), num(o, 'high'))
          : o.kind === 'normal' ? randn(shape, { mean: num(o, 'mean'), std: num(o, 'std') })
          : kaimingUniform(shape);
        assertClose(t, raw(`${name}.out`), name);
      });
    });
  }
});

describe('Adam matches torch.optim.Adam', () => {
  for (const [name, o] of cases.filter(([, c]) => c.op === 'adam')) {
    test(name, () => {
      const before = liveTensors();
      const p0 = [raw(`${name}.in.p0`), raw(`${name}.in.p1`)];
      const params = p0.map((r) => fromRaw(r).keep());
      for (const p of params) p.requiresGrad = true;
      const betas = o.betas as [number, number] | undefined;
      const opt = new Adam(params, {
        ...(o.lr !== undefined && { lr: num(o, 'lr') }),
        ...(betas !== undefined && { betas }),
        ...(o.eps !== undefined && { eps: num(o, 'eps') }),
        ...(o.weightDecay !== undefined && { weightDecay: num(o, 'weightDecay') }),
      });
      for (let s = 0; s < num(o, 'steps'); s++) {
        tidy(() => {
          opt.zeroGrad();
          // d/dp sum(p * g) = g exactly, so this feeds the fixture's gradient sequence.
          const loss = params.map((p, i) => ops.sum(ops.mul(p, fromRaw(raw(`${name}.g${s}.p${i}`))))).reduce((a, b) => ops.add(a, b));
          loss.backward();
          opt.step();
        });
        params.forEach((p, i) => {
          const ref = raw(`${name}.after.s${s}.p${i}`);
          assertClose(p, ref, `${name}: p${i} after step ${s + 1}`);
          if (ref.dtype === 'float64') {
            // The update itself (a few lr in size) must match, not only the parameter it moved.
            const start = p0[i]!.data as Float64Array;
            const mine = Float64Array.from(p.data() as Float64Array, (v, j) => v - start[j]!);
            const theirs = Float64Array.from(ref.data as Float64Array, (v, j) => v - start[j]!);
            assertClose(mine, theirs, `${name}: update of p${i} through step ${s + 1}`);
          }
        });
      }
      opt.zeroGrad();
      opt.dispose();
      for (const p of params) p.dispose();
      assert.equal(liveTensors(), before, `${name}: tensors leaked`);
    });
  }
});
