#!/usr/bin/env node
import { VERSION } from '../version.js';
import { ConvLoraError } from '../errors.js';
import { parseCommandArgs, type CliIO, type Command } from './command.js';
import { commands } from './registry.js';

function usage(): string {
  const lines = ['Usage: convlora <command> [options]', '', 'Commands:'];
  for (const c of commands) lines.push(`  ${c.name.padEnd(14)} ${c.summary}`);
  lines.push('', 'Run `convlora <command> --help` for the options of one command.');
  return lines.join('\n');
}

/** Run the CLI; returns the exit code (0 ok, 1 failure, 2 usage error). */
export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const cmd: Command | undefined = commands.find((c) => c.name === name);
  if (cmd === undefined) {
    io.stderr.write(`convlora: unknown command ${JSON.stringify(name)}\n\n${usage()}\n`);
    return 2;
  }
  try {
    const { values, positionals } = parseCommandArgs(cmd, rest);
    if (values.help === true) {
      io.stdout.write(`Usage: ${cmd.usage}\n`);
      return 0;
    }
    return await cmd.run(values, positionals, io);
  } catch (err) {
    if (err instanceof ConvLoraError) {
      io.stderr.write(`convlora ${name}: error ${err.code}${err.detail ? `/${err.detail}` : ''}: ${err.message}\n`);
      return err.code === 'E_USAGE' ? 2 : 1;
    }
    io.stderr.write(`convlora ${name}: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry || process.argv[1]?.endsWith('/convlora')) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => { process.exitCode = code; },
    (err: unknown) => { process.stderr.write(`${String(err)}\n`); process.exitCode = 1; },
  );
}
