/**
 * Every path, Markdown file and section that a comment or a document cites exists in the repository
 * (issue 26, item 4): the rules are in test/docs/cite-scan.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cComments, checkFile, checkRepository, citingFiles, hashComments, type Problem } from './cite-scan.js';

// dist/test/docs -> repository root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const fake = mkdtempSync(join(tmpdir(), 'convlora-cite-'));
after(() => rmSync(fake, { recursive: true, force: true }));
for (const [path, text] of [
  ['docs/method.md', '# Method\n\n## 1. Network\n\n## 3. ConvLoRA\n'],
  ['docs/other.md', '# Other\n'],
  ['docs/fig.svg', '<svg/>'],
  ['src/data/conform.ts', ''],
  ['src/pipeline/run.ts', ''],
  ['bench/engine.ts', ''],
  ['test/fixtures/models/zoo-unet.weights.safetensors', ''],
] as const) {
  mkdirSync(dirname(join(fake, path)), { recursive: true });
  writeFileSync(join(fake, path), text);
}

const cited = (file: string, text: string): string[] => checkFile(fake, file, text).map((p) => p.cited);

test('checkFile: the citations that resolve, and those that do not, named (table)', () => {
  const cases: [string, string, string, string[]][] = [
    // name, citing file, its text, expected unresolved citations
    ['a doc and a section that exist', 'src/a.ts', '// docs/method.md §3: placement\n', []],
    ['a section range', 'src/a.ts', '/** see docs/method.md §1-3 */\n', []],
    ['a missing section', 'src/a.ts', '// docs/method.md §5\n', ['docs/method.md §5']],
    ['a missing end of a range', 'src/a.ts', '// docs/method.md §1-2\n', ['docs/method.md §1-2']],
    ['a section without its file', 'src/a.ts', '// as in method §6\n', ['§6']],
    ['a document outside the repository', 'src/a.ts', '// convlora-method.md §3\n', ['convlora-method.md']],
    ['a missing docs/ path', 'src/a.ts', '// docs/engine-notes.md\n', ['docs/engine-notes.md']],
    ['a path out of the repository', 'README.md', 'see `../shared/reference/convlora-method.md`\n', ['../shared/reference/convlora-method.md']],
    ['a document up and back in', 'src/pipeline/b.ts', '// ../../docs/method.md §1\n', []],
    ['a document up and missing', 'src/pipeline/b.ts', '// ../../docs/none.md\n', ['../../docs/none.md']],
    ['data beside the checkout is not a citation', 'docs/b.md', 'heads in ../shared/data/ixi\n', []],
    ['a src/ path', 'test/a.test.ts', '// src/data/conform.ts\n', []],
    ['a path relative to src/', 'src/pipeline/b.ts', '// see data/conform.ts\n', []],
    ['a missing path relative to src/', 'src/pipeline/b.ts', '// see data/views.ts\n', ['data/views.ts']],
    ['braces', 'src/a.ts', '// src/{data/conform,pipeline/run}.ts\n', []],
    ['braces, one missing', 'src/a.ts', '// src/{data/conform,pipeline/gone}.ts\n', ['src/{data/conform,pipeline/gone}.ts']],
    ['a glob', 'src/a.ts', '// src/data/conf*.ts\n', []],
    ['a benchmark by name, and its compiled name', 'docs/b.md', 'bench/engine and bench/engine.js\n', []],
    ['a placeholder', 'tools/z.py', '# test/fixtures/models/zoo-<arch>.weights.safetensors\n', []],
    ['a Markdown link beside the file', 'docs/b.md', '![fig](fig.svg) [other](other.md#x) [web](https://x.org)\n', []],
    ['a broken Markdown link', 'docs/b.md', '![fig](fig.png)\n', ['fig.png']],
    ['a bare Markdown name in docs/', 'README.md', 'see other.md\n', []],
    ['a file our commands write', 'docs/b.md', 'writes table.md\n', []],
    ['strings are not citations', 'src/a.ts', "const f = 'docs/none.md'; // ok\n", []],
    ['a glob in a string does not open a comment', 'src/a.ts', "const g = 'test/**/*.ts'; const h = 1; // docs/none.md\n", ['docs/none.md']],
    ['a regular expression is not a comment', 'src/a.ts', 'const r = /docs\\/x.md/; // docs/method.md §1\n', []],
    ['Python docstrings and comments', 'tools/z.py', '"""docs/none.md"""\nx = "docs/gone.md"  # docs/method.md §9\n',
      ['docs/none.md', 'docs/method.md §9']],
    ['a shell comment', 'scripts/s.sh', 'echo docs/none.md # docs/gone.md\n', ['docs/gone.md']],
  ];
  for (const [name, file, text, expected] of cases) assert.deepEqual(cited(file, text), expected, name);
});

test('checkFile: a problem names the file, the line and why', () => {
  const problems: Problem[] = checkFile(fake, 'src/a.ts', '/**\n * x\n * see docs/none.md\n */\n');
  assert.deepEqual(problems, [{ file: 'src/a.ts', line: 3, cited: 'docs/none.md', why: 'no such path' }]);
});

test('comment extraction: line and block comments, quotes skipped', () => {
  assert.deepEqual(cComments("a('//x'); // y\n/* z */").map((s) => s.text), [' y', ' z ']);
  assert.deepEqual(hashComments('x = 1  # one\n#two\ns="#no"', false).map((s) => s.text), [' one', 'two']);
});

test('the repository: every cited path, Markdown file and section exists', () => {
  const files = citingFiles(root);
  for (const f of ['README.md', 'docs/method.md', 'src/lora/convlora.ts', 'native/common.h', 'tools/model_reference.py', 'scripts/test.sh']) {
    assert.ok(files.includes(f), `${f} is scanned`);
  }
  const problems = checkRepository(root).map((p) => `${p.file}:${p.line}: ${p.cited} (${p.why})`);
  assert.deepEqual(problems, []);
});
