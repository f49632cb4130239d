/**
 * Sampling the Colin27 code map onto a scanner grid through a pose: partial-volume tissue fractions
 * and the brain mask (TissueVolume).
 *
 * Each output voxel averages s0 x s1 x s2 samples spread evenly over the voxel (by default as many per
 * axis as template voxels fit across it, so a 4 mm voxel averages 64 samples and holds the mix of
 * tissues inside it); each sample interpolates the template's fractions trilinearly. The pose's
 * deformation is taken at the voxel centre and its affine part moves the samples (the displacement
 * varies by well under a millimetre across a voxel). The brain mask is the majority vote: brain where
 * at least half of the voxel's interpolated weight is brain, so on the template's own grid with the
 * identity pose it is exactly the template's mask.
 */
import { ConvLoraError, checkInt, invalidArg } from '../../../errors.js';
import { CODE_AIR, codeTable, type CodeTable } from './codes.js';
import { denseWarp, warpAt, type ColinPose, type DenseWarp } from './pose.js';
import { DEFAULT_MAX_VOXELS } from '../../nifti/codec.js';
import { TISSUES, type TissueVolume } from '../tissue.js';

type Vec3 = [number, number, number];

/** An axis-aligned scanner grid (same shape as phantom-anatomy's Grid). */
export interface RenderGrid {
  dims: Vec3;
  /** Voxel size, mm. */
  spacing: Vec3;
  /** World position (mm) of voxel (0, 0, 0). */
  origin: Vec3;
}

export interface RenderOptions {
  /** World position (mm) of the template's brain centroid in the subject. Default: where the template has it. */
  center?: Vec3;
  /** Samples per axis within a voxel. Default: ceil(voxel size / template voxel size) per axis. */
  samples?: Vec3;
}

/** What render needs of an anatomy (Colin27Anatomy). */
interface Template {
  dims: Vec3;
  spacing: Vec3;
  origin: Vec3;
  code: Uint8Array;
  center: Vec3;
}

/** Template blocks of BLOCK^3 voxels, for skipping air: a block is occupied if it holds a non-air voxel. */
const BLOCK = 4;

interface Prepared {
  /** Code map padded by one air voxel on every side: trilinear reads never leave the array. */
  padded: Uint8Array;
  pdims: Vec3;
  bdims: Vec3;
  /** Occupied blocks dilated by r blocks (a cube), by r. */
  dilated: Map<number, Uint8Array>;
  table: CodeTable;
}

/** Box dilation of a block grid by r blocks along every axis (separable running max). */
function dilateBlocks(blocks: Uint8Array, bdims: Vec3, r: number): Uint8Array {
  let cur = blocks;
  const strides = [1, bdims[0], bdims[0] * bdims[1]];
  for (let a = 0; a < 3; a++) {
    const out = new Uint8Array(cur.length), st = strides[a]!, len = bdims[a]!;
    for (let v = 0; v < cur.length; v++) {
      if (cur[v] !== 1) continue;
      const at = Math.floor(v / st) % len;
      for (let d = Math.max(0, at - r); d <= Math.min(len - 1, at + r); d++) out[v + (d - at) * st] = 1;
    }
    cur = out;
  }
  return cur;
}

/** Occupied blocks dilated so that every point within `voxels` (per axis) of an occupied voxel is covered. */
function dilatedFor(p: Prepared, voxels: number): Uint8Array {
  const r = Math.ceil(voxels / BLOCK);
  let d = p.dilated.get(r);
  if (d === undefined) {
    d = dilateBlocks(p.dilated.get(0)!, p.bdims, r);
    p.dilated.set(r, d);
  }
  return d;
}

/** Whether the block of padded-template point q (clamped to the block grid) is set. */
function blockSet(blocks: Uint8Array, bdims: Vec3, qx: number, qy: number, qz: number): boolean {
  const bx = Math.min(bdims[0] - 1, Math.max(0, Math.floor(qx / BLOCK)));
  const by = Math.min(bdims[1] - 1, Math.max(0, Math.floor(qy / BLOCK)));
  const bz = Math.min(bdims[2] - 1, Math.max(0, Math.floor(qz / BLOCK)));
  return blocks[bx + bdims[0] * (by + bdims[1] * bz)] === 1;
}

/**
 * The voxels [i0, i1] of a row whose template position base + (y0 + i step) / ts lies within `margin`
 * voxels of the padded template on every axis; empty rows give i0 > i1.
 */
function rowSpan(y0: Vec3, step: Vec3, base: Vec3, ts: Vec3, pdims: Vec3, nx: number, margin: number): [number, number] {
  let lo = 0, hi = nx - 1;
  for (let a = 0; a < 3; a++) {
    const u0 = base[a]! + y0[a]! / ts[a]!, du = step[a]! / ts[a]!;
    const min = -margin, max = pdims[a]! - 1 + margin;
    if (du === 0) {
      if (u0 < min || u0 > max) return [1, 0];
      continue;
    }
    const ta = (min - u0) / du, tb = (max - u0) / du;
    lo = Math.max(lo, Math.ceil(Math.min(ta, tb)));
    hi = Math.min(hi, Math.floor(Math.max(ta, tb)));
  }
  return [lo, hi];
}

const prepared = new WeakMap<Uint8Array, Prepared>();

function prepare(t: Template): Prepared {
  const hit = prepared.get(t.code);
  if (hit !== undefined) return hit;
  const [nx, ny, nz] = t.dims;
  const pdims: Vec3 = [nx + 2, ny + 2, nz + 2];
  const padded = new Uint8Array(pdims[0] * pdims[1] * pdims[2]);
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) {
    padded.set(t.code.subarray(nx * (j + ny * k), nx * (j + ny * k) + nx), 1 + pdims[0] * (j + 1 + pdims[1] * (k + 1)));
  }
  const bdims = pdims.map((d) => Math.ceil(d / BLOCK)) as Vec3;
  const raw = new Uint8Array(bdims[0] * bdims[1] * bdims[2]);
  for (let k = 0; k < pdims[2]; k++) for (let j = 0; j < pdims[1]; j++) for (let i = 0; i < pdims[0]; i++) {
    if (padded[i + pdims[0] * (j + pdims[1] * k)] !== CODE_AIR) raw[Math.floor(i / BLOCK) + bdims[0] * (Math.floor(j / BLOCK) + bdims[1] * Math.floor(k / BLOCK))] = 1;
  }
  const p: Prepared = { padded, pdims, bdims, dilated: new Map([[0, raw]]), table: codeTable() };
  prepared.set(t.code, p);
  return p;
}

function checkGrid(grid: RenderGrid): void {
  if (!Array.isArray(grid.dims) || grid.dims.length !== 3) invalidArg('grid.dims', 'three integers', grid.dims);
  grid.dims.forEach((d, a) => checkInt(`grid.dims[${a}]`, d, 1));
  [0, 1, 2].forEach((a) => {
    const s = grid.spacing?.[a], o = grid.origin?.[a];
    if (typeof s !== 'number' || !(s > 0) || !Number.isFinite(s)) invalidArg(`grid.spacing[${a}]`, 'a voxel size > 0 (mm)', s);
    if (typeof o !== 'number' || !Number.isFinite(o)) invalidArg(`grid.origin[${a}]`, 'a finite position (mm)', o);
  });
  const n = grid.dims[0] * grid.dims[1] * grid.dims[2];
  if (n > DEFAULT_MAX_VOXELS) throw new ConvLoraError('E_INVALID_ARG', `Expected a grid of at most ${DEFAULT_MAX_VOXELS} voxels but received ${grid.dims.join(' x ')} = ${n}`);
}

/**
 * How a grid's voxels sample the padded template: the map from world offsets (mm, from `center`) to
 * template-aligned offsets (M = S^-1 R^T), the padded voxel index of the template centre, the step of one
 * grid column, and each sample's offset within a voxel (padded-template voxels) with their largest reach.
 */
interface Sampling { center: Vec3; ts: Vec3; My: (v: Vec3) => Vec3; base: Vec3; stepI: Vec3; off: Float64Array; ns: number; reach: number }

function sampling(template: Template, pose: ColinPose, grid: RenderGrid, opts: RenderOptions): Sampling {
  const center = opts.center ?? template.center;
  center.forEach((c, a) => { if (!Number.isFinite(c)) invalidArg(`center[${a}]`, 'a finite position (mm)', c); });
  const ts = template.spacing;
  const samples = opts.samples ?? (grid.spacing.map((s, a) => Math.max(1, Math.ceil(s / ts[a]! - 1e-6))) as Vec3);
  samples.forEach((s, a) => checkInt(`samples[${a}]`, s, 1));
  // M = S^-1 R^T: world offset from `center` (mm) -> template-aligned offset y (mm).
  const R = pose.rotation, S = pose.scale;
  const M = [0, 1, 2].map((r) => [0, 1, 2].map((c) => R[c * 3 + r]! / S[r]!));
  const My = (v: Vec3): Vec3 => [0, 1, 2].map((r) => M[r]![0]! * v[0] + M[r]![1]! * v[1] + M[r]![2]! * v[2]) as Vec3;
  // Padded template voxel index of template world point c + y is base + y / ts.
  const base = [0, 1, 2].map((a) => (template.center[a]! - template.origin[a]!) / ts[a]! + 1) as Vec3;
  const ns = samples[0] * samples[1] * samples[2];
  const off = new Float64Array(3 * ns);
  let reach = 0;
  for (let c = 0, m = 0; c < samples[2]; c++) for (let b = 0; b < samples[1]; b++) for (let a = 0; a < samples[0]; a++, m++) {
    const d = My([((a + 0.5) / samples[0] - 0.5) * grid.spacing[0], ((b + 0.5) / samples[1] - 0.5) * grid.spacing[1], ((c + 0.5) / samples[2] - 0.5) * grid.spacing[2]]);
    for (let q = 0; q < 3; q++) { off[3 * m + q] = d[q]! / ts[q]!; reach = Math.max(reach, Math.abs(d[q]! / ts[q]!)); }
  }
  return { center, ts, My, base, stepI: My([grid.spacing[0], 0, 0]), off, ns, reach };
}

/** Add one trilinear corner's tissues to `acc`; returns its brain weight. */
function corner(table: CodeTable, acc: Float64Array, c: number, w: number): number {
  if (c === CODE_AIR) return 0;
  const ta = table.a[c]!, tb = table.b[c]!;
  acc[ta] = acc[ta]! + w * table.wa[c]!;
  acc[tb] = acc[tb]! + w * table.wb[c]!;
  return w * table.brain[c]!;
}

/** The tissue weights of one voxel's samples around padded-template point (qx, qy, qz), summed into `acc` (zeroed here); returns the brain weight. */
function sampleVoxel(P: Prepared, s: Sampling, qx: number, qy: number, qz: number, acc: Float64Array): number {
  const { padded, pdims, table } = P, off = s.off;
  const [px, py, pz] = pdims;
  const pplane = px * py;
  acc.fill(0);
  let brainW = 0;
  for (let m = 0; m < s.ns; m++) {
    const fx = qx + off[3 * m]!, fy = qy + off[3 * m + 1]!, fz = qz + off[3 * m + 2]!;
    if (!(fx >= 0 && fy >= 0 && fz >= 0 && fx < px - 1 && fy < py - 1 && fz < pz - 1)) continue; // air
    const ix = Math.floor(fx), iy = Math.floor(fy), iz = Math.floor(fz);
    const wx = fx - ix, wy = fy - iy, wz = fz - iz;
    const o = ix + px * iy + pplane * iz;
    const ux = 1 - wx, uy = 1 - wy, uz = 1 - wz;
    brainW += corner(table, acc, padded[o]!, ux * uy * uz) + corner(table, acc, padded[o + 1]!, wx * uy * uz)
      + corner(table, acc, padded[o + px]!, ux * wy * uz) + corner(table, acc, padded[o + px + 1]!, wx * wy * uz)
      + corner(table, acc, padded[o + pplane]!, ux * uy * wz) + corner(table, acc, padded[o + pplane + 1]!, wx * uy * wz)
      + corner(table, acc, padded[o + pplane + px]!, ux * wy * wz) + corner(table, acc, padded[o + pplane + px + 1]!, wx * wy * wz);
  }
  return brainW;
}

/** Voxel `v`'s brain label and tissue fractions (of `n` voxels) from its summed weights over `ns` samples. */
function storeVoxel(out: Pick<TissueVolume, 'fractions' | 'brain'>, v: number, n: number, acc: Float64Array, brainW: number, ns: number): void {
  const inv = 1 / ns;
  out.brain[v] = brainW * inv >= 0.5 ? 1 : 0;
  // Cumulative rounding: each fraction is rounded so that the sum rounds like the total (<= 255).
  let cum = 0, prev = 0;
  for (let t = 0; t < TISSUES.length; t++) {
    cum += acc[t]!;
    const r = Math.min(255, Math.round(cum * inv * 255));
    if (r !== prev) out.fractions[t * n + v] = r - prev;
    prev = r;
  }
}

/** Render `template` in `pose` onto `grid`. Fractions [TISSUES.length, n], brain [n] (TissueVolume). */
export function renderColin27(template: Template, pose: ColinPose, grid: RenderGrid, opts: RenderOptions = {}): TissueVolume {
  checkGrid(grid);
  const s = sampling(template, pose, grid, opts);
  const { center, ts, base, stepI } = s;
  const P = prepare(template);
  const [nx, ny, nz] = grid.dims;
  const n = nx * ny * nz;
  const fractions = new Uint8Array(TISSUES.length * n), brain = new Uint8Array(n);
  // Skipping air. Every sample lies within reach + 1 voxels (per axis) of the voxel's mapped centre q
  // (trilinear reads one voxel on), and q within maxDisp of the undisplaced centre u (B-spline weights
  // are >= 0 and sum to 1, so |d| <= the largest coefficient on each axis). A voxel whose u has no
  // tissue within reach + 1 + maxDisp is air (checked before the warp), then one whose q has none
  // within reach + 1.
  const maxDisp = pose.warp === null ? 0 : pose.warp.coeffs.reduce((m, c) => Math.max(m, Math.abs(c)), 0) / Math.min(...ts);
  const nearR = s.reach + 1, farR = s.reach + 1 + maxDisp;
  const near = dilatedFor(P, nearR), far = dilatedFor(P, farR);
  const dw: DenseWarp | null = pose.warp === null ? null : denseWarp(pose.warp);
  const disp = new Float64Array(3);
  const acc = new Float64Array(TISSUES.length + 1);
  const { pdims, bdims } = P;
  const [px, py, pz] = pdims;
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) {
    const y0 = s.My([grid.origin[0] - center[0], grid.origin[1] + j * grid.spacing[1] - center[1], grid.origin[2] + k * grid.spacing[2] - center[2]]);
    const [i0, i1] = rowSpan(y0, stepI, base, ts, pdims, nx, farR);
    for (let i = i0; i <= i1; i++) {
      const yx = y0[0] + i * stepI[0], yy = y0[1] + i * stepI[1], yz = y0[2] + i * stepI[2];
      if (!blockSet(far, bdims, base[0] + yx / ts[0], base[1] + yy / ts[1], base[2] + yz / ts[2])) continue;
      if (dw === null) { disp[0] = 0; disp[1] = 0; disp[2] = 0; } else warpAt(dw, yx, yy, yz, disp);
      const qx = base[0] + (yx + disp[0]!) / ts[0], qy = base[1] + (yy + disp[1]!) / ts[1], qz = base[2] + (yz + disp[2]!) / ts[2];
      if (qx < -nearR || qy < -nearR || qz < -nearR || qx > px - 1 + nearR || qy > py - 1 + nearR || qz > pz - 1 + nearR) continue;
      if (!blockSet(near, bdims, qx, qy, qz)) continue;
      const brainW = sampleVoxel(P, s, qx, qy, qz, acc);
      storeVoxel({ fractions, brain }, i + nx * (j + ny * k), n, acc, brainW, s.ns);
    }
  }
  const affine = [
    [grid.spacing[0], 0, 0, grid.origin[0]], [0, grid.spacing[1], 0, grid.origin[1]], [0, 0, grid.spacing[2], grid.origin[2]], [0, 0, 0, 1],
  ];
  return { dims: [nx, ny, nz], spacing: [...grid.spacing], affine, fractions, brain };
}
