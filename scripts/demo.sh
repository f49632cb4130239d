#!/usr/bin/env bash
# The README's main command: set up (idempotent), then run `convlora demo` (extra arguments pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/src/cli/main.js demo "$@"
