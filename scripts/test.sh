#!/usr/bin/env bash
# The README's test command: set up (idempotent), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser app's test drives Debian's chromium headless (no browser download).
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" != "0" ]; then
    echo "test: chromium is missing (apt-get install -y chromium); the browser test will be skipped" >&2
  else
    echo "test: installing Debian's chromium for the browser app's test" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
fi
bash scripts/setup.sh
# The package install test installs the packed package offline: its runtime dependencies must be in npm's cache.
node scripts/cache-deps.mjs
# A hung test (a child process left alive, say) fails after 20 minutes instead of holding CI to its limit.
# Only the *.test.js files: given the folder, node --test also loads every helper module and counts each as
# a passing test that asserts nothing (12 of them).
mapfile -t tests < <(find dist/test -name '*.test.js' | sort)
exec node --test --test-concurrency=1 --test-timeout=1200000 --test-force-exit "${tests[@]}"
