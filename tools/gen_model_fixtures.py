#!/usr/bin/env python3
"""Generate the tiny DINOv3 / DINOv2 model fixtures under tests/fixtures/models/.

Run with Debian's torch:   /usr/bin/python3 tools/gen_model_fixtures.py
Deterministic: seeded generators, single-threaded torch, sorted JSON and sorted safetensors headers, so a
re-run rewrites byte-identical files. The script asserts a series of sanity checks (see `checks_*`) and
aborts without writing anything if one fails.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import sys

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "torch_ref"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import dino  # noqa: E402
import numpy_ref  # noqa: E402
import safetensors_io as stio  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

REPO = os.path.dirname(HERE)
OUT = os.path.join(REPO, "tests", "fixtures", "models")

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

DINOV3_TINY = {
    "architectures": ["DINOv3ViTModel"],
    "attention_dropout": 0.0,
    "drop_path_rate": 0.0,
    "hidden_act": "gelu",
    "hidden_size": 32,
    "image_size": 32,
    "initializer_range": 0.02,
    "intermediate_size": 64,
    "key_bias": False,
    "layer_norm_eps": 1e-05,
    "layerscale_value": 1.0,
    "mlp_bias": True,
    "model_type": "dinov3_vit",
    "num_attention_heads": 2,
    "num_channels": 3,
    "num_hidden_layers": 2,
    "num_register_tokens": 2,
    "patch_size": 8,
    "pos_embed_jitter": None,
    "pos_embed_rescale": 2.0,
    "pos_embed_shift": None,
    "proj_bias": True,
    "query_bias": True,
    "rope_theta": 100.0,
    "torch_dtype": "float32",
    "use_gated_mlp": False,
    "value_bias": True,
}

DINOV3_PREPROC = {
    "crop_size": None,
    "data_format": "channels_first",
    "default_to_square": True,
    "do_center_crop": None,
    "do_convert_rgb": None,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": IMAGENET_MEAN,
    "image_processor_type": "DINOv3ViTImageProcessorFast",
    "image_std": IMAGENET_STD,
    "resample": 2,
    "rescale_factor": 1 / 255,
    "size": {"height": 32, "width": 32},
}

DINOV2_TINY = {
    "architectures": ["Dinov2Model"],
    "attention_probs_dropout_prob": 0.0,
    "drop_path_rate": 0.0,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "hidden_size": 32,
    "image_size": 35,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-06,
    "layerscale_value": 1.0,
    "mlp_ratio": 4,
    "model_type": "dinov2",
    "num_attention_heads": 2,
    "num_channels": 3,
    "num_hidden_layers": 2,
    "patch_size": 7,
    "qkv_bias": True,
    "torch_dtype": "float32",
    "use_swiglu_ffn": False,
}

DINOV2_PREPROC = {
    "crop_size": {"height": 35, "width": 35},
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": IMAGENET_MEAN,
    "image_processor_type": "BitImageProcessor",
    "image_std": IMAGENET_STD,
    "resample": 3,
    "rescale_factor": 1 / 255,
    "size": {"shortest_edge": 40},
}

# (batch, height, width); s0..s2 are the required cases, later ones are extras.
DINOV3_CASES = [(1, 32, 32), (2, 40, 56), (2, 37, 45), (1, 48, 16)]
DINOV3_ROPE_CASE = 1  # rope.cos / rope.sin are stored for this case's grid (5 x 7)
DINOV2_CASES = [(1, 35, 35), (2, 28, 42), (2, 30, 51), (1, 42, 49)]

SEED_DINOV3 = 20250301
SEED_DINOV2 = 20250302
SEED_PIX_DINOV3 = 1301
SEED_PIX_DINOV2 = 1302


# ================================================================================================
# helpers
# ================================================================================================

def close(a, b, atol, what):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    assert err <= atol, f"{what}: max abs err {err:.3e} > {atol:.1e}"
    return err


def json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8")


class Writer:
    """Collects files in memory; writes them only after every check passed."""

    def __init__(self):
        self.files = {}

    def json(self, rel, obj):
        self.files[rel] = json_bytes(obj)

    def safetensors(self, rel, tensors, metadata=None, default_dtype=None):
        data = stio.serialize(tensors, metadata=metadata, default_dtype=default_dtype)
        verify_roundtrip(data, tensors, metadata, default_dtype, rel)
        self.files[rel] = data

    def text(self, rel, s):
        self.files[rel] = s.encode("utf-8")

    def flush(self):
        for rel, data in sorted(self.files.items()):
            path = os.path.join(OUT, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        # read back from disk too
        for rel, data in self.files.items():
            with open(os.path.join(OUT, rel), "rb") as f:
                assert f.read() == data, f"{rel}: disk content differs"


def verify_roundtrip(data: bytes, tensors, metadata, default_dtype, what):
    """Parse the serialized bytes and check names, dtypes, shapes, raw bytes, header padding, data order."""
    import struct

    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, f"{what}: header length {n} not a multiple of 8"
    header, md, raw = stio.parse(data)
    assert md == (dict(metadata) if metadata is not None else None), f"{what}: metadata differs"
    assert sorted(raw) == sorted(tensors), f"{what}: names differ"
    offs = [header[k]["data_offsets"][0] for k in sorted(header)]
    assert offs == sorted(offs), f"{what}: data not in name order"
    for name, value in tensors.items():
        want = None
        if default_dtype is not None and isinstance(value, torch.Tensor) and value.is_floating_point():
            want = default_dtype
        dt, bts, shape = stio.raw_bytes(value, want)
        rdt, rshape, rbts = raw[name]
        assert (rdt, tuple(rshape), bytes(rbts)) == (dt, tuple(shape), bts), f"{what}:{name} differs"
    return True


def readback_file(path, tensors, default_dtype=None):
    loaded, _ = stio.load_file(path)
    for name, value in tensors.items():
        t = loaded[name]
        if default_dtype == "BF16" and value.is_floating_point():
            assert t.dtype == torch.bfloat16, name
            ref = value.to(torch.float32).to(torch.bfloat16)
            assert torch.equal(t.view(torch.int16), ref.view(torch.int16)), name
        else:
            assert t.dtype == value.dtype and torch.equal(t, value), name


# ================================================================================================
# reference-value checks (docs/model.md)
# ================================================================================================

def checks_rope():
    # inv_freq (f32) for Dh=64, theta=100 (docs/model.md#rope-reference)
    spec_inv = [1.0, 0.74989420, 0.56234133, 0.42169651, 0.31622776, 0.23713739, 0.17782794, 0.13335215,
                0.1, 0.074989416, 0.056234129, 0.042169649, 0.031622779, 0.023713736, 0.017782794, 0.013335215]
    inv = dino.rope_inv_freq(64, 100.0, dtype=torch.float32)
    hf_inv = 1 / 100.0 ** torch.arange(0, 1, 4 / 64, dtype=torch.float32)  # HF's own expression
    assert torch.equal(inv, hf_inv), "inv_freq differs from HF's float32 expression"
    close(inv.numpy(), spec_inv, 1e-7, "inv_freq vs spec")

    for dt, tol in ((torch.float32, 2e-6), (torch.float64, 1e-7)):
        ys, xs = dino.patch_center_coords(14, 14, dtype=dt)
        close([ys[0], xs[0]], [-0.9285714, -0.9285714], 1e-7, "rope coords p0")
        close([ys[0], xs[1]], [-0.9285714, -0.7857143], 1e-7, "rope coords p1")
        close([ys[1], xs[0]], [-0.7857143, -0.9285714], 1e-7, "rope coords p14")
        ang = dino.rope_angles(14, 14, 64, 100.0, dtype=dt)
        cos, sin = dino.rope_tables(14, 14, 64, 100.0, dtype=dt)
        assert ang.shape == (196, 64) and cos.shape == (196, 64) and sin.shape == (196, 64)
        close(ang[0, 0], -5.8343863, tol, f"ang[0,0] {dt}")
        close(cos[0, 0], 0.90096885, tol, f"cos[0,0] {dt}")
        close(sin[0, 0], 0.43388376, tol, f"sin[0,0] {dt}")
        # layout: channels [0,16) y-axis, [16,32) x-axis, [32,64) repeat
        assert torch.equal(ang[:, 32:], ang[:, :32])
        close(ang[1, 0], 2 * math.pi * -0.9285714, 1e-5, "p1 y angle")
        close(ang[1, 16], 2 * math.pi * -0.7857143, 1e-5, "p1 x angle")
        close(ang[14, 0], 2 * math.pi * -0.7857143, 1e-5, "p14 y angle")
        close(ang[14, 16], 2 * math.pi * -0.9285714, 1e-5, "p14 x angle")
    # float32 tables vs float64 tables, and vs the independent scalar numpy construction
    c32, s32 = dino.rope_tables(14, 14, 64, 100.0, dtype=torch.float32)
    c64, s64 = dino.rope_tables(14, 14, 64, 100.0, dtype=torch.float64)
    close(c32, c64, 2e-6, "rope cos f32 vs f64")
    close(s32, s64, 2e-6, "rope sin f32 vs f64")
    nc, ns = numpy_ref.rope_cos_sin(14, 14, 64, 100.0)
    close(c64, nc, 1e-12, "rope cos vs numpy scalar form")
    close(s64, ns, 1e-12, "rope sin vs numpy scalar form")
    nc, ns = numpy_ref.rope_cos_sin(5, 7, 16, 100.0)
    c, s = dino.rope_tables(5, 7, 16, 100.0, dtype=torch.float64)
    close(c, nc, 1e-12, "rope 5x7 cos")
    close(s, ns, 1e-12, "rope 5x7 sin")
    # rotation: half-split pairs (d, d+Dh/2)
    x = torch.randn(1, 1, 3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cos, sin = dino.rope_tables(1, 2, 8, 100.0, dtype=torch.float64)
    y = dino.apply_rope_patches(x, cos, sin)
    assert torch.equal(y[..., :1, :], x[..., :1, :]), "prefix row must not be rotated"
    close(y[0, 0, 1:].numpy(), numpy_ref.rope_apply(x[0, 0, 1:].numpy(), cos.numpy(), sin.numpy()), 1e-15,
          "rope apply scalar form")


def torch_resize_matrix(n_in, n_out, axis):
    """Weights of F.interpolate(bicubic, align_corners=False) along one axis, from one-hot inputs."""
    eye = torch.eye(n_in, dtype=torch.float32)
    if axis == "w":
        out = F.interpolate(eye.reshape(1, n_in, 1, n_in), size=(1, n_out), mode="bicubic", align_corners=False)
        return out.reshape(n_in, n_out).T.numpy()  # [out, in]
    out = F.interpolate(eye.reshape(1, n_in, n_in, 1), size=(n_out, 1), mode="bicubic", align_corners=False)
    return out.reshape(n_in, n_out).T.numpy()


def checks_bicubic():
    # docs/model.md#position-table reference weights for 37 -> 16
    # (clamped duplicate taps are summed in the matrix form)
    spec = {
        0: ([0, 0, 1, 2], [-0.058159, 0.384285, 0.784904, -0.111031]),
        1: ([1, 2, 3, 4], [-0.000710, 0.024864, 0.997841, -0.021996]),
        15: ([34, 35, 36, 36], [-0.111031, 0.784904, 0.384285, -0.058159]),
    }
    taps = numpy_ref.cubic_taps(37, 16)
    for i, (t, w) in spec.items():
        assert taps[i][0] == t, f"taps for out {i}: {taps[i][0]} != {t}"
        close(taps[i][1], w, 6e-7, f"cubic weights out {i}")
    for axis in ("w", "h"):
        m = torch_resize_matrix(37, 16, axis)
        for i, (t, w) in spec.items():
            row = np.zeros(37)
            for tt, ww in zip(t, w):
                row[tt] += ww
            close(m[i], row, 2e-6, f"F.interpolate 37->16 out {i} ({axis})")
        close(m, numpy_ref.resize_matrix(37, 16), 1e-6, f"F.interpolate 37->16 full matrix ({axis})")
    # every grid size the DINOv2 fixtures use (5 -> 4, 6, 7, 8), plus 2-D separability
    for n_out in (4, 6, 7, 8):
        close(torch_resize_matrix(5, n_out, "w"), numpy_ref.resize_matrix(5, n_out), 1e-6, f"5->{n_out}")
    g = torch.randn(1, 3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = F.interpolate(g, size=(4, 7), mode="bicubic", align_corners=False)
    ref = numpy_ref.bicubic_resize_grid(g[0].permute(1, 2, 0).numpy(), 4, 7)
    close(out[0].permute(1, 2, 0).numpy(), ref, 1e-12, "2-D bicubic separable")


def checks_bf16():
    g = torch.Generator().manual_seed(7)
    x = torch.cat([torch.randn(4096, generator=g) * 3,
                   torch.tensor([0.0, -0.0, 1.0, 1.00390625, 1.01171875, 1.0000001, 65504.0, 3.0e38, -3.0e38,
                                 float("inf"), float("-inf"), 1e-40, -1e-40])])
    # exact ties: 1 + 2^-8 (even -> down), 1 + 3*2^-8 (odd -> up)
    x = torch.cat([x, torch.tensor([1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8], dtype=torch.float32)])
    mine = stio.f32_to_bf16_bits(x.numpy())
    theirs = x.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(mine, theirs), "numpy bf16 RNE differs from torch"
    back = stio.bf16_bits_to_f32(mine)
    assert np.array_equal(back, x.to(torch.bfloat16).to(torch.float32).numpy())


def checks_safetensors_io():
    g = torch.Generator().manual_seed(3)
    t = {
        "b.f32": torch.randn(3, 5, generator=g),
        "a.f16": torch.randn(7, generator=g).to(torch.float16),
        "c.bf16": torch.randn(2, 3, generator=g).to(torch.bfloat16),
        "d.i64": torch.arange(-3, 9, dtype=torch.int64).reshape(3, 4),
        "e.scalar": torch.tensor(1.5),
        "f.empty": torch.zeros(1, 0, 4),
    }
    data = stio.serialize(t, metadata={"format": "pt"})
    verify_roundtrip(data, t, {"format": "pt"}, None, "io-selftest")
    _, md, raw = stio.parse(data)
    assert md == {"format": "pt"}
    # F32 -> BF16 conversion on write
    data = stio.serialize({"w": t["b.f32"]}, default_dtype="BF16")
    _, _, raw = stio.parse(data)
    assert raw["w"][0] == "BF16"
    got = np.frombuffer(raw["w"][2], dtype="<u2").reshape(3, 5)
    assert np.array_equal(got, t["b.f32"].to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16))


# ================================================================================================
# models
# ================================================================================================

def randomize_(model: nn.Module, seed: int):
    """Non-trivial deterministic weights that keep activations O(1) for H=32, 2 layers."""
    g = torch.Generator().manual_seed(seed)
    mods = dict(model.named_modules())

    def rn(shape, std, mean=0.0):
        return torch.randn(shape, generator=g, dtype=torch.float32) * std + mean

    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            mod_name, _, leaf = name.rpartition(".")
            mod = mods[mod_name]
            shape = tuple(p.shape)
            if isinstance(mod, nn.LayerNorm):
                v = rn(shape, 0.2, 1.0) if leaf == "weight" else rn(shape, 0.1)
            elif isinstance(mod, nn.Conv2d):
                fan_in = shape[1] * shape[2] * shape[3] if leaf == "weight" else 0
                v = rn(shape, 1.0 / math.sqrt(fan_in)) if leaf == "weight" else rn(shape, 0.1)
            elif isinstance(mod, nn.Linear):
                v = rn(shape, 0.2 * math.sqrt(32.0 / shape[1])) if leaf == "weight" else rn(shape, 0.1)
            elif leaf == "lambda1":
                v = 0.5 + torch.rand(shape, generator=g, dtype=torch.float32)
            elif leaf in ("cls_token", "register_tokens"):
                v = rn(shape, 1.0)
            elif leaf == "mask_token":
                v = rn(shape, 0.5)
            elif leaf == "position_embeddings":
                v = rn(shape, 0.5)
            else:
                raise KeyError(name)
            p.copy_(v)


def bf16_copy(model: nn.Module) -> nn.Module:
    m = copy.deepcopy(model)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    return m


def make_pixels(cases, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, 3, h, w, generator=g, dtype=torch.float32) for (b, h, w) in cases]


def run_cases(model: nn.Module, cfg: dict, pixels, kind: str):
    """float64 expected outputs + cross-checks. Returns (tensors, metadata entries, stats)."""
    m64 = copy.deepcopy(model).double().eval()
    m32 = copy.deepcopy(model).float().eval()
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    tensors, meta = {}, {}
    ps = cfg["patch_size"]
    R = cfg.get("num_register_tokens", 0) if kind == "dinov3" else 0
    H = cfg["hidden_size"]
    for i, pix in enumerate(pixels):
        B, _, Hi, Wi = pix.shape
        hp, wp = Hi // ps, Wi // ps
        P = hp * wp
        T = 1 + R + P
        with torch.no_grad():
            lhs, pool = m64(pix.double())
            emb = dino.embed(m64, pix.double())
            cm = dino.concat_cls_mean(m64, pix.double())
            lhs32, pool32 = m32(pix)
        assert lhs.shape == (B, T, H), f"{kind} s{i}: lhs {tuple(lhs.shape)} != {(B, T, H)}"
        assert pool.shape == (B, H) and emb.shape == (B, H) and cm.shape == (B, 2 * H)
        assert torch.equal(pool, lhs[:, 0]), "pooler must be the CLS row"
        close(emb.norm(dim=-1), np.ones(B), 1e-12, "embedding norm")
        close(cm.norm(dim=-1), np.ones(B), 1e-12, "cls_mean norm")
        man = torch.cat([lhs[:, 0], lhs[:, 1 + R:].mean(1)], -1)
        close(cm, (man / man.norm(dim=-1, keepdim=True)).numpy(), 1e-14, "cls_mean formula")
        # the float32 path agrees with float64 to float rounding
        close(lhs32, lhs, 2e-4, f"{kind} s{i} f32 vs f64")
        # independent numpy float64 forward, image by image
        for b in range(B):
            img = pix[b].double().numpy()
            if kind == "dinov3":
                ref, _ = numpy_ref.dinov3_forward(sd, cfg, img)
                close(lhs[b], ref, 1e-10, f"{kind} s{i}[{b}] torch vs numpy")
            else:
                with torch.no_grad():
                    pos_used = m64.embeddings.interpolate_pos_encoding(P, Hi, Wi)[0].numpy()
                ref, _ = numpy_ref.dinov2_forward(sd, cfg, img, pos_table=pos_used)
                close(lhs[b], ref, 1e-10, f"{kind} s{i}[{b}] torch vs numpy (same pos table)")
                ref2, pos_np = numpy_ref.dinov2_forward(sd, cfg, img)
                close(pos_used, pos_np, 2e-6, f"{kind} s{i} pos table f32-resize vs f64 numpy")
                close(lhs[b], ref2, 1e-4, f"{kind} s{i}[{b}] torch vs numpy (own f64 pos table)")
        tensors[f"s{i}.pixel_values"] = pix.float()
        tensors[f"s{i}.last_hidden_state"] = lhs.float()
        tensors[f"s{i}.pooler_output"] = pool.float()
        tensors[f"s{i}.embedding"] = emb.float()
        tensors[f"s{i}.cls_mean"] = cm.float()
        desc = f"B={B} H={Hi} W={Wi} grid={hp}x{wp} P={P} T={T}"
        if kind == "dinov2":
            G = int(round(math.sqrt(m64.embeddings.position_embeddings.shape[1] - 1)))
            interp = not (P == G * G and Hi == Wi)
            desc += f" pos={'bicubic ' + str(G) + 'x' + str(G) + '->' + str(hp) + 'x' + str(wp) if interp else 'as stored'}"
            with torch.no_grad():
                pos_used = m64.embeddings.interpolate_pos_encoding(P, Hi, Wi)[0]
            assert pos_used.shape == (1 + P, H)
            if not interp:
                assert torch.equal(pos_used, m64.embeddings.position_embeddings[0])
            tensors[f"pos.s{i}"] = pos_used.float()
        meta[f"s{i}"] = desc
    stats = {f"s{i}": float(tensors[f"s{i}.last_hidden_state"].abs().max()) for i in range(len(pixels))}
    return tensors, meta, stats


def prenorm_stats(model, pix):
    """max |x| of the residual stream before the final norm (activation-scale sanity)."""
    with torch.no_grad():
        if isinstance(model, dino.DINOv3ViTModel):
            x = model.embeddings(pix)
            cos, sin = model.rope_embeddings(pix)
            for blk in model.layer:
                x = blk(x, cos, sin)
        else:
            x = model.encoder(model.embeddings(pix))
    return float(x.abs().max()), float(x.std())


def build_dinov3(w: Writer, summary):
    cfg = dict(DINOV3_TINY)
    model = dino.build_model(cfg).eval()
    randomize_(model, SEED_DINOV3)
    assert set(model.state_dict()) == set(expected_dinov3_keys(cfg)), \
        "DINOv3 key set differs from docs/model.md#checkpoint-dinov3"
    pixels = make_pixels(DINOV3_CASES, SEED_PIX_DINOV3)
    mx, sd_ = prenorm_stats(model, pixels[1])
    assert 0.3 < sd_ < 10 and mx < 50, f"DINOv3 activation scale off: max {mx} std {sd_}"
    summary.append(f"dinov3-tiny residual stream before final norm: max|x|={mx:.2f} std={sd_:.2f}")

    b, h, wd = DINOV3_CASES[DINOV3_ROPE_CASE]
    hp, wp = h // cfg["patch_size"], wd // cfg["patch_size"]
    dh = cfg["hidden_size"] // cfg["num_attention_heads"]
    cos, sin = dino.rope_tables(hp, wp, dh, cfg["rope_theta"], dtype=torch.float64)
    nc, ns = numpy_ref.rope_cos_sin(hp, wp, dh, cfg["rope_theta"])
    close(cos, nc, 1e-12, "fixture rope cos")
    close(sin, ns, 1e-12, "fixture rope sin")
    rope = {"rope.cos": cos.float(), "rope.sin": sin.float()}

    for folder, m, dtype_name, st_dtype in (("dinov3-tiny", model, "float32", "F32"),
                                           ("dinov3-tiny-bf16", bf16_copy(model), "bfloat16", "BF16")):
        c = dict(cfg, torch_dtype=dtype_name)
        w.json(f"{folder}/config.json", c)
        w.json(f"{folder}/preprocessor_config.json", DINOV3_PREPROC)
        sd = {k: v.detach().clone() for k, v in m.state_dict().items()}
        w.safetensors(f"{folder}/model.safetensors", sd, metadata={"format": "pt"}, default_dtype=st_dtype)
        tensors, meta, stats = run_cases(m, c, pixels, "dinov3")
        tensors.update(rope)
        meta.update({"format": "pt", "generator": "tools/gen_model_fixtures.py", "model": folder,
                     "reference": "float64 forward of tools/torch_ref/dino.py",
                     "rope": f"rope.cos/rope.sin: grid {hp}x{wp} (case s{DINOV3_ROPE_CASE}), head_dim {dh}, "
                             f"computed in float64"})
        w.safetensors(f"{folder}/cases.safetensors", tensors, metadata=meta)
        summary.append(f"{folder}: max|last_hidden_state| per case {stats}")
    return model, pixels


def build_dinov2(w: Writer, summary):
    cfg = dict(DINOV2_TINY)
    model = dino.build_model(cfg).eval()
    randomize_(model, SEED_DINOV2)
    assert set(model.state_dict()) == set(expected_dinov2_keys(cfg)), \
        "DINOv2 key set differs from docs/model.md#checkpoint-dinov2"
    assert model.embeddings.position_embeddings.shape == (1, 26, 32)
    pixels = make_pixels(DINOV2_CASES, SEED_PIX_DINOV2)
    mx, sd_ = prenorm_stats(model, pixels[1])
    assert 0.3 < sd_ < 10 and mx < 50, f"DINOv2 activation scale off: max {mx} std {sd_}"
    summary.append(f"dinov2-tiny residual stream before final norm: max|x|={mx:.2f} std={sd_:.2f}")
    folder = "dinov2-tiny"
    w.json(f"{folder}/config.json", cfg)
    w.json(f"{folder}/preprocessor_config.json", DINOV2_PREPROC)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    w.safetensors(f"{folder}/model.safetensors", sd, metadata={"format": "pt"})
    tensors, meta, stats = run_cases(model, cfg, pixels, "dinov2")
    meta.update({"format": "pt", "generator": "tools/gen_model_fixtures.py", "model": folder,
                 "reference": "float64 forward of tools/torch_ref/dino.py; position table resized with "
                              "F.interpolate(bicubic, align_corners=False, size=(Hp,Wp)) in float32 "
                              "(current transformers)",
                 "pos": "pos.s{i}: [1+P, C] position table added to the tokens for case s{i}"})
    w.safetensors(f"{folder}/cases.safetensors", tensors, metadata=meta)
    summary.append(f"{folder}: max|last_hidden_state| per case {stats}")
    return model, pixels


def expected_dinov3_keys(cfg):
    keys = ["embeddings.cls_token", "embeddings.mask_token", "embeddings.register_tokens",
            "embeddings.patch_embeddings.weight", "embeddings.patch_embeddings.bias", "norm.weight", "norm.bias"]
    for i in range(cfg["num_hidden_layers"]):
        p = f"layer.{i}."
        keys += [p + s for s in (
            "norm1.weight", "norm1.bias", "attention.k_proj.weight", "attention.v_proj.weight",
            "attention.v_proj.bias", "attention.q_proj.weight", "attention.q_proj.bias", "attention.o_proj.weight",
            "attention.o_proj.bias", "layer_scale1.lambda1", "norm2.weight", "norm2.bias", "mlp.up_proj.weight",
            "mlp.up_proj.bias", "mlp.down_proj.weight", "mlp.down_proj.bias", "layer_scale2.lambda1")]
    return keys


def expected_dinov2_keys(cfg):
    keys = ["embeddings.cls_token", "embeddings.mask_token", "embeddings.position_embeddings",
            "embeddings.patch_embeddings.projection.weight", "embeddings.patch_embeddings.projection.bias",
            "layernorm.weight", "layernorm.bias"]
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for s in ("norm1", "norm2", "attention.attention.query", "attention.attention.key",
                  "attention.attention.value", "attention.output.dense", "mlp.fc1", "mlp.fc2"):
            keys += [p + s + ".weight", p + s + ".bias"]
        keys += [p + "layer_scale1.lambda1", p + "layer_scale2.lambda1"]
    return keys


def check_written_folders(models):
    """Reload each written folder through dino.load_pretrained and the readers; compare with the sources."""
    for folder, (model, pixels) in models.items():
        path = os.path.join(OUT, folder)
        sd_src = {k: v.detach() for k, v in model.state_dict().items()}
        st_dtype = "BF16" if folder.endswith("bf16") else None
        readback_file(os.path.join(path, "model.safetensors"), sd_src, st_dtype)
        loaded = dino.load_pretrained(path)
        for k, v in loaded.state_dict().items():
            ref = sd_src[k].to(torch.bfloat16).float() if st_dtype else sd_src[k]
            assert torch.equal(v, ref), f"{folder}:{k} reload differs"
        cases, _ = stio.load_file(os.path.join(path, "cases.safetensors"))
        m64 = copy.deepcopy(loaded).double()
        i = 0
        while f"s{i}.pixel_values" in cases:
            with torch.no_grad():
                lhs, _ = m64(cases[f"s{i}.pixel_values"].double())
            assert torch.equal(lhs.float(), cases[f"s{i}.last_hidden_state"]), f"{folder} s{i} not reproducible"
            i += 1
        assert i >= 3


README = """# Tiny DINO model fixtures

Generated by `tools/gen_model_fixtures.py` with the plain-PyTorch reference in `tools/torch_ref/`
(`dino.py`: DINOv3-ViT and DINOv2 modules with Hugging Face state-dict names; `safetensors_io.py`:
dependency-free safetensors reader/writer). Regenerate with Debian's PyTorch (CPU, 1.13):

    /usr/bin/python3 tools/gen_model_fixtures.py

The script is deterministic (seeded generators, single-threaded torch, sorted JSON and safetensors headers);
re-running it rewrites byte-identical files. It refuses to write anything if one of its checks fails.

## Folders

| folder | model | weights |
|---|---|---|
| `dinov3-tiny/` | `dinov3_vit`, hidden 32, MLP 64, 2 layers, 2 heads (head_dim 16), patch 8, 2 registers, rope_theta 100, eps 1e-5, no k bias | F32 |
| `dinov3-tiny-bf16/` | same weights rounded to BF16 (round-to-nearest-even, like `tensor.to(torch.bfloat16)`), `torch_dtype: bfloat16` | BF16 |
| `dinov2-tiny/` | `dinov2`, hidden 32, mlp_ratio 4, 2 layers, 2 heads, patch 7, image_size 35 (5x5 learned grid + CLS = 26 positions), eps 1e-6, q/k/v bias | F32 |

Each folder has `config.json`, `preprocessor_config.json` (DINOv3: `DINOv3ViTImageProcessorFast` layout with a
32x32 resize; DINOv2: `BitImageProcessor` layout with shortest edge 40, centre crop 35x35), `model.safetensors`
(HF key names, no prefix, metadata `{"format": "pt"}`, includes `mask_token`) and `cases.safetensors`.
Weights are random but non-trivial (normal distributions given as mean, std): linear weights
N(0, 0.2*sqrt(32/fan_in)) (0.2 for the 32-wide inputs), biases N(0, 0.1), patch-conv weights N(0, 1/sqrt(fan_in)),
LayerNorm gamma N(1, 0.2) and beta N(0, 0.1), layer scales U(0.5, 1.5), CLS/register tokens N(0, 1), position
table and mask token N(0, 0.5). Activations stay O(1) (|last_hidden_state| < 5).

## cases.safetensors

For every case `s{i}` (the `__metadata__` entry `s{i}` describes batch, size, grid and token count):

* `s{i}.pixel_values` `[B,3,H,W]` float32, random normal (already "normalized" pixels),
* `s{i}.last_hidden_state` `[B,T,C]` with T = 1 + R + P (DINOv3) or 1 + P (DINOv2),
* `s{i}.pooler_output` `[B,C]` (CLS row after the final LayerNorm),
* `s{i}.embedding` `[B,C]` = L2-normalized pooler output,
* `s{i}.cls_mean` `[B,2C]` = L2-normalized concat(CLS, mean of patch tokens; registers excluded).

DINOv3 cases: s0 1x32x32 (4x4 grid), s1 2x40x56 (5x7, non-square), s2 2x37x45 (4x5, leftover pixels ignored),
s3 1x48x16 (6x2, tall). `rope.cos` / `rope.sin` `[35,16]` are the RoPE tables of the s1 grid (5x7).
DINOv2 cases: s0 1x35x35 (5x5 grid: stored table used as is), s1 2x28x42 (4x6, interpolated), s2 2x30x51 (4x7,
interpolated, leftover pixels), s3 1x42x49 (6x7, upsampled). `pos.s{i}` `[1+P,C]` is the position table actually
added to the tokens for case s{i}.

Expected outputs are computed in float64 (model and inputs cast to double) and stored as float32. The
`dinov3-tiny-bf16` expectations come from the BF16-rounded weights upcast to float32/float64, with the same pixels.

## Behaviour followed

* DINOv3 (`DINOv3ViTModel`, transformers >= 4.56): CLS + registers + patches, no absolute position embedding;
  2-D RoPE on patch-token q/k only, patch-centre coordinates in [-1, 1] per axis, `inv_freq = theta^(-4k/Dh)`,
  channel layout [y (Dh/4), x (Dh/4)] x 2, half-split `rotate_half`; eval mode (no coordinate augmentation).
  The RoPE tables are computed in float64 for the float64 reference (HF computes them in float32; the
  difference is ~1e-7).
* DINOv2 (`Dinov2Model`): learned position table; when the patch grid differs from the stored 5x5 grid (or the
  input is not square) it is resized with `torch.nn.functional.interpolate(mode="bicubic",
  align_corners=False, size=(Hp, Wp))` in float32 on the `[1, C, 5, 5]` grid, as current transformers does.
  Older transformers releases passed `scale_factor=((Hp+0.1)/G, (Wp+0.1)/G)` instead, which gives different
  numbers; these fixtures do NOT follow that legacy behaviour.
* Exact (erf) GELU, attention scale head_dim^-0.5, softmax without mask, LayerScale before each residual add.

The generator asserts, among others: token counts; RoPE values against the 14x14 / head_dim 64 numbers of
docs/model.md#rope-reference; the bicubic 37->16 weights of docs/model.md#position-table (via `F.interpolate`
on one-hot grids); agreement
(<= 1e-10) with an independent NumPy float64 forward (`tools/torch_ref/numpy_ref.py`); BF16 rounding equal to
torch's; and that every written safetensors file reads back to identical bytes and tensors.
Further checks of the reference (float64 gradcheck through both models, train-mode RoPE augmentation, loading
with wrapper prefixes / BF16, torch.onnx export at opset 17 without Tile) run with
`/usr/bin/python3 tools/torch_ref/selftest.py`.
"""


def main():
    torch.manual_seed(0)
    checks_bf16()
    checks_safetensors_io()
    checks_rope()
    checks_bicubic()
    w = Writer()
    summary = []
    m3, p3 = build_dinov3(w, summary)
    m2, p2 = build_dinov2(w, summary)
    w.text("README.md", README)
    w.flush()
    check_written_folders({"dinov3-tiny": (m3, p3), "dinov3-tiny-bf16": (m3, p3), "dinov2-tiny": (m2, p2)})
    total = 0
    for rel in sorted(w.files):
        n = len(w.files[rel])
        total += n
        print(f"{n:8d}  {hashlib.sha256(w.files[rel]).hexdigest()[:16]}  tests/fixtures/models/{rel}")
    print(f"{total:8d}  total")
    for s in summary:
        print(s)
    assert total < 1_000_000
    print("all checks passed")


if __name__ == "__main__":
    main()
