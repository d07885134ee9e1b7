#!/usr/bin/env bash
# tools/gpu-bench/build.sh (`npm run gpu-bench:build`): fills the ignored folder .gpubench/ with
# what the NVIDIA machine lacks (it has Python + PyTorch but no Node), for run.sh to use there:
#   bench.mjs        the benchmark bundled into one Node ESM file, shaders inlined
#                    (tools/gpu-bench/vite.config.ts)
#   dawn.node.xz     node_modules/webgpu/dist/linux-x64/dawn.node, xz-compressed
#   node.xz          this machine's `node` binary (x86-64, glibc-linked official build), xz -9
#   node.version     its version
#   debs/*.deb       Debian's Vulkan loader (libvulkan1) and libglvnd0 (libGLdispatch, which
#                    NVIDIA's Vulkan driver library links), amd64, for machines without them
# then checks the folder stays well under the 64 MiB that may travel (tree included).
# The compressed files are rebuilt only when their source is newer. Run it in the checkout the
# device tool sends (the session's repo root), then call run with carry [".gpubench"]
# (tools/gpu-bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=.gpubench
mkdir -p "$OUT/debs"

if [ "$(uname -m)" != x86_64 ]; then
  echo "gpu-bench build: this machine is $(uname -m); the NVIDIA machine is x86-64 and needs an x86-64 node and dawn.node" >&2
  exit 1
fi

echo "gpu-bench build: bundling tools/gpu-bench/bench.ts -> $OUT/bench.mjs"
npx vite build -c tools/gpu-bench/vite.config.ts

# newer SRC DST: whether DST is missing or older than SRC
newer() { [ ! -f "$2" ] || [ "$1" -nt "$2" ]; }
# xz LEVEL SRC DST: compress SRC into DST (atomically)
pack() { xz -T2 "-$1" -c "$2" >"$3.tmp" && mv "$3.tmp" "$3"; }

DAWN=node_modules/webgpu/dist/linux-x64/dawn.node
[ -f "$DAWN" ] || { echo "gpu-bench build: $DAWN is missing (run npm ci)" >&2; exit 1; }
if newer "$DAWN" "$OUT/dawn.node.xz"; then
  echo "gpu-bench build: compressing $DAWN"
  pack 6 "$DAWN" "$OUT/dawn.node.xz"
fi

NODE=$(readlink -f "$(command -v node)")
if [ "$(node -p process.arch)" != x64 ] || [ "$(node -p 'process.versions.node.split(".")[0] >= 20')" != true ]; then
  echo "gpu-bench build: $NODE is not an x86-64 Node >= 20" >&2
  exit 1
fi
if ldd "$NODE" | grep -q 'libnode\|libuv\|libicu'; then
  echo "gpu-bench build: $NODE links shared Node libraries ($(ldd "$NODE" | grep -o 'lib\(node\|uv\|icu\)[^ ]*' | tr '\n' ' ')); it would not start there. Use an official Node build (nodejs.org or NodeSource)" >&2
  exit 1
fi
if newer "$NODE" "$OUT/node.xz"; then
  echo "gpu-bench build: compressing $NODE ($(node --version), a minute or two)"
  pack 9 "$NODE" "$OUT/node.xz"
fi
node --version >"$OUT/node.version"

if ! ls "$OUT"/debs/libvulkan1_*_amd64.deb "$OUT"/debs/libglvnd0_*_amd64.deb >/dev/null 2>&1; then
  echo "gpu-bench build: downloading libvulkan1 and libglvnd0 (amd64) into $OUT/debs"
  if [ "$(dpkg --print-architecture)" = amd64 ]; then
    (cd "$OUT/debs" && apt-get download libvulkan1 libglvnd0)
  else
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    mkdir -p /tmp/amd64/partial
    # shellcheck disable=SC2086
    apt-get $o update -qq && (cd "$OUT/debs" && apt-get $o download libvulkan1 libglvnd0)
  fi
fi

bytes=$(du -cb "$OUT" | tail -1 | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
mib() { echo "$(( ($1 + 1048575) / 1048576 )) MiB"; }
echo "gpu-bench build: $OUT is $(mib "$bytes") (+ the tree, $(mib "$tree")); the limit for what travels is 64 MiB"
ls -l "$OUT" "$OUT/debs"
if [ $((bytes + tree)) -gt $((60 * 1048576)) ]; then
  echo "gpu-bench build: too large to travel with room to spare (over 60 MiB)" >&2
  exit 1
fi
