import { allReduce, barrier, destroyProcessGroup, initProcessGroup, tensor } from '../../engine/index.js';
import { ConvLoraError } from '../../errors.js';
import { numberOpt, type Command } from '../command.js';

/**
 * Checks that a job's ranks reach each other before a long run is started on them: each rank joins the
 * group, all-reduces [rank + 1, 1] (sum: [N(N+1)/2, N], a value each rank can check alone), and waits at
 * a barrier. Fails with E_DIST when a rank is missing or a collective gives another value.
 */
export const distCheckCommand: Command = {
  name: 'dist-check',
  summary: 'Join the process group of RANK/WORLD_SIZE/MASTER_* (or Slurm\'s), all-reduce a known tensor, print it',
  usage: 'convlora dist-check [--timeout-ms 60000] [--json]   (run under convlora launch, torchrun or srun)',
  options: { 'timeout-ms': { type: 'string' }, json: { type: 'boolean' } },
  async run(values, _pos, io) {
    const timeoutMs = numberOpt(values, 'timeout-ms', 60_000, { integer: true, min: 1 });
    const t0 = performance.now();
    const g = initProcessGroup({ env: io.env, timeoutMs });
    try {
      const t = tensor([g.rank + 1, 1], [2], { dtype: 'float64' });
      try {
        allReduce([t]);
        const got = Array.from(t.data() as Float64Array);
        const want = [(g.worldSize * (g.worldSize + 1)) / 2, g.worldSize];
        barrier();
        const out = { rank: g.rank, worldSize: g.worldSize, localRank: g.localRank, allReduce: got, expected: want, ms: Math.round(performance.now() - t0) };
        io.stdout.write(values.json === true ? `${JSON.stringify(out)}\n` : `rank ${g.rank} of ${g.worldSize}: all-reduce sum ${JSON.stringify(got)} (expected ${JSON.stringify(want)}) in ${out.ms} ms\n`);
        if (got[0] !== want[0] || got[1] !== want[1]) throw new ConvLoraError('E_DIST', `rank ${g.rank}: all-reduce gave ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
        return 0;
      } finally {
        t.dispose();
      }
    } finally {
      destroyProcessGroup();
    }
  },
};
