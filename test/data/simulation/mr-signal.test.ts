import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TISSUE_PROPERTIES, inversionTrainMz, spoiledGreMz, tissueSignal, tissueSignals,
  type InversionGreProtocol, type SpoiledGreProtocol, type TissueProperties,
} from '../../../src/data/simulation/mr-signal.js';
import { PHYSICS_SCANNERS } from '../../../src/data/simulation/physics-scanners.js';
import { CC359_DOMAINS } from '../../../src/data/scans/cc359.js';
import { isCoded } from '../helpers.js';

const rad = (deg: number): number => (deg * Math.PI) / 180;

/**
 * The pulse train followed event by event, independently of the closed form: inversion, free recovery
 * to the first readout, `readouts` excitations (each tips Mz by the flip angle, spoiling removes the
 * transverse part, then Mz recovers for one echo spacing), free recovery to the next inversion; repeated
 * until the signal at excitation `k` stops changing. Returns PD x Mz before excitation k x sin a x e^(-TE/T2*).
 */
function simulateTrain(t: TissueProperties, p: InversionGreProtocol): number {
  const k = p.centre * p.readouts;
  assert.ok(Number.isInteger(k), `k-space centre at excitation ${k}: the simulation reads whole excitations`);
  const toTrain = p.tiTo === 'centre' ? p.ti - k * p.es : p.ti;
  const recovery = p.cycle - toTrain - p.readouts * p.es;
  const relax = (mz: number, ms: number): number => t.pd + (mz - t.pd) * Math.exp(-ms / t.t1);
  let mz = t.pd, signal = NaN;
  for (let cycle = 0; cycle < 100000; cycle++) {
    mz = relax(-mz, toTrain);
    let read = NaN;
    for (let n = 0; n < p.readouts; n++) {
      if (n === k) read = mz * Math.sin(rad(p.flip));
      mz = relax(mz * Math.cos(rad(p.flip)), p.es);
    }
    if (k === p.readouts) read = mz * Math.sin(rad(p.flip)); // c = 1: the excitation after the train
    mz = relax(mz, recovery);
    const previous = signal;
    signal = read;
    if (Math.abs(signal - previous) <= 1e-15 * Math.abs(signal)) break;
  }
  return signal * Math.exp(-p.te / t.t2s);
}

const relErr = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

test('closed form matches a step-by-step simulation of every scanner\'s train (1e-6 relative)', () => {
  for (const d of CC359_DOMAINS) {
    const s = PHYSICS_SCANNERS[d];
    const props = TISSUE_PROPERTIES[`${s.field}`];
    for (const tissue of ['csf', 'gm', 'wm', 'fat', 'muscle'] as const) {
      const want = simulateTrain(props[tissue], s.protocol);
      const got = tissueSignal(props[tissue], s.protocol);
      assert.ok(relErr(got, want) < 1e-6, `${d} ${tissue}: closed form ${got} vs simulation ${want}`);
    }
  }
});

test('closed form matches the simulation off the scanners\' settings: flips 1-90, TI to start or centre, c 0-1, N 1', () => {
  const base: InversionGreProtocol = { kind: 'ir-gre', ti: 900, tiTo: 'centre', es: 7, te: 3, flip: 8, readouts: 176, centre: 0.5, cycle: 2300 };
  const cases: Partial<InversionGreProtocol>[] = [
    { flip: 1 }, { flip: 30 }, { flip: 90 }, { tiTo: 'start', ti: 400 }, { centre: 0, ti: 300 }, { centre: 1, ti: 1300, cycle: 3000 },
    { readouts: 1, centre: 0, ti: 1000, cycle: 1500 }, { readouts: 64, centre: 0.25, es: 12, ti: 500, cycle: 5000 }, { cycle: 900 + 616 },
  ];
  const tissues: TissueProperties[] = [{ t1: 300, t2s: 40, pd: 0.9 }, { t1: 1200, t2s: 60, pd: 0.8 }, { t1: 4000, t2s: 80, pd: 1 }];
  for (const c of cases) {
    const p = { ...base, ...c };
    for (const t of tissues) {
      const want = simulateTrain(t, p), got = tissueSignal(t, p);
      assert.ok(relErr(got, want) < 1e-6, `${JSON.stringify(c)} T1 ${t.t1}: ${got} vs ${want}`);
    }
  }
});

test('flip -> 0: no readout saturation, Mz is plain inversion recovery of period `cycle`', () => {
  // Without excitations, Mz before each inversion is m0 (1 - E) / (1 + E), E = e^(-cycle/T1), so t ms
  // after the inversion Mz = m0 (1 - 2 e^(-t/T1) / (1 + E)). Here t = TI (measured to the centre).
  const p: InversionGreProtocol = { kind: 'ir-gre', ti: 900, tiTo: 'centre', es: 7, te: 0, flip: 0, readouts: 176, centre: 0.5, cycle: 2300 };
  for (const t1 of [300, 838, 4300]) {
    const e = Math.exp(-2300 / t1);
    const want = 1 - (2 * Math.exp(-900 / t1)) / (1 + e);
    assert.ok(Math.abs(inversionTrainMz(t1, 1, p) - want) < 1e-12, `T1 ${t1}`);
  }
  assert.equal(tissueSignal({ t1: 838, t2s: 50, pd: 0.77 }, p), 0, 'no excitation, no signal');
});

test('inversion null: a long cycle and no excitation give Mz = 0 at TI = T1 ln 2', () => {
  const p: InversionGreProtocol = { kind: 'ir-gre', ti: 700, tiTo: 'centre', es: 5, te: 0, flip: 0, readouts: 100, centre: 0.5, cycle: 1e6 };
  assert.ok(Math.abs(inversionTrainMz(700 / Math.LN2, 1, p)) < 1e-12);
  assert.ok(inversionTrainMz(600 / Math.LN2, 1, p) > 0.01, 'a shorter T1 has recovered past zero');
  assert.ok(inversionTrainMz(800 / Math.LN2, 1, p) < -0.01, 'a longer T1 is still negative');
});

test('flip 90 saturates every excitation: Mz = m0 (1 - e^(-ES/T1)) from the second readout on', () => {
  for (const ti of [300, 900]) {
    const p: InversionGreProtocol = { kind: 'ir-gre', ti, tiTo: 'start', es: 10, te: 0, flip: 90, readouts: 100, centre: 0.5, cycle: 3000 };
    for (const t1 of [300, 1200]) assert.ok(Math.abs(inversionTrainMz(t1, 0.8, p) - 0.8 * (1 - Math.exp(-10 / t1))) < 1e-12);
  }
});

test('first readout after a full recovery: Mz = m0 (1 - 2 e^(-TI/T1)), whatever the flip', () => {
  const p: InversionGreProtocol = { kind: 'ir-gre', ti: 500, tiTo: 'start', es: 8, te: 0, flip: 12, readouts: 100, centre: 0, cycle: 1e7 };
  for (const t1 of [350, 1200]) assert.ok(Math.abs(inversionTrainMz(t1, 1, p) - (1 - 2 * Math.exp(-500 / t1))) < 1e-12);
});

test('T2* decay and proton density scale the signal: PD x e^(-TE/T2*)', () => {
  const p = PHYSICS_SCANNERS.Siemens_3.protocol;
  const a = tissueSignal({ t1: 838, t2s: 50, pd: 1 }, { ...p, te: 0 });
  assert.ok(Math.abs(tissueSignal({ t1: 838, t2s: 50, pd: 0.5 }, { ...p, te: 10 }) - 0.5 * a * Math.exp(-10 / 50)) < 1e-15);
  assert.equal(tissueSignal({ t1: 1000, t2s: 1, pd: 0 }, p), 0);
});

test('spoiled gradient echo: flip 90 gives m0 (1 - E1), the Ernst angle is the maximum, and a pulse-by-pulse run agrees', () => {
  const p: SpoiledGreProtocol = { kind: 'spgr', tr: 20, te: 4, flip: 90 };
  const e1 = Math.exp(-20 / 838);
  assert.ok(Math.abs(spoiledGreMz(838, 0.77, p) - 0.77 * (1 - e1)) < 1e-15);
  const ernst = (Math.acos(e1) * 180) / Math.PI;
  const s = (flip: number): number => tissueSignal({ t1: 838, t2s: 50, pd: 0.77 }, { ...p, flip });
  assert.ok(s(ernst) > s(ernst - 1) && s(ernst) > s(ernst + 1), `Ernst angle ${ernst}`);
  let mz = 0.77;
  for (let n = 0; n < 5000; n++) mz = 0.77 + (mz * Math.cos(rad(15)) - 0.77) * e1;
  assert.ok(relErr(s(15), mz * Math.sin(rad(15)) * Math.exp(-4 / 50)) < 1e-9);
});

test('every scanner is T1-weighted: WM > GM > |CSF|, fat brightest, bone dark', () => {
  for (const d of CC359_DOMAINS) {
    const s = PHYSICS_SCANNERS[d];
    const sig = tissueSignals(s.protocol, s.field);
    assert.ok(sig.wm > sig.gm && sig.gm > Math.abs(sig.csf), `${d}: ${JSON.stringify(sig)}`);
    assert.ok(sig.fat > sig.wm && sig.fat === sig.marrow, `${d}: fat ${sig.fat}`);
    assert.equal(sig.bone, 0, d);
    assert.equal(sig.skin, sig.muscle, `${d}: skin takes muscle's values`);
    assert.equal(sig.vitreous, sig.csf, `${d}: vitreous takes CSF's values`);
  }
});

test('bad protocols are E_INVALID_ARG naming the value', () => {
  const p: InversionGreProtocol = { kind: 'ir-gre', ti: 900, tiTo: 'centre', es: 7, te: 3, flip: 8, readouts: 176, centre: 0.5, cycle: 2300 };
  const wm = TISSUE_PROPERTIES['3'].wm;
  assert.throws(() => tissueSignal(wm, { ...p, flip: 100 }), isCoded('E_INVALID_ARG', undefined, /`flip` but received 100/));
  assert.throws(() => tissueSignal(wm, { ...p, ti: 500 }), isCoded('E_INVALID_ARG', undefined, /`ti` >= 616 ms .* received 500/));
  assert.throws(() => tissueSignal(wm, { ...p, cycle: 1500 }), isCoded('E_INVALID_ARG', undefined, /`cycle` >= 1516 ms .* received 1500/));
  assert.throws(() => tissueSignal(wm, { ...p, readouts: 0 }), isCoded('E_INVALID_ARG', undefined, /`readouts` but received 0/));
  assert.throws(() => tissueSignals(p, 7 as 3), isCoded('E_INVALID_ARG', undefined, /`field` but received 7/));
});
