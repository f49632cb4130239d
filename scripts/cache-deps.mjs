#!/usr/bin/env node
// Put what a fresh project needs to install convlora's packed tarball into npm's cache, so that
// test/app/package.test.ts can run `npm install --offline <tarball>` with no network. A consumer's npm
// resolves convlora's dependency ranges itself (the repository's lockfile does not travel with the
// package), so the cache is filled the same way: by installing those ranges once into a scratch project,
// here, at set-up. Done once per set of ranges (a stamp in node_modules holds their hash).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const wanted = { dependencies: pkg.dependencies ?? {}, optionalDependencies: pkg.optionalDependencies ?? {} };
const hash = createHash('sha256').update(JSON.stringify(wanted)).digest('hex');
const stamp = join(root, 'node_modules', '.convlora-cache-deps');
if (existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) process.exit(0);
const scratch = mkdtempSync(join(tmpdir(), 'convlora-cache-deps-'));
try {
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'convlora-cache-deps', version: '1.0.0', private: true, ...wanted }));
  process.stderr.write('cache-deps: caching convlora\'s runtime dependencies for the offline install test\n');
  const r = spawnSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: scratch, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) { process.stderr.write('cache-deps: npm install failed; the package install test will fail offline\n'); process.exit(1); }
  writeFileSync(stamp, hash);
} finally { rmSync(scratch, { recursive: true, force: true }); }
