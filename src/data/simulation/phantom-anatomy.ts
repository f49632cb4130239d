/**
 * Procedural 3D heads: scalp (skin when the levels give one, fat, muscle), skull (outer table,
 * marrow, inner table), CSF, cerebrum with gyri and CSF-filled sulci, cerebellum with folia,
 * brainstem and spinal cord, lateral and third ventricles, deep grey nuclei, eyes in orbital fat,
 * face and neck.
 *
 * Shapes are signed distance approximations in millimetres (negative inside). Each voxel's tissue
 * mix comes from ramps of width one voxel across every boundary, which is an analytic partial-volume
 * model: coarse voxels blur thin structures exactly as a real acquisition would.
 *
 * Subject coordinates: x left-right, y posterior-anterior, z inferior-superior, origin at the brain
 * centre. The ground-truth brain mask is cerebrum + cerebellum + brainstem above the foramen magnum
 * (inner CSF included, eyes, cord, skull and outer CSF excluded), decided at the voxel centre.
 */
import type { Rng } from '../rng.js';
import type { TissueLevels } from './presets.js';

const SULCI = 6;

/** One simulated person: every random anatomical choice. */
export interface Subject {
  /** World position of the brain centre, mm. */
  center: [number, number, number];
  /** World-to-subject rotation, row-major 3x3. */
  rot: number[];
  /** Per-axis size factors. */
  scale: [number, number, number];
  /** Low-order brain shape coefficients (radius factor 1 + sum c_i * term_i(direction)). */
  shape: number[];
  /** Sulcal waves: SULCI x [wx, wy, wz, phase], wave vectors in rad/mm. */
  waves: number[];
  cortex: number;
  gyralDepth: number;
  csf: number;
  skull: number;
  scalp: number;
  ventricles: number;
  /** Tissue level multipliers (subject-to-subject contrast variation); skin follows muscle. */
  contrast: Record<Exclude<keyof TissueLevels, 'skin'>, number>;
}

function rotation(ax: number, ay: number, az: number): number[] {
  const [ca, sa, cb, sb, cc, sc] = [Math.cos(ax), Math.sin(ax), Math.cos(ay), Math.sin(ay), Math.cos(az), Math.sin(az)];
  // R = Rz * Ry * Rx; we store its transpose (world to subject).
  const r = [
    cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa,
    sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa,
    -sb, cb * sa, cb * ca,
  ];
  return [r[0]!, r[3]!, r[6]!, r[1]!, r[4]!, r[7]!, r[2]!, r[5]!, r[8]!];
}

/** Draw a subject. `center` is where the caller wants the brain centre in world mm. */
export function makeSubject(rng: Rng, center: [number, number, number]): Subject {
  const deg = Math.PI / 180;
  const s = rng.uniform(0.92, 1.05);
  const waves: number[] = [];
  for (let k = 0; k < SULCI; k++) {
    // Random directions, wavelengths 22-34 mm: gyri a few voxels wide at 1 mm, sub-voxel at 4 mm.
    const u = rng.uniform(-1, 1), phi = rng.uniform(0, 2 * Math.PI), f = (2 * Math.PI) / rng.uniform(22, 34);
    const r = Math.sqrt(1 - u * u);
    waves.push(f * r * Math.cos(phi), f * r * Math.sin(phi), f * u, rng.uniform(0, 2 * Math.PI));
  }
  const jitter = (): number => rng.uniform(0.94, 1.06);
  return {
    center: [center[0] + rng.uniform(-2, 2), center[1] + rng.uniform(-4, 4), center[2] + rng.uniform(-4, 4)],
    rot: rotation(rng.uniform(-4, 4) * deg, rng.uniform(-3, 3) * deg, rng.uniform(-4, 4) * deg),
    scale: [s * rng.uniform(0.96, 1.04), s * rng.uniform(0.96, 1.04), s * rng.uniform(0.95, 1.05)],
    shape: Array.from({ length: 6 }, () => rng.uniform(-0.03, 0.03)),
    waves,
    cortex: rng.uniform(2.5, 3.5), gyralDepth: rng.uniform(6, 10), csf: rng.uniform(2, 4.5),
    skull: rng.uniform(5, 8), scalp: rng.uniform(4, 8), ventricles: rng.uniform(0.7, 1.5),
    contrast: {
      scalp: jitter(), muscle: jitter(), bone: jitter(), marrow: jitter(), csf: jitter(), gm: jitter(),
      wm: 1, vitreous: jitter(), orbitFat: jitter(),
    },
  };
}

/** Radial signed distance (mm) to an axis-aligned ellipsoid; exact on the surface, approximate elsewhere. */
function ellipsoid(x: number, y: number, z: number, cx: number, cy: number, cz: number, ax: number, ay: number, az: number): number {
  const dx = x - cx, dy = y - cy, dz = z - cz;
  const qx = dx / ax, qy = dy / ay, qz = dz / az;
  const rho = Math.sqrt(qx * qx + qy * qy + qz * qz);
  if (rho < 1e-9) return -Math.min(ax, ay, az);
  return ((rho - 1) * Math.sqrt(dx * dx + dy * dy + dz * dz)) / rho;
}

/** Cerebrum: an ellipsoid whose radius varies with direction by the subject's shape terms. */
function cerebrum(x: number, y: number, z: number, c: number[]): number {
  const dx = x, dy = y, dz = z - 8;
  const qx = dx / 64, qy = dy / 82, qz = dz / 58;
  const rho = Math.sqrt(qx * qx + qy * qy + qz * qz);
  if (rho < 1e-9) return -58;
  const ux = qx / rho, uy = qy / rho, uz = qz / rho;
  // A flatter base (temporal/frontal floor) and subject-specific bumps.
  const f = 1 + (c[0] ?? 0) * ux * uy + (c[1] ?? 0) * uy * uz + (c[2] ?? 0) * uz + (c[3] ?? 0) * (ux * ux - uy * uy) + (c[4] ?? 0) * uy + (c[5] ?? 0) * uz * uz - (uz < 0 ? 0.12 * uz * uz : 0);
  const r = rho / f;
  return ((r - 1) * Math.sqrt(dx * dx + dy * dy + dz * dz)) / r;
}

/** Elliptic cylinder along z (2D radial distance), for the brainstem, cord and neck. */
function cylinder(x: number, y: number, cx: number, cy: number, ax: number, ay: number): number {
  const dx = x - cx, dy = y - cy;
  const qx = dx / ax, qy = dy / ay;
  const rho = Math.sqrt(qx * qx + qy * qy);
  if (rho < 1e-9) return -Math.min(ax, ay);
  return ((rho - 1) * Math.sqrt(dx * dx + dy * dy)) / rho;
}

const EYE = { x: 31, y: 70, z: -26, r: 11.5, orbit: 17 };
/** Skin thickness, mm (scalp skin is about 2 mm): drawn only when the levels give a skin value. */
const SKIN_MM = 2;
const FORAMEN_Z = -62;

export interface Grid {
  dims: [number, number, number];
  spacing: [number, number, number];
  /** World position (mm) of voxel (0, 0, 0). */
  origin: [number, number, number];
}

/** What every voxel of one rendering shares: the subject, its levels, and the one-voxel ramp of partial volume. */
interface RenderContext {
  sub: Subject; L: TissueLevels & { stem: number; deep: number };
  /** Ramp width: one voxel, in subject millimetres. */
  h: number;
  /** Partial-volume fraction inside a surface at signed distance d (mm): 1 inside, 0 outside, linear over h. */
  fr: (d: number) => number;
  waveNorm: number; outerOff: number;
}

/** Signed distances (mm, negative inside) of one point to the anatomy's parts; one object reused for every voxel. */
interface Parts { eyeDist: number; dCer: number; dCb: number; dStem: number; dCord: number; dBrain: number; dHead: number }

/** The parts' distances at subject point (x, y, z); the cerebrum is carved away from the orbits (orbital roof). */
function partsAt(c: RenderContext, x: number, y: number, z: number, p: Parts): void {
  const eyeX = x < 0 ? x + EYE.x : x - EYE.x;
  p.eyeDist = Math.sqrt(eyeX * eyeX + (y - EYE.y) ** 2 + (z - EYE.z) ** 2);
  p.dCer = Math.max(cerebrum(x, y, z, c.sub.shape), EYE.orbit + 5 - p.eyeDist);
  p.dCb = ellipsoid(x, y, z, 0, -48, -36, 50, 30, 24);
  p.dStem = z > 8 ? 1e9 : Math.max(cylinder(x, y, 0, -14 + 0.25 * (z + 20), 11, 13), z - 5, FORAMEN_Z - 12 - z);
  p.dCord = z > FORAMEN_Z + 5 ? 1e9 : Math.max(cylinder(x, y, 0, -24, 7, 8), z - FORAMEN_Z);
  p.dBrain = Math.min(p.dCer, p.dCb, p.dStem, p.dCord);
  p.dHead = Math.min(
    p.dBrain - c.outerOff,
    z > 10 ? 1e9 : ellipsoid(x, y, z, 0, 50, -44, 54, 46, 48),
    y < 80 ? 1e9 : ellipsoid(x, y, z, 0, 96, -38, 10, 14, 18),
    z > -36 ? 1e9 : Math.max(cylinder(x, y, 0, -12, 50, 50), z + 40),
  );
}

/** The level from the skin inwards: skin, scalp, muscle, the skull's tables and marrow, CSF, the eyes in orbital fat. */
function headLevel(c: RenderContext, p: Parts): number {
  const { L, sub, fr } = c;
  let v: number;
  if (L.skin === undefined) v = L.scalp * fr(p.dHead);
  else {
    v = L.skin * fr(p.dHead);
    v += (L.scalp - v) * fr(p.dHead + SKIN_MM);
  }
  v += (L.muscle - v) * fr(p.dHead + sub.scalp);
  const dIn = p.dBrain - sub.csf;
  v += (L.bone - v) * fr(dIn - sub.skull);
  v += (L.marrow - v) * fr(dIn - 0.7 * sub.skull);
  v += (L.bone - v) * fr(dIn - 0.3 * sub.skull);
  v += (L.csf - v) * fr(dIn);
  v += (L.orbitFat - v) * fr(p.eyeDist - EYE.orbit);
  v += (L.vitreous - v) * fr(p.eyeDist - EYE.r);
  return v;
}

/** Brain tissue over level `v`: grey matter first, then sulci, white matter, cerebellar folia, deep nuclei, ventricles. */
function brainLevel(c: RenderContext, p: Parts, x: number, y: number, z: number, v: number): number {
  const { L, sub, fr, h } = c, w = sub.waves, vs = sub.ventricles;
  v += (L.gm - v) * fr(Math.min(p.dCer, p.dCb));
  v += (L.stem - v) * fr(Math.min(p.dStem, p.dCord));
  if (p.dCer < 0.5 * h) {
    const depth = -p.dCer;
    let g = 0;
    if (depth < sub.cortex + sub.gyralDepth + h) {
      for (let q = 0; q < SULCI * 4; q += 4) g += Math.sin(w[q]! * x + w[q + 1]! * y + w[q + 2]! * z + w[q + 3]!);
      g *= c.waveNorm;
      // CSF clefts where |g| is small, down to the sulcal fundus.
      const cleft = fr(Math.abs(g) * 4 - 1.2 * h) * fr(depth - sub.cortex - sub.gyralDepth);
      v += (L.csf - v) * cleft * 0.9;
    }
    const wmDepth = sub.cortex + sub.gyralDepth * Math.max(0, 1 - Math.abs(g));
    v += (L.wm - v) * fr(p.dCer + wmDepth);
  }
  if (p.dCb < 0.5 * h) {
    const folia = Math.abs(Math.sin(0.55 * z + 0.2 * y));
    v += (L.csf - v) * 0.5 * fr(folia * 6 - h) * fr(-p.dCb - 8);
    v += (L.wm - v) * 0.8 * fr(ellipsoid(x, y, z, 0, -44, -34, 24, 14, 12));
  }
  if (p.dCer < -12) {
    const ax = x < 0 ? -x : x;
    v += (L.deep - v) * fr(Math.min(ellipsoid(ax, y, z, 11, -8, 4, 9, 14, 9), ellipsoid(ax, y, z, 21, 12, 5, 7, 15, 10)));
    const dVent = Math.min(ellipsoid(ax, y, z, 5 + 2 * vs, 2, 14, 4.5 * vs, 26, 8 * vs), ellipsoid(x, y, z, 0, -2, 2, 1.5 * vs, 11, 7));
    v += (L.csf - v) * fr(dVent);
  }
  return v;
}

/**
 * Render a subject on a grid: tissue levels mixed by partial volume (before contrast curve, bias,
 * noise) and the brain mask. Arrays are file order (x fastest).
 */
export function renderSubject(sub: Subject, grid: Grid, levels: TissueLevels): { intensity: Float32Array; mask: Uint8Array } {
  const [nx, ny, nz] = grid.dims;
  const [sx, sy, sz] = grid.spacing;
  const [ox, oy, oz] = grid.origin;
  const n = nx * ny * nz;
  const intensity = new Float32Array(n), mask = new Uint8Array(n);
  const mean = (sub.scale[0] + sub.scale[1] + sub.scale[2]) / 3;
  const h = (sx + sy + sz) / 3 / mean;
  const c: RenderContext = {
    sub, L: scaleLevels(levels, sub.contrast), h, fr: (d: number): number => (d <= -0.5 * h ? 1 : d >= 0.5 * h ? 0 : 0.5 - d / h),
    waveNorm: 1 / Math.sqrt(SULCI / 2), outerOff: sub.csf + sub.skull + sub.scalp,
  };
  const [r0, r1, r2, r3, r4, r5, r6, r7, r8] = sub.rot as [number, number, number, number, number, number, number, number, number];
  const p: Parts = { eyeDist: 0, dCer: 0, dCb: 0, dStem: 0, dCord: 0, dBrain: 0, dHead: 0 };
  let at = 0;
  for (let k = 0; k < nz; k++) {
    const wz = oz + k * sz - sub.center[2];
    for (let j = 0; j < ny; j++) {
      const wy = oy + j * sy - sub.center[1];
      for (let i = 0; i < nx; i++, at++) {
        const wx = ox + i * sx - sub.center[0];
        const x = (r0 * wx + r1 * wy + r2 * wz) / sub.scale[0];
        const y = (r3 * wx + r4 * wy + r5 * wz) / sub.scale[1];
        const z = (r6 * wx + r7 * wy + r8 * wz) / sub.scale[2];
        // Cheap reject of air: outside a box-like ellipsoid around the cranium and face, and off the neck.
        const qy = (y - 8) / 125, qz = (z - 2) / 105, qx = x / 100;
        if (qx * qx + qy * qy + qz * qz > 1 && (z > -36 || (x * x + (y + 12) * (y + 12) > 3600))) continue;
        partsAt(c, x, y, z, p);
        if (p.dHead >= 0.5 * h) continue; // air
        intensity[at] = brainLevel(c, p, x, y, z, headLevel(c, p));
        mask[at] = Math.min(p.dCer, p.dCb, z > FORAMEN_Z ? p.dStem : Infinity) < 0 ? 1 : 0;
      }
    }
  }
  return { intensity, mask };
}

function scaleLevels(l: TissueLevels, c: Subject['contrast']): TissueLevels & { stem: number; deep: number } {
  const m: TissueLevels = {
    scalp: l.scalp * c.scalp, muscle: l.muscle * c.muscle, bone: l.bone * c.bone, marrow: l.marrow * c.marrow,
    csf: l.csf * c.csf, gm: l.gm * c.gm, wm: l.wm, vitreous: l.vitreous * c.vitreous, orbitFat: l.orbitFat * c.orbitFat,
    ...(l.skin === undefined ? {} : { skin: l.skin * c.muscle }),
  };
  // Brainstem is mostly white matter; deep nuclei sit between cortex and white matter in T1.
  return { ...m, stem: m.gm + 0.8 * (m.wm - m.gm), deep: m.gm + 0.35 * (m.wm - m.gm) };
}
