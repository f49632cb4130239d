#!/usr/bin/env bash
# The GPU check, one call of the device tool after scripts/gpu-pack.sh here (carry: .gpu, dist):
#   1. build the addon against the machine's PyTorch libtorch (python3's torch) and record what it built;
#   2. the CUDA tests: one training step on cuda vs cpu, and the U-Net + ESH + ConvLoRA parity with
#      PyTorch on cuda (eval and train mode, 1e-4);
#   3. bench/engine on cuda: our training step vs PyTorch's, batch 32 at 256 x 256, side by side;
#   4. only with GPU_RUN="<convlora command and flags>": that command on the GPU with --out and --device
#      added, under GPU_RUN_LIMIT seconds (default 450). `experiment ...` first gets 256^3 phantoms
#      (GPU_SIZE, GPU_VOLUMES) and --data. Sizing, estimated (not measured) from a 40 ms step at batch
#      32, 256 x 256 and ~6 s per 256^3 phantom per core: "demo --size 256 --filters 16 --source-epochs
#      20" about 7 minutes (phantoms ~1, source ~1.5, ESH ~1, adaptation ~3.5); the full Table 1
#      protocol (7 methods, 3 seeds, 100 source epochs) about 45 minutes, more than a lease holds.
#      Stages 1-3 take about 1.5 minutes, so stage 4 gets at most ~8 minutes of a 10-minute call.
# Everything it reports goes to $OUT (at most 8 files come back): log, convlora.json, engine-cuda.json,
# table.md, results.json, sds.svg.
# A local dry run without a GPU: GPU_CHECK_DEVICE=cpu LIBTORCH=<a libtorch dir> bash scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/convlora-gpu-check}
mkdir -p "$OUT"
exec > >(tee "$OUT/log") 2>&1
device=${GPU_CHECK_DEVICE:-cuda}
say() { echo "[gpu-check $(date +%T) +${SECONDS}s] $*"; }

if ! command -v node >/dev/null || [ -n "${GPU_CHECK_UNPACK_NODE:-}" ]; then
  mkdir -p /tmp/convlora-node/bin
  xz -dc .gpu/node.xz > /tmp/convlora-node/bin/node && chmod +x /tmp/convlora-node/bin/node || { say "no node: run scripts/gpu-pack.sh and carry .gpu"; exit 1; }
  export PATH=/tmp/convlora-node/bin:$PATH
fi
[ -e node_modules ] || ln -s .gpu/node_modules node_modules
[ -d dist ] || { say "no dist/: run scripts/gpu-pack.sh and carry dist"; exit 1; }
if [ -z "${LIBTORCH:-}" ]; then
  LIBTORCH=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))") || { say "python3 has no torch"; exit 1; }
fi
export LIBTORCH
say "node $(node --version); libtorch $LIBTORCH; device $device"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

say "1. build"
NODE_INCLUDE=$PWD/.gpu/node-include JOBS=${JOBS:-4} node scripts/build-native.mjs 2>&1 | grep -v -- "-Wc++20-extensions\|^ *[0-9]* |\|^ *|" | tail -5
cp build/Release/convlora.json "$OUT/" || { say "build failed"; exit 1; }
cat build/Release/convlora.json; echo

say "2. CUDA test"
node --test dist/test/engine/cuda.test.js dist/test/models/parity.test.js 2>&1 | grep -E "^# (tests|pass|fail|skipped)|^not ok|error|Error" | head -20

say "3. engine step vs PyTorch on $device"
CONVLORA_PYTHON=${CONVLORA_PYTHON:-python3} timeout 240 node dist/bench/engine.js --device "$device" --batch "${BENCH_BATCH:-32}" --size "${BENCH_SIZE:-256}" \
  --steps "${BENCH_STEPS:-20}" --warmup 5 --threads "$(nproc)" > "$OUT/engine-$device.json" || say "engine bench failed (exit $?)"
grep -E '"medianStepSeconds"|"stepTimeRatio"|"version"' "$OUT/engine-$device.json"

if [ -n "${GPU_RUN:-}" ]; then
  # shellcheck disable=SC2086
  set -- $GPU_RUN
  run_out=/tmp/convlora-gpu-run
  extra=()
  if [ "$1" = experiment ]; then
    data=/tmp/convlora-gpu-data
    say "4a. phantoms: ${GPU_VOLUMES:-20} volumes per scanner at ${GPU_SIZE:-256}^3"
    node dist/src/cli/main.js phantom --out "$data" --size "${GPU_SIZE:-256}" --volumes "${GPU_VOLUMES:-20}" --workers "$(nproc)" || exit 1
    extra=(--data "$data")
  fi
  say "4. convlora $GPU_RUN --device $device (limit ${GPU_RUN_LIMIT:-450} s)"
  timeout "${GPU_RUN_LIMIT:-450}" node dist/src/cli/main.js "$@" "${extra[@]}" --out "$run_out" --device "$device"
  say "exit $? after ${SECONDS}s"
  for f in table.md results.json sds.svg; do [ -f "$run_out/$f" ] && cp "$run_out/$f" "$OUT/"; done
fi
say "done"
