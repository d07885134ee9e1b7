#!/usr/bin/env python3
"""PyTorch side of tools/gpu-bench: the same work as the Node side, on the same GPU, in the same run.

    python3 tools/gpu-bench/torch_bench.py --plan plan.json --out torch.json [--budget 110] [--device auto|cuda|cpu]

The plan is the JSON that `bench.mjs plan` prints (tools/gpu-bench/plan.ts): GEMM shapes, the model config.json
(read here from the file it names, relative to the repo root), the forward batch and the LoRA training settings;
both sides read it, so they time the same things.

  gemm     torch.matmul(op(A), op(B), out=C) at every shape of the plan (A stored [K, M] when transA, B stored
           [N, K] when transB: transposed views, as cuBLAS gets them from nn.Linear's backward), in fp32 with TF32
           off (torch.backends.cuda.matmul.allow_tf32 = False, cudnn too, float32 matmul precision "highest"),
           fp16 and bf16; inputs uniform in [-1, 1). Per dtype: one warm-up, then 5 samples of `calls` products
           (enough for ~25 ms) between CUDA events; the median ms per product.
  forward  the model (HF transformers DINOv3ViTModel built from the plan's config.json with random weights, or
           tools/torch_ref/dino.py where transformers lacks that class) in eval mode under torch.no_grad, at the
           plan's forward batch, pixels uniform in [-2, 2): eager fp32 (TF32 off) and AMP fp16 (autocast);
           images/s from the median of CUDA-event-timed forwards.
  train    one optimizer step on `pairs` (query, positive) pairs: LoRA (peft, or tools/torch_ref/lora.py without
           it) of the plan's rank / alpha / dropout on q_proj and v_proj, base frozen, model.train(); embeddings =
           L2-normalized pooler_output; InfoNCE (labels None, the plan's temperature) ; backward;
           clip_grad_norm_; torch.optim.AdamW(lr, weight_decay). Three ways: eager fp32 (whole batch), eager fp32
           with the gradient cache (ours: embed all without grad in chunks, loss, then re-forward and backward each
           chunk), AMP fp16 (autocast + GradScaler, whole batch). images/s counts 2 * pairs images per step, as
           bench/model/train.bench.ts does; one warm-up step, then up to 5 steps, each timed with synchronize.

Time: --budget seconds in all, split 35% / 20% / 45% between the sections (a section ends early and the next one
gets the rest); no measurement starts past its section's share. The JSON is rewritten after every measurement, so
a kill at the hard limit (run.sh) keeps what was measured. A measurement that fails is recorded as {"error": ...},
one left out for time or hardware as {"skipped": ...}. Exits 0 when it ran (whatever failed inside), 2 without torch.
Without CUDA (here: Debian's torch 1.13 CPU) everything runs on the CPU; fp16 products and AMP fp16 are skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools", "torch_ref"))

SAMPLES = 5
TARGET_MS = 25.0
MAX_STEPS = 5


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


class Bench:
    def __init__(self, args, plan):
        self.args = args
        self.plan = plan
        self.res = {"torch": None, "device": None, "device_type": None, "gemm": {}, "forward": {}, "train": {},
                    "errors": [], "complete": False}
        self.t0 = time.monotonic()

    def save(self):
        tmp = self.args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.res, f, indent=1)
        os.replace(tmp, self.args.out)

    def deadline(self, share_end):
        return self.t0 + share_end * self.args.budget

    def log(self, line):
        print(line, file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget", type=float, default=110.0)
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    args = ap.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    b = Bench(args, plan)
    try:
        import torch
    except ImportError as e:
        b.res["errors"].append(f"no torch in {sys.executable}: {e}")
        b.save()
        b.log(b.res["errors"][-1])
        return 2
    cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not cuda:
        b.res["errors"].append("--device cuda, but torch.cuda.is_available() is False")
        b.save()
        return 2
    dev = torch.device("cuda" if cuda else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    b.res.update(
        torch=torch.__version__,
        device=torch.cuda.get_device_name(0) if cuda else "cpu",
        device_type=dev.type,
        cuda=torch.version.cuda,
        python=sys.version.split()[0],
        settings={
            "fp32": "TF32 off (matmul and cudnn), float32 matmul precision highest",
            "fp16_reduced_precision_reduction": torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction,
            "threads": torch.get_num_threads(),
        },
    )
    b.save()
    for name, share_end, fn in (("gemm", 0.35, run_gemm), ("forward", 0.55, run_forward), ("train", 1.0, run_train)):
        try:
            fn(b, torch, dev, b.deadline(share_end))
        except Exception as e:  # noqa: BLE001 - recorded, the other sections still run
            b.res["errors"].append(f"{name}: {type(e).__name__}: {e}")
            b.log(f"[torch {name}] {type(e).__name__}: {e}")
        if cuda:
            torch.cuda.empty_cache()
        b.save()
    b.res["complete"] = True
    b.res["seconds"] = time.monotonic() - b.t0
    b.save()
    return 0


def timer(torch, dev):
    """(start, stop) -> ms between them, with CUDA events on a GPU, perf_counter on the CPU."""
    if dev.type == "cuda":
        def start():
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e

        def stop(s):
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            e.synchronize()
            return s.elapsed_time(e)
        return start, stop

    def start_cpu():
        return time.perf_counter()

    def stop_cpu(s):
        return (time.perf_counter() - s) * 1000.0
    return start_cpu, stop_cpu


def repeat(torch, dev, fn):
    """Warm-up, then SAMPLES samples of `calls` calls; -> (median ms per call, calls, samples)."""
    start, stop = timer(torch, dev)
    fn()
    s = start()
    fn()
    one = stop(s)
    calls = max(1, min(100, math.ceil(TARGET_MS / max(one, 1e-3))))
    per = []
    for _ in range(SAMPLES):
        s = start()
        for _ in range(calls):
            fn()
        per.append(stop(s) / calls)
    return median(per), calls, per


def run_gemm(b, torch, dev, deadline):
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    g = torch.Generator(device=dev).manual_seed(0)
    for sh in b.plan["gemm"]:
        row = b.res["gemm"].setdefault(sh["id"], {})
        M, N, K = sh["M"], sh["N"], sh["K"]
        a32 = torch.rand((K, M) if sh["transA"] else (M, K), generator=g, device=dev) * 2 - 1
        b32 = torch.rand((N, K) if sh["transB"] else (K, N), generator=g, device=dev) * 2 - 1
        for name, dt in dtypes.items():
            if time.monotonic() > deadline:
                row[name] = {"skipped": "time budget spent"}
                continue
            if dev.type == "cpu" and dt == torch.float16:
                row[name] = {"skipped": "fp16 products need CUDA"}
                continue
            try:
                A = a32.to(dt)
                B = b32.to(dt)
                opA = A.t() if sh["transA"] else A
                opB = B.t() if sh["transB"] else B
                C = torch.empty((M, N), dtype=dt, device=dev)
                ms, calls, per = repeat(torch, dev, lambda: torch.matmul(opA, opB, out=C))
                row[name] = {"ms": ms, "tflops": sh["flops"] / (ms / 1000.0) / 1e12, "calls": calls, "samples": per}
                del A, B, C, opA, opB
            except Exception as e:  # noqa: BLE001
                row[name] = {"error": f"{type(e).__name__}: {e}"}
            b.log(f"[torch gemm] {sh['id']} {M}x{N}x{K} {name}: "
                  + (f"{row[name]['tflops']:.3g} TFLOP/s" if "ms" in row[name] else str(row[name])))
        del a32, b32
        b.save()


def build_model(b, torch, dev):
    """The plan's config.json as HF DINOv3ViTModel (random weights), else tools/torch_ref/dino.py.
    -> (model, embed(model, pixels) -> L2-normalized pooler_output)."""
    import torch.nn.functional as F
    # The config.json file itself (not its copy in the plan, where JSON from JavaScript has turned
    # 100.0 into 100: transformers' strict config classes check types).
    with open(os.path.join(REPO, b.plan["configFile"])) as f:
        config = json.load(f)
    cfg = {k: v for k, v in config.items() if k not in ("model_type", "architectures")}
    torch.manual_seed(0)
    try:
        import transformers
        from transformers import DINOv3ViTConfig, DINOv3ViTModel
    except ImportError as e:
        import dino
        model = dino.build_model(dino.Config(config))
        model.rope_embeddings.augment = "off"
        b.res["model_impl"] = f"tools/torch_ref/dino.py (transformers: {e})"
        return model.to(dev).float(), dino.embed
    model = DINOv3ViTModel(DINOv3ViTConfig(**cfg))
    attn = getattr(model.config, "_attn_implementation", None)
    b.res["model_impl"] = f"transformers {transformers.__version__} DINOv3ViTModel (attention: {attn})"

    def embed(m, x):
        return F.normalize(m(pixel_values=x).pooler_output, dim=-1)
    return model.to(dev).float(), embed


def pixels(torch, dev, n, size, seed):
    g = torch.Generator(device=dev).manual_seed(seed)
    return torch.rand((n, 3, size, size), generator=g, device=dev) * 4 - 2


def run_forward(b, torch, dev, deadline):
    model, embed = build_model(b, torch, dev)
    model.eval()
    batch, size = b.plan["forward"]["batch"], b.plan["image"]
    x = pixels(torch, dev, batch, size, 1)
    for name, amp in (("fp32", False), ("amp_fp16", True)):
        if time.monotonic() > deadline:
            b.res["forward"][name] = {"skipped": "time budget spent"}
            continue
        if amp and dev.type != "cuda":
            b.res["forward"][name] = {"skipped": "AMP fp16 needs CUDA"}
            continue
        try:
            with torch.no_grad(), autocast(torch, dev, amp):
                ms, calls, per = repeat(torch, dev, lambda: embed(model, x))
            b.res["forward"][name] = {"ms": ms, "images_per_s": batch / (ms / 1000.0), "calls": calls, "iters_ms": per}
        except Exception as e:  # noqa: BLE001
            b.res["forward"][name] = {"error": f"{type(e).__name__}: {e}"}
        b.log(f"[torch forward] batch {batch} {name}: {b.res['forward'][name]}")
        b.save()
    del model, x


def run_train(b, torch, dev, deadline):
    import losses
    t = b.plan["train"]
    pairs, size, chunk = t["pairs"], b.plan["image"], t["chunk"]
    query = pixels(torch, dev, pairs, size, 2)
    positive = pixels(torch, dev, pairs, size, 3)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for name, amp, gradcache in (("fp32", False, False), ("fp32_gradcache", False, True), ("amp_fp16", True, False)):
        if time.monotonic() > deadline:
            b.res["train"][name] = {"skipped": "time budget spent"}
            continue
        if amp and dev.type != "cuda":
            b.res["train"][name] = {"skipped": "AMP fp16 needs CUDA"}
            continue
        model = None
        try:
            model, embed = build_model(b, torch, dev)
            model, params = add_lora(b, torch, model, t)
            model.train()
            opt = torch.optim.AdamW(params, lr=t["lr"], weight_decay=t["weightDecay"])
            scaler = grad_scaler(torch) if amp else None

            def loss_of(q, p):
                return losses.infonce(q.float(), p.float(), None, tau=t["temperature"])

            def step():
                opt.zero_grad(set_to_none=True)
                if gradcache:
                    with torch.no_grad():
                        Q = torch.cat([embed(model, query[s:s + chunk]) for s in range(0, pairs, chunk)])
                        P = torch.cat([embed(model, positive[s:s + chunk]) for s in range(0, pairs, chunk)])
                    Q.requires_grad_(True)
                    P.requires_grad_(True)
                    loss = loss_of(Q, P)
                    loss.backward()
                    for side, grad in ((query, Q.grad), (positive, P.grad)):
                        for s in range(0, pairs, chunk):
                            embed(model, side[s:s + chunk]).backward(grad[s:s + chunk])
                else:
                    with autocast(torch, dev, amp):
                        loss = loss_of(embed(model, query), embed(model, positive))
                    (scaler.scale(loss) if scaler else loss).backward()
                if scaler:
                    scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, t["maxGradNorm"])
                if scaler:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                return loss

            sync()
            t0 = time.perf_counter()
            loss = float(step())
            sync()
            warm = (time.perf_counter() - t0) * 1000.0
            if not (math.isfinite(loss) and loss > 0):
                raise RuntimeError(f"loss {loss} (want a finite positive value)")
            iters, last = [], warm
            while len(iters) < MAX_STEPS and time.monotonic() + last / 1000.0 <= deadline:
                sync()
                t0 = time.perf_counter()
                step()
                sync()
                last = (time.perf_counter() - t0) * 1000.0
                iters.append(last)
            if not iters:
                b.res["train"][name] = {"skipped": f"time budget: only the warm-up step ran ({warm:.0f} ms)"}
            else:
                ms = median(iters)
                b.res["train"][name] = {"ms": ms, "images_per_s": 2 * pairs / (ms / 1000.0), "iters_ms": iters,
                                        "warmup_ms": warm, "loss": loss}
        except Exception as e:  # noqa: BLE001
            b.res["train"][name] = {"error": f"{type(e).__name__}: {e}"}
        b.log(f"[torch train] {pairs} pairs {name}: {b.res['train'][name]}")
        del model
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        b.save()


def autocast(torch, dev, amp):
    """AMP fp16 (autocast) when `amp`, else nothing (CPU autocast refuses fp16 even when disabled)."""
    return torch.autocast(device_type=dev.type, dtype=torch.float16) if amp else contextlib.nullcontext()


def grad_scaler(torch):
    """torch.amp.GradScaler("cuda") (torch >= 2.3), else torch.cuda.amp.GradScaler."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


def add_lora(b, torch, model, t):
    """LoRA on the plan's modules with peft (PEFT semantics), or tools/torch_ref/lora.py without peft.
    -> (model, trainable params)."""
    lo = t["lora"]
    try:
        import peft
    except ImportError as e:
        import lora
        lora.inject_lora(model, lo["modules"], r=lo["r"], alpha=lo["alpha"], dropout=lo["dropout"])
        b.res["lora_impl"] = f"tools/torch_ref/lora.py (peft: {e})"
    else:
        cfg = peft.LoraConfig(r=lo["r"], lora_alpha=lo["alpha"], lora_dropout=lo["dropout"], target_modules=lo["modules"])
        model = peft.get_peft_model(model, cfg)
        b.res["lora_impl"] = f"peft {peft.__version__}"
    params = [p for p in model.parameters() if p.requires_grad]
    b.res["lora_trainable"] = sum(p.numel() for p in params)
    return model, params


if __name__ == "__main__":
    sys.exit(main())
