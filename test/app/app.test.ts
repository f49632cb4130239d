/// <reference lib="dom" />
// The browser app (`convlora app`): its server serves only its own files and the models given to it;
// the web segmentation path (src/app/segment-web.ts, no Node module) gives `segment --engine onnx`'s mask;
// and in a real headless chromium (Debian's, driven by puppeteer-core; scripts/test.sh installs it) a
// scan uploaded to the page is segmented in the page and its mask equals the CLI's. The model is the
// bundled one, exported to ONNX; the scans are the real-head fixtures (one RAS at 3 mm, one LSA at
// 4 x 4 x 3 mm), so orientation and resampling are exercised.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { startAppServer, APP_FILES, SECURITY_HEADERS, type AppServer } from '../../src/app/server.js';
import { decodeScan, inflateWeb, segmentBytes } from '../../src/app/segment-web.js';
import { bundledModel } from '../../src/pipeline/infer/bundled.js';
import { exportOnnx, statisticsPath } from '../../src/pipeline/onnx/export.js';
import { OnnxSession, loadOnnxRuntime } from '../../src/pipeline/onnx/session.js';
import { OnnxModel } from '../../src/pipeline/onnx/model.js';
import { readNifti } from '../../src/data/nifti/index.js';
import { dice } from '../../src/metrics/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { CHROMIUM, haveChromium, openAppPage } from '../helpers/browser.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const assets = join(root, 'dist', 'app');
const fixtures = join(root, 'test', 'fixtures', 'real');
const SCANS = ['colin27_t1.nii.gz', 'itk-head_t1.nii.gz'];
const dir = tempDir('convlora-app-');
let onnxPath = '';
let app: AppServer;
const cliMasks = new Map<string, Uint8Array>();
const torchMasks = new Map<string, Uint8Array>();

function get(url: string, path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  // node:http sends the path exactly as given (no normalisation of ../ or %2e), as a hostile client would.
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  // The bundled model predicts with test-time AdaBN per scan: export writes its statistics graph too.
  onnxPath = join(dir, 'bundled.onnx');
  const e = await exportOnnx({ model: bundledModel(), out: onnxPath });
  assert.equal(e.statistics, statisticsPath(onnxPath));
  app = await startAppServer({ assets, port: 0, models: [{ id: 'bundled', label: 'bundled model', bytes: await readFile(onnxPath), statistics: await readFile(statisticsPath(onnxPath)) }] });
  for (const s of SCANS) {
    const out = join(dir, `cli-${s}`), torch = join(dir, `torch-${s}`);
    const r = await runCli(['segment', '--engine', 'onnx', '--model', onnxPath, '--in', join(fixtures, s), '--out', out, '--quiet']);
    assert.equal(r.code, 0, r.err);
    cliMasks.set(s, Uint8Array.from((await readNifti(out)).data));
    const t = await runCli(['segment', '--in', join(fixtures, s), '--out', torch, '--quiet']);
    assert.equal(t.code, 0, t.err);
    torchMasks.set(s, Uint8Array.from((await readNifti(torch)).data));
  }
});

after(async () => { await app?.close(); });

test('app server: its own files and the models, with cross-origin isolation; nothing else (404), no uploads (405)', async () => {
  for (const path of Object.keys(APP_FILES)) {
    const r = await get(app.url, path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin');
    assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp');
    assert.equal(r.headers['content-security-policy'], SECURITY_HEADERS['Content-Security-Policy']);
  }
  const list = JSON.parse((await get(app.url, '/models.json')).body.toString()) as { models: { id: string; url: string; voxelSize: number[]; sliceSize: number }[] };
  const list2 = list as unknown as { models: { statsUrl: string; adabn: boolean }[] };
  assert.deepEqual(list.models.map((m) => [m.id, m.url, m.voxelSize, m.sliceSize]), [['bundled', '/models/bundled.onnx', [2, 2, 2], 128]]);
  assert.deepEqual(list2.models.map((m) => [m.statsUrl, m.adabn]), [['/models/bundled.stats.onnx', true]], 'the statistics graph for test-time AdaBN in the page');
  assert.equal((await get(app.url, '/models/bundled.stats.onnx')).status, 200);
  assert.deepEqual(new Uint8Array((await get(app.url, '/models/bundled.onnx')).body), new Uint8Array(await readFile(onnxPath)));
  assert.equal((await get(app.url, '/index.html?v=2')).status, 200, 'a query string is ignored');

  // A symlink and a stray file in the assets folder are not served: only the table's names are.
  symlinkSync('/etc/passwd', join(assets, 'passwd-link'));
  writeFileSync(join(assets, 'stray.txt'), 'not part of the app');
  try {
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/%2e%2e%2fpackage.json', '/..%2fpackage.json', '/ort/../../package.json',
      '/ort/%2e%2e%2f%2e%2e%2fpackage.json', '//etc/passwd', '/etc/passwd', '/C:/Windows/win.ini', '/passwd-link', '/stray.txt', '/models/../app.js',
      '/models/bundled.onnx/..', '/models/', '/models/other.onnx', '/dist/app/app.js', '/app.js/', '/APP.JS', '/%61pp.js', '/index.html%00']) {
      const r = await get(app.url, path);
      assert.equal(r.status, 404, `${path}: ${r.status}`);
      assert.equal(r.body.toString(), 'not found\n', path);
    }
  } finally {
    const { rmSync } = await import('node:fs');
    rmSync(join(assets, 'passwd-link'), { force: true });
    rmSync(join(assets, 'stray.txt'), { force: true });
  }
  for (const method of ['POST', 'PUT', 'DELETE']) assert.equal((await get(app.url, '/', method)).status, 405, method);
  assert.match(app.url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'bound to the loopback address by default');
});

test('app server refuses a bad model list and a missing build with coded errors', async () => {
  const bytes = await readFile(onnxPath);
  await assert.rejects(startAppServer({ assets, port: 0, models: [] }), (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG');
  await assert.rejects(startAppServer({ assets, port: 0, models: [{ id: '../x', label: 'x', bytes }] }), (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG' && /model id/.test(e.message));
  await assert.rejects(startAppServer({ assets, port: 0, models: [{ id: 'a', label: 'a', bytes }, { id: 'a', label: 'b', bytes }] }), (e: Error & { code?: string }) => e.code === 'E_INVALID_ARG');
  await assert.rejects(startAppServer({ assets, port: 0, models: [{ id: 'junk', label: 'junk.onnx', bytes: new Uint8Array([1, 2, 3, 4]) }] }), (e: Error & { code?: string }) => e.code === 'E_ONNX');
  const empty = join(dir, 'no-build');
  mkdirSync(empty);
  await assert.rejects(startAppServer({ assets: empty, port: 0, models: [{ id: 'a', label: 'a', bytes }] }), (e: Error & { code?: string }) => e.code === 'E_IO' && /npm run build/.test(e.message));
  const busy = Number(new URL(app.url).port);
  await assert.rejects(startAppServer({ assets, port: busy, models: [{ id: 'a', label: 'a', bytes }] }), (e: Error & { code?: string }) => e.code === 'E_USAGE' && /in use/.test(e.message));
});

test('test-time AdaBN through ONNX (statistics graph) gives libtorch\'s masks; the web path (no node:fs/zlib) gives segment --engine onnx\'s', async () => {
  for (const s of SCANS) {
    const d = dice(cliMasks.get(s)!, torchMasks.get(s)!);
    assert.ok(d >= 0.999, `${s}: segment --engine onnx with test-time AdaBN against --engine torch: Dice ${d}`);
  }
  const bytes = new Uint8Array(await readFile(onnxPath));
  const session = await OnnxSession.open(bytes, { threads: 2 });
  const ort = await loadOnnxRuntime();
  const stats = await OnnxModel.create(ort, await readFile(statisticsPath(onnxPath)), { statistics: true, threads: 2 });
  try {
    for (const s of SCANS) {
      const r = await segmentBytes(new Uint8Array(await readFile(join(fixtures, s))), session, { adabn: { stats, bytes, open: (b) => OnnxSession.open(b, { threads: 2 }) } });
      const cli = cliMasks.get(s)!;
      assert.deepEqual(r.mask, cli, `${s}: the same mask`);
      assert.deepEqual(r.warnings, [], 'no warning: the statistics graph was given');
      const back = await decodeScan(r.maskFile, 'mask');
      assert.deepEqual(Uint8Array.from(back.data), cli, `${s}: the written .nii.gz holds it`);
      const src = await readNifti(join(fixtures, s));
      assert.deepEqual(back.dims, src.dims);
      assert.deepEqual(back.affine, src.affine, 'on the scan\'s own grid');
      assert.ok(r.brainVoxels > 0.01 * cli.length && r.brainVoxels < 0.6 * cli.length, `${s}: ${r.brainVoxels} brain voxels (neither empty nor full)`);
    }
    const plain = await segmentBytes(new Uint8Array(await readFile(join(fixtures, SCANS[1]!))), session);
    assert.match(plain.warnings.join(' '), /statistics graph/, 'without it, a warning says so');
  } finally { await session.dispose(); await stats.dispose(); }
});

test('web gzip and NIfTI errors are coded, as in Node', async () => {
  const good = new Uint8Array(await readFile(join(fixtures, SCANS[0]!)));
  const truncated = good.subarray(0, Math.floor(good.length / 2));
  await assert.rejects(decodeScan(truncated, 'half.nii.gz'), (e: Error & { code?: string; detail?: string }) => e.code === 'E_NIFTI' && /half\.nii\.gz/.test(e.message));
  const corrupt = good.slice();
  corrupt.fill(0x55, 40, 400);
  await assert.rejects(decodeScan(corrupt, 'corrupt.nii.gz'), (e: Error & { code?: string; detail?: string }) => e.code === 'E_NIFTI' && e.detail === 'E_NIFTI_GZIP');
  await assert.rejects(decodeScan(new TextEncoder().encode('hello, not a scan'), 'notes.txt'), (e: Error & { code?: string }) => e.code === 'E_NIFTI');
  await assert.rejects(inflateWeb(gzipSync(new Uint8Array(5000)), 1000), (e: Error & { detail?: string }) => e.detail === 'E_NIFTI_TOO_LARGE');
});

test('in headless chromium: upload a scan, segment in the page, the mask equals segment\'s; bad files give a coded message', { skip: haveChromium() ? false : `no chromium at ${CHROMIUM} (scripts/test.sh installs Debian's)`, timeout: 600_000 }, async () => {
  const app_ = await openAppPage(app.url);
  try {
    const { page } = app_;
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'COOP/COEP make the page cross-origin isolated (threads)');
    assert.match(await page.$eval('.privacy', (e) => e.textContent ?? ''), /never leaves this browser/);
    for (const s of SCANS) {
      const r = await app_.segment(join(fixtures, s));
      assert.equal(r.state, 'done', JSON.stringify(r.error));
      const d = dice(r.mask, cliMasks.get(s)!);
      assert.ok(d >= 0.999, `${s}: Dice ${d} between the page's mask and segment's`);
      assert.equal(await page.$eval('#download', (a) => (a as HTMLAnchorElement).hidden), false, 'the mask can be downloaded');
      assert.match(await page.$eval('#download', (a) => (a as HTMLAnchorElement).download), /_mask\.nii\.gz$/);
      if (s === SCANS[0]) {
        await new Promise((res) => setTimeout(res, 1000)); // NiiVue draws on the next frames
        await page.screenshot({ path: process.env.CONVLORA_SCREENSHOT ?? join(dir, 'app.png') });
      }
    }
    // Malformed files: a coded message in the page, the page still usable.
    const bad = join(dir, 'broken.nii.gz');
    const good = await readFile(join(fixtures, SCANS[0]!));
    await writeFile(bad, good.subarray(0, good.length >> 1));
    const junk = join(dir, 'notes.nii');
    await writeFile(junk, 'not a scan at all');
    for (const f of [bad, junk]) {
      const r = await app_.segment(f, 60_000);
      assert.equal(r.state, 'error');
      assert.equal(r.error?.code, 'E_NIFTI', `${f}: ${JSON.stringify(r.error)}`);
      assert.match(await page.$eval('#status', (e) => e.textContent ?? ''), /^E_NIFTI: /);
      assert.equal(await page.$eval('#segment', (b) => (b as HTMLButtonElement).disabled), false, 'the page is not stuck');
    }
    assert.deepEqual(app_.errors, [], 'no uncaught error in the page');
    const origin = new URL(app.url).origin;
    const off = app_.requests.filter((r) => { const u = r.split(' ')[1]!; return !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:'); });
    assert.deepEqual(off, [], 'no request leaves the app\'s origin');
    assert.deepEqual(app_.requests.filter((r) => !r.startsWith('GET ')), [], 'the page only reads: no scan is sent');
  } finally { await app_.close(); }
});

test('convlora app: serves the given .onnx on 127.0.0.1, prints its URL, stops cleanly on SIGTERM; usage errors are coded', async () => {
  const { spawn } = await import('node:child_process');
  const main = join(root, 'dist', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [main, 'app', '--model', onnxPath, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Whatever fails below, the server must not outlive the test: a live child keeps the test run from ending.
  const exited = new Promise<number | null>((resolve) => { child.once('exit', resolve); });
  try {
    let err = '';
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('\n')) resolve(out.split('\n')[0]!); });
      void exited.then((code) => reject(new Error(`app exited with ${code}: ${err}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const list = JSON.parse((await get(url, '/models.json')).body.toString()) as { models: { id: string }[] };
    assert.deepEqual(list.models.map((m) => m.id), ['bundled'], 'the model named on the command line, by its file name');
    // stdout and stderr are separate pipes: the notice may arrive after the URL.
    const deadline = Date.now() + 10_000;
    while (!/never sent here/.test(err) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.match(err, /never sent here/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited; }
  }
  const bad = await runCli(['app', '--model', onnxPath, '--adapters', dir, '--port', '0']);
  assert.equal(bad.code, 2, bad.err);
  assert.match(bad.err, /E_USAGE/);
  const port = await runCli(['app', '--model', onnxPath, '--port', '70000']);
  assert.equal(port.code, 2);
  assert.match(port.err, /--port/);
});
