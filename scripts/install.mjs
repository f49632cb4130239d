#!/usr/bin/env node
// npm's install step for convlora as a dependency: build the libtorch addon when libtorch and a C++
// compiler are here; otherwise say what works without it (ONNX inference through onnxruntime-node,
// the browser app) and how to enable the rest. Never fails the install: the ONNX path needs no addon.
// CONVLORA_SKIP_NATIVE=1 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => process.stderr.write(`convlora: ${msg}\n`);
const onnxOnly = 'ONNX inference works without it: `convlora segment --engine onnx --model model.onnx` and `convlora app --model model.onnx`.';

if (process.env.CONVLORA_SKIP_NATIVE === '1') {
  say(`CONVLORA_SKIP_NATIVE=1: the libtorch addon was not built. ${onnxOnly}`);
  process.exit(0);
}
const lt = process.env.LIBTORCH;
const haveTorch = lt !== undefined && lt !== '' ? existsSync(join(lt, 'include')) : existsSync('/usr/include/ATen/ATen.h');
const haveCxx = spawnSync(process.env.CXX ?? 'g++', ['--version'], { stdio: 'ignore' }).status === 0;
if (!haveTorch || !haveCxx) {
  const missing = [haveTorch ? null : 'libtorch', haveCxx ? null : 'a C++ compiler (g++)'].filter(Boolean).join(' and ');
  say(`${missing} not found, so the libtorch engine (training, adaptation, \`segment --engine torch\`) is unavailable until you install `
    + `them (Debian 12: apt-get install -y libtorch-dev g++, or LIBTORCH=<a libtorch folder>) and run \`npm rebuild convlora\`. ${onnxOnly}`);
  process.exit(0);
}
say('building the libtorch addon (a few minutes; CONVLORA_SKIP_NATIVE=1 skips it)');
const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs')], { stdio: 'inherit', cwd: root });
if (r.status !== 0) {
  say(`the libtorch addon did not build (see above): the libtorch engine is unavailable until \`npm rebuild convlora\` succeeds. ${onnxOnly}`);
}
process.exit(0);
