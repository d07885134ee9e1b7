"""DINOv3 train-time RoPE coordinate rescale fixture (docs/model.md#rope-rescale).

HF multiplies the patch-centre coordinates by one scalar s = exp(U(-ln R, ln R)) per forward in
training mode (R = pos_embed_rescale = 2). This writes, for fixed scales s, the embeddings
(L2-normalized pooler_output) of tests/fixtures/train/dinov3-tiny.safetensors' batch.query through
tests/fixtures/models/dinov3-tiny with the coordinates scaled by s, in float64:

    /usr/bin/python3 tools/gen_rope_rescale_fixture.py   ->  tests/fixtures/train/rope-rescale.safetensors
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "torch_ref"))
import dino  # noqa: E402
import safetensors_io as stio  # noqa: E402

ROOT = os.path.dirname(HERE)
SCALES = [0.5, 1.37, 2.0]


def main() -> None:
    torch.set_num_threads(1)
    model = dino.load_pretrained(os.path.join(ROOT, "tests/fixtures/models/dinov3-tiny"), dtype=torch.float64)
    batch, _ = stio.load_file(os.path.join(ROOT, "tests/fixtures/train/dinov3-tiny.safetensors"))
    px = torch.from_numpy(np.asarray(batch["batch.query"], dtype=np.float64))
    out = {}
    rope = model.rope_embeddings
    for i, s in enumerate(SCALES):
        rope.train()
        rope.augment = "hf"
        rope._sample_augmentation = lambda dtype, device, s=s: (torch.full((2,), s, dtype=dtype, device=device), None)
        with torch.no_grad():
            pooled = model(px)[1]
        out[f"s{i}.embedding"] = dino.l2_normalize(pooled).float().numpy()
        out[f"s{i}.scale"] = np.array([s], dtype=np.float32)
    stio.save_file(out, os.path.join(ROOT, "tests/fixtures/train/rope-rescale.safetensors"), metadata={"format": "pt", "generator": "tools/gen_rope_rescale_fixture.py"})


if __name__ == "__main__":
    main()
