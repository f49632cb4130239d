import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSafetensors, serializeSafetensors } from '../../src/nn/safetensors.js';
import { tensor } from '../../src/engine/create.js';
import { dispose } from '../../src/engine/tensor.js';

function file(header: object | string, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
const f32 = (n: number): Uint8Array => new Uint8Array(new Float32Array(n).fill(1.5).buffer);

test('round trip keeps names, dtypes, shapes, values and metadata; buffer starts 8-byte aligned', () => {
  const ts = new Map([['b.w', tensor([1, 2, 3, 4, 5, 6], [2, 3])], ['a.n', tensor(new BigInt64Array([7n]), [])],
    ['c.m', tensor(new Uint8Array([1, 0, 1]), [3], { dtype: 'bool' })], ['d', tensor(new Float64Array([0.1]), [1])]]);
  const bytes = serializeSafetensors(ts, { k: 'v' });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const back = parseSafetensors(bytes);
  assert.deepEqual(back.metadata, { k: 'v' });
  for (const [k, t] of ts) {
    const u = back.tensors.get(k)!;
    assert.equal(u.dtype, t.dtype, k);
    assert.deepEqual(u.shape, t.shape, k);
    assert.deepEqual(u.data(), t.data(), k);
  }
  dispose([...ts.values(), ...back.tensors.values()]);
});

const bad: [string, Uint8Array, RegExp][] = [
  ['shorter than 8 bytes', new Uint8Array(5), /shorter than the 8-byte header length/],
  ['header length beyond the file', file({}, new Uint8Array(0), 1000n), /exceeds the file/],
  ['header not starting with {', file('[1]', new Uint8Array(0)), /does not start with/],
  ['invalid JSON', file('{"a":', new Uint8Array(0)), /not valid JSON/],
  ['unsupported dtype', file({ a: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /unsupported dtype "F8"/],
  ['negative shape', file({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), /invalid shape/],
  ['extent not matching the shape', file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, f32(1)), /needs 8/],
  ['hole between tensors', file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, f32(3)), /expected 4 \(overlap or hole\)/],
  ['overlapping tensors', file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(2)), /overlap or hole/],
  ['trailing bytes not covered', file({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(2)), /cover 4 bytes but the data buffer has 8/],
  ['bad metadata', file({ __metadata__: { a: 1 } }, new Uint8Array(0)), /__metadata__ must map strings to strings/],
];
for (const [name, bytes, msg] of bad) {
  test(`rejects ${name} with E_SAFETENSORS`, () => {
    assert.throws(() => parseSafetensors(bytes, 'x.safetensors'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'E_SAFETENSORS');
      assert.match(e.message, msg);
      assert.match(e.message, /^x\.safetensors: /);
      return true;
    });
  });
}
