/**
 * Data parallelism over the process group (engine/dist.ts), as PyTorch's DistributedDataParallel with
 * SyncBatchNorm: every rank draws the same seeded global batches, takes its own contiguous rows of each,
 * and scales its mean loss by its share of the rows, so that the sum of the ranks' gradients, one
 * all-reduce per step, is the gradient of the global batch's mean loss. BatchNorm layers in training
 * mode normalize with the global batch's statistics. Every rank then takes the same optimizer step on
 * the same gradients from the same (broadcast) weights, so the ranks stay identical without
 * re-broadcasting, and rank 0 alone validates and writes files.
 */
import { ConvLoraError } from '../../errors.js';
import { tensor } from '../../engine/create.js';
import { allReduce, barrier, broadcast, launchEnv, processGroup, initProcessGroup, destroyProcessGroup, verifySameTensors, type ProcessGroupInfo } from '../../engine/dist.js';
import * as ops from '../../engine/ops.js';
import type { Tensor } from '../../engine/tensor.js';
import { reestimateBatchNorm, selectBatchNorms } from '../../lora/adabn.js';
import { BatchNorm2d } from '../../nn/layers.js';
import type { Module } from '../../nn/module.js';
import type { Batch } from '../../data/scans/sampler.js';

export class DataParallel {
  readonly rank: number;
  readonly worldSize: number;
  /**
   * Whether BatchNorm layers in training mode normalize with the global batch's statistics (default).
   * Off (CONVLORA_SYNC_BN=0) each rank normalizes with its own rows' statistics, as PyTorch's DDP does
   * without SyncBatchNorm: one collective fewer per layer, but not the single-process computation, and
   * implicit AdaBN then averages per-rank statistics.
   */
  readonly syncStats: boolean;

  constructor(g: ProcessGroupInfo, o: { syncStats?: boolean } = {}) {
    this.rank = g.rank;
    this.worldSize = g.worldSize;
    this.syncStats = o.syncStats ?? true;
  }

  /**
   * The collectives here are Gloo's, on CPU tensors: data-parallel training on a GPU needs NCCL, which
   * this build does not have (E_DIST_UNAVAILABLE, before any work).
   */
  checkDevice(device: string): void {
    if (device !== 'cpu') {
      throw new ConvLoraError('E_DIST_UNAVAILABLE', `Data-parallel training runs on the CPU (Gloo) in this build; ${JSON.stringify(device)} needs NCCL collectives, which convlora does not have yet: train on --device cpu, or as one process per GPU job without a process group`);
    }
  }

  /** Whether this rank writes files and reports progress: rank 0. */
  get main(): boolean { return this.rank === 0; }

  /**
   * This rank's rows [lo, hi) of a global batch of B slices (lo = floor(B r / W)), and its share
   * (hi - lo) / B, by which its mean loss is scaled. A batch smaller than the world size is an error:
   * a rank without rows would have no loss to differentiate.
   */
  shard(b: Batch): { batch: Batch; share: number } {
    const B = b.shape[0];
    if (B < this.worldSize) {
      throw new ConvLoraError('E_INVALID_ARG', `A batch of ${B} slice(s) cannot be split over ${this.worldSize} ranks: use a batch size of at least ${this.worldSize} (the last partial batch of an epoch counts too)`);
    }
    const lo = Math.floor((B * this.rank) / this.worldSize), hi = Math.floor((B * (this.rank + 1)) / this.worldSize);
    const per = b.shape[2] * b.shape[3];
    return {
      batch: { x: b.x.subarray(lo * per, hi * per), y: b.y.subarray(lo * per, hi * per), shape: [hi - lo, 1, b.shape[2], b.shape[3]] },
      share: (hi - lo) / B,
    };
  }

  /**
   * Sum the gradients of `params` (those that have one, in order) and this rank's scaled loss over the
   * ranks, in one all-reduce (one buffer: a single bucket); returns the global batch's loss.
   */
  reduceGradients(params: readonly Tensor[], scaledLoss: number): number {
    const loss = tensor([scaledLoss], [1]);
    const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
    try {
      allReduce([...grads, loss]);
      return loss.item();
    } finally {
      grads.forEach((g) => g.dispose());
      loss.dispose();
    }
  }

  /** Turn SyncBatchNorm on or off for every BatchNorm2d in `modules`. */
  syncBatchNorm(modules: readonly Module[], on: boolean): void {
    if (!this.syncStats) return;
    for (const m of modules) for (const [, l] of m.namedModules()) if (l instanceof BatchNorm2d) l.syncStats = on;
  }

  /**
   * Give every rank rank 0's weights and buffers (after a fresh initialization, a fine-tune's start or a
   * resume), after checking that the ranks hold the same tensors.
   */
  broadcastState(modules: readonly Module[]): void {
    const ts = modules.flatMap((m) => [...m.stateDict().values()]);
    verifySameTensors(ts);
    broadcast(ts, 0);
  }

  /**
   * Explicit AdaBN over the ranks: each rank re-estimates the model's BatchNorm statistics over its own
   * `batches` (cumulative averages of the batch statistics, lora/adabn.ts), then the averages, weighted
   * by each rank's batch count, are merged into the average over every rank's batches: what one process
   * re-estimating over all batches computes. A rank may hold no batch.
   */
  reestimateBatchNorm(model: Module, batches: readonly Tensor[]): void {
    const bns = selectBatchNorms(model);
    if (batches.length > 0) reestimateBatchNorm(model, batches);
    else for (const [, bn] of bns) { ops.zero_(bn.buffer('running_mean')); ops.zero_(bn.buffer('running_var')); }
    const stats = bns.flatMap(([, bn]) => [bn.buffer('running_mean'), bn.buffer('running_var')]);
    const count = tensor([batches.length], [1], { dtype: 'float64' });
    try {
      for (const t of stats) ops.mulInPlace(t, batches.length);
      allReduce([...stats, count]);
      const total = count.item();
      if (total === 0) throw new ConvLoraError('E_INVALID_ARG', 'AdaBN re-estimation received no batches on any rank');
      for (const t of stats) ops.mulInPlace(t, 1 / total);
      for (const [, bn] of bns) ops.fill_(bn.buffer('num_batches_tracked'), total);
    } finally { count.dispose(); }
  }

  barrier(): void { barrier(); }

  /**
   * Every rank's `value` (JSON-serializable), in rank order, on every rank: results gathered without a
   * shared file system. Two all-reduces: the longest encoding, then each rank's bytes in its own slot
   * of a zeroed buffer (bytes are exact in float64).
   */
  allGatherJson<T>(value: T): T[] {
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    const len = tensor([bytes.length], [1], { dtype: 'float64' });
    try {
      allReduce([len], { op: 'max' });
      const max = len.item();
      const slots = new Float64Array(max * this.worldSize);
      slots.set(bytes, max * this.rank);
      const all = tensor(slots, [slots.length], { dtype: 'float64' });
      try {
        allReduce([all]);
        const got = all.data() as Float64Array;
        return Array.from({ length: this.worldSize }, (_, r) => {
          const b = Uint8Array.from(got.subarray(r * max, (r + 1) * max));
          const end = b.indexOf(0);
          return JSON.parse(new TextDecoder().decode(end < 0 ? b : b.subarray(0, end))) as T;
        });
      } finally { all.dispose(); }
    } finally { len.dispose(); }
  }
}

/**
 * The data-parallel context of a command: joins the process group when the process was launched as
 * one rank of several (RANK/WORLD_SIZE, or SLURM_PROCID/SLURM_NTASKS, with MASTER_ADDR/MASTER_PORT),
 * else null. A world of one (a plain Slurm batch script sets SLURM_PROCID=0, SLURM_NTASKS=1) is a
 * single process and needs no rendezvous.
 */
export function joinDataParallel(env: Record<string, string | undefined> = process.env): DataParallel | null {
  const sync = env.CONVLORA_SYNC_BN?.trim();
  if (sync !== undefined && sync !== '0' && sync !== '1') throw new ConvLoraError('E_USAGE', `Expected 0 or 1 in CONVLORA_SYNC_BN but received ${JSON.stringify(sync)}`);
  const o = { syncStats: sync !== '0' };
  const existing = processGroup();
  if (existing !== null) return existing.worldSize > 1 ? new DataParallel(existing, o) : null;
  const torchrunWorld = env.WORLD_SIZE ?? (env.RANK === undefined ? env.SLURM_NTASKS : undefined);
  if (torchrunWorld === undefined) return null;
  if (torchrunWorld.trim() === '1') {
    const rankName = env.WORLD_SIZE !== undefined ? 'RANK' : 'SLURM_PROCID';
    const rank = env[rankName];
    if (rank !== undefined && rank.trim() !== '0') throw new ConvLoraError('E_USAGE', `${rankName} ${rank.trim()} is not below the world size 1`);
    return null;
  }
  if (launchEnv(env) === null) return null;
  return new DataParallel(initProcessGroup({ env }), o);
}

/** Leave the process group joined by joinDataParallel (after a barrier, so no rank leaves while another still writes). */
export function leaveDataParallel(dp: DataParallel | null, ok: boolean): void {
  if (dp === null) return;
  if (ok) barrier();
  destroyProcessGroup();
}
