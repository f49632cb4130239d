#!/usr/bin/env bash
# The README's test command: set up (idempotent), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages only the tests use: chromium, which the browser app's test drives headless (no browser
# download), and python3-nibabel, the independent NIfTI reader of the interop suite (test/data/nifti-interop.test.ts).
need=()
command -v chromium >/dev/null || need+=(chromium)
dpkg-query -W -f='${Status}' python3-nibabel 2>/dev/null | grep -q "install ok installed" || need+=(python3-nibabel)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "test: missing ${need[*]} (apt-get install -y ${need[*]}): without chromium the browser test is skipped, without python3-nibabel the NIfTI interop test fails" >&2
  else
    echo "test: installing Debian's ${need[*]} for the tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
bash scripts/setup.sh
# The package install test installs the packed package offline: its runtime dependencies must be in npm's cache.
node scripts/cache-deps.mjs
# A hung test (a child process left alive, say) fails after 20 minutes instead of holding CI to its limit.
# Only the *.test.js files: given the folder, node --test also loads every helper module and counts each as
# a passing test that asserts nothing (12 of them).
mapfile -t tests < <(find dist/test -name '*.test.js' | sort)
# No tensor finalizer: a tensor dropped without dispose() stays live, so every liveTensors() check
# catches a leak every time instead of when a garbage collection happens to run first (issue 25).
export CONVLORA_FINALIZER=off
exec node --test --test-concurrency=1 --test-timeout=1200000 --test-force-exit "${tests[@]}"
