/**
 * Bytes for NIfTI tests, built by hand rather than by the code under test: extension records as the
 * NIfTI-1 standard lays them out, deterministic noise, and a nibabel-style view of a record's content.
 */

/** Deterministic noise bytes (an LCG): incompressible, so a gzip prefix inflates to few bytes. */
export function noise(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; out[i] = s >>> 24; }
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** One record, little-endian: esize (default: 8 + data, padded to 16), ecode, data, zero padding. */
export function record(code: number, data: Uint8Array, esize = Math.ceil((8 + data.length) / 16) * 16): Uint8Array {
  const out = new Uint8Array(Math.max(esize, 8 + data.length));
  const v = new DataView(out.buffer);
  v.setInt32(0, esize, true);
  v.setInt32(4, code, true);
  out.set(data, 8);
  return out;
}

/** An extension area: the extender (1 when records follow) and the records, little-endian. */
export function extensionArea(records: readonly { code: number; data: Uint8Array }[]): Uint8Array {
  return concat(Uint8Array.of(records.length > 0 ? 1 : 0, 0, 0, 0), ...records.map((r) => record(r.code, r.data)));
}

/** A record's content as nibabel keeps it: trailing NUL bytes (padding) stripped. */
export function stripNul(b: Uint8Array): Uint8Array {
  let n = b.length;
  while (n > 0 && b[n - 1] === 0) n--;
  return b.subarray(0, n);
}
