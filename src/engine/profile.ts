/** Where the time of a piece of engine work goes, per libtorch operator (bench and diagnosis). */
import { ConvLoraError } from '../errors.js';
import { native } from './binding.js';

/** One operator's share: calls, inclusive and self CPU time in milliseconds (self excludes nested operators). */
export interface OpProfile { name: string; calls: number; totalMs: number; selfMs: number }

/**
 * Run `fn` under libtorch's operator profiler and return its result and one row per operator, by self
 * time, largest first. Backward operators are included (CPU autograd runs on the calling thread). The
 * profiler adds a little overhead per operator call; compare profiles with each other, not with timings.
 */
export function profileOps<T>(fn: () => T): { result: T; ops: OpProfile[] } {
  const result = (() => {
    native().profilerStart();
    try {
      const r = fn();
      if (r instanceof Promise) throw new ConvLoraError('E_INVALID_ARG', 'profileOps takes a synchronous function; it received one that returned a Promise');
      return r;
    } catch (e) {
      native().profilerStop();
      throw e;
    }
  })();
  const rows = native().profilerStop();
  const ops = rows.map(([name, calls, total, self]) => ({ name, calls, totalMs: total / 1000, selfMs: self / 1000 }));
  ops.sort((a, b) => b.selfMs - a.selfMs);
  return { result, ops };
}
