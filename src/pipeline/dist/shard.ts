/**
 * Sharding a folder of scans over the tasks of an array job (Slurm job arrays, Kubernetes Indexed Jobs,
 * or any launcher that can hand out "task i of N"): task i takes scans i, i + N, i + 2N, ... of the
 * folder's sorted file names, so every scan goes to exactly one task and sizes balance without a list.
 */
import { ConvLoraError, describe } from '../../errors.js';

/** Task `index` (0-based) of `count`. */
export interface Shard { index: number; count: number }

/** Check a shard (library callers): integers, count >= 1, 0 <= index < count. */
export function checkShard(s: unknown): Shard {
  const o = s as Partial<Shard> | null;
  if (o === null || typeof o !== 'object' || !Number.isInteger(o.count) || !Number.isInteger(o.index) || o.count! < 1 || o.index! < 0 || o.index! >= o.count!) {
    throw new ConvLoraError('E_INVALID_ARG', `Expected a shard { index, count } with integers 0 <= index < count but received ${describe(s)}`);
  }
  return { index: o.index!, count: o.count! };
}

/** Parse "i/N" (0-based i). Throws E_USAGE naming `flag`. */
export function parseShard(spec: string, flag = '--shard'): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  const index = m === null ? NaN : Number(m[1]), count = m === null ? NaN : Number(m[2]);
  if (m === null || count < 1 || index >= count) {
    throw new ConvLoraError('E_USAGE', `Expected ${flag} i/N with 0 <= i < N (task i of N, counted from 0) but received ${JSON.stringify(spec)}`);
  }
  return { index, count };
}

/**
 * The shard an array job's environment gives, with where it came from, or null outside one:
 * Slurm: SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN (0 when unset) of SLURM_ARRAY_TASK_COUNT;
 * Kubernetes Indexed Job: JOB_COMPLETION_INDEX of CONVLORA_SHARDS (Kubernetes does not expose the
 * completion count, so the manifest sets it; docs/scale-out.md). Inconsistent values are usage errors.
 */
export function shardFromEnv(env: Record<string, string | undefined>): { shard: Shard; from: string } | null {
  const int = (name: string): number => {
    const v = env[name]!;
    if (!/^\d+$/.test(v.trim())) throw new ConvLoraError('E_USAGE', `Expected a non-negative integer in ${name} but received ${JSON.stringify(v)}`);
    return Number(v);
  };
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    if (env.SLURM_ARRAY_TASK_COUNT === undefined) throw new ConvLoraError('E_USAGE', 'SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: give --shard i/N');
    const id = int('SLURM_ARRAY_TASK_ID'), count = int('SLURM_ARRAY_TASK_COUNT');
    const min = env.SLURM_ARRAY_TASK_MIN === undefined ? 0 : int('SLURM_ARRAY_TASK_MIN');
    // A stepped or sparse array (--array=1,5,9 or 0-10:2) does not number its tasks 0..N-1 from MIN.
    if (count < 1 || id < min || id - min >= count) {
      throw new ConvLoraError('E_USAGE', `SLURM_ARRAY_TASK_ID ${id} is not within SLURM_ARRAY_TASK_MIN ${min} + [0, SLURM_ARRAY_TASK_COUNT ${count}): use a contiguous array (--array=0-${Math.max(0, count - 1)}) or give --shard i/N`);
    }
    return { shard: { index: id - min, count }, from: `SLURM_ARRAY_TASK_ID ${id} of ${count}${min === 0 ? '' : ` from ${min}`}` };
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    if (env.CONVLORA_SHARDS === undefined) throw new ConvLoraError('E_USAGE', 'JOB_COMPLETION_INDEX is set but CONVLORA_SHARDS is not: set it to the Job\'s completions (docs/scale-out.md) or give --shard i/N');
    const index = int('JOB_COMPLETION_INDEX'), count = int('CONVLORA_SHARDS');
    if (count < 1 || index >= count) throw new ConvLoraError('E_USAGE', `JOB_COMPLETION_INDEX ${index} is not below CONVLORA_SHARDS ${count}`);
    return { shard: { index, count }, from: `JOB_COMPLETION_INDEX ${index} of CONVLORA_SHARDS ${count}` };
  }
  return null;
}

/** This shard's items: positions index, index + count, ... of `items` (in their given order). */
export function shardItems<T>(items: readonly T[], shard: Shard): T[] {
  const s = checkShard(shard);
  return items.filter((_, i) => i % s.count === s.index);
}
