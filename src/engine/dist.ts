/**
 * Collectives across processes (data parallelism), over libtorch's c10d: a TCPStore hosted by rank 0
 * for rendezvous and a Gloo process group for CPU tensors (native/dist.cc). One group per process, as
 * torch.distributed's default group.
 *
 * Ranks find each other through torchrun's environment contract (RANK, WORLD_SIZE, LOCAL_RANK,
 * MASTER_ADDR, MASTER_PORT), or Slurm's (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID) when RANK is
 * absent, so one command runs unchanged under torchrun, `srun`, a Kubernetes PyTorchJob or
 * `convlora launch`. Every collective waits at most the group's timeout; a peer that died or never
 * came makes it throw E_DIST (the process carries on, and can destroy the group).
 */
import { ConvLoraError, checkInt, describe, invalidArg } from '../errors.js';
import { native, NONE } from './binding.js';
import { Tensor } from './tensor.js';
import { tensor } from './create.js';

/** Where this process sits in the job. */
export interface LaunchEnv {
  rank: number;
  worldSize: number;
  /** Rank on this machine (which GPU to take); RANK when the launcher gives none. */
  localRank: number;
  masterAddr: string;
  masterPort: number;
  /** Which variables it was read from, for messages ("RANK/WORLD_SIZE" or "SLURM_PROCID/SLURM_NTASKS"). */
  from: string;
}

/**
 * The launch variables of `env`, or null when none is set (a plain single-process run). Inconsistent or
 * incomplete variables are E_USAGE errors naming the variable and its value: a rank not below the world
 * size, a missing MASTER_ADDR or MASTER_PORT, a value that is not a non-negative integer.
 */
export function launchEnv(env: Record<string, string | undefined> = process.env): LaunchEnv | null {
  const int = (name: string): number => {
    const v = env[name];
    if (v === undefined) throw new ConvLoraError('E_USAGE', `${name} is not set (needed with ${from})`);
    if (!/^\d+$/.test(v.trim())) throw new ConvLoraError('E_USAGE', `Expected a non-negative integer in ${name} but received ${describe(v)}`);
    return Number(v);
  };
  const torchrun = env.RANK !== undefined || env.WORLD_SIZE !== undefined;
  const slurm = !torchrun && env.SLURM_PROCID !== undefined;
  if (!torchrun && !slurm) return null;
  const from = torchrun ? 'RANK/WORLD_SIZE' : 'SLURM_PROCID/SLURM_NTASKS';
  const rank = int(torchrun ? 'RANK' : 'SLURM_PROCID');
  const worldSize = int(torchrun ? 'WORLD_SIZE' : 'SLURM_NTASKS');
  const localName = torchrun ? 'LOCAL_RANK' : 'SLURM_LOCALID';
  const localRank = env[localName] === undefined ? rank : int(localName);
  if (worldSize < 1) throw new ConvLoraError('E_USAGE', `Expected ${torchrun ? 'WORLD_SIZE' : 'SLURM_NTASKS'} >= 1 but received ${worldSize}`);
  if (rank >= worldSize) throw new ConvLoraError('E_USAGE', `${torchrun ? 'RANK' : 'SLURM_PROCID'} ${rank} is not below the world size ${worldSize}`);
  if (localRank > rank) throw new ConvLoraError('E_USAGE', `${localName} ${localRank} is above the rank ${rank}`);
  const masterAddr = env.MASTER_ADDR?.trim() ?? '';
  if (masterAddr === '') throw new ConvLoraError('E_USAGE', `MASTER_ADDR is not set (needed with ${from}): the host of rank 0, e.g. 127.0.0.1 on one machine`);
  const masterPort = int('MASTER_PORT');
  if (masterPort < 1 || masterPort > 65535) throw new ConvLoraError('E_USAGE', `Expected MASTER_PORT in [1, 65535] but received ${masterPort}`);
  return { rank, worldSize, localRank, masterAddr, masterPort, from };
}

export interface ProcessGroupOptions {
  /** Variables to read when rank/worldSize/masterAddr/masterPort are not all given; default process.env. */
  env?: Record<string, string | undefined>;
  rank?: number;
  worldSize?: number;
  masterAddr?: string;
  masterPort?: number;
  /**
   * Longest wait of any rendezvous or collective, in ms; default CONVLORA_DIST_TIMEOUT_MS, else 300 000:
   * long enough for a slow rank's data loading between steps, short enough that a dead peer ends a job
   * in minutes rather than PyTorch's 30.
   */
  timeoutMs?: number;
}

export interface ProcessGroupInfo { rank: number; worldSize: number; localRank: number }

let localRank = 0;

/** Whether this addon was built with the collectives (gloo's headers present at build time). */
export function distAvailable(): boolean {
  const b = native();
  return typeof b.distAvailable === 'function' && b.distAvailable();
}

function requireDist(): void {
  if (distAvailable()) return;
  throw new ConvLoraError('E_DIST_UNAVAILABLE',
    'This convlora addon was built without distributed support (gloo\'s headers were not found at build time). Install them with `apt-get install -y libgloo-dev` (Debian 12), then rebuild with `npm run build:native`.');
}

/**
 * Join the job's process group. Blocks until all `worldSize` ranks have joined (or the timeout: E_DIST).
 * Rank 0 hosts the rendezvous store on masterAddr:masterPort. Explicit options win over the environment.
 */
export function initProcessGroup(opts: ProcessGroupOptions = {}): ProcessGroupInfo {
  const explicit = opts.rank !== undefined && opts.worldSize !== undefined && opts.masterAddr !== undefined && opts.masterPort !== undefined;
  const env = opts.env ?? process.env;
  const fromEnv = explicit ? null : launchEnv(env);
  if (!explicit && fromEnv === null) {
    throw new ConvLoraError('E_USAGE', 'Not launched as a distributed job: set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (torchrun and `convlora launch` do), or SLURM_PROCID/SLURM_NTASKS under srun with MASTER_ADDR/MASTER_PORT');
  }
  const worldSize = checkInt('worldSize', opts.worldSize ?? fromEnv!.worldSize, 1);
  const rank = checkInt('rank', opts.rank ?? fromEnv!.rank, 0);
  if (rank >= worldSize) invalidArg('rank', `integer < worldSize ${worldSize}`, rank);
  const masterAddr = opts.masterAddr ?? fromEnv!.masterAddr;
  if (typeof masterAddr !== 'string' || masterAddr.trim() === '') invalidArg('masterAddr', 'a host name or address', masterAddr);
  const masterPort = checkInt('masterPort', opts.masterPort ?? fromEnv!.masterPort, 1);
  if (masterPort > 65535) invalidArg('masterPort', 'integer in [1, 65535]', masterPort);
  const timeoutMs = checkInt('timeoutMs', opts.timeoutMs ?? defaultTimeout(env), 1);
  requireDist();
  if (native().distInfo() !== null) throw new ConvLoraError('E_DIST', 'A process group already exists in this process (call destroyProcessGroup first)');
  native().distInit(rank, worldSize, masterAddr.trim(), masterPort, timeoutMs, env.GLOO_SOCKET_IFNAME ?? '');
  localRank = fromEnv?.localRank ?? rank;
  return { rank, worldSize, localRank };
}

function defaultTimeout(env: Record<string, string | undefined>): number {
  const v = env.CONVLORA_DIST_TIMEOUT_MS;
  if (v === undefined) return 300_000;
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new ConvLoraError('E_USAGE', `Expected an integer >= 1 in CONVLORA_DIST_TIMEOUT_MS but received ${describe(v)}`);
  return Number(v);
}

/** This process's group, or null before initProcessGroup / after destroyProcessGroup. */
export function processGroup(): ProcessGroupInfo | null {
  if (!distAvailable()) return null;
  const info = native().distInfo();
  return info === null ? null : { rank: info[0], worldSize: info[1], localRank };
}

function live(what: string): ProcessGroupInfo {
  requireDist();
  const g = processGroup();
  if (g === null) throw new ConvLoraError('E_DIST', `${what}: no process group (call initProcessGroup first)`);
  return g;
}

function handles(what: string, tensors: readonly Tensor[]): number[] {
  if (!Array.isArray(tensors)) invalidArg('tensors', 'an array of tensors', tensors);
  return tensors.map((t) => {
    if (t.device !== 'cpu') throw new ConvLoraError('E_INVALID_ARG', `${what} over Gloo takes CPU tensors but received one on ${describe(t.device)}`);
    return t.handle;
  });
}

/**
 * Sum `tensors` in place over all ranks (every rank must pass tensors of the same shapes and dtypes, in
 * the same order); `average` divides the sums by the world size (float tensors only), as data-parallel
 * gradients are. Tensors are flattened into one buffer per dtype, so one call per step is one collective.
 */
export function allReduce(tensors: readonly Tensor[], opts: { average?: boolean; op?: 'sum' | 'max' | 'min' } = {}): void {
  live('allReduce');
  const op = opts.op ?? 'sum';
  if (!['sum', 'max', 'min'].includes(op)) invalidArg('op', '"sum", "max" or "min"', op);
  const average = opts.average ?? false;
  if (average && op !== 'sum') invalidArg('average', `false with op ${describe(op)}`, average);
  const hs = handles('allReduce', tensors);
  if (average) {
    const bad = tensors.find((t) => t.dtype !== 'float32' && t.dtype !== 'float64');
    if (bad !== undefined) throw new ConvLoraError('E_DTYPE', `allReduce with average takes float tensors but received one of dtype ${describe(bad.dtype)}`);
  }
  native().distAllReduce(hs, average ? 'avg' : op);
}

/**
 * Check that every rank holds tensors of the same count, shapes and dtypes (E_DIST naming the rank
 * otherwise), as PyTorch's DDP checks its parameters once at construction. Worth one call before a
 * training loop: Gloo does not check, and an all-reduce over tensors whose sizes differ between ranks
 * gives one rank wrong sums and makes the other time out (seen with libtorch 1.13). Two tiny collectives.
 */
export function verifySameTensors(tensors: readonly Tensor[]): void {
  const g = live('verifySameTensors');
  handles('verifySameTensors', tensors);
  // [count, total elements, a hash of every shape and dtype]: a fixed size, so the check itself cannot mismatch.
  const text = tensors.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join(';');
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) % 2_147_483_647;
  const mine = [tensors.length, tensors.reduce((n, t) => n + t.size, 0), hash];
  const lo = tensor(mine, [3], { dtype: 'float64' }), hi = tensor(mine, [3], { dtype: 'float64' });
  try {
    native().distAllReduce([lo.handle], 'min');
    native().distAllReduce([hi.handle], 'max');
    const [a, b] = [Array.from(lo.data() as Float64Array), Array.from(hi.data() as Float64Array)];
    if (a.some((v, i) => v !== b[i])) {
      throw new ConvLoraError('E_DIST', `Rank ${g.rank}'s ${tensors.length} tensors (${tensors.reduce((n, t) => n + t.size, 0)} elements) differ from another rank's in count, shape or dtype: every rank must pass the same tensors in the same order`);
    }
  } finally {
    lo.dispose();
    hi.dispose();
  }
}

/** Overwrite `tensors` on every rank with rank `root`'s, in place (initial weights, for instance). */
export function broadcast(tensors: readonly Tensor[], root = 0): void {
  const g = live('broadcast');
  checkInt('root', root, 0);
  if (root >= g.worldSize) invalidArg('root', `integer < worldSize ${g.worldSize}`, root);
  native().distBroadcast(handles('broadcast', tensors), root);
}

/**
 * Training-mode BatchNorm of x [B, C, H, W] with the statistics of the global batch, every rank's x
 * together (PyTorch's SyncBatchNorm, native/dist.cc): the forward all-reduces each rank's per-channel
 * count, mean and sum of squares (float64), the backward the per-channel sums of dy and dy (x - mean), so
 * every rank's input gradient accounts for every rank's loss: two small collectives per call. The
 * running buffers (identical on every rank) are updated in place with the global mean and unbiased
 * variance. Every rank must call it for the same layers in the same order.
 */
export function syncBatchNorm(x: Tensor, o: { weight: Tensor | null; bias: Tensor | null; runningMean: Tensor; runningVar: Tensor; momentum: number; eps: number }): Tensor {
  live('syncBatchNorm');
  handles('syncBatchNorm', [x, o.runningMean, o.runningVar]);
  return new Tensor(native().distSyncBatchNorm(x.handle, o.weight?.handle ?? NONE, o.bias?.handle ?? NONE, o.runningMean.handle, o.runningVar.handle, o.momentum, o.eps));
}

/** Wait until every rank has reached this call (or the timeout: E_DIST). */
export function barrier(): void {
  live('barrier');
  native().distBarrier();
}

/** Leave the group (a no-op without one). After a peer died this may wait up to the timeout for Gloo's pending work. */
export function destroyProcessGroup(): void {
  if (distAvailable()) native().distDestroy();
}
