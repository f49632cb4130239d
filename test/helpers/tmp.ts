import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
// CONVLORA_KEEP_TEST_DIRS=1 keeps them, to look at a failed run's files.
process.on('exit', () => { if (process.env.CONVLORA_KEEP_TEST_DIRS !== '1') for (const dir of made) rmSync(dir, { recursive: true, force: true }); });

/** A fresh temporary directory, removed when the test process exits (safe to create inside hooks). */
export function tempDir(prefix = 'convlora-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
