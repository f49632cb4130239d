/**
 * The native build's choice of C++ standard from the libtorch version (scripts/native-config.mjs).
 * Facts behind it, checked by hand on 2026-11-26: libtorch 2.14.1's headers fail as C++17 (`requires`
 * clauses in ATen/core/TensorBase.h) and build as C++20; 2.13.0 builds either way (C++17 with
 * -Wc++20-extensions warnings); Debian's 1.13.1 is the C++17 build CI uses.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface NativeConfig {
  torchVersion(inc: string): [number, number] | null;
  cxxStandard(version: [number, number] | null, forced?: string): string;
  chooseLibtorch(env: string | undefined, system: [number, number] | null,
    python: { exe: string; dir: string; version: [number, number] } | null): { dir: string | null; why: string };
  distConfig(libtorchDir: string | null, mode: string | undefined, glooInclude: string | undefined,
    exists?: (p: string) => boolean): { enabled: boolean; why: string; flags: string[]; libs: string[] };
}

// dist/test/engine -> repository root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const cfg = (await import(pathToFileURL(join(root, 'scripts', 'native-config.mjs')).href)) as NativeConfig;

const dir = mkdtempSync(join(tmpdir(), 'convlora-buildcfg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function headers(name: string, file: string, major: number, minor: number): string {
  const inc = join(dir, name);
  mkdirSync(join(inc, dirname(file)), { recursive: true });
  writeFileSync(join(inc, file), `#pragma once\n#define TORCH_VERSION_MAJOR ${major}\n\n#define TORCH_VERSION_MINOR ${minor}\n#define TORCH_VERSION_PATCH 1\n`);
  return inc;
}

describe('native build configuration', () => {
  test('reads the version from either header layout', () => {
    assert.deepEqual(cfg.torchVersion(headers('v113', 'torch/csrc/api/include/torch/version.h', 1, 13)), [1, 13]);
    assert.deepEqual(cfg.torchVersion(headers('v214', 'torch/headeronly/version.h', 2, 14)), [2, 14]);
    assert.equal(cfg.torchVersion(join(dir, 'nothing-here')), null);
  });

  test('C++20 from libtorch 2.13 on, C++17 before and when the version is unknown', () => {
    assert.equal(cfg.cxxStandard([1, 13]), 'c++17');
    assert.equal(cfg.cxxStandard([2, 12]), 'c++17');
    assert.equal(cfg.cxxStandard([2, 13]), 'c++20');
    assert.equal(cfg.cxxStandard([2, 14]), 'c++20');
    assert.equal(cfg.cxxStandard([3, 0]), 'c++20');
    assert.equal(cfg.cxxStandard(null), 'c++17');
  });

  test('CONVLORA_CXX_STD overrides, and a bad value is refused with the accepted ones', () => {
    assert.equal(cfg.cxxStandard([1, 13], 'c++20'), 'c++20');
    assert.equal(cfg.cxxStandard([2, 14], ''), 'c++20');
    assert.throws(() => cfg.cxxStandard([2, 14], 'c++11'), /CONVLORA_CXX_STD must be c\+\+17, c\+\+20 or c\+\+23.*"c\+\+11"/);
  });

  test('the system libtorch (Debian 12 libtorch-dev, installed by scripts/setup.sh) is 1.13 and builds as C++17', () => {
    const v = cfg.torchVersion('/usr/include');
    assert.deepEqual(v, [1, 13]);
    assert.equal(cfg.cxxStandard(v), 'c++17');
  });
});

describe('which libtorch the build uses (issue 17: the newest it finds, and says which)', () => {
  const torchDir = (name: string): string => {
    const d = join(dir, name);
    mkdirSync(join(d, 'include', 'ATen'), { recursive: true });
    writeFileSync(join(d, 'include', 'ATen', 'ATen.h'), '#pragma once\n');
    return d;
  };
  const py213 = { exe: '/venv/bin/python', dir: torchDir('py213'), version: [2, 13] as [number, number] };
  const cases: [string, string | undefined, [number, number] | null, typeof py213 | null, string | null, RegExp][] = [
    ['a newer Python PyTorch wins', undefined, [1, 13], py213, py213.dir, /PyTorch 2\.13 of \/venv\/bin\/python \(newer than Debian's 1\.13/],
    ['the same version keeps Debian\'s', undefined, [2, 13], py213, null, /Debian's libtorch-dev 2\.13 .*PyTorch 2\.13 is not newer/],
    ['no Python PyTorch: Debian\'s', undefined, [1, 13], null, null, /Debian's libtorch-dev 1\.13 \(no PyTorch found/],
    ['only a Python PyTorch', undefined, null, py213, py213.dir, /PyTorch 2\.13/],
    ['a Python torch without C++ headers is skipped', undefined, [1, 13], { ...py213, dir: join(dir, 'no-headers') }, null, /Debian's/],
    ['LIBTORCH=system', 'system', [1, 13], py213, null, /^LIBTORCH=system: Debian's libtorch-dev 1\.13$/],
    ['LIBTORCH empty', '', [1, 13], py213, null, /^LIBTORCH="": Debian's/],
    ['LIBTORCH=DIR', '/opt/libtorch', [1, 13], py213, '/opt/libtorch', /^LIBTORCH=\/opt\/libtorch$/],
  ];
  for (const [name, env, system, python, want, why] of cases) {
    test(name, () => {
      const c = cfg.chooseLibtorch(env, system, python);
      assert.equal(c.dir, want);
      assert.match(c.why, why);
    });
  }
});

describe('distributed collectives in the build (issue 16: on when gloo\'s headers match the libtorch)', () => {
  const pg = 'torch/csrc/distributed/c10d/ProcessGroupGloo.hpp';
  const has = (...paths: string[]) => (p: string): boolean => paths.includes(p);
  const debian = has('/usr/include/gloo/config.h', `/usr/include/${pg}`);
  test('Debian\'s libtorch with libgloo-dev: on, linked with -lgloo', () => {
    assert.deepEqual(cfg.distConfig(null, undefined, undefined, debian),
      { enabled: true, why: 'on (gloo headers in /usr/include/gloo)', flags: ['-DUSE_C10D_GLOO', '-DCONVLORA_DIST'], libs: ['-lgloo'] });
  });
  test('without libgloo-dev: off, saying which package to install; CONVLORA_DIST=1 makes it an error', () => {
    const c = cfg.distConfig(null, undefined, undefined, has(`/usr/include/${pg}`));
    assert.equal(c.enabled, false);
    assert.match(c.why, /no gloo headers in \/usr\/include\/gloo \(apt-get install -y libgloo-dev\)/);
    assert.throws(() => cfg.distConfig(null, '1', undefined, has(`/usr/include/${pg}`)), /CONVLORA_DIST=1 but no gloo headers/);
  });
  test('a PyTorch libtorch never borrows Debian\'s gloo headers, but takes CONVLORA_GLOO_INCLUDE', () => {
    const both = has('/usr/include/gloo/config.h', `/opt/t/include/${pg}`, '/src/gloo-inc/gloo/config.h');
    const c = cfg.distConfig('/opt/t', undefined, undefined, both);
    assert.equal(c.enabled, false);
    assert.match(c.why, /no gloo headers in \/opt\/t\/include\/gloo .*CONVLORA_GLOO_INCLUDE/);
    assert.deepEqual(cfg.distConfig('/opt/t', undefined, '/src/gloo-inc', both),
      { enabled: true, why: 'on (gloo headers in /src/gloo-inc/gloo)', flags: ['-DUSE_C10D_GLOO', '-DCONVLORA_DIST', '-I/src/gloo-inc'], libs: [] });
  });
  test('CONVLORA_DIST=0 turns it off; another value is refused', () => {
    assert.equal(cfg.distConfig(null, '0', undefined, debian).enabled, false);
    assert.throws(() => cfg.distConfig(null, 'yes', undefined, debian), /CONVLORA_DIST must be 0 or 1, not "yes"/);
  });
});
