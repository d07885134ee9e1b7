"""Plain-PyTorch LoRA with PEFT semantics (no dependency on the `peft` package).

Written from docs/model.md#lora and docs/model.md#peft-format. Works on the modules of `dino.py` (every linear is an
`nn.Linear` under its HF name).

    y = x W^T + b + s * (dropout(x) A^T) B^T,   s = alpha / r   (alpha / sqrt(r) with use_rslora)
    A: [r, in] (`lora_A`, nn.Linear(in, r, bias=False)),  B: [out, r] (`lora_B`, nn.Linear(r, out, bias=False))

Targets follow PEFT's list matching: a module path matches an entry t when `path == t` or
`path.endswith("." + t)`. On disk (PEFT `save_pretrained`, adapter name removed) the keys are
`base_model.model.<module path>.lora_A.weight` / `.lora_B.weight`.

Usage:
    wrapped = inject_lora(model, ["q_proj", "v_proj"], r=4, alpha=8)   # {path: LoraLinear}, base frozen
    sd = lora_state_dict(model)                                        # PEFT keys -> tensors
    merged = merged_copy(model)                                        # plain model, W <- W + s B A
"""

from __future__ import annotations

import copy
import json
import math
from typing import Dict, Iterable, List, Optional

import torch
from torch import nn

PEFT_PREFIX = "base_model.model."


class LoraLinear(nn.Module):
    """PEFT `lora.Linear` for one adapter: base layer (frozen) + lora_A / lora_B (trainable)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0, use_rslora: bool = False):
        super().__init__()
        self.base_layer = base
        self.r = int(r)
        self.alpha = float(alpha)
        self.scaling = self.alpha / (math.sqrt(self.r) if use_rslora else self.r)
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0.0 else nn.Identity()
        dt = base.weight.dtype
        self.lora_A = nn.Linear(base.in_features, self.r, bias=False).to(dt)
        self.lora_B = nn.Linear(self.r, base.out_features, bias=False).to(dt)
        self.reset_lora_parameters()
        self.merged = False

    @property
    def in_features(self) -> int:
        return self.base_layer.in_features

    @property
    def out_features(self) -> int:
        return self.base_layer.out_features

    def reset_lora_parameters(self) -> None:
        """PEFT `init_lora_weights=True`: A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0.
        Draws from torch's global generator, like PEFT."""
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def delta_weight(self) -> torch.Tensor:
        """s * B @ A, shape [out, in] (PEFT `get_delta_weight`, fan_in_fan_out false)."""
        return self.scaling * (self.lora_B.weight @ self.lora_A.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        if self.merged:
            return y
        return y + self.scaling * self.lora_B(self.lora_A(self.lora_dropout(x)))


def target_matches(path: str, targets: Iterable[str]) -> bool:
    return any(path == t or path.endswith("." + t) for t in targets)


def inject_lora(model: nn.Module, targets: List[str], r: int, alpha: float, dropout: float = 0.0,
                use_rslora: bool = False, freeze_base: bool = True) -> Dict[str, LoraLinear]:
    """Replace every matching nn.Linear by a LoraLinear, in module (registration) order. Returns {path: wrapper}.
    With freeze_base, every non-LoRA parameter of the model gets requires_grad=False."""
    found = [(p, m) for p, m in model.named_modules() if isinstance(m, nn.Linear) and target_matches(p, targets)]
    if not found:
        raise ValueError(f"target_modules {targets} match no nn.Linear")
    if freeze_base:
        for p in model.parameters():
            p.requires_grad_(False)
    out = {}
    for path, lin in found:
        parent_path, _, leaf = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        w = LoraLinear(lin, r, alpha, dropout, use_rslora)
        setattr(parent, leaf, w)
        out[path] = w
    return out


def lora_modules(model: nn.Module) -> Dict[str, LoraLinear]:
    return {p: m for p, m in model.named_modules() if isinstance(m, LoraLinear)}


def peft_key(path: str, which: str) -> str:
    """which: "A" or "B" -> base_model.model.<path>.lora_A.weight"""
    return f"{PEFT_PREFIX}{path}.lora_{which}.weight"


def lora_parameters(model: nn.Module) -> Dict[str, nn.Parameter]:
    """PEFT key -> the live parameter, sorted by key."""
    d = {}
    for path, m in lora_modules(model).items():
        d[peft_key(path, "A")] = m.lora_A.weight
        d[peft_key(path, "B")] = m.lora_B.weight
    return dict(sorted(d.items()))


def lora_state_dict(model: nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in lora_parameters(model).items()}


def load_lora_state_dict(model: nn.Module, sd: Dict[str, torch.Tensor]) -> None:
    params = lora_parameters(model)
    if set(params) != set(sd):
        raise KeyError(f"LoRA key mismatch: missing={sorted(set(params) - set(sd))} "
                       f"unexpected={sorted(set(sd) - set(params))}")
    with torch.no_grad():
        for k, p in params.items():
            if tuple(p.shape) != tuple(sd[k].shape):
                raise ValueError(f"{k}: shape {tuple(sd[k].shape)} != {tuple(p.shape)}")
            p.copy_(sd[k].to(p.dtype))


def merged_copy(model: nn.Module) -> nn.Module:
    """A copy of the model with every LoraLinear replaced by its base nn.Linear with W + s B A (merge_and_unload)."""
    m = copy.deepcopy(model)
    for path, w in lora_modules(m).items():
        parent_path, _, leaf = path.rpartition(".")
        parent = m.get_submodule(parent_path) if parent_path else m
        base = w.base_layer
        with torch.no_grad():
            base.weight.add_(w.delta_weight().to(base.weight.dtype))
        setattr(parent, leaf, base)
    return m


def peft_adapter_config(r: int, alpha: float, targets: List[str], base_model_name_or_path: Optional[str],
                        dropout: float = 0.0, use_rslora: bool = False,
                        task_type: Optional[str] = "FEATURE_EXTRACTION") -> dict:
    """The LoraConfig fields PEFT 0.14 writes (asdict), with inference_mode forced true as on save."""
    return {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": base_model_name_or_path,
        "bias": "none",
        "eva_config": None,
        "exclude_modules": None,
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layer_replication": None,
        "layers_pattern": None,
        "layers_to_transform": None,
        "loftq_config": {},
        "lora_alpha": alpha,
        "lora_bias": False,
        "lora_dropout": dropout,
        "megatron_config": None,
        "megatron_core": "megatron.core",
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": r,
        "rank_pattern": {},
        "revision": None,
        "target_modules": sorted(targets),
        "task_type": task_type,
        "use_dora": False,
        "use_rslora": use_rslora,
    }


def adapter_config_json(cfg: dict) -> str:
    """PEFT `save_pretrained`: json.dumps(asdict(config), indent=2, sort_keys=True) (no trailing newline)."""
    return json.dumps(cfg, indent=2, sort_keys=True)
