#!/usr/bin/env bash
# tools/gpu-bench/run.sh: the whole GPU benchmark in one call, on the NVIDIA machine (x86-64, root,
# Python + PyTorch, no Node, no network), from the repo root with .gpubench/ carried
# (`npm run gpu-bench:build` made it; tools/gpu-bench/README.md has the exact device `run` call):
#
#   bash tools/gpu-bench/run.sh            ViT-B/16 sizes; ours only on an NVIDIA adapter
#   bash tools/gpu-bench/run.sh --tiny     (or GPUBENCH_TINY=1) tiny sizes, any adapter
#                                          (SwiftShader here), PyTorch on the CPU without CUDA
#
# Steps, each with its own hard time limit (soft budgets inside are smaller), so one slow part
# cannot eat the rest; worst case about 7.5 minutes, typically less:
#   1. unpack node, dawn.node and the bundle into /tmp/gpubench; the Vulkan loader .debs only when
#      the machine has no libvulkan.so.1 / libGLdispatch.so.0; VK_DRIVER_FILES when NVIDIA's ICD
#      file is only under /usr/local/nvidia
#   2. plan (plan.json, read by both sides)                                      -
#   3. adapter: what Dawn reports; ours is measured only on an NVIDIA GPU        30 s
#   4. ours: GEMM variants + autotune                                            110 s (soft 90)
#            ViT forward                                                         50 s (soft 35)
#            LoRA training step                                                  140 s (soft 100)
#   5. PyTorch: GEMM, forward, training step (torch_bench.py)                    110 s (budget 95)
#   6. report: results.json + results.md, the table printed last
# Everything printed also goes to $OUT/run.log; $OUT gets results.json, results.md, adapter.json
# and run.log (4 files). $OUT defaults to /tmp/gpubench-out where the device tool sets none.
set -uo pipefail
cd "$(dirname "$0")/../.."

TINY=${GPUBENCH_TINY:-0}
[ "${1:-}" = --tiny ] && TINY=1
OUT=${OUT:-/tmp/gpubench-out}
WORK=/tmp/gpubench
# The Python with torch: $GPUBENCH_PYTHON, else python3 (the NVIDIA machine's), else Debian's.
PY=${GPUBENCH_PYTHON:-}
if [ -z "$PY" ]; then
  PY=python3
  for p in python3 /usr/bin/python3; do
    if "$p" -c 'import torch' 2>/dev/null; then PY=$p; break; fi
  done
fi
mkdir -p "$OUT"

main() {
  local t0 flags rc ours=1
  t0=$(date +%s)
  flags=()
  [ "$TINY" = 1 ] && flags=(--tiny --allow-fallback)
  rm -rf "$WORK" && mkdir -p "$WORK/dist/linux-x64"
  note() { echo "$*" | tee -a "$WORK/notes.txt"; }

  echo "== gpu-bench $([ "$TINY" = 1 ] && echo tiny || echo full), $(date -u +%FT%TZ), $(uname -m), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,utilization.gpu --format=csv

  # 1. unpack
  for f in bench.mjs node.xz dawn.node.xz; do
    [ -f ".gpubench/$f" ] || { echo "missing .gpubench/$f: run \`npm run gpu-bench:build\` in the checkout and carry .gpubench"; return 1; }
  done
  unxz_to() { # SRC DST: xz, else Python's lzma (an image may lack xz-utils)
    if command -v xz >/dev/null; then xz -dc "$1" >"$2"
    else "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
  }
  unxz_to .gpubench/node.xz "$WORK/node" && chmod +x "$WORK/node"
  unxz_to .gpubench/dawn.node.xz "$WORK/dist/linux-x64/dawn.node"
  cp .gpubench/bench.mjs "$WORK/"
  local NODE="$WORK/node"
  if ! "$NODE" --version >/dev/null; then
    echo "the carried node ($(cat .gpubench/node.version 2>/dev/null)) does not start here:"; ldd "$NODE"; return 1
  fi
  # (grep on a saved copy: `ldconfig -p | grep -q` fails under pipefail when grep stops early)
  local libs
  libs=$(ldconfig -p)
  if ! grep -q 'libvulkan\.so\.1 ' <<<"$libs"; then
    for f in .gpubench/debs/libvulkan1_*.deb; do dpkg -x "$f" /; done
    ldconfig
    note "vulkan: no libvulkan.so.1 here; unpacked Debian's libvulkan1"
  fi
  if ! grep -q 'libGLdispatch\.so\.0 ' <<<"$libs"; then
    for f in .gpubench/debs/libglvnd0_*.deb; do dpkg -x "$f" /; done
    ldconfig
    note "vulkan: no libGLdispatch.so.0 here; unpacked Debian's libglvnd0"
  fi
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
    export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
    note "vulkan: VK_DRIVER_FILES=$icd"
  fi
  echo "vulkan: loader $(ldconfig -p | grep -o '/[^ ]*libvulkan\.so\.1$' | head -1); ICD files: $(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>/dev/null | grep json | tr '\n' ' ')"
  echo "node $("$NODE" --version), $(du -h "$WORK/dist/linux-x64/dawn.node" | cut -f1) dawn.node; unpacked in $(( $(date +%s) - t0 )) s"

  # 2. plan
  "$NODE" "$WORK/bench.mjs" plan "${flags[@]:0:1}" >"$WORK/plan.json" || { echo "plan failed"; return 1; }

  # 3. adapter
  echo "== adapter"
  timeout -k 5 30 "$NODE" "$WORK/bench.mjs" adapter "${flags[@]}" --dir "$WORK"
  rc=$?
  if [ $rc = 3 ]; then
    ours=0
    note "ours: NOT MEASURED: the adapter is not an NVIDIA GPU (see adapter.json); PyTorch still runs"
  elif [ $rc != 0 ]; then
    ours=0
    note "ours: NOT MEASURED: the adapter section exited $rc$([ $rc = 124 ] && echo ' (30 s limit)')"
    echo "== adapter again, with the Vulkan loader's errors (VK_LOADER_DEBUG=error,warn)"
    VK_LOADER_DEBUG=error,warn timeout -k 5 20 "$NODE" "$WORK/bench.mjs" adapter "${flags[@]}" --dir "$WORK/retry"
  fi

  # 4. ours
  section() { # name hard soft
    echo "== ours: $1 (limit $2 s)"
    timeout -k 5 "$2" "$NODE" "$WORK/bench.mjs" "$1" "${flags[@]}" --dir "$WORK" --budget "$3"
    local r=$?
    [ $r = 124 ] || [ $r = 137 ] && note "ours $1: killed at its ${2} s limit; rows measured before are kept"
    [ $r != 0 ] && [ $r != 124 ] && [ $r != 137 ] && note "ours $1: exited $r (see run.log)"
    return 0
  }
  if [ $ours = 1 ]; then
    section gemm 110 90
    section forward 50 35
    section train 140 100
  fi

  # 5. PyTorch
  echo "== PyTorch ($PY)"
  timeout -k 5 110 env PYTHONUNBUFFERED=1 "$PY" tools/gpu-bench/torch_bench.py --plan "$WORK/plan.json" --out "$WORK/torch.json" --budget 95
  rc=$?
  [ $rc != 0 ] && note "PyTorch: exited $rc$([ $rc = 124 ] && echo ' (110 s limit)'); rows measured before are kept"

  # 6. report
  echo "== report (all sections took $(( $(date +%s) - t0 )) s)"
  [ -f "$WORK/adapter.json" ] && cp "$WORK/adapter.json" "$OUT/"
  "$NODE" "$WORK/bench.mjs" report --dir "$WORK" --out "$OUT"
}

set -o pipefail
main 2>&1 | tee "$OUT/run.log"
