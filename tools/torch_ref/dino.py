"""Plain-PyTorch reference for DINOv3-ViT (`dinov3_vit`) and DINOv2 (`dinov2`).

Written from docs/model.md#dinov3, docs/model.md#rope, docs/model.md#dinov2 and docs/model.md#embeddings.
State-dict keys match the Hugging Face layout
(`DINOv3ViTModel` / `Dinov2Model`, no prefix), so `save_pretrained` writes files that transformers can read
and `load_pretrained` reads HF checkpoints.

Design notes
  * Every linear is an `nn.Linear` under its HF name (q_proj/k_proj/v_proj/o_proj/up_proj/down_proj;
    query/key/value/output.dense/fc1/fc2) so a LoRA wrapper can later swap them by module path.
  * Everything is differentiable (no in-place tricks, no .detach()); train mode enables the HF DINOv3
    RoPE coordinate augmentation (configurable).
  * ONNX friendliness (torch.onnx, opset <= 17): no tile/repeat; RoPE tables are built with
    expand + cat; attention is explicit matmul + softmax; outputs are plain tuples.
  * Dtypes: the forward runs in the parameters' dtype. RoPE tables are computed in float32 (float64 when the
    input is float64) as HF does. The attention softmax runs in float32 for half types (as HF eager) and in the
    working dtype otherwise. The DINOv2 position-table resize is done in float32 (HF) unless
    `pos_interp_dtype` says otherwise.
"""

from __future__ import annotations

import json
import math
import os
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

try:
    from . import safetensors_io as stio
except ImportError:  # run as a plain script directory on sys.path
    import safetensors_io as stio


# ================================================================================================
# configs
# ================================================================================================

DINOV3_DEFAULTS = dict(
    model_type="dinov3_vit",
    hidden_size=384,
    intermediate_size=1536,
    num_hidden_layers=12,
    num_attention_heads=6,
    hidden_act="gelu",
    attention_dropout=0.0,
    initializer_range=0.02,
    layer_norm_eps=1e-5,
    rope_theta=100.0,
    image_size=224,
    patch_size=16,
    num_channels=3,
    query_bias=True,
    key_bias=False,
    value_bias=True,
    proj_bias=True,
    mlp_bias=True,
    layerscale_value=1.0,
    drop_path_rate=0.0,
    use_gated_mlp=False,
    num_register_tokens=0,
    pos_embed_shift=None,
    pos_embed_jitter=None,
    pos_embed_rescale=2.0,
)

DINOV2_DEFAULTS = dict(
    model_type="dinov2",
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    mlp_ratio=4,
    hidden_act="gelu",
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    initializer_range=0.02,
    layer_norm_eps=1e-6,
    image_size=224,
    patch_size=14,
    num_channels=3,
    qkv_bias=True,
    layerscale_value=1.0,
    drop_path_rate=0.0,
    use_swiglu_ffn=False,
    use_mask_token=True,
)


class Config:
    """Attribute view over a config.json dict, filled with the class defaults of its model_type."""

    def __init__(self, d: Optional[dict] = None, **kw):
        d = dict(d or {})
        d.update(kw)
        mt = d.get("model_type")
        if mt in ("dinov3_vit", "DINOv3ViT"):
            base = dict(DINOV3_DEFAULTS)
        elif mt == "dinov2":
            base = dict(DINOV2_DEFAULTS)
        else:
            raise ValueError(f"unsupported model_type {mt!r}")
        base.update(d)
        if mt == "DINOv3ViT":  # old dev revisions
            base["model_type"] = "dinov3_vit"
            if "use_swiglu_ffn" in base and "use_gated_mlp" not in d:
                base["use_gated_mlp"] = bool(base["use_swiglu_ffn"])
        self.__dict__["_d"] = base

    def __getattr__(self, k):
        try:
            return self.__dict__["_d"][k]
        except KeyError:
            raise AttributeError(k)

    def __setattr__(self, k, v):
        self.__dict__["_d"][k] = v

    def get(self, k, default=None):
        return self._d.get(k, default)

    def to_dict(self) -> dict:
        return dict(self._d)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


def _act(name: str):
    if name == "gelu":
        return lambda x: F.gelu(x)  # exact erf form
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name in ("silu", "swish"):
        return F.silu
    if name == "relu":
        return F.relu
    raise ValueError(f"unsupported hidden_act {name!r}")


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scaling: float,
               dropout_p: float = 0.0, training: bool = False) -> torch.Tensor:
    """q,k,v: [B, h, N, Dh] -> [B, h, N, Dh]. Plain softmax attention (no mask)."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * scaling
    if scores.dtype in (torch.float16, torch.bfloat16):
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    else:
        probs = torch.softmax(scores, dim=-1)
    if dropout_p > 0.0 and training:
        probs = F.dropout(probs, p=dropout_p, training=True)
    return torch.matmul(probs, v)


def _drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device) < keep
    return x * mask.to(x.dtype) / keep


class LayerScale(nn.Module):
    def __init__(self, hidden: int, init: float = 1.0):
        super().__init__()
        self.lambda1 = nn.Parameter(init * torch.ones(hidden))

    def forward(self, x):
        return x * self.lambda1


# ================================================================================================
# DINOv3
# ================================================================================================

def rope_inv_freq(head_dim: int, theta: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """inv_freq[k] = 1 / theta^(4k/Dh), k < Dh/4 (docs/model.md#rope-frequencies)."""
    e = torch.arange(0, head_dim // 4, dtype=dtype, device=device) * (4.0 / head_dim)
    return 1.0 / (theta ** e)


def patch_center_coords(hp: int, wp: int, dtype=torch.float32, device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-axis normalized patch-centre coordinates in [-1, 1]: (ys [hp], xs [wp]) (docs/model.md#rope-coordinates)."""
    ys = torch.arange(0, hp, dtype=dtype, device=device) + 0.5
    xs = torch.arange(0, wp, dtype=dtype, device=device) + 0.5
    ys = 2.0 * (ys / hp) - 1.0
    xs = 2.0 * (xs / wp) - 1.0
    return ys, xs


def rope_angles(hp: int, wp: int, head_dim: int, theta: float, dtype=torch.float32, device=None,
                coord_scale: Optional[torch.Tensor] = None,
                coord_shift: Optional[torch.Tensor] = None) -> torch.Tensor:
    """RoPE angles [hp*wp, head_dim] for DINOv3 2-D RoPE (docs/model.md#rope-channels).

    ang[p, a*K + k] = 2*pi * coord[p, a] * inv_freq[k] for axis a in (y, x), K = Dh/4; then the [P, Dh/2]
    block is repeated twice along channels (built with cat, not tile).
    Optional train-time augmentation: (coords + coord_shift [2]) * coord_scale ([1] or [2]).
    """
    inv = rope_inv_freq(head_dim, theta, dtype=dtype, device=device)  # [K]
    ys, xs = patch_center_coords(hp, wp, dtype=dtype, device=device)
    if coord_shift is not None:
        ys = ys + coord_shift[0]
        xs = xs + coord_shift[1]
    if coord_scale is not None:
        cs = coord_scale.reshape(-1)
        ys = ys * cs[0]
        xs = xs * cs[-1]
    k = inv.shape[0]
    ang_y = (2 * math.pi) * ys[:, None] * inv[None, :]  # [hp, K]
    ang_x = (2 * math.pi) * xs[:, None] * inv[None, :]  # [wp, K]
    ang_y = ang_y[:, None, :].expand(hp, wp, k)
    ang_x = ang_x[None, :, :].expand(hp, wp, k)
    ang = torch.cat([ang_y, ang_x], dim=-1).reshape(hp * wp, 2 * k)  # (axis, k) order
    return torch.cat([ang, ang], dim=-1)  # "tile x2" without Tile


def rope_tables(hp: int, wp: int, head_dim: int, theta: float, dtype=torch.float32, device=None,
                coord_scale: Optional[torch.Tensor] = None,
                coord_shift: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) tables, each [hp*wp, head_dim], computed in `dtype`."""
    ang = rope_angles(hp, wp, head_dim, theta, dtype, device, coord_scale, coord_shift)
    return torch.cos(ang), torch.sin(ang)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply_rope_patches(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: [B, h, N, Dh]; rotate only the last P = cos.shape[0] rows (prefix rows pass through)."""
    n = x.shape[-2]
    p = cos.shape[-2]
    prefix = x[..., : n - p, :]
    patches = x[..., n - p:, :]
    patches = patches * cos + rotate_half(patches) * sin
    return torch.cat([prefix, patches], dim=-2)


class DINOv3ViTEmbeddings(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        h = cfg.hidden_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, h))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, h))
        self.register_tokens = nn.Parameter(torch.zeros(1, cfg.num_register_tokens, h))
        self.patch_embeddings = nn.Conv2d(cfg.num_channels, h, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: Optional[torch.Tensor] = None) -> torch.Tensor:
        w = self.patch_embeddings.weight
        x = self.patch_embeddings(pixel_values.to(w.dtype))  # [B, H, Hp, Wp]
        x = x.flatten(2).transpose(1, 2)  # [B, P, H], p = r*Wp + c
        if bool_masked_pos is not None:
            x = torch.where(bool_masked_pos.unsqueeze(-1), self.mask_token.to(x.dtype), x)
        b = x.shape[0]
        cls = self.cls_token.expand(b, -1, -1)
        reg = self.register_tokens.expand(b, -1, -1)
        return torch.cat([cls, reg, x], dim=1)


class DINOv3ViTRopePositionEmbedding(nn.Module):
    """Computes the cos/sin tables from the input size (no persistent state)."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.head_dim = cfg.head_dim
        self.theta = float(cfg.rope_theta)
        self.patch_size = cfg.patch_size
        # "hf": augment coordinates in train mode exactly like HF; "off": never augment.
        self.augment = "hf"

    def forward(self, pixel_values: torch.Tensor, dtype: Optional[torch.dtype] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """-> (cos, sin) [P, Dh] in `dtype` (default: the pixel dtype). Computed in float32 like HF, or in
        float64 when the pixels or the requested dtype are float64."""
        dtype = dtype or pixel_values.dtype
        hp = pixel_values.shape[-2] // self.patch_size
        wp = pixel_values.shape[-1] // self.patch_size
        cdt = torch.float64 if torch.float64 in (pixel_values.dtype, dtype) else torch.float32
        dev = pixel_values.device
        scale = shift = None
        if self.training and self.augment == "hf":
            scale, shift = self._sample_augmentation(cdt, dev)
        cos, sin = rope_tables(hp, wp, self.head_dim, self.theta, dtype=cdt, device=dev,
                               coord_scale=scale, coord_shift=shift)
        return cos.to(dtype), sin.to(dtype)

    def _sample_augmentation(self, dtype, device):
        """HF augment_patches_center_coordinates: shift (+U per axis), jitter (x logU per axis), rescale (x logU scalar)."""
        c = self.cfg
        shift = None
        scale = torch.ones(2, dtype=dtype, device=device)
        if c.pos_embed_shift is not None:
            shift = torch.empty(2, dtype=dtype, device=device).uniform_(-c.pos_embed_shift, c.pos_embed_shift)
        if c.pos_embed_jitter is not None:
            r = math.log(c.pos_embed_jitter)
            scale = scale * torch.empty(2, dtype=dtype, device=device).uniform_(-r, r).exp()
        if c.pos_embed_rescale is not None:
            r = math.log(c.pos_embed_rescale)
            scale = scale * torch.empty(1, dtype=dtype, device=device).uniform_(-r, r).exp()
        return scale, shift


class DINOv3ViTAttention(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        h = cfg.hidden_size
        self.num_heads = cfg.num_attention_heads
        self.head_dim = h // self.num_heads
        self.scaling = self.head_dim ** -0.5
        self.dropout = cfg.attention_dropout
        # registration order as HF: k, v, q, o
        self.k_proj = nn.Linear(h, h, bias=cfg.key_bias)
        self.v_proj = nn.Linear(h, h, bias=cfg.value_bias)
        self.q_proj = nn.Linear(h, h, bias=cfg.query_bias)
        self.o_proj = nn.Linear(h, h, bias=cfg.proj_bias)

    def forward(self, x: torch.Tensor, cos: Optional[torch.Tensor], sin: Optional[torch.Tensor]) -> torch.Tensor:
        b, n, c = x.shape
        q = self.q_proj(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        if cos is not None:
            q = apply_rope_patches(q, cos, sin)
            k = apply_rope_patches(k, cos, sin)
        o = _attention(q, k, v, self.scaling, self.dropout, self.training)
        o = o.transpose(1, 2).reshape(b, n, c)
        return self.o_proj(o)


class DINOv3ViTMLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.mlp_bias)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=cfg.mlp_bias)
        self.act_fn = _act(cfg.hidden_act)

    def forward(self, x):
        return self.down_proj(self.act_fn(self.up_proj(x)))


class DINOv3ViTGatedMLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.mlp_bias)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.mlp_bias)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=cfg.mlp_bias)
        self.act_fn = _act(cfg.hidden_act)

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class DINOv3ViTLayer(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        h = cfg.hidden_size
        self.norm1 = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.attention = DINOv3ViTAttention(cfg)
        self.layer_scale1 = LayerScale(h, cfg.layerscale_value)
        self.norm2 = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.mlp = DINOv3ViTGatedMLP(cfg) if cfg.use_gated_mlp else DINOv3ViTMLP(cfg)
        self.layer_scale2 = LayerScale(h, cfg.layerscale_value)
        self.drop_path_rate = float(cfg.drop_path_rate or 0.0)

    def forward(self, x, cos, sin):
        a = self.layer_scale1(self.attention(self.norm1(x), cos, sin))
        x = x + _drop_path(a, self.drop_path_rate, self.training)
        m = self.layer_scale2(self.mlp(self.norm2(x)))
        return x + _drop_path(m, self.drop_path_rate, self.training)


class DINOv3ViTModel(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        if not isinstance(cfg, Config):
            cfg = Config(cfg)
        self.config = cfg
        self.embeddings = DINOv3ViTEmbeddings(cfg)
        self.rope_embeddings = DINOv3ViTRopePositionEmbedding(cfg)
        self.layer = nn.ModuleList([DINOv3ViTLayer(cfg) for _ in range(cfg.num_hidden_layers)])
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    @property
    def num_prefix_tokens(self) -> int:
        return 1 + self.config.num_register_tokens

    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: Optional[torch.Tensor] = None):
        """-> (last_hidden_state [B, 1+R+P, H], pooler_output [B, H])."""
        x = self.embeddings(pixel_values, bool_masked_pos)
        cos, sin = self.rope_embeddings(pixel_values, x.dtype)
        for blk in self.layer:
            x = blk(x, cos, sin)
        y = self.norm(x)
        return y, y[:, 0, :]


# ================================================================================================
# DINOv2
# ================================================================================================

class Dinov2PatchEmbeddings(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.projection = nn.Conv2d(cfg.num_channels, cfg.hidden_size, kernel_size=cfg.patch_size,
                                    stride=cfg.patch_size)

    def forward(self, pixel_values):
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class Dinov2Embeddings(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        h = cfg.hidden_size
        g = cfg.image_size // cfg.patch_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, h))
        if cfg.use_mask_token:
            self.mask_token = nn.Parameter(torch.zeros(1, h))
        self.patch_embeddings = Dinov2PatchEmbeddings(cfg)
        self.position_embeddings = nn.Parameter(torch.zeros(1, g * g + 1, h))
        self.patch_size = cfg.patch_size
        self.hidden_dropout_prob = float(cfg.hidden_dropout_prob or 0.0)
        # "size": current transformers (interpolate to size=(Hp, Wp));
        # "legacy": older releases (scale_factor=((Hp+0.1)/G, (Wp+0.1)/G)).
        self.pos_interp_mode = "size"
        self.pos_interp_dtype = torch.float32  # HF upcasts to float32 for the resize
        self.always_interpolate = False  # HF interpolates unconditionally while jit-tracing

    def interpolate_pos_encoding(self, num_patches: int, height: int, width: int) -> torch.Tensor:
        """Position table actually used for an input of height x width pixels: [1, 1+P, H]."""
        pos = self.position_embeddings
        num_positions = pos.shape[1] - 1
        # like HF: always resize while tracing (ONNX export), so the graph does not bake in the shortcut
        if (not self.always_interpolate and not torch.jit.is_tracing()
                and num_patches == num_positions and height == width):
            return pos
        dim = pos.shape[-1]
        g = int(round(math.sqrt(num_positions)))
        assert g * g == num_positions, "position table is not a square grid"
        hp = height // self.patch_size
        wp = width // self.patch_size
        grid = pos[:, 1:].reshape(1, g, g, dim).permute(0, 3, 1, 2)
        tdt = grid.dtype
        grid = grid.to(self.pos_interp_dtype)
        if self.pos_interp_mode == "size":
            grid = F.interpolate(grid, size=(hp, wp), mode="bicubic", align_corners=False)
        elif self.pos_interp_mode == "legacy":
            grid = F.interpolate(grid, scale_factor=((hp + 0.1) / g, (wp + 0.1) / g), mode="bicubic",
                                 align_corners=False)
            assert grid.shape[-2] == hp and grid.shape[-1] == wp
        else:
            raise ValueError(self.pos_interp_mode)
        grid = grid.to(tdt).permute(0, 2, 3, 1).reshape(1, hp * wp, dim)
        return torch.cat([pos[:, :1], grid], dim=1)

    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, _, height, width = pixel_values.shape
        w = self.patch_embeddings.projection.weight
        x = self.patch_embeddings(pixel_values.to(w.dtype))
        if bool_masked_pos is not None and hasattr(self, "mask_token"):
            x = torch.where(bool_masked_pos.unsqueeze(-1), self.mask_token.to(x.dtype).unsqueeze(0), x)
        cls = self.cls_token.expand(b, -1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + self.interpolate_pos_encoding(x.shape[1] - 1, height, width)
        if self.hidden_dropout_prob > 0.0:
            x = F.dropout(x, p=self.hidden_dropout_prob, training=self.training)
        return x


class Dinov2SelfAttention(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        h = cfg.hidden_size
        self.num_heads = cfg.num_attention_heads
        self.head_dim = h // self.num_heads
        self.scaling = self.head_dim ** -0.5
        self.dropout = float(cfg.attention_probs_dropout_prob or 0.0)
        self.query = nn.Linear(h, h, bias=cfg.qkv_bias)
        self.key = nn.Linear(h, h, bias=cfg.qkv_bias)
        self.value = nn.Linear(h, h, bias=cfg.qkv_bias)

    def forward(self, x):
        b, n, c = x.shape
        q = self.query(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.key(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        v = self.value(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        o = _attention(q, k, v, self.scaling, self.dropout, self.training)
        return o.transpose(1, 2).reshape(b, n, c)


class Dinov2SelfOutput(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.p = float(cfg.hidden_dropout_prob or 0.0)

    def forward(self, x):
        x = self.dense(x)
        return F.dropout(x, p=self.p, training=self.training) if self.p > 0.0 else x


class Dinov2Attention(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.attention = Dinov2SelfAttention(cfg)
        self.output = Dinov2SelfOutput(cfg)

    def forward(self, x):
        return self.output(self.attention(x))


class Dinov2MLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        hid = int(cfg.hidden_size * cfg.mlp_ratio)
        self.fc1 = nn.Linear(cfg.hidden_size, hid, bias=True)
        self.fc2 = nn.Linear(hid, cfg.hidden_size, bias=True)
        self.act = _act(cfg.hidden_act)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Dinov2SwiGLUFFN(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        hid = int(cfg.hidden_size * cfg.mlp_ratio)
        hid = (int(hid * 2 / 3) + 7) // 8 * 8
        self.weights_in = nn.Linear(cfg.hidden_size, 2 * hid, bias=True)
        self.weights_out = nn.Linear(hid, cfg.hidden_size, bias=True)
        self.hid = hid

    def forward(self, x):
        h = self.weights_in(x)
        x1 = h[..., : self.hid]
        x2 = h[..., self.hid:]
        return self.weights_out(F.silu(x1) * x2)


class Dinov2Layer(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        h = cfg.hidden_size
        self.norm1 = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.attention = Dinov2Attention(cfg)
        self.layer_scale1 = LayerScale(h, cfg.layerscale_value)
        self.norm2 = nn.LayerNorm(h, eps=cfg.layer_norm_eps)
        self.mlp = Dinov2SwiGLUFFN(cfg) if cfg.use_swiglu_ffn else Dinov2MLP(cfg)
        self.layer_scale2 = LayerScale(h, cfg.layerscale_value)
        self.drop_path_rate = float(cfg.drop_path_rate or 0.0)

    def forward(self, x):
        a = self.layer_scale1(self.attention(self.norm1(x)))
        x = x + _drop_path(a, self.drop_path_rate, self.training)
        m = self.layer_scale2(self.mlp(self.norm2(x)))
        return x + _drop_path(m, self.drop_path_rate, self.training)


class Dinov2Encoder(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.layer = nn.ModuleList([Dinov2Layer(cfg) for _ in range(cfg.num_hidden_layers)])

    def forward(self, x):
        for blk in self.layer:
            x = blk(x)
        return x


class Dinov2Model(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        if not isinstance(cfg, Config):
            cfg = Config(cfg)
        self.config = cfg
        self.embeddings = Dinov2Embeddings(cfg)
        self.encoder = Dinov2Encoder(cfg)
        self.layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    @property
    def num_prefix_tokens(self) -> int:
        return 1

    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: Optional[torch.Tensor] = None):
        """-> (last_hidden_state [B, 1+P, H], pooler_output [B, H])."""
        x = self.embeddings(pixel_values, bool_masked_pos)
        y = self.layernorm(self.encoder(x))
        return y, y[:, 0, :]


# ================================================================================================
# heads / embeddings
# ================================================================================================

def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return F.normalize(x, p=2.0, dim=-1, eps=eps)


def cls_mean_from_hidden(last_hidden_state: torch.Tensor, num_prefix_tokens: int) -> torch.Tensor:
    """L2-normalized concat(CLS, mean of patch tokens). Registers (rows 1..prefix-1) are excluded."""
    cls = last_hidden_state[:, 0, :]
    patches = last_hidden_state[:, num_prefix_tokens:, :]
    return l2_normalize(torch.cat([cls, patches.mean(dim=1)], dim=-1))


def embed(model: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """L2-normalized pooler_output (CLS after the final LayerNorm)."""
    _, pooled = model(pixels)
    return l2_normalize(pooled)


def concat_cls_mean(model: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """L2-normalized concat(CLS, mean(patch tokens)) -> [B, 2H]."""
    hidden, _ = model(pixels)
    return cls_mean_from_hidden(hidden, model.num_prefix_tokens)


# ================================================================================================
# construction / IO (HF folder layout)
# ================================================================================================

KNOWN_PREFIXES = ("dinov2.", "dinov3_vit.", "model.", "backbone.")


def build_model(config) -> nn.Module:
    cfg = config if isinstance(config, Config) else Config(config)
    if cfg.model_type == "dinov3_vit":
        return DINOv3ViTModel(cfg)
    if cfg.model_type == "dinov2":
        return Dinov2Model(cfg)
    raise ValueError(cfg.model_type)


def _strip_prefix(sd: Dict[str, torch.Tensor], expected) -> Dict[str, torch.Tensor]:
    if all(k in expected for k in sd):
        return sd
    for p in KNOWN_PREFIXES:
        if any(k.startswith(p) for k in sd):
            stripped = {(k[len(p):] if k.startswith(p) else k): v for k, v in sd.items()}
            if sum(k in expected for k in stripped) > sum(k in expected for k in sd):
                return {k: v for k, v in stripped.items() if k in expected}
    return sd


def load_state_dict_into(model: nn.Module, sd: Dict[str, torch.Tensor], dtype=None) -> None:
    own = model.state_dict()
    sd = _strip_prefix(dict(sd), own)
    missing = [k for k in own if k not in sd and not k.endswith("mask_token")]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        raise KeyError(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    with torch.no_grad():
        for k, v in sd.items():
            if tuple(own[k].shape) != tuple(v.shape):
                raise ValueError(f"{k}: shape {tuple(v.shape)} != expected {tuple(own[k].shape)}")
            own[k].copy_(v.to(own[k].dtype))
    if dtype is not None:
        model.to(dtype)


def load_pretrained(folder: str, dtype=torch.float32) -> nn.Module:
    """Read config.json + model.safetensors (F32/F16/BF16; BF16 is upcast to `dtype`). Returns an eval() model."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = Config(json.load(f))
    model = build_model(cfg).to(dtype)
    sd, _ = stio.load_file(os.path.join(folder, "model.safetensors"))
    load_state_dict_into(model, sd)
    return model.eval()


def save_pretrained(model: nn.Module, folder: str, weight_dtype: str = "F32",
                    config_overrides: Optional[dict] = None) -> None:
    """Write config.json and model.safetensors (HF key names, metadata {"format": "pt"})."""
    os.makedirs(folder, exist_ok=True)
    sd = {k: v.detach().to(torch.float32) for k, v in model.state_dict().items()}
    stio.save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"},
                   default_dtype=weight_dtype)
    cfg = model.config.to_dict()
    cfg.update(config_overrides or {})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
