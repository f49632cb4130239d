#!/usr/bin/env node
// Builds the convlora native addon (native/*.cc) against libtorch, without node-gyp.
//
// Which libtorch:
//   LIBTORCH unset   the newest of Debian's libtorch-dev and the PyTorch installed for the user's Python
//                    (CONVLORA_PYTHON, else python3 on PATH), which wins only when newer; the log says which
//   LIBTORCH=system  Debian's libtorch-dev (headers in /usr/include, libraries on the default path)
//   LIBTORCH=DIR     DIR/include and DIR/lib, e.g. the torch/ folder of a PyTorch install (CUDA build
//                    when DIR/lib has libtorch_cuda.so); an rpath to DIR/lib is embedded.
//   CONVLORA_CXX11_ABI=0|1 overrides the C++ ABI detected from the libraries.
//   CONVLORA_CXX_STD=c++17|c++20 overrides the language standard chosen from the libtorch version
//   (C++20 from 2.13 on: 2.14's headers use `requires` clauses and do not compile as C++17).
//   CONVLORA_DIST=0|1 turns the distributed collectives (native/dist.cc: Gloo) off, or requires them;
//   unset, they are on when gloo's headers are found (Debian: apt-get install -y libgloo-dev).
//   CONVLORA_GLOO_INCLUDE: the folder holding gloo/ for a non-Debian libtorch.
// Output: build/Release/convlora.node and build/Release/convlora.json (what it was built against).
// Objects are rebuilt only when a source or header is newer, or the configuration changed.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { chooseLibtorch, cxxStandard, distConfig, torchVersion } from './native-config.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const outDir = join(root, 'build', 'Release');
const require = createRequire(import.meta.url);

function fail(msg) {
  process.stderr.write(`build-native: ${msg}\n`);
  process.exit(1);
}

function detectAbi(libDir) {
  if (process.env.CONVLORA_CXX11_ABI !== undefined) return process.env.CONVLORA_CXX11_ABI;
  const lib = join(libDir, 'libc10.so');
  if (!existsSync(lib)) return '1';
  try {
    const syms = execFileSync('nm', ['-D', '--defined-only', lib], { maxBuffer: 256 << 20 }).toString();
    return syms.includes('__cxx11') ? '1' : '0';
  } catch {
    return '1';
  }
}

/** The PyTorch of the user's Python: { exe, dir, version } or null (no Python, no torch, or it fails). */
function pythonTorch() {
  const exe = process.env.CONVLORA_PYTHON ?? 'python3';
  try {
    const out = execFileSync(exe, ['-c', 'import os, torch; print(os.path.dirname(torch.__file__)); print(torch.__version__)'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 }).trim().split('\n');
    const m = /^(\d+)\.(\d+)/.exec(out[1] ?? '');
    return m === null || out[0] === undefined ? null : { exe, dir: out[0], version: [Number(m[1]), Number(m[2])] };
  } catch {
    return null;
  }
}

function configure() {
  const nodeInclude = [process.env.NODE_INCLUDE, '/usr/include/node', join(dirname(process.execPath), '..', 'include', 'node')]
    .find((d) => d !== undefined && existsSync(join(d, 'node_api.h')));
  if (nodeInclude === undefined) fail('Node-API headers (node_api.h) not found; set NODE_INCLUDE to the folder that has them.');
  const addonApi = dirname(require.resolve('node-addon-api/package.json'));
  const choice = chooseLibtorch(process.env.LIBTORCH, existsSync('/usr/include/ATen/ATen.h') ? torchVersion('/usr/include') : null,
    process.env.LIBTORCH === undefined ? pythonTorch() : null);
  const lt = choice.dir ?? undefined;
  const includes = [nodeInclude, addonApi];
  const libs = [];
  let cuda = false;
  let abi = '1';
  let version = null;
  if (lt === undefined || lt === '') {
    if (!existsSync('/usr/include/ATen/ATen.h')) {
      fail('libtorch headers not found in /usr/include. Install them with `apt-get install -y libtorch-dev`, or set LIBTORCH to a libtorch folder.');
    }
    libs.push('-ltorch', '-ltorch_cpu', '-lc10');
    version = torchVersion('/usr/include');
  } else {
    const inc = join(lt, 'include');
    const libDir = join(lt, 'lib');
    if (!existsSync(join(inc, 'ATen', 'ATen.h'))) fail(`LIBTORCH=${lt} has no include/ATen/ATen.h`);
    includes.push(inc, join(inc, 'torch', 'csrc', 'api', 'include'));
    version = torchVersion(inc);
    cuda = existsSync(join(libDir, 'libtorch_cuda.so'));
    abi = detectAbi(libDir);
    libs.push(`-L${libDir}`, '-Wl,--no-as-needed');
    if (cuda) libs.push('-ltorch_cuda', '-lc10_cuda');
    libs.push('-ltorch', '-ltorch_cpu', '-lc10', '-Wl,--as-needed', `-Wl,-rpath,${libDir}`);
  }
  let std;
  try {
    std = cxxStandard(version, process.env.CONVLORA_CXX_STD);
  } catch (err) {
    fail(err.message);
  }
  let dist;
  try {
    dist = distConfig(lt === undefined || lt === '' ? null : lt, process.env.CONVLORA_DIST, process.env.CONVLORA_GLOO_INCLUDE);
  } catch (err) {
    fail(err.message);
  }
  libs.push(...dist.libs);
  const cxxflags = [`-std=${std}`, '-O2', '-fPIC', '-fexceptions', '-frtti', '-fvisibility=hidden', '-Wall', '-Wno-unused-parameter',
    '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', `-D_GLIBCXX_USE_CXX11_ABI=${abi}`, ...includes.map((d) => `-I${d}`)];
  return { libtorch: lt ?? 'system', why: choice.why, torchVersion: version === null ? null : version.join('.'), std, cuda, abi, dist: dist.enabled, distWhy: dist.why, distFlags: dist.flags, cxxflags, libs, cxx: process.env.CXX ?? 'g++' };
}

function run(cmd, args) {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { stdio: 'inherit' });
    p.on('error', rej);
    p.on('exit', (code) => (code === 0 ? res() : rej(new Error(`${cmd} exited with ${code}`))));
  });
}

async function main() {
  const cfg = configure();
  process.stderr.write(`build-native: libtorch from ${cfg.why}\n`);
  process.stderr.write(`build-native: distributed collectives ${cfg.distWhy}\n`);
  const tag = JSON.stringify(cfg);
  const objDir = join(root, 'build', 'obj');
  mkdirSync(objDir, { recursive: true });
  mkdirSync(outDir, { recursive: true });
  const stampFile = join(objDir, 'config.json');
  const sameConfig = existsSync(stampFile) && readFileSync(stampFile, 'utf8') === tag;
  const headers = readdirSync(nativeDir).filter((f) => f.endsWith('.h')).map((f) => statSync(join(nativeDir, f)).mtimeMs);
  const newestHeader = Math.max(0, ...headers);
  const sources = readdirSync(nativeDir).filter((f) => f.endsWith('.cc')).sort();
  const jobs = [];
  const objects = [];
  for (const src of sources) {
    const obj = join(objDir, src.replace(/\.cc$/, '.o'));
    objects.push(obj);
    const srcTime = statSync(join(nativeDir, src)).mtimeMs;
    if (sameConfig && existsSync(obj) && statSync(obj).mtimeMs > Math.max(srcTime, newestHeader)) continue;
    jobs.push({ src, obj });
  }
  const target = join(outDir, 'convlora.node');
  if (jobs.length === 0 && existsSync(target) && sameConfig) {
    process.stderr.write('build-native: up to date\n');
    return;
  }
  const parallel = Math.max(1, Math.min(os.availableParallelism?.() ?? 2, Number(process.env.JOBS ?? 2)));
  process.stderr.write(`build-native: libtorch=${cfg.libtorch} (${cfg.torchVersion ?? 'version unknown'}) ${cfg.std} cuda=${cfg.cuda} abi=${cfg.abi}; compiling ${jobs.length} file(s)\n`);
  const queue = [...jobs];
  await Promise.all(Array.from({ length: parallel }, async () => {
    for (let j = queue.shift(); j !== undefined; j = queue.shift()) {
      process.stderr.write(`  c++ ${j.src}\n`);
      // Only dist.cc includes c10d's Gloo headers; the other files need none of its flags.
      await run(cfg.cxx, [...cfg.cxxflags, ...(j.src === 'dist.cc' ? cfg.distFlags : []), '-c', join(nativeDir, j.src), '-o', j.obj]);
    }
  }));
  const tmp = `${target}.tmp`;
  await run(cfg.cxx, ['-shared', '-o', tmp, ...objects, ...cfg.libs]);
  renameSync(tmp, target);
  writeFileSync(stampFile, tag);
  writeFileSync(join(outDir, 'convlora.json'), JSON.stringify({ libtorch: cfg.libtorch, why: cfg.why, torchVersion: cfg.torchVersion, std: cfg.std, cuda: cfg.cuda, abi: cfg.abi, dist: cfg.dist, built: new Date().toISOString() }, null, 2));
  process.stderr.write(`build-native: wrote ${target}\n`);
}

main().catch((err) => fail(err.message));
