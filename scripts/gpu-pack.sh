#!/usr/bin/env bash
# Packs what a GPU machine (the device tool's, which has PyTorch but no Node) needs to build and run
# convlora: this machine's node binary (xz), the four Node-API headers, the runtime node_modules, and
# the compiled dist/. Carry `.gpu` and `dist`, then run scripts/gpu-check.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
rm -rf .gpu
mkdir -p .gpu/node-include .gpu/node_modules
node_bin=$(readlink -f "$(command -v node)")
xz -T2 -6 -c "$node_bin" > .gpu/node.xz
inc=$(dirname "$node_bin")/../include/node
[ -f "$inc/node_api.h" ] || inc=/usr/include/node
cp "$inc"/js_native_api.h "$inc"/js_native_api_types.h "$inc"/node_api.h "$inc"/node_api_types.h .gpu/node-include/
cp -r node_modules/yaml node_modules/node-addon-api .gpu/node_modules/
echo "gpu-pack: $(du -sh .gpu | cut -f1) in .gpu, $(du -sh dist | cut -f1) in dist (the device tool carries at most 64 MiB)" >&2
