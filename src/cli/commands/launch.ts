import { fileURLToPath } from 'node:url';
import { ConvLoraError } from '../../errors.js';
import { launchRanks } from '../../pipeline/dist/launch.js';
import { numberOpt, type Command } from '../command.js';

/** This CLI's entry point (dist/src/cli/main.js), which every rank runs. */
const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

export const launchCommand: Command = {
  name: 'launch',
  summary: 'Start N local ranks of a convlora command (torchrun\'s RANK/WORLD_SIZE/MASTER_* variables); stop all if one fails',
  usage: 'convlora launch --nproc N [--master-port P (default: a free port)] [--no-prefix] -- <convlora command and options...>   (on several machines use torchrun, srun or a PyTorchJob instead: the ranks read the same variables)',
  options: { nproc: { type: 'string' }, 'master-port': { type: 'string' }, 'no-prefix': { type: 'boolean' } },
  allowPositionals: true,
  async run(values, positionals, io) {
    if (values.nproc === undefined) throw new ConvLoraError('E_USAGE', `Missing required option --nproc\nUsage: ${this.usage}`);
    const nproc = numberOpt(values, 'nproc', 1, { integer: true, min: 1 });
    const port = values['master-port'] === undefined ? undefined : numberOpt(values, 'master-port', 0, { integer: true, min: 1 });
    if (port !== undefined && port > 65535) throw new ConvLoraError('E_USAGE', `Expected an integer in [1, 65535] for --master-port but received ${JSON.stringify(values['master-port'])}`);
    const [sub] = positionals;
    if (sub === undefined) throw new ConvLoraError('E_USAGE', `No command to launch: give it after --, e.g. convlora launch --nproc 2 -- adapt ...\nUsage: ${this.usage}`);
    if (sub === 'launch') throw new ConvLoraError('E_USAGE', 'convlora launch cannot launch itself');
    const prefix = values['no-prefix'] !== true;
    io.stderr.write(`convlora launch: ${nproc} rank(s) of \`convlora ${positionals.join(' ')}\`${port === undefined ? '' : ` (store on 127.0.0.1:${port})`}\n`);
    const res = await launchRanks({
      nproc, argv: [process.execPath, MAIN, ...positionals], env: { ...process.env, ...io.env }, ...(port === undefined ? {} : { masterPort: port }),
      onLine: (rank, stream, line) => io[stream].write(prefix ? `[rank ${rank}] ${line}\n` : `${line}\n`),
    });
    if (res.failure !== null) {
      const f = res.failure;
      const how = f.signal !== null ? `was killed by ${f.signal}` : `exited with code ${f.exitCode}`;
      io.stderr.write(`convlora launch: rank ${f.rank} ${how}; stopped the ranks still running\n`);
    }
    return res.code;
  },
};
