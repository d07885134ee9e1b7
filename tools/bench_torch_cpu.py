#!/usr/bin/env python3
"""PyTorch CPU reference timing for the model rows of `npm run bench` (bench/run.ts runs it).

Run with Debian's torch:   /usr/bin/python3 tools/bench_torch_cpu.py [--model s16|b16] [--batch 8]
                             [--size 224] [--threads 2] [--iters 3]
Times the forward (torch.no_grad, eval, float32) of the PyTorch reference tools/torch_ref/dino.py
with the same DINOv3 config and random weights as tools/export_onnx.py, on pixels
[batch, 3, size, size]: one warm-up, then `iters` timed forwards; reports the mean. Prints one JSON
object on stdout:
  {"model", "batch", "size", "threads", "iters", "ms" (mean per forward), "ms_min",
   "images_per_s", "torch"}
Exits 0 on success; when torch is missing, prints {"error": "..."} and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["s16", "b16"], default="s16")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args()
    try:
        import torch
        from export_onnx import random_model
    except ImportError as e:  # no torch in this Python
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        return 2

    torch.set_num_threads(args.threads)
    model = random_model(args.model)
    pixels = torch.randn(args.batch, 3, args.size, args.size)
    times = []
    with torch.no_grad():
        model(pixels)  # warm-up
        for _ in range(args.iters):
            t0 = time.perf_counter()
            model(pixels)
            times.append((time.perf_counter() - t0) * 1000.0)
    ms = sum(times) / len(times)
    print(json.dumps({
        "model": args.model, "batch": args.batch, "size": args.size, "threads": torch.get_num_threads(),
        "iters": args.iters, "ms": ms, "ms_min": min(times), "images_per_s": args.batch / (ms / 1000.0),
        "torch": torch.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
