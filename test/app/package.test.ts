// convlora as a dependency, tried as a new user would: `npm pack`, then `npm install <tarball>` into a
// fresh project, offline (from npm's cache). With libtorch on the machine the install builds the addon,
// and the project segments a phantom scan through libtorch and through ONNX (onnxruntime-node). With
// the addon build skipped (CONVLORA_SKIP_NATIVE=1, as on a machine without libtorch), ONNX segmentation
// still works and the libtorch path fails with E_NATIVE_LOAD and its remedy.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { phantomVolume } from '../../src/data/simulation/phantom.js';
import { readNifti, writeNifti } from '../../src/data/nifti/index.js';
import { dice } from '../../src/metrics/index.js';
import { tempDir } from '../helpers/tmp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dir = tempDir('convlora-package-');
let tarball = '';
const scan = join(dir, 'phantom.nii.gz');
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

function npm(args: string[], cwd: string, extra: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = spawnSync('npm', args, { cwd, env: { ...env, ...extra }, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** A fresh project with the tarball installed (offline). */
function consumer(name: string, extra: Record<string, string> = {}): string {
  const p = join(dir, name);
  execFileSync('mkdir', ['-p', p]);
  writeFileSync(join(p, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }));
  const r = npm(['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', tarball], p, extra);
  assert.equal(r.code, 0, `npm install failed:\n${r.err}`);
  return p;
}

function cli(project: string, args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(project, 'node_modules', 'convlora', 'dist', 'src', 'cli', 'main.js'), ...args], { cwd: project, env, encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

before(async () => {
  const r = npm(['pack', '--ignore-scripts', '--pack-destination', dir, '--loglevel=error'], root);
  assert.equal(r.code, 0, r.err);
  tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
  const v = phantomVolume('GE_3', 0, { size: 64, seed: 5 });
  await writeNifti(scan, { dims: v.image.dims, spacing: v.image.spacing!, affine: v.image.affine!, data: v.image.data });
});

test('npm pack ships the built library, CLI, browser app, bundled model and addon sources, and no tests', () => {
  const list = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
  for (const f of ['package/dist/src/index.js', 'package/dist/src/cli/main.js', 'package/dist/app/app.js', 'package/dist/app/ort/ort-wasm-simd-threaded.wasm',
    'package/models/convlora-t1-2mm.safetensors', 'package/native/ops.cc', 'package/scripts/build-native.mjs', 'package/scripts/install.mjs']) {
    assert.ok(list.includes(f), `${f} in the tarball`);
  }
  assert.ok(!list.some((f) => f.startsWith('package/dist/test/') || f.startsWith('package/test/')), 'no tests in the package');
});

test('installed into a fresh project: the addon is built at install, and a phantom scan segments through libtorch and through ONNX (both with the bundled model\'s test-time AdaBN)', { timeout: 1_500_000 }, async () => {
  const p = consumer('with-libtorch');
  assert.ok(existsSync(join(p, 'node_modules', 'convlora', 'build', 'Release', 'convlora.node')), 'the addon was built by the install');
  const lib = spawnSync(process.execPath, ['--input-type=module', '-e', "import { UNet2D } from 'convlora'; const u = new UNet2D(); console.log(u.parameters().length); u.dispose();"], { cwd: p, env, encoding: 'utf8' });
  assert.equal(lib.status, 0, lib.stderr);
  assert.ok(Number(lib.stdout) > 0, 'new UNet2D() works in the consumer project');
  const torch = cli(p, ['segment', '--in', scan, '--out', join(p, 'torch.nii.gz'), '--quiet']);
  assert.equal(torch.code, 0, torch.err);
  const exp = cli(p, ['export', '--model', join(p, 'node_modules', 'convlora', 'models', 'convlora-t1-2mm.safetensors'), '--out', join(p, 'model.onnx'), '--quiet']);
  assert.equal(exp.code, 0, exp.err);
  const onnx = cli(p, ['segment', '--engine', 'onnx', '--model', join(p, 'model.onnx'), '--in', scan, '--out', join(p, 'onnx.nii.gz'), '--quiet']);
  assert.equal(onnx.code, 0, onnx.err);
  const [a, b] = await Promise.all([readNifti(join(p, 'torch.nii.gz')), readNifti(join(p, 'onnx.nii.gz'))]);
  const ma = Uint8Array.from(a.data), mb = Uint8Array.from(b.data);
  const brain = ma.reduce((n, x) => n + x, 0);
  assert.ok(brain > 0 && brain < ma.length, `a mask that is neither empty nor full (${brain} voxels)`);
  assert.ok(dice(ma, mb) >= 0.999, `libtorch and ONNX masks agree: Dice ${dice(ma, mb)}`);

  // Without the addon (its build skipped, as on a machine without libtorch): ONNX works, libtorch says why not.
  const q = consumer('without-addon', { CONVLORA_SKIP_NATIVE: '1' });
  assert.ok(!existsSync(join(q, 'node_modules', 'convlora', 'build', 'Release', 'convlora.node')), 'no addon built');
  const onnx2 = cli(q, ['segment', '--engine', 'onnx', '--model', join(p, 'model.onnx'), '--in', scan, '--out', join(q, 'onnx.nii.gz'), '--quiet']);
  assert.equal(onnx2.code, 0, onnx2.err);
  assert.deepEqual(Uint8Array.from((await readNifti(join(q, 'onnx.nii.gz'))).data), mb, 'the same mask without the addon');
  const torch2 = cli(q, ['segment', '--in', scan, '--out', join(q, 'torch.nii.gz')]);
  assert.notEqual(torch2.code, 0);
  assert.match(torch2.err, /E_NATIVE_LOAD/);
  assert.match(torch2.err, /libtorch-dev/);
  assert.ok(!existsSync(join(q, 'torch.nii.gz')), 'no half-written output');
});
