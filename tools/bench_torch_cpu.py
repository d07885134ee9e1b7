#!/usr/bin/env python3
"""PyTorch CPU reference timing for the model rows of `npm run bench` (bench/run.ts runs it).

Run with Debian's torch:   /usr/bin/python3 tools/bench_torch_cpu.py [--model s16|b16] [--batch 8]
                             [--size 224] [--threads 2] [--iters 3] [--train [--lora-r 16]
                             [--lora-alpha 32] [--lora-dropout 0.05] [--lr 1e-4]
                             [--weight-decay 0.01] [--max-grad-norm 1.0] [--tau 0.05]]
Default (embed rows): times the forward (torch.no_grad, eval, float32) of the PyTorch reference tools/torch_ref/dino.py
with the same DINOv3 config and random weights as tools/export_onnx.py, on pixels
[batch, 3, size, size]: one warm-up, then `iters` timed forwards; reports the mean. Prints one JSON
object on stdout:
  {"model", "batch", "size", "threads", "iters", "ms" (mean per forward), "ms_min",
   "images_per_s", "torch", "blas"}
"blas" is the BLAS library the process loaded (from /proc/self/maps): Debian's torch calls the
system libblas.so.3, and with the netlib reference one (libblas3 alone) a step is ~5x slower
than with OpenBLAS (libopenblas0-pthread), so the row's note says which one it measured.
--train (the vit-s16.train-lora row, bench/model/train.bench.ts): times one LoRA training step on
`batch` (query, positive) pairs: the same model with LoRA (tools/torch_ref/lora.py, PEFT semantics:
base frozen, A Kaiming-uniform, B zero) of rank --lora-r, alpha --lora-alpha, dropout
--lora-dropout on q_proj and v_proj of every layer; model.train() with the RoPE coordinate
augmentation off (ours runs without it: scale 1); one step = zero_grad, forward of the `batch`
queries and of the `batch` positives (two forwards, as ours), InfoNCE with labels None
(tools/torch_ref/losses.py) on the L2-normalized pooler outputs, backward,
clip_grad_norm_(--max-grad-norm), torch.optim.AdamW(lr, weight_decay).step(). One warm-up step,
then `iters` timed steps. JSON as above plus "train": true, "pairs", "lora" and "loss" (last step);
"ms" is per step and "images_per_s" counts 2 * batch images per step.
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


def blas_library() -> str:
    """The BLAS this process has loaded (after a matmul), by its Debian folder: openblas-pthread, blas."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.split()[-1]}
    except OSError:
        return "unknown"
    # Debian keeps each BLAS in its own folder: openblas-pthread/, blis-openmp/, blas/ (netlib).
    names = sorted({os.path.basename(os.path.dirname(p)) for p in paths})
    return ", ".join(names) or "none loaded"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["s16", "b16"], default="s16")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--train", action="store_true", help="time a LoRA training step instead of a forward")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32.0)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--tau", type=float, default=0.05)
    args = ap.parse_args()
    try:
        import torch
        from export_onnx import random_model
    except ImportError as e:  # no torch in this Python
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        return 2

    torch.set_num_threads(args.threads)
    if args.train:
        return train(args, torch, random_model)
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
        "torch": torch.__version__, "blas": blas_library(),
    }))
    return 0


def train(args, torch, random_model) -> int:
    """--train: LoRA training steps (see the file comment)."""
    sys.path.insert(0, os.path.join(HERE, "torch_ref"))
    import dino
    import lora
    import losses

    model = random_model(args.model)
    torch.manual_seed(1)  # LoRA A draws (PEFT init)
    lora.inject_lora(model, ["q_proj", "v_proj"], r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout)
    model.train()
    model.rope_embeddings.augment = "off"
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    query = torch.rand(args.batch, 3, args.size, args.size) * 4 - 2
    positive = torch.rand(args.batch, 3, args.size, args.size) * 4 - 2

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        q = dino.embed(model, query)
        p = dino.embed(model, positive)
        loss = losses.infonce(q, p, None, tau=args.tau)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
        opt.step()
        return float(loss)

    step()  # warm-up
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        last = step()
        times.append((time.perf_counter() - t0) * 1000.0)
    ms = sum(times) / len(times)
    print(json.dumps({
        "model": args.model, "train": True, "batch": args.batch, "pairs": args.batch, "size": args.size,
        "threads": torch.get_num_threads(), "iters": args.iters, "ms": ms, "ms_min": min(times),
        "images_per_s": 2 * args.batch / (ms / 1000.0), "loss": last,
        "lora": {"r": args.lora_r, "alpha": args.lora_alpha, "dropout": args.lora_dropout,
                 "targets": ["q_proj", "v_proj"], "trainable": sum(p.numel() for p in params)},
        "torch": torch.__version__, "blas": blas_library(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
