import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

/** Run the CLI in-process with captured, non-TTY streams. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void): Writable => new Writable({ write(chunk, _enc, cb) { add(String(chunk)); cb(); } });
  const code = await main(args, { stdout: sink((s) => { out += s; }), stderr: sink((s) => { err += s; }), env });
  return { code, out, err };
}
