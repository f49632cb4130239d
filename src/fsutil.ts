import { promises as fsp, writeFileSync, renameSync, unlinkSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConvLoraError } from './errors.js';

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Write a file atomically: a temporary name in the same directory, then rename. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempName(path);
  try {
    await fsp.mkdir(dirname(path), { recursive: true });
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw new ConvLoraError('E_IO', `Could not write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Synchronous form of writeFileAtomic. */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const tmp = tempName(path);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw new ConvLoraError('E_IO', `Could not write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Whether `path` is a directory. A path that cannot be read (missing, no permission) is not a directory,
 * unless `mustExist`: then it is E_IO naming the path and the reason, for an input the caller cannot go on without.
 */
export async function isDirectory(path: string, opts: { mustExist?: boolean } = {}): Promise<boolean> {
  try {
    return (await fsp.stat(path)).isDirectory();
  } catch (err) {
    if (opts.mustExist !== true) return false;
    throw new ConvLoraError('E_IO', `Could not read ${path}: ${(err as Error).message}`, { cause: err });
  }
}
