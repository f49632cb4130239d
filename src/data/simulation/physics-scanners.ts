/**
 * The six CC359 scanners simulated from physics: each domain's sequence and field strength give every
 * tissue's signal (mr-signal.ts), with field-dependent noise and receive bias, the voxel size of
 * CC359's headers, and the head coverage and storage of the `levels` presets (presets.ts). Nothing here
 * was tuned to any segmentation result. Values marked E in docs/data.md are estimates: no CC359
 * protocol table was found, so the sequence parameters are typical vendor implementations.
 */
import { ConvLoraError } from '../../errors.js';
import { CC359_DOMAINS, isDomain, type Domain } from '../scans/cc359.js';
import { tissueSignals, type FieldStrength, type InversionGreProtocol } from './mr-signal.js';
import { SCANNER_PRESETS, type ScannerPreset } from './presets.js';
import type { PerTissue } from './tissue.js';

/** How phantom scanners get their tissue intensities: MR physics, or the hand-calibrated levels. */
export type ScannerModel = 'physics' | 'levels';
export const SCANNER_MODELS: readonly ScannerModel[] = ['physics', 'levels'];

export interface PhysicsScanner {
  domain: Domain;
  field: FieldStrength;
  /** The vendor's name for the sequence. */
  sequence: 'IR-FSPGR' | 'T1-TFE' | 'MPRAGE';
  protocol: InversionGreProtocol;
  /** Rician noise SD as a fraction of the white-matter signal (BrainWeb's "% noise" / 100). */
  noise: number;
  /** Receive bias, BrainWeb's INU convention: 0.2 is a field of 0.9-1.1 over the brain. */
  bias: number;
  /** Voxel size factors along axes 0, 1, 2, from CC359's headers (1 = 256/size mm). */
  voxel: [number, number, number];
}

// Noise and bias by field (both E): 3 T's SNR gain over 1.5 T is 30-60 % in practice, and its shorter
// RF wavelength and many-channel coils give stronger receive inhomogeneity.
const NOISE: Record<FieldStrength, number> = { 1.5: 0.045, 3: 0.03 };
const BIAS: Record<FieldStrength, number> = { 1.5: 0.2, 3: 0.4 };

// GE's IR-FSPGR states the inversion delay ("prep time") up to the first readout, Siemens' and
// Philips' TI is to the k-space centre (Philips': E); with linear ordering the centre is mid-train.
// Cycle times other than Siemens 3 T are estimates: GE 2000 ms, Philips' shot interval 3000 ms, and
// Siemens 1.5 T 1900 ms, the TR usually paired with TI 1100 ms and 15 degrees.
const ge = (es: number, te: number, ti: number): PhysicsScanner['protocol'] => ({ kind: 'ir-gre', ti, tiTo: 'start', es, te, flip: 12, readouts: 170, centre: 0.5, cycle: 2000 });
const philips = (es: number, te: number, ti: number): PhysicsScanner['protocol'] => ({ kind: 'ir-gre', ti, tiTo: 'centre', es, te, flip: 8, readouts: 160, centre: 0.5, cycle: 3000 });
const siemens = (es: number, te: number, ti: number, flip: number, cycle: number): PhysicsScanner['protocol'] => ({ kind: 'ir-gre', ti, tiTo: 'centre', es, te, flip, readouts: 176, centre: 0.5, cycle });

const scanner = (domain: Domain, field: FieldStrength, sequence: PhysicsScanner['sequence'], protocol: InversionGreProtocol, voxel: [number, number, number]): PhysicsScanner => (
  { domain, field, sequence, protocol, noise: NOISE[field], bias: BIAS[field], voxel }
);

/** The six scanners (docs/data.md tabulates every value with its source). */
export const PHYSICS_SCANNERS: Readonly<Record<Domain, PhysicsScanner>> = {
  GE_3: scanner('GE_3', 3, 'IR-FSPGR', ge(7.4, 3.1, 450), [1, 1, 1]),
  GE_15: scanner('GE_15', 1.5, 'IR-FSPGR', ge(7.5, 3.0, 500), [1, 1, 1]),
  Philips_15: scanner('Philips_15', 1.5, 'T1-TFE', philips(8.2, 3.7, 800), [1, 0.889, 0.889]),
  Philips_3: scanner('Philips_3', 3, 'T1-TFE', philips(8.18, 3.72, 900), [1, 1, 1]),
  Siemens_15: scanner('Siemens_15', 1.5, 'MPRAGE', siemens(8.0, 3.5, 1100, 15, 1900), [1, 1, 1]),
  Siemens_3: scanner('Siemens_3', 3, 'MPRAGE', siemens(7.0, 2.9, 900, 8, 2300), [1.33, 1, 1]),
};

function checkDomain(domain: string): Domain {
  if (!isDomain(domain)) throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${CC359_DOMAINS.join(', ')} for \`domain\` but received ${JSON.stringify(domain)}`);
  return domain;
}

/**
 * Signed signal of every tissue class on a domain's scanner, in units of water's M0 (before receive
 * gain, bias and noise): what `mixSignals` weights by a TissueVolume's fractions.
 */
export function scannerSignals(domain: Domain): PerTissue {
  const s = PHYSICS_SCANNERS[checkDomain(domain)];
  return tissueSignals(s.protocol, s.field);
}

const cache = new Map<Domain, ScannerPreset>();

/**
 * Stored datatype and units per white-matter signal: the `levels` preset's, except Siemens_3, whose
 * uint8 at 170 per WM would clip the whole scalp (fat is 2-2.5 x WM here) and, scaled down to fit,
 * would keep ~70 grey levels for WM. Siemens stores 12-bit unsigned images, so both Siemens scanners
 * use Siemens_15's uint16 at 600 per WM (fat x the bias maximum stays under 4096).
 */
function storage(domain: Domain): Pick<ScannerPreset, 'scale' | 'datatype' | 'sclSlope'> {
  const p = SCANNER_PRESETS[domain === 'Siemens_3' ? 'Siemens_15' : domain];
  return { scale: p.scale, datatype: p.datatype, ...(p.sclSlope === undefined ? {} : { sclSlope: p.sclSlope }) };
}

/**
 * A domain's physics scanner as an acquisition preset for the phantom renderer and `acquire`: tissue
 * signals relative to white matter (scalp and orbital fat are `fat`; a skin layer is added), no
 * contrast curve (gamma 1), noise, a per-subject bias field scaled to the field's range, CC359's voxel
 * size, and the coverage and field-of-view offset of the domain's `levels` preset (storage: `storage`).
 */
export function physicsPreset(domain: Domain): ScannerPreset {
  const hit = cache.get(domain);
  if (hit !== undefined) return hit;
  const s = PHYSICS_SCANNERS[checkDomain(domain)];
  const sig = scannerSignals(domain);
  const r = (v: number): number => v / sig.wm;
  const geometry = SCANNER_PRESETS[domain];
  const levels = {
    scalp: r(sig.fat), orbitFat: r(sig.fat), skin: r(sig.skin), muscle: r(sig.muscle), bone: r(sig.bone), marrow: r(sig.marrow),
    csf: r(sig.csf), gm: r(sig.gm), wm: 1, vitreous: r(sig.vitreous),
  };
  const preset: ScannerPreset = {
    domain, levels,
    gamma: 1, noise: s.noise,
    // Pattern 0 and strength 1: the whole field is the subject's random part, rescaled to `range`.
    bias: { strength: 1, pattern: [0, 0, 0, 0, 0, 0, 0, 0, 0], range: s.bias },
    voxel: s.voxel, coverage: geometry.coverage, fovCenterZ: geometry.fovCenterZ,
    ...storage(domain),
  };
  cache.set(domain, preset);
  return preset;
}

/** The acquisition preset of a domain under a scanner model. */
export function scannerPreset(domain: Domain, model: ScannerModel): ScannerPreset {
  if (model === 'physics') return physicsPreset(domain);
  if (model === 'levels') return SCANNER_PRESETS[checkDomain(domain)];
  throw new ConvLoraError('E_INVALID_ARG', `Expected one of ${SCANNER_MODELS.join(', ')} for \`scanners\` but received ${JSON.stringify(model)}`);
}
