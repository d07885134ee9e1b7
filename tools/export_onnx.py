#!/usr/bin/env python3
"""Export DINOv3 ViT-S/16 (or ViT-B/16) with random weights to ONNX, for the onnxruntime-web peer
of `npm run bench` (bench/model/vit.bench.ts).

Run with Debian's torch:   /usr/bin/python3 tools/export_onnx.py [--model s16|b16] [--batch 8] [--size 224]
Writes bench/model/vit-<model>.onnx (default), ~86 MB for S/16, ~343 MB for B/16 (f32, not in git).

The model is the PyTorch reference tools/torch_ref/dino.py (ONNX-friendly: no Tile, explicit
matmul + softmax attention, plain tuple outputs) with the DINOv3 config of docs/model.md#dinov3-config (4 registers)
and seeded random weights of the real shapes: linear and patch weights ~N(0, 0.02), biases
~N(0, 0.01), LayerNorm weight 1 / bias 0, LayerScale 1, CLS / register tokens ~N(0, 1).
torch.onnx.export, opset 17 (LayerNormalization is a single op; exact GELU exports as Erf),
static shapes: input `pixel_values` [batch, 3, size, size] float32, outputs `last_hidden_state`
[batch, T, C] and `pooler_output` [batch, C]. RoPE tables are computed from the fixed input size
and become constants. The file is written under a temporary name and renamed when complete. There
is no onnxruntime for Python here to check it against torch; the bench page is what runs it.
bench/run.ts calls this script when the file is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "torch_ref"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import dino  # noqa: E402

REPO = os.path.dirname(HERE)

# docs/model.md#dinov3-config: facebook/dinov3-vits16-pretrain-lvd1689m / -vitb16-
CONFIGS = {
    "s16": dict(model_type="dinov3_vit", hidden_size=384, intermediate_size=1536, num_hidden_layers=12,
                num_attention_heads=6, patch_size=16, num_register_tokens=4, image_size=224),
    "b16": dict(model_type="dinov3_vit", hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                num_attention_heads=12, patch_size=16, num_register_tokens=4, image_size=224),
}


def random_model(name: str, seed: int = 0) -> nn.Module:
    """The reference model with seeded random weights of the real shapes, in eval mode."""
    torch.manual_seed(seed)
    model = dino.build_model(dino.Config(CONFIGS[name]))
    with torch.no_grad():
        for key, p in model.named_parameters():
            module = key.rsplit(".", 1)[0].rsplit(".", 1)[-1]  # layer.0.norm1.weight -> norm1
            if key.endswith("lambda1"):
                p.fill_(1.0)
            elif module.startswith("norm"):
                p.fill_(1.0 if key.endswith("weight") else 0.0)
            elif key.endswith("cls_token") or key.endswith("register_tokens") or key.endswith("mask_token"):
                p.normal_(0.0, 1.0)
            elif key.endswith("bias"):
                p.normal_(0.0, 0.01)
            else:
                p.normal_(0.0, 0.02)
    return model.eval()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(CONFIGS), default="s16")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--out", default=None, help="default: bench/model/vit-<model>.onnx")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    out = args.out or os.path.join(REPO, "bench", "model", f"vit-{args.model}.onnx")

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model = random_model(args.model)
    pixels = torch.randn(args.batch, 3, args.size, args.size)
    with torch.no_grad():
        hidden, pooled = model(pixels)
    t0 = time.time()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    torch.onnx.export(
        model,
        (pixels,),
        tmp,
        opset_version=args.opset,
        input_names=["pixel_values"],
        output_names=["last_hidden_state", "pooler_output"],
        do_constant_folding=True,
    )
    os.replace(tmp, out)  # never leave a half-written file under the final name
    size = os.path.getsize(out)
    print(f"wrote {os.path.relpath(out, REPO)}: {size / 2**20:.1f} MiB, opset {args.opset}, "
          f"pixel_values [{args.batch}, 3, {args.size}, {args.size}] -> last_hidden_state "
          f"{list(hidden.shape)}, pooler_output {list(pooled.shape)} ({time.time() - t0:.1f} s, "
          f"torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
