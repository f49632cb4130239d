/**
 * Seeded train/val/test splits of a domain's scans. Counts are chosen explicitly: a value >= 1 is a
 * number of scans, a value in (0, 1) a fraction of the domain (rounded, at least 1), 0 none; the
 * test split is what remains and must not be empty.
 */
import { ConvLoraError, invalidArg } from '../../errors.js';
import { Rng } from '../rng.js';

export interface SplitSpec {
  train: number;
  val: number;
}

/** Source domain: 80 % train, 10 % validation, 10 % test. */
export const SOURCE_SPLIT: Readonly<SplitSpec> = { train: 0.8, val: 0.1 };
/** Target domains: 10 training volumes (docs/method.md §5), 10 % validation for label-free model selection, rest test. */
export const TARGET_SPLIT: Readonly<SplitSpec> = { train: 10, val: 0.1 };

export interface Split<T> {
  train: T[];
  val: T[];
  test: T[];
}

function countOf(name: string, value: number, n: number): number {
  if (!Number.isFinite(value) || value < 0 || (value >= 1 && !Number.isInteger(value))) {
    invalidArg(name, 'a count (integer >= 1), a fraction in (0, 1), or 0', value);
  }
  if (value === 0) return 0;
  return value < 1 ? Math.max(1, Math.round(value * n)) : value;
}

/**
 * Split scans (sorted by stem first, so directory order never matters) with a seeded shuffle.
 * Each split comes back sorted by stem. Throws E_DATA when train + val leave no test scan.
 */
export function splitScans<T extends { stem: string }>(scans: readonly T[], spec: SplitSpec, seed: number, what = 'domain'): Split<T> {
  const n = scans.length;
  const train = countOf('train', spec.train, n), val = countOf('val', spec.val, n);
  if (train + val >= n) {
    throw new ConvLoraError('E_DATA', `Cannot split ${n} scans of ${what} into ${train} train + ${val} val + at least 1 test; add scans or lower the counts`);
  }
  const byStem = (a: T, b: T): number => (a.stem < b.stem ? -1 : a.stem > b.stem ? 1 : 0);
  const order = new Rng(seed).shuffle([...scans].sort(byStem));
  return {
    train: order.slice(0, train).sort(byStem),
    val: order.slice(train, train + val).sort(byStem),
    test: order.slice(train + val).sort(byStem),
  };
}

/**
 * A user's scans of one scanner: hold out a seeded share for label-free model selection, train on the
 * rest. `share` is a count (integer >= 1) or a fraction in (0, 1) of the scans, rounded, at least 1.
 * Throws E_DATA when nothing would be left to train on (fewer than 2 scans, or too large a share).
 */
export function holdOut<T extends { stem: string }>(scans: readonly T[], share: number, seed: number, what = 'the scans'): { train: T[]; val: T[] } {
  const n = scans.length;
  const val = countOf('holdOut', share, n);
  if (val === 0) invalidArg('holdOut', 'a count (integer >= 1) or a fraction in (0, 1)', share);
  if (val >= n) {
    throw new ConvLoraError('E_DATA', `Cannot hold out ${val} of the ${n} scans of ${what} for model selection and train on the rest: at least ${val + 1} scans are needed`, { detail: 'E_DATA_TOO_FEW' });
  }
  const s = splitScans(scans, { train: n - val, val: 0 }, seed, what);
  return { train: s.train, val: [...s.val, ...s.test] };
}
