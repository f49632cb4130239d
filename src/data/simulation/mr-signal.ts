/**
 * MR signal of each tissue class from its relaxation times and proton density and the acquisition:
 * the closed-form signal of an inversion-prepared gradient-echo train (MPRAGE, IR-FSPGR, T1-TFE;
 * Deichmann et al. 2000) and of a spoiled gradient echo (SPGR/FLASH). Times are milliseconds, flip
 * angles degrees, proton density relative to water (CSF = 1). Signals are in units of water's
 * equilibrium magnetisation M0 = 1 (before receive gain, bias and noise).
 *
 * docs/data.md tabulates every tissue value with its source; values marked E there are estimates.
 */
import { ConvLoraError, checkInt, checkNumber } from '../../errors.js';
import { TISSUES, type PerTissue } from './tissue.js';

/** Main field, tesla. */
export type FieldStrength = 1.5 | 3;

/** Relaxation times (ms) and proton density (relative to water) of one tissue at one field. */
export interface TissueProperties {
  t1: number;
  t2s: number;
  pd: number;
}

const tp = (t1: number, t2s: number, pd: number): TissueProperties => ({ t1, t2s, pd });

// 1.5 T: WM/GM T1 from MPRAGE measurements (Wright et al. 2008, MAGMA); CSF, fat, muscle, every T2*
// and every PD from BrainWeb's simulator parameters.
const WM_15 = tp(646, 61, 0.77), GM_15 = tp(1197, 69, 0.86), CSF_15 = tp(2569, 58, 1);
const FAT_15 = tp(350, 58, 1), MUSCLE_15 = tp(900, 30, 1);
// 3 T: WM/GM T1 Wright et al. 2008; muscle T1 Stanisz et al. 2005; CSF T1 from public relaxation
// tables; fat T1 400 ms is an estimate between the measured 312 ms and an extrapolated 495 ms. Every
// 3 T T2* is an estimate (shorter than at 1.5 T, as susceptibility effects scale with the field).
const WM_3 = tp(838, 50, 0.77), GM_3 = tp(1607, 55, 0.86), CSF_3 = tp(4300, 50, 1);
const FAT_3 = tp(400, 45, 1), MUSCLE_3 = tp(1412, 27, 1);
// Cortical bone has almost no mobile protons (PD ~ 0) and a sub-millisecond T2*: it gives no signal in
// these sequences whatever its T1, so T1 and T2* below are placeholders that PD 0 makes irrelevant.
const BONE = tp(1000, 1, 0);

/**
 * Tissue properties per field. Skin takes muscle's values (the sources gathered for #12 list them together);
 * diploic marrow is fatty (yellow) marrow in adults and takes fat's; the vitreous humour is ~99 %
 * water and takes CSF's (no separate values were gathered).
 */
export const TISSUE_PROPERTIES: Readonly<Record<`${FieldStrength}`, Readonly<PerTissue<TissueProperties>>>> = {
  '1.5': { csf: CSF_15, gm: GM_15, wm: WM_15, fat: FAT_15, muscle: MUSCLE_15, skin: MUSCLE_15, bone: BONE, marrow: FAT_15, vitreous: CSF_15 },
  '3': { csf: CSF_3, gm: GM_3, wm: WM_3, fat: FAT_3, muscle: MUSCLE_3, skin: MUSCLE_3, bone: BONE, marrow: FAT_3, vitreous: CSF_3 },
};

/**
 * An inversion-prepared gradient-echo train: inversion, delay, `readouts` small-flip excitations
 * `es` ms apart (each followed by perfect spoiling), a recovery delay, and again, every `cycle` ms.
 */
export interface InversionGreProtocol {
  kind: 'ir-gre';
  /** Inversion time, ms, measured to the k-space-centre readout (`tiTo: 'centre'`) or to the first readout (`'start'`). */
  ti: number;
  tiTo: 'centre' | 'start';
  /** Echo spacing: time between excitations in the train, ms (the vendor's "TR" for IR-FSPGR and TFE). */
  es: number;
  /** Echo time, ms. */
  te: number;
  /** Excitation flip angle, degrees, 0-90. */
  flip: number;
  /** Excitations per inversion (partitions or TFE factor). */
  readouts: number;
  /** Where in the train the k-space centre is read, as a fraction c of `readouts` (0.5: linear order). */
  centre: number;
  /** Inversion to inversion, ms (Siemens' TR, Philips' shot interval). */
  cycle: number;
}

/** Spoiled gradient echo at steady state. */
export interface SpoiledGreProtocol {
  kind: 'spgr';
  tr: number;
  te: number;
  /** Flip angle, degrees, 0-90. */
  flip: number;
}

export type Protocol = InversionGreProtocol | SpoiledGreProtocol;

/** Delays of one inversion cycle, ms: inversion to first readout, readout train, train end to next inversion. */
export interface InversionTiming {
  toTrain: number;
  train: number;
  recovery: number;
}

/** The timing of a protocol's cycle; throws E_INVALID_ARG when the train does not fit the cycle. */
export function inversionTiming(p: InversionGreProtocol): InversionTiming {
  checkNumber('es', p.es, Number.MIN_VALUE);
  checkInt('readouts', p.readouts, 1);
  checkNumber('centre', p.centre, 0, 1);
  checkNumber('ti', p.ti, 0);
  checkNumber('cycle', p.cycle, 0);
  if (p.tiTo !== 'centre' && p.tiTo !== 'start') {
    throw new ConvLoraError('E_INVALID_ARG', `Expected "centre" or "start" for \`tiTo\` but received ${JSON.stringify(p.tiTo)}`);
  }
  const train = p.readouts * p.es;
  const toTrain = p.tiTo === 'centre' ? p.ti - p.centre * train : p.ti;
  if (toTrain < 0) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected \`ti\` >= ${p.centre * train} ms (the readouts before the k-space centre) but received ${p.ti}`);
  }
  const recovery = p.cycle - toTrain - train;
  if (recovery < 0) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected \`cycle\` >= ${toTrain + train} ms (inversion delay + ${p.readouts} x ${p.es} ms readouts) but received ${p.cycle}`);
  }
  return { toTrain, train, recovery };
}

/**
 * Steady-state longitudinal magnetisation just before the k-space-centre excitation of an
 * inversion-prepared train (Deichmann et al. 2000), for equilibrium magnetisation `m0`.
 *
 * With q = e^(-ES/T1) cos a = e^(-ES/T1*), the train drives Mz towards M0* = m0 (1 - e^(-ES/T1)) / (1 - q)
 * by a factor q per excitation. M1, the magnetisation at the first readout once every cycle repeats
 * the last, solves M1 = A3 + B3 (A2 + B2 (A1 + B1 M1)) for inversion delay (A3, B3), train (A1, B1)
 * and recovery (A2, B2). Written through q rather than T1* so that a = 90 degrees needs no log of zero.
 */
export function inversionTrainMz(t1: number, m0: number, p: InversionGreProtocol): number {
  checkNumber('t1', t1, Number.MIN_VALUE);
  checkNumber('flip', p.flip, 0, 90);
  const { toTrain, recovery } = inversionTiming(p);
  const e = Math.exp(-p.es / t1);
  const q = e * Math.cos((p.flip * Math.PI) / 180);
  const m0Star = q === 1 ? m0 : (m0 * (1 - e)) / (1 - q);
  const b1 = q ** p.readouts, a1 = m0Star * (1 - b1);
  const b2 = Math.exp(-recovery / t1), a2 = m0 * (1 - b2);
  const eTi = Math.exp(-toTrain / t1);
  const b3 = -eTi, a3 = m0 * (1 - eTi);
  const m1 = (a3 + a2 * b3 + a1 * b2 * b3) / (1 - b1 * b2 * b3);
  return m0Star + (m1 - m0Star) * q ** (p.centre * p.readouts);
}

/** Steady-state longitudinal magnetisation before each excitation of a spoiled gradient echo. */
export function spoiledGreMz(t1: number, m0: number, p: SpoiledGreProtocol): number {
  checkNumber('t1', t1, Number.MIN_VALUE);
  checkNumber('tr', p.tr, Number.MIN_VALUE);
  checkNumber('flip', p.flip, 0, 90);
  const e1 = Math.exp(-p.tr / t1);
  return (m0 * (1 - e1)) / (1 - e1 * Math.cos((p.flip * Math.PI) / 180));
}

/**
 * Signed signal of one tissue: PD x (longitudinal magnetisation at the k-space centre) x sin a x
 * e^(-TE/T2*). Negative for a tissue read before its inversion null.
 */
export function tissueSignal(t: TissueProperties, p: Protocol): number {
  checkNumber('pd', t.pd, 0);
  checkNumber('t2s', t.t2s, Number.MIN_VALUE);
  checkNumber('te', p.te, 0);
  if (t.pd === 0) return 0;
  const mz = p.kind === 'ir-gre' ? inversionTrainMz(t.t1, t.pd, p) : spoiledGreMz(t.t1, t.pd, p);
  return mz * Math.sin((p.flip * Math.PI) / 180) * Math.exp(-p.te / t.t2s);
}

/**
 * Signed signal of every tissue class for a protocol at a field (units of water's M0), the `PerTissue`
 * that `mixSignals` (tissue.ts) weights by partial-volume fractions. Mix the signed values and take
 * the magnitude afterwards (noise is added to the real part first): a voxel shared by a tissue read
 * before its inversion null and one read after it cancels partly, as in a real magnitude IR image.
 */
export function tissueSignals(p: Protocol, field: FieldStrength): PerTissue {
  const props = TISSUE_PROPERTIES[`${field}`];
  if (props === undefined) throw new ConvLoraError('E_INVALID_ARG', `Expected 1.5 or 3 for \`field\` but received ${String(field)}`);
  return Object.fromEntries(TISSUES.map((t) => [t, tissueSignal(props[t], p)])) as PerTissue;
}
