// Pure parts of the native build's configuration, kept apart from build-native.mjs so tests can import them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** libtorch's version from the headers under `inc` as [major, minor], or null when no version header is found. */
export function torchVersion(inc) {
  // 2.x puts it in torch/headeronly/version.h (newer) or the C++ API's version.h (1.x and older 2.x).
  for (const f of ['torch/headeronly/version.h', 'torch/csrc/api/include/torch/version.h']) {
    const path = join(inc, f);
    if (!existsSync(path)) continue;
    const text = readFileSync(path, 'utf8');
    const major = /#define TORCH_VERSION_MAJOR (\d+)/.exec(text), minor = /#define TORCH_VERSION_MINOR (\d+)/.exec(text);
    if (major && minor) return [Number(major[1]), Number(minor[1])];
  }
  return null;
}

/**
 * The C++ standard to compile with: `forced` (CONVLORA_CXX_STD) when set, else C++20 for libtorch 2.13 and
 * later (2.14's headers use `requires` clauses; 2.13's warn about C++20 extensions under C++17), else C++17.
 */
export function cxxStandard(version, forced) {
  if (forced !== undefined && forced !== '') {
    if (!/^(c|gnu)\+\+(17|20|23)$/.test(forced)) throw new Error(`CONVLORA_CXX_STD must be c++17, c++20 or c++23 (or gnu++17/20/23), not "${forced}"`);
    return forced;
  }
  return version !== null && (version[0] > 2 || (version[0] === 2 && version[1] >= 13)) ? 'c++20' : 'c++17';
}

/**
 * Which libtorch to build against. `libtorchEnv` is LIBTORCH: a folder is used as given; "system" or ""
 * means Debian's; unset means the newest of Debian's (`systemVersion`, null when libtorch-dev is missing)
 * and the PyTorch of the user's Python (`python`: { dir: torch's package folder, version: [major, minor] }
 * or null). A Python torch wins only when it is newer (a tie keeps Debian's, which CI tests). Returns
 * { dir: null for Debian's, else the folder; why: one line for the build log }.
 */
export function chooseLibtorch(libtorchEnv, systemVersion, python) {
  const v = (x) => (x === null ? 'version unknown' : x.join('.'));
  if (libtorchEnv !== undefined && libtorchEnv !== '' && libtorchEnv !== 'system') return { dir: libtorchEnv, why: `LIBTORCH=${libtorchEnv}` };
  if (libtorchEnv !== undefined) return { dir: null, why: `LIBTORCH=${libtorchEnv === '' ? '""' : libtorchEnv}: Debian's libtorch-dev ${v(systemVersion)}` };
  const newer = (a, b) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
  if (python !== null && existsSync(join(python.dir, 'include', 'ATen', 'ATen.h')) && (systemVersion === null || newer(python.version, systemVersion))) {
    return { dir: python.dir, why: `the PyTorch ${v(python.version)} of ${python.exe} (newer than Debian's ${v(systemVersion)}; LIBTORCH=system keeps Debian's)` };
  }
  const pyNote = python === null ? 'no PyTorch found for python3' : `${python.exe}'s PyTorch ${v(python.version)} is not newer`;
  return { dir: null, why: `Debian's libtorch-dev ${v(systemVersion)} (${pyNote}; set LIBTORCH to choose another)` };
}

/**
 * Whether to compile the distributed collectives (native/dist.cc) and how. They need gloo's headers
 * matching the gloo inside libtorch: for Debian's libtorch (`libtorchDir` null) those of libgloo-dev in
 * `/usr/include/gloo` (linked with -lgloo); for another libtorch its own `include/gloo` (PyTorch's
 * wheels ship none, and Debian's 2022 gloo headers do not describe the gloo built into them), or the
 * folder in CONVLORA_GLOO_INCLUDE. `mode` is CONVLORA_DIST: '0' never, '1' required (an error when
 * the headers are missing), unset or '' when found. `exists` is injected for tests. Returns
 * { enabled, why, flags: extra compiler flags, libs: extra linker flags }.
 */
export function distConfig(libtorchDir, mode, glooInclude, exists = existsSync) {
  if (mode !== undefined && mode !== '' && mode !== '0' && mode !== '1') throw new Error(`CONVLORA_DIST must be 0 or 1, not "${mode}"`);
  const off = (why) => ({ enabled: false, why, flags: [], libs: [] });
  if (mode === '0') return off('off (CONVLORA_DIST=0)');
  const system = libtorchDir === null;
  const inc = glooInclude !== undefined && glooInclude !== '' ? glooInclude : system ? '/usr/include' : join(libtorchDir, 'include');
  const pgHeader = join(system ? '/usr/include' : join(libtorchDir, 'include'), 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp');
  const missing = !exists(join(inc, 'gloo', 'config.h')) ? `no gloo headers in ${join(inc, 'gloo')}${system ? ' (apt-get install -y libgloo-dev)' : ' (set CONVLORA_GLOO_INCLUDE to the gloo headers this libtorch was built with)'}`
    : !exists(pgHeader) ? `no ${pgHeader}` : null;
  if (missing !== null) {
    if (mode === '1') throw new Error(`CONVLORA_DIST=1 but ${missing}`);
    return off(`off: ${missing}`);
  }
  const flags = ['-DUSE_C10D_GLOO', '-DCONVLORA_DIST', ...(inc === '/usr/include' ? [] : [`-I${inc}`])];
  return { enabled: true, why: `on (gloo headers in ${join(inc, 'gloo')})`, flags, libs: system ? ['-lgloo'] : [] };
}
