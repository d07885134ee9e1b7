"""Independent float64 NumPy forward for DINOv3 / DINOv2, written straight from the pseudo-code
of docs/model.md#dinov3-forward, docs/model.md#rope-rotation (scalar form), docs/model.md#dinov2-forward and
docs/model.md#position-table (cubic weights). Used only to cross-check dino.py.

Deliberately different from dino.py: explicit patch loops, scalar-pair RoPE, hand-made LayerNorm/erf-GELU,
per-head loops, bicubic resize from the per-axis tap/weight formula.
"""

from __future__ import annotations

import math
from typing import Dict, Tuple

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def layernorm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def softmax(s):
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def patch_embed(img, w, b, ps):
    """img [3,Himg,Wimg], w [H,3,ps,ps] -> [P,H] with p = r*Wp + c."""
    hp, wp = img.shape[1] // ps, img.shape[2] // ps
    wm = w.reshape(w.shape[0], -1)
    out = np.zeros((hp * wp, w.shape[0]))
    for r in range(hp):
        for c in range(wp):
            vec = img[:, r * ps:(r + 1) * ps, c * ps:(c + 1) * ps].reshape(-1)  # (ch,u,v) order
            out[r * wp + c] = wm @ vec + b
    return out, hp, wp


def rope_cos_sin(hp, wp, dh, theta):
    """Per channel d: j = d mod Dh/2, axis = y if j < Dh/4 else x, k = j mod Dh/4."""
    q = dh // 4
    inv = np.array([1.0 / theta ** (4.0 * k / dh) for k in range(q)])
    P = hp * wp
    cos = np.zeros((P, dh))
    sin = np.zeros((P, dh))
    for r in range(hp):
        for c in range(wp):
            p = r * wp + c
            y = 2.0 * ((r + 0.5) / hp) - 1.0
            x = 2.0 * ((c + 0.5) / wp) - 1.0
            for d in range(dh):
                j = d % (dh // 2)
                coord = y if j < q else x
                a = 2.0 * math.pi * coord * inv[j % q]
                cos[p, d] = math.cos(a)
                sin[p, d] = math.sin(a)
    return cos, sin


def rope_apply(x, cos, sin):
    """x [P, Dh]; scalar pair form: x'[d] = x[d]cos - x[d+h]sin; x'[d+h] = x[d+h]cos + x[d]sin."""
    h = x.shape[1] // 2
    y = np.empty_like(x)
    for d in range(h):
        y[:, d] = x[:, d] * cos[:, d] - x[:, d + h] * sin[:, d]
        y[:, d + h] = x[:, d + h] * cos[:, d + h] + x[:, d] * sin[:, d + h]
    return y


def cubic_taps(n_in, n_out, A=-0.75):
    """Per output index: (4 clamped tap indices, 4 weights) for bicubic align_corners=False
    (docs/model.md#position-table)."""
    def cc1(x):
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def cc2(x):
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    scale = n_in / n_out
    res = []
    for i in range(n_out):
        src = scale * (i + 0.5) - 0.5
        i0 = math.floor(src)
        t = src - i0
        w = [cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)]
        taps = [min(max(i0 - 1 + a, 0), n_in - 1) for a in range(4)]
        res.append((taps, w))
    return res


def resize_matrix(n_in, n_out):
    if n_in == n_out:
        return np.eye(n_in)
    m = np.zeros((n_out, n_in))
    for i, (taps, w) in enumerate(cubic_taps(n_in, n_out)):
        for t, ww in zip(taps, w):
            m[i, t] += ww
    return m


def bicubic_resize_grid(grid, hp, wp):
    """grid [G, G, H] -> [hp, wp, H] (separable)."""
    my = resize_matrix(grid.shape[0], hp)
    mx = resize_matrix(grid.shape[1], wp)
    return np.einsum("yi,xj,ijc->yxc", my, mx, grid)


def _block(X, sd, pre, names, eps, heads, rope=None, n_prefix=0):
    H = X.shape[1]
    dh = H // heads

    def lin(x, name, has_bias=True):
        y = x @ sd[f"{pre}{name}.weight"].T
        bk = f"{pre}{name}.bias"
        if bk in sd:
            y = y + sd[bk]
        return y

    T = layernorm(X, sd[pre + "norm1.weight"], sd[pre + "norm1.bias"], eps)
    Q, K, V = lin(T, names["q"]), lin(T, names["k"]), lin(T, names["v"])
    O = np.zeros_like(Q)
    for h in range(heads):
        sl = slice(h * dh, (h + 1) * dh)
        q, k, v = Q[:, sl].copy(), K[:, sl].copy(), V[:, sl].copy()
        if rope is not None:
            cos, sin = rope
            q[n_prefix:] = rope_apply(q[n_prefix:], cos, sin)
            k[n_prefix:] = rope_apply(k[n_prefix:], cos, sin)
        A = softmax((q @ k.T) * dh ** -0.5)
        O[:, sl] = A @ v
    X = X + sd[pre + "layer_scale1.lambda1"] * lin(O, names["o"])
    T = layernorm(X, sd[pre + "norm2.weight"], sd[pre + "norm2.bias"], eps)
    X = X + sd[pre + "layer_scale2.lambda1"] * lin(gelu(lin(T, names["up"])), names["down"])
    return X


def dinov3_forward(sd: Dict[str, np.ndarray], cfg: dict, img: np.ndarray) -> Tuple[np.ndarray, Tuple]:
    """One image [3,H,W] -> last_hidden_state [1+R+P, H] (float64)."""
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    ps = cfg["patch_size"]
    E, hp, wp = patch_embed(img.astype(np.float64), sd["embeddings.patch_embeddings.weight"],
                            sd["embeddings.patch_embeddings.bias"], ps)
    R = cfg["num_register_tokens"]
    X = np.concatenate([sd["embeddings.cls_token"][0], sd["embeddings.register_tokens"][0], E], axis=0)
    dh = cfg["hidden_size"] // cfg["num_attention_heads"]
    rope = rope_cos_sin(hp, wp, dh, cfg["rope_theta"])
    names = dict(q="attention.q_proj", k="attention.k_proj", v="attention.v_proj", o="attention.o_proj",
                 up="mlp.up_proj", down="mlp.down_proj")
    for l in range(cfg["num_hidden_layers"]):
        X = _block(X, sd, f"layer.{l}.", names, cfg["layer_norm_eps"], cfg["num_attention_heads"], rope, 1 + R)
    return layernorm(X, sd["norm.weight"], sd["norm.bias"], cfg["layer_norm_eps"]), rope


def dinov2_pos_table(sd, cfg, himg, wimg):
    pos = np.asarray(sd["embeddings.position_embeddings"], dtype=np.float64)[0]
    ps = cfg["patch_size"]
    hp, wp = himg // ps, wimg // ps
    G = int(round(math.sqrt(pos.shape[0] - 1)))
    if hp * wp == G * G and himg == wimg:
        return pos
    grid = pos[1:].reshape(G, G, -1)
    g2 = bicubic_resize_grid(grid, hp, wp).reshape(hp * wp, -1)
    return np.concatenate([pos[:1], g2], axis=0)


def dinov2_forward(sd: Dict[str, np.ndarray], cfg: dict, img: np.ndarray, pos_table=None):
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    ps = cfg["patch_size"]
    E, hp, wp = patch_embed(img.astype(np.float64), sd["embeddings.patch_embeddings.projection.weight"],
                            sd["embeddings.patch_embeddings.projection.bias"], ps)
    X = np.concatenate([sd["embeddings.cls_token"][0], E], axis=0)
    posN = dinov2_pos_table(sd, cfg, img.shape[1], img.shape[2]) if pos_table is None else pos_table
    X = X + posN
    names = dict(q="attention.attention.query", k="attention.attention.key", v="attention.attention.value",
                 o="attention.output.dense", up="mlp.fc1", down="mlp.fc2")
    for l in range(cfg["num_hidden_layers"]):
        X = _block(X, sd, f"encoder.layer.{l}.", names, cfg["layer_norm_eps"], cfg["num_attention_heads"])
    return layernorm(X, sd["layernorm.weight"], sd["layernorm.bias"], cfg["layer_norm_eps"]), posN
