#!/usr/bin/env bash
# Idempotent set-up on Debian 12 (as root): system packages, npm dependencies, native addon, TypeScript.
# Each step is skipped when already done, so running it again is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in libtorch-dev g++ make; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
# libgloo-dev: the headers of the Gloo library Debian's libtorch links, for the distributed collectives
# (native/dist.cc). Optional: without them the addon builds and those functions throw E_DIST_UNAVAILABLE,
# so a non-root run only warns about it.
optional=""
dpkg-query -W -f='${Status}' libgloo-dev 2>/dev/null | grep -q "install ok installed" || optional=libgloo-dev
if [ "$(id -u)" = "0" ] && [ -n "$optional" ]; then
  need_apt+=("$optional")
elif [ -n "$optional" ]; then
  echo "setup: libgloo-dev is missing, so the addon is built without distributed collectives (as root: apt-get install -y libgloo-dev, then rerun)" >&2
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "setup: missing Debian packages: ${need_apt[*]}; run as root or install them: apt-get install -y ${need_apt[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${need_apt[*]} (libtorch-dev is ~570 MiB with its dependencies)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v node >/dev/null; then
  echo "setup: Node.js >= 20 is required (apt-get install -y nodejs npm)" >&2
  exit 1
fi

# onnxruntime-node ships its CPU binaries in the npm package; its install script would fetch GPU ones.
export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

node scripts/build-native.mjs
npx tsc -p tsconfig.json
node scripts/build-app.mjs
