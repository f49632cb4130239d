/**
 * The split of the test files between `npm test` and `npm run test:e2e` (scripts/test-files.mjs): every
 * test file is in exactly one list, and the rule written there holds for each file's imports.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface TestFiles {
  E2E: Record<string, string>;
  compiledPath(source: string): string;
  testLists(base?: string): { unit: string[]; e2e: string[]; all: string[] };
}

// dist/test/scripts -> repository root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const tf = (await import(pathToFileURL(join(root, 'scripts', 'test-files.mjs')).href)) as TestFiles;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'fixtures' ? [] : sources(p);
    return name.endsWith('.test.ts') ? [relative(root, p).split(sep).join('/')] : [];
  });
}

/**
 * What makes a test file end-to-end, read from its source: it imports child processes, drives the browser
 * (through puppeteer or the shared browser helper), or launches ranks / joins a process group.
 */
const E2E_MARKERS: [string, RegExp][] = [
  ['starts processes', /['"]node:child_process['"]/],
  ['drives a browser', /puppeteer|helpers\/browser\.js/],
  ['launches ranks', /\blaunchRanks\b|\binitProcessGroup\b|dp-worker/],
];

test('every test file is in exactly one of the two lists', () => {
  const { unit, e2e, all } = tf.testLists(root);
  const compiled = sources(join(root, 'test')).map(tf.compiledPath).sort();
  assert.deepEqual(all, compiled, 'the compiled test files are those of test/');
  assert.deepEqual([...unit, ...e2e].sort(), compiled, 'unit + e2e cover them');
  assert.equal(unit.filter((f) => e2e.includes(f)).length, 0, 'no file in both');
  assert.ok(unit.length > 0 && e2e.length > 0);
});

test('the rule: a file is end-to-end exactly when it starts processes, drives a browser or launches ranks', () => {
  const listed = new Set(Object.keys(tf.E2E));
  // This file names the markers themselves, so it is left out of its own check.
  for (const file of sources(join(root, 'test')).filter((f) => f !== 'test/scripts/test-files.test.ts')) {
    const text = readFileSync(join(root, file), 'utf8');
    const why = E2E_MARKERS.filter(([, re]) => re.test(text)).map(([name]) => name);
    if (listed.has(file)) assert.ok(why.length > 0, `${file} is listed as end-to-end but does none of it: move it to the unit tests`);
    else assert.deepEqual(why, [], `${file} ${why.join(' and ')}: list it in E2E of scripts/test-files.mjs`);
  }
});

const fake = mkdtempSync(join(tmpdir(), 'convlora-testfiles-'));
after(() => rmSync(fake, { recursive: true, force: true }));

test('testLists: a listed end-to-end test that is not built is an error naming it; a test without its source is dropped', () => {
  const put = (p: string): void => { mkdirSync(dirname(join(fake, p)), { recursive: true }); writeFileSync(join(fake, p), ''); };
  put('test/a.test.ts');
  put('dist/test/a.test.js');
  put('dist/test/ghost.test.js'); // compiled from a source since moved away
  assert.throws(() => tf.testLists(fake), /lists end-to-end tests that are not built: dist\/test\/app\/app\.test\.js, /);
  for (const source of Object.keys(tf.E2E)) { put(source); put(tf.compiledPath(source)); }
  const lists = tf.testLists(fake);
  assert.deepEqual(lists.unit, ['dist/test/a.test.js']);
  assert.equal(lists.e2e.length, Object.keys(tf.E2E).length);
  assert.ok(!lists.all.includes('dist/test/ghost.test.js'));
});
