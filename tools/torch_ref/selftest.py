#!/usr/bin/env python3
"""Extra self-checks of the reference that do not belong in the fixture generator.

    /usr/bin/python3 tools/torch_ref/selftest.py

* autograd: float64 gradcheck through the whole model (DINOv3 incl. RoPE, DINOv2 incl. the bicubic
  position resize) w.r.t. a linear weight and the input pixels;
* train mode: DINOv3 RoPE coordinate augmentation is active in train() and off in eval();
* loading: wrapper prefixes are stripped, a missing mask_token is tolerated, BF16 files are upcast;
* ONNX: torch.onnx export (opset 17) of both models works and the graph has no Tile / Expand-of-repeat ops.
Reads the fixtures written by tools/gen_model_fixtures.py.
"""

from __future__ import annotations

import copy
import io
import re
import os
import sys
import tempfile

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import dino  # noqa: E402
import safetensors_io as stio  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
FIX = os.path.join(REPO, "tests", "fixtures", "models")
torch.set_num_threads(1)


def check_gradcheck():
    for folder, hw in (("dinov3-tiny", (16, 24)), ("dinov2-tiny", (14, 21))):
        m = dino.load_pretrained(os.path.join(FIX, folder)).double().eval()
        pix = torch.randn(1, 3, *hw, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
        layers = m.layer if hasattr(m, "layer") else m.encoder.layer
        lin = layers[0].attention.q_proj if hasattr(layers[0].attention, "q_proj") else \
            layers[0].attention.attention.query
        w0 = lin.weight.detach().clone()
        probe = torch.randn(2 * m.config.hidden_size, dtype=torch.float64,
                            generator=torch.Generator().manual_seed(6))

        from torch.nn.utils import stateless  # functional form: swap the weight in

        def g(w, x):
            out = stateless.functional_call(m, {f"{name_of(m, lin)}.weight": w}, (x,))
            hidden = out[0]
            return (dino.cls_mean_from_hidden(hidden, m.num_prefix_tokens) * probe).sum()

        w = w0.clone().requires_grad_(True)
        x = pix.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(g, (w, x), eps=1e-6, atol=1e-6, rtol=1e-4), folder
        print(f"gradcheck ok: {folder} (q weight + pixels)")


def name_of(model, module):
    for n, mm in model.named_modules():
        if mm is module:
            return n
    raise KeyError


def check_train_mode():
    m = dino.load_pretrained(os.path.join(FIX, "dinov3-tiny"))
    pix = torch.randn(1, 3, 32, 40)
    cos_e, _ = m.rope_embeddings(pix)
    m.train()
    torch.manual_seed(0)
    cos_t, _ = m.rope_embeddings(pix)
    assert not torch.allclose(cos_e, cos_t), "train mode should rescale RoPE coordinates"
    m.rope_embeddings.augment = "off"
    cos_o, _ = m.rope_embeddings(pix)
    assert torch.equal(cos_e, cos_o)
    m.eval()
    # backward through a train-mode forward reaches every parameter that influences the output
    m.train()
    m.rope_embeddings.augment = "hf"
    loss = dino.embed(m, pix).sum() + dino.concat_cls_mean(m, pix).sum()
    loss.backward()
    no_grad = [n for n, p in m.named_parameters() if p.grad is None and "mask_token" not in n]
    assert not no_grad, no_grad
    print("train mode ok (RoPE augmentation on in train, off in eval/when disabled; grads reach all params)")


def check_loading():
    src = os.path.join(FIX, "dinov2-tiny")
    ref = dino.load_pretrained(src)
    sd, _ = stio.load_file(os.path.join(src, "model.safetensors"))
    with tempfile.TemporaryDirectory() as d:
        pre = {"dinov2." + k: v for k, v in sd.items() if "mask_token" not in k}
        stio.save_file(pre, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(src, "config.json")) as f, open(os.path.join(d, "config.json"), "w") as g:
            g.write(f.read())
        m = dino.load_pretrained(d)
        for k, v in ref.state_dict().items():
            if "mask_token" not in k:
                assert torch.equal(v, m.state_dict()[k]), k
    b = dino.load_pretrained(os.path.join(FIX, "dinov3-tiny-bf16"))
    assert all(p.dtype == torch.float32 for p in b.parameters())
    # save_pretrained round trip
    with tempfile.TemporaryDirectory() as d:
        dino.save_pretrained(ref, d)
        m = dino.load_pretrained(d)
        assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), m.state_dict().values()))
    print("loading ok (prefix strip, missing mask_token, bf16 upcast, save/load round trip)")


def check_onnx():
    for folder, hw in (("dinov3-tiny", (40, 56)), ("dinov2-tiny", (28, 42))):
        m = dino.load_pretrained(os.path.join(FIX, folder)).eval()
        pix = torch.randn(2, 3, *hw)

        class Wrap(torch.nn.Module):
            def __init__(self, mm):
                super().__init__()
                self.m = mm

            def forward(self, x):
                hidden, pooled = self.m(x)
                return hidden, dino.l2_normalize(pooled)

        w = Wrap(m)
        txt = torch.onnx.export_to_pretty_string(w, (pix,), opset_version=17, do_constant_folding=True,
                                                 input_names=["pixel_values"],
                                                 output_names=["last_hidden_state", "embedding"])
        ops = sorted(set(re.findall(r'Node \{type: "(\w+)"', txt)))
        assert ops, "could not parse the exported graph"
        assert "Tile" not in ops, ops
        # also the export to bytes works
        buf = io.BytesIO()
        torch.onnx.export(w, (pix,), buf, opset_version=17, input_names=["pixel_values"],
                          output_names=["last_hidden_state", "embedding"])
        print(f"onnx ok: {folder} ({len(buf.getvalue())} bytes), ops: {' '.join(ops)}")


if __name__ == "__main__":
    check_loading()
    check_train_mode()
    check_gradcheck()
    check_onnx()
    print("selftest passed")
