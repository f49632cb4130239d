#!/usr/bin/env bash
# The README's test command: set up (idempotent), then run the tests.
#   bash scripts/test.sh        the unit tests, then the end-to-end tests (.ci/run runs this)
#   bash scripts/test.sh unit   unit and in-process tests only (npm test)
#   bash scripts/test.sh e2e    tests that start processes, a browser, npm pack + install or several ranks
#                               (npm run test:e2e)
# Which file is which, and the rule that decides it: scripts/test-files.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-all}
case "$suite" in
  unit|e2e|all) ;;
  *) echo "usage: bash scripts/test.sh [unit|e2e|all] (received '$suite')" >&2; exit 2 ;;
esac
# Debian packages only the end-to-end tests use: chromium, which the browser app's test drives headless (no
# browser download), and python3-nibabel, the independent NIfTI reader of the interop suite
# (test/data/nifti/interop.test.ts).
if [ "$suite" != unit ]; then
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
fi
bash scripts/setup.sh
# The package install test installs the packed package offline: its runtime dependencies must be in npm's cache.
if [ "$suite" != unit ]; then node scripts/cache-deps.mjs; fi
# No tensor finalizer: a tensor dropped without dispose() stays live, so every liveTensors() check
# catches a leak every time instead of when a garbage collection happens to run first (issue 25).
export CONVLORA_FINALIZER=off
# Only the *.test.js files: given the folder, node --test also loads every helper module and counts each as
# a passing test that asserts nothing (12 of them). test-files.mjs fails if the two lists miss a file.
# A hung test (a child process left alive, say) fails after 20 minutes instead of holding CI to its limit.
run() {
  local tests
  mapfile -t tests < <(node scripts/test-files.mjs "$1")
  [ ${#tests[@]} -gt 0 ] || { echo "test: no $1 test files (see scripts/test-files.mjs)" >&2; return 1; }
  echo "test: ${#tests[@]} $1 test files" >&2
  node --test --test-concurrency=1 --test-timeout=1200000 --test-force-exit "${tests[@]}"
}
if [ "$suite" != all ]; then
  run "$suite"
  exit
fi
# Both suites run even when the first fails, so that one CI run reports every failure.
status=0
run unit || status=$?
run e2e || status=$?
exit "$status"
