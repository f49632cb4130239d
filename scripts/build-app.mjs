#!/usr/bin/env node
// Build the browser app (`convlora app`) into dist/app: src/app/page.ts bundled with esbuild (everything from
// node_modules, no CDN), its HTML and CSS, and onnxruntime-web's WebAssembly runtime. Skipped when every
// output is newer than its inputs; a consumer install uses the dist/app shipped in the package.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const app = join(root, 'src', 'app'); // the page, its HTML and CSS, beside the server and the shared segmentation
const out = join(root, 'dist', 'app');
const ort = join(root, 'node_modules', 'onnxruntime-web', 'dist');
const copies = [
  [join(app, 'index.html'), join(out, 'index.html')],
  [join(app, 'app.css'), join(out, 'app.css')],
  [join(ort, 'ort-wasm-simd-threaded.mjs'), join(out, 'ort', 'ort-wasm-simd-threaded.mjs')],
  [join(ort, 'ort-wasm-simd-threaded.wasm'), join(out, 'ort', 'ort-wasm-simd-threaded.wasm')],
];

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const bundle = join(out, 'app.js');
let esbuild;
try { esbuild = await import('esbuild'); } catch {
  if (existsSync(bundle)) { console.error('build-app: esbuild is not installed; keeping the built dist/app'); process.exit(0); }
  console.error('build-app: esbuild is missing (npm install), and dist/app is not built');
  process.exit(1);
}
const inputs = Math.max(newest(join(root, 'src')), statSync(join(root, 'package-lock.json')).mtimeMs);
const fresh = existsSync(bundle) && statSync(bundle).mtimeMs >= inputs && copies.every(([, to]) => existsSync(to));
if (!fresh) {
  mkdirSync(join(out, 'ort'), { recursive: true });
  const tmp = `${bundle}.tmp-${process.pid}`;
  await esbuild.build({
    entryPoints: [join(app, 'page.ts')], bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    minify: true, sourcemap: false, outfile: tmp, logLevel: 'error', legalComments: 'eof',
    // onnxruntime-web's bundle entry embeds its own wasm loader; the wasm file itself is served from /ort/.
    conditions: ['onnxruntime-web-use-extern-wasm'],
  });
  renameSync(tmp, bundle);
  for (const [from, to] of copies) { copyFileSync(from, `${to}.tmp`); renameSync(`${to}.tmp`, to); }
  console.error(`build-app: dist/app (${(statSync(bundle).size / 1048576).toFixed(1)} MiB of JavaScript)`);
}
