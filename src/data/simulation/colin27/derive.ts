/**
 * Derive the Colin27 anatomy code map (see codes.ts) from MRIcron's `ch2` (T1) and `ch2bet`
 * (its brain-extracted copy). Used by tools/derive-colin27.mjs; the library itself only reads the result.
 *
 * Method (docs/data.md, "Colin27 anatomy"):
 * 1. brain = ch2bet > 0, holes filled; head = ch2 > 0, holes filled, largest component.
 * 2. Inside the brain: fractions of CSF/GM/WM from the partial-volume mixture fitted to ch2's
 *    histogram in the brain (mixture.ts).
 * 3. Outside the brain, from T1 intensity I and distances (mm) to the air (dSurf) and to the brain
 *    (dBrain), with thresholds from the fitted means (dark: below the CSF/GM midpoint; bright: above
 *    the GM/WM midpoint):
 *    vitreous: dark voxels within `eyeRadius` of an eye centre (the darkest sphere ringed by bright
 *    orbital fat, searched in each orbit); skin: dSurf <= 2; CSF: dark voxels within 2 mm of the brain
 *    or in gaps of the mask (a 5 mm closing); bone: other dark voxels; marrow: not-dark
 *    voxels enclosed by bone (a closing of the dark voxels near the brain) above the skull base and
 *    outside the mask's closing;
 *    fat: other bright voxels; muscle: the rest of the head.
 */
import { ConvLoraError } from '../../../errors.js';
import { BRAIN_BASE, BRAIN_STEPS, CODE_AIR, brainCode, tissueCode } from './codes.js';
import { fitPvMixture, pvFractions, type PvMixture } from './mixture.js';
import { distanceMap, fillHoles, largestComponent } from '../../image/morphology.js';
import type { NiftiData } from '../../nifti/codec.js';
import { TISSUES, type Tissue } from '../tissue.js';

type Vec3 = [number, number, number];

/** The parameters of the rules, mm unless noted; defaults are what the committed map was made with. */
export interface DeriveOptions {
  /** Outer layer of the head called skin. 2 mm: epidermis and dermis of the scalp. */
  skin?: number;
  /** Dark voxels closer than this to the brain form the skull shell searched for marrow. */
  skullReach?: number;
  /** Closing radius that fills the diploe between the inner and outer tables. */
  closing?: number;
  /** Eye (vitreous) radius. The adult globe is about 24 mm across. */
  eyeRadius?: number;
  /** Marrow only above this world z: the calvarium, not the skull base and face. */
  skullBaseZ?: number;
  /** Dark voxels this close to the brain are CSF (subarachnoid space), not bone: 1-3 mm in adults. */
  csfLayer?: number;
  /**
   * Dark voxels in gaps of the brain mask narrower than twice this (inside a closing of the mask) are
   * CSF too: the interhemispheric fissure, which ch2bet leaves out in places, and the cisterns.
   */
  hull?: number;
}

export interface Colin27Derivation {
  dims: Vec3;
  code: Uint8Array;
  mixture: PvMixture;
  /** Intensity thresholds used outside the brain. */
  thresholds: { dark: number; fat: number };
  /** Eye centres found, world mm (right then left). */
  eyes: [Vec3, Vec3];
  /** Volumes in ml: each tissue (fractions summed) and the brain mask. */
  volumes: Record<Tissue | 'brain', number>;
}

interface Input {
  data: NiftiData;
  dims: readonly number[];
  affine: readonly (readonly number[])[];
}

const code = (t: Tissue): number => tissueCode(TISSUES.indexOf(t));

/** World mm of voxel index (i, j, k) along each axis of a diagonal (axis-aligned, RAS) affine. */
function axisWorld(input: Input): (a: number, i: number) => number {
  const A = input.affine;
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) {
    const v = A[r]?.[c] ?? 0;
    if ((r === c && !(v > 0)) || (r !== c && v !== 0)) {
      throw new ConvLoraError('E_DATA', `Expected an axis-aligned RAS affine for Colin27 but received row ${r}: [${(A[r] ?? []).join(', ')}]`);
    }
  }
  return (a, i) => A[a]![a]! * i + A[a]![3]!;
}

/**
 * The darkest sphere of radius 9 mm ringed by bright tissue behind it (orbital fat), over a box of
 * candidate centres in one orbit (world mm, MNI-like placement: x 20-45 mm from the midline,
 * y 40-75, z -50 to -20). Score = mean of the posterior half-shell 13-16 mm minus the sphere mean.
 */
function findEye(t1: Input, side: -1 | 1, world: (a: number, i: number) => number): Vec3 {
  const [nx, ny, nz] = t1.dims as Vec3;
  const inv = (a: number, w: number): number => Math.round((w - world(a, 0)) / (world(a, 1) - world(a, 0)));
  const val = (x: number, y: number, z: number): number => {
    const i = inv(0, x), j = inv(1, y), k = inv(2, z);
    return i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz ? 0 : t1.data[i + nx * (j + ny * k)]!;
  };
  let best: Vec3 = [0, 0, 0], bestScore = -Infinity;
  for (let x = 20; x <= 45; x++) for (let y = 40; y <= 75; y++) for (let z = -50; z <= -20; z++) {
    let si = 0, ni = 0, so = 0, no = 0;
    for (let dx = -16; dx <= 16; dx += 2) for (let dy = -16; dy <= 16; dy += 2) for (let dz = -16; dz <= 16; dz += 2) {
      const r = Math.hypot(dx, dy, dz);
      if (r <= 9) { si += val(side * x + dx, y + dy, z + dz); ni++; } else if (r >= 13 && r <= 16 && dy < 0) { so += val(side * x + dx, y + dy, z + dz); no++; }
    }
    const score = so / no - si / ni;
    if (score > bestScore) { bestScore = score; best = [side * x, y, z]; }
  }
  return best;
}

/** Derive the code map. `t1` is ch2, `bet` ch2bet on the same grid. */
export function deriveColin27(t1: Input, bet: Pick<Input, 'data'>, opts: DeriveOptions = {}): Colin27Derivation {
  const { skin = 2, skullReach = 20, closing = 2, eyeRadius = 12, skullBaseZ = -35, csfLayer = 2, hull = 5 } = opts;
  const dims = [...t1.dims.slice(0, 3)] as Vec3;
  const n = dims[0] * dims[1] * dims[2];
  if (t1.data.length !== n || bet.data.length !== n) {
    throw new ConvLoraError('E_SHAPE', `Expected ch2 and ch2bet with ${n} voxels but received ${t1.data.length} and ${bet.data.length}`);
  }
  const world = axisWorld(t1);
  const spacing = [0, 1, 2].map((a) => world(a, 1) - world(a, 0)) as Vec3;
  const I = t1.data;
  const brain = fillHoles(Uint8Array.from(bet.data, (v) => (v > 0 ? 1 : 0)), dims);
  const head = largestComponent(fillHoles(Uint8Array.from(I, (v) => (v > 0 ? 1 : 0)), dims), dims);
  for (let v = 0; v < n; v++) head[v] = head[v]! | brain[v]!;

  const hist = new Float64Array(256);
  for (let v = 0; v < n; v++) if (brain[v] === 1) { const b = Math.min(255, Math.max(0, Math.round(I[v]!))); hist[b] = hist[b]! + 1; }
  const mixture = fitPvMixture(hist);
  const [mc, mg, mw] = mixture.means;
  const thresholds = { dark: (mc + mg) / 2, fat: (mg + mw) / 2 };
  const brainLut = new Uint8Array(256);
  for (let x = 0; x < 256; x++) { const f = pvFractions(mixture, x); brainLut[x] = brainCode(f[0], f[2]); }

  const air = Uint8Array.from(head, (h) => 1 - h);
  const dSurf = distanceMap(air, dims, spacing);
  const dBrain = distanceMap(brain, dims, spacing);
  const eyes: [Vec3, Vec3] = [findEye(t1, -1, world), findEye(t1, 1, world)];

  // Skull shell: dark voxels near the brain, closed (dilate then erode by `closing` mm) over the diploe.
  const darkNear = new Uint8Array(n);
  for (let v = 0; v < n; v++) darkNear[v] = brain[v] === 0 && head[v] === 1 && I[v]! < thresholds.dark && dBrain[v]! <= skullReach && dSurf[v]! > skin + 1 ? 1 : 0;
  const grown = Uint8Array.from(distanceMap(darkNear, dims, spacing), (d) => (d <= closing ? 0 : 1)); // 1 = outside dilation
  const shell = Uint8Array.from(distanceMap(grown, dims, spacing), (d) => (d > closing ? 1 : 0));

  const outsideGrown = Uint8Array.from(dBrain, (d) => (d <= hull ? 0 : 1));
  const brainHull = Uint8Array.from(distanceMap(outsideGrown, dims, spacing), (d) => (d > hull ? 1 : 0));

  const out = new Uint8Array(n);
  const [nx, ny] = dims;
  for (let v = 0; v < n; v++) {
    if (head[v] === 0) { out[v] = CODE_AIR; continue; }
    const x = I[v]!;
    if (brain[v] === 1) { out[v] = brainLut[Math.min(255, Math.max(0, Math.round(x)))]!; continue; }
    const i = v % nx, j = Math.floor(v / nx) % ny, k = Math.floor(v / (nx * ny));
    const p: Vec3 = [world(0, i), world(1, j), world(2, k)];
    const inEye = eyes.some((e) => Math.hypot(p[0] - e[0], p[1] - e[1], p[2] - e[2]) <= eyeRadius);
    const dark = x < thresholds.dark;
    let t: Tissue;
    if (inEye && dark) t = 'vitreous';
    else if (dSurf[v]! <= skin) t = 'skin';
    else if (dark) t = dBrain[v]! <= csfLayer || brainHull[v] === 1 ? 'csf' : 'bone';
    else if (shell[v] === 1 && brainHull[v] === 0 && dBrain[v]! <= skullReach && dSurf[v]! > skin + 1 && p[2] > skullBaseZ) t = 'marrow';
    else if (x >= thresholds.fat) t = 'fat';
    else t = 'muscle';
    out[v] = code(t);
  }
  return { dims, code: out, mixture, thresholds, eyes, volumes: volumesOf(out, spacing) };
}

/** Tissue volumes (ml) of a code map: brain codes split by their fractions. */
function volumesOf(map: Uint8Array, spacing: Vec3): Colin27Derivation['volumes'] {
  const ml = (spacing[0] * spacing[1] * spacing[2]) / 1000;
  const sums = new Float64Array(TISSUES.length);
  let brain = 0;
  for (let v = 0; v < map.length; v++) {
    const c = map[v]!;
    if (c >= BRAIN_BASE) {
      brain++;
      const t = (c - BRAIN_BASE) / BRAIN_STEPS;
      if (t <= 1) { sums[0] = sums[0]! + 1 - t; sums[1] = sums[1]! + t; } else { sums[1] = sums[1]! + 2 - t; sums[2] = sums[2]! + t - 1; }
    } else if (c !== CODE_AIR) sums[c - 1] = sums[c - 1]! + 1;
  }
  const out = { brain: brain * ml } as Colin27Derivation['volumes'];
  TISSUES.forEach((t, k) => { out[t] = sums[k]! * ml; });
  return out;
}
