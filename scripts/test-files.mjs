#!/usr/bin/env node
// Which compiled test files `npm test` runs and which `npm run test:e2e` runs (scripts/test.sh calls this).
//   node scripts/test-files.mjs unit|e2e|all    prints the files, one per line, sorted
//
// The rule, by what a test file does, not by how long it takes:
//   end-to-end (e2e): the file starts another process (node:child_process: the CLI or a second Node in a
//     child, python3 as an independent reader), drives a browser, packs and installs the package, or starts
//     several ranks (launch, process groups, data-parallel training);
//   unit: everything else, which runs inside the test process, even when it trains a small model.
// test/scripts/test-files.test.ts checks the rule against each file's imports and that every test file is in
// exactly one list, so a new test that spawns a process cannot land in the fast suite unnoticed.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The end-to-end test files, as TypeScript sources, with what makes each one end-to-end. */
export const E2E = {
  'test/app/app.test.ts': 'headless chromium drives the browser app; the app server in a child process',
  'test/app/package.test.ts': 'npm pack, then npm install into fresh projects',
  'test/data/nifti/interop.test.ts': 'python3 with nibabel reads every file we write',
  'test/engine/dist.test.ts': 'process groups of several ranks',
  'test/engine/errors.test.ts': 'child Node processes that load a missing or broken addon',
  'test/engine/finalizer.test.ts': 'a child Node process that leaks a tensor, with the finalizer on and off',
  'test/engine/memory.test.ts': 'child Node processes under each malloc policy',
  'test/engine/tensor.test.ts': 'child Node processes that read the thread count set at load',
  'test/pipeline/dist/data-parallel.test.ts': 'data-parallel training over launched ranks',
  'test/pipeline/dist/launch.test.ts': 'convlora launch starts local ranks',
  'test/pipeline/train/resume.test.ts': 'a training process killed with SIGKILL, then resumed',
};

/** A test's TypeScript source -> its compiled file under dist/ (`.ts` -> `.js`). */
export const compiledPath = (source) => join('dist', source.replace(/\.ts$/, '.js')).split(sep).join('/');

/** The *.test.js files under `dir`, relative to `base`. */
function* walk(dir, base) {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p, base);
    else if (name.endsWith('.test.js')) yield relative(base, p).split(sep).join('/');
  }
}

/**
 * The compiled test files under `dist/test`, split into { unit, e2e }: every file in exactly one list.
 * Throws when an E2E entry has no compiled file (renamed or deleted: update E2E), so that none is lost.
 */
export function testLists(base = root) {
  // A compiled test whose source was moved or deleted stays in dist/ until dist/ is cleaned: not a test any more.
  const hasSource = (f) => !existsSync(join(base, 'test')) || existsSync(join(base, f.replace(/^dist\//, '').replace(/\.js$/, '.ts')));
  const all = [...walk(join(base, 'dist', 'test'), base)].filter(hasSource).sort();
  const e2eSet = new Set(Object.keys(E2E).map(compiledPath));
  const missing = [...e2eSet].filter((f) => !all.includes(f));
  if (missing.length > 0) {
    throw new Error(`scripts/test-files.mjs lists end-to-end tests that are not built: ${missing.join(', ')} ` +
      '(renamed? update E2E; not compiled? npx tsc -p tsconfig.json)');
  }
  const e2e = all.filter((f) => e2eSet.has(f));
  const unit = all.filter((f) => !e2eSet.has(f));
  if (unit.length + e2e.length !== all.length || all.length === 0) {
    throw new Error(`the unit (${unit.length}) and e2e (${e2e.length}) lists do not cover the ${all.length} test files`);
  }
  return { unit, e2e, all };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const which = process.argv[2] ?? 'all';
  if (!['unit', 'e2e', 'all'].includes(which)) {
    process.stderr.write(`usage: node scripts/test-files.mjs unit|e2e|all (received ${JSON.stringify(which)})\n`);
    process.exit(2);
  }
  const lists = testLists();
  process.stdout.write(lists[which].map((f) => `${f}\n`).join(''));
}
