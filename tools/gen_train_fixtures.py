#!/usr/bin/env python3
"""Generate the training reference fixtures under tests/fixtures/train/ (LoRA / full fine-tuning gradients,
five contrastive losses, a 10-step AdamW trajectory and a PEFT adapter folder) for the tiny models in
tests/fixtures/models/ (dinov3-tiny, dinov2-tiny).

Run with Debian's torch:   /usr/bin/python3 tools/gen_train_fixtures.py
Needs the model fixtures (tools/gen_model_fixtures.py). Deterministic: seeded generators, single-threaded
torch, sorted JSON and safetensors headers; a re-run rewrites byte-identical files. Every number is computed in
float64 (model, inputs and LoRA weights cast to double) and stored as float32. Nothing is written unless every
check passes. Layout of the files: tests/fixtures/train/README.md (the README text is at the bottom).
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
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import dino  # noqa: E402
import lora  # noqa: E402
import losses  # noqa: E402
import safetensors_io as stio  # noqa: E402
from gen_model_fixtures import close, verify_roundtrip  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

REPO = os.path.dirname(HERE)
MODELS = os.path.join(REPO, "tests", "fixtures", "models")
OUT = os.path.join(REPO, "tests", "fixtures", "train")

B = 6
LABELS = [0, 1, 1, 2, 3, 3]
LORA_R = 4
LORA_ALPHA = 8
LORA_DROPOUT = 0.0
LORA_RSLORA = False
LORA_B_STD = 0.05
TAU = 0.05
MARGIN = 0.5
COSENT_SCALE = 20.0
ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, steps=10, warmup_ratio=0.1,
             max_grad_norm=1.0, variant="infonce_labels")

# per model: LoRA targets, fixed-batch size, full-FT cases, seeds
SPECS = {
    "dinov3-tiny": dict(targets=["q_proj", "v_proj"], size=32, native=32, seed_pix=2301, seed_lora=2311),
    "dinov2-tiny": dict(targets=["query", "value"], size=28, native=35, seed_pix=2302, seed_lora=2312),
}

# margin (in S units) required between the hardest and second-hardest negative of a row, and between the
# triplet hinge argument and 0, so that finite differences and f32 re-implementations see no kink / tie
TIE_GAP = 1e-3


# ================================================================================================
# helpers
# ================================================================================================

def load_base(name: str) -> torch.nn.Module:
    """The fixture model in float64, eval mode (no RoPE augmentation; every dropout is 0). DINOv2's position
    table resize runs in float64 too, so gradients through it are exact float64 (HF resizes in float32; the
    forward difference is ~1e-7)."""
    m = dino.load_pretrained(os.path.join(MODELS, name)).double().eval()
    if isinstance(m, dino.Dinov2Model):
        m.embeddings.pos_interp_dtype = torch.float64
    return m


def f32(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float32).contiguous()


def embed_pair(model, q_pix, p_pix):
    return dino.embed(model, q_pix.double()), dino.embed(model, p_pix.double())


def loss_of(model, batch, variant):
    q, p = embed_pair(model, batch["query"], batch["positive"])
    return losses.compute(variant, q, p, batch["labels"], tau=TAU, margin=MARGIN, scale=COSENT_SCALE)


def cosine_schedule(warmup: int, total: int):
    """transformers.get_cosine_schedule_with_warmup (num_cycles 0.5), written out."""
    def f(step: int) -> float:
        if step < warmup:
            return float(step) / float(max(1, warmup))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return f


def make_lora_model(name: str, spec: dict) -> torch.nn.Module:
    """Base + LoRA(q, v) with A ~ PEFT kaiming-uniform (global torch seed) and B ~ N(0, 0.05) (not zero), both
    drawn in float32 (the stored values), then the whole model in float64."""
    m = dino.load_pretrained(os.path.join(MODELS, name)).eval()  # float32 for the draws
    torch.manual_seed(spec["seed_lora"])
    mods = lora.inject_lora(m, spec["targets"], r=LORA_R, alpha=LORA_ALPHA, dropout=LORA_DROPOUT,
                            use_rslora=LORA_RSLORA)
    g = torch.Generator().manual_seed(spec["seed_lora"] + 1)
    with torch.no_grad():
        for path, w in mods.items():
            bound = 1.0 / math.sqrt(w.in_features)
            assert float(w.lora_A.weight.abs().max()) <= bound, f"{path}: A outside U(-1/sqrt(in), 1/sqrt(in))"
            assert float(w.lora_A.weight.abs().max()) > 0.5 * bound
            w.lora_B.weight.copy_(torch.randn(w.lora_B.weight.shape, generator=g) * LORA_B_STD)
    m = m.double()
    if isinstance(m, dino.Dinov2Model):
        m.embeddings.pos_interp_dtype = torch.float64
    return m


def fd_entries(model, params: dict, batch, variant, picks, h=1e-5):
    """Central differences of the loss for single entries: [(key, flat index, fd, analytic)]."""
    out = []
    for key, idx, g in picks:
        p = params[key]
        flat = p.data.view(-1)
        old = float(flat[idx])
        with torch.no_grad():
            flat[idx] = old + h
            lp = float(loss_of(model, batch, variant))
            flat[idx] = old - h
            lm = float(loss_of(model, batch, variant))
            flat[idx] = old
        out.append((key, idx, (lp - lm) / (2 * h), g))
    return out


def fd_direction(model, params: dict, grads: dict, batch, variant, seed, h=1e-5):
    """Directional derivative along a random unit-norm direction over all params: (fd, <grad, d>)."""
    gen = torch.Generator().manual_seed(seed)
    d = {k: torch.randn(p.shape, generator=gen, dtype=torch.float64) for k, p in params.items()}
    n = math.sqrt(sum(float((v * v).sum()) for v in d.values()))
    d = {k: v / n for k, v in d.items()}
    old = {k: p.data.clone() for k, p in params.items()}
    with torch.no_grad():
        for k, p in params.items():
            p.data.copy_(old[k] + h * d[k])
        lp = float(loss_of(model, batch, variant))
        for k, p in params.items():
            p.data.copy_(old[k] - h * d[k])
        lm = float(loss_of(model, batch, variant))
        for k, p in params.items():
            p.data.copy_(old[k])
    return (lp - lm) / (2 * h), sum(float((grads[k] * d[k]).sum()) for k in params)


FD_WORST = [0.0, 0.0]  # largest |fd - autograd| / tolerance, and relative error where |autograd| > 1e-4


def assert_fd(fd, an, what, rtol=1e-6, atol=1e-9):
    assert abs(fd - an) <= atol + rtol * abs(an), f"{what}: finite difference {fd:.10e} vs autograd {an:.10e}"
    FD_WORST[0] = max(FD_WORST[0], abs(fd - an) / (atol + rtol * abs(an)))
    if abs(an) > 1e-4:
        FD_WORST[1] = max(FD_WORST[1], abs(fd - an) / abs(an))


# ================================================================================================
# loss checks (independent of the model)
# ================================================================================================

def np_losses(q, p, labels):
    """Loop-form float64 reimplementation of the five losses (independent of losses.py)."""
    q = np.asarray(q, np.float64)
    p = np.asarray(p, np.float64)
    n = q.shape[0]
    S = q @ p.T

    def lse(v):
        m = max(v)
        return m + math.log(sum(math.exp(x - m) for x in v))

    def nce(S_, lab):
        tot = 0.0
        for i in range(n):
            row = [S_[i, j] / TAU for j in range(n)]
            z = lse(row)
            pos = [j for j in range(n) if (lab[i] == lab[j] if lab is not None else i == j)]
            tot += -sum(row[j] - z for j in pos) / len(pos)
        return tot / n

    out = {"infonce": nce(S, None), "infonce_labels": nce(S, labels),
           "infonce_bidir": 0.5 * (nce(S, None) + nce(S.T, None))}
    tot = 0.0
    terms = []
    for i in range(n):
        negs = [S[i, j] for j in range(n) if j != i and labels[j] != labels[i]]
        if negs:
            tot += max(0.0, max(negs) - S[i, i] + MARGIN)
        terms += [COSENT_SCALE * (S[i, j] - S[i, i]) for j in range(n) if j != i and labels[j] != labels[i]]
    out["triplet"] = tot / n
    out["cosent"] = lse([0.0] + terms)
    return out


def checks_losses():
    g = torch.Generator().manual_seed(99)
    q = dino.l2_normalize(torch.randn(B, 8, generator=g, dtype=torch.float64))
    p = dino.l2_normalize(q + 0.5 * torch.randn(B, 8, generator=g, dtype=torch.float64))
    lab = torch.tensor(LABELS)
    ref = np_losses(q.numpy(), p.numpy(), LABELS)
    for v in losses.VARIANTS:
        got = float(losses.compute(v, q, p, lab, tau=TAU, margin=MARGIN, scale=COSENT_SCALE))
        close(got, ref[v], 1e-12, f"loss {v} vs loop form")
        # gradcheck w.r.t. both embeddings (float64 finite differences); the triplet batch has no ties
        qq = q.clone().requires_grad_(True)
        pp = p.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda a, b, v=v: losses.compute(v, a, b, lab, tau=TAU, margin=MARGIN, scale=COSENT_SCALE),
            (qq, pp), eps=1e-6, atol=1e-7, rtol=1e-5), f"gradcheck {v}"
    # infonce_labels with all-distinct labels is plain infonce; the supervised bidir form is symmetric
    close(float(losses.infonce(q, p, torch.arange(B))), float(losses.infonce(q, p)), 1e-14, "labels=arange")
    # cross-entropy form == -mean(diag(log_softmax))
    lg = q @ p.T / TAU
    close(float(losses.infonce(q, p)), float(-torch.log_softmax(lg, 1).diagonal().mean()), 1e-14, "CE form")
    # rows without a valid negative: all labels equal -> triplet and cosent are 0, with zero, finite gradients
    same = torch.zeros(B, dtype=torch.long)
    for v in ("triplet", "cosent"):
        qq = q.clone().requires_grad_(True)
        loss = losses.compute(v, qq, p, same, tau=TAU, margin=MARGIN, scale=COSENT_SCALE)
        (gq,) = torch.autograd.grad(loss, qq)
        assert float(loss) == 0.0 and torch.isfinite(gq).all() and float(gq.abs().max()) == 0.0, v
    # hand-made 3x3 case (q = S, p = I, so q p^T = S): an inactive hinge still counts in the mean. (With
    # label-based negatives a row lacks a negative only when all labels are equal, covered above.)
    S = torch.tensor([[0.9, 0.8, 0.1], [0.7, 0.2, 0.3], [0.6, 0.4, 0.5]], dtype=torch.float64)
    t = float(losses.triplet(S, torch.eye(3, dtype=torch.float64), torch.tensor([0, 0, 1]), margin=MARGIN))
    # row0: neg {2} -> 0.1-0.9+0.5<0 -> 0; row1: neg {2} -> 0.3-0.2+0.5=0.6; row2: neg {0,1} -> 0.6-0.5+0.5=0.6
    close(t, (0.0 + 0.6 + 0.6) / 3, 1e-15, "triplet hand case")
    c = float(losses.cosent(S, torch.eye(3, dtype=torch.float64), torch.tensor([0, 0, 1]), scale=COSENT_SCALE))
    terms = [20 * (0.1 - 0.9), 20 * (0.3 - 0.2), 20 * (0.6 - 0.5), 20 * (0.4 - 0.5)]
    close(c, math.log(1 + sum(math.exp(x) for x in terms)), 1e-12, "cosent hand case")


def check_no_ties(q, p, labels, what):
    S = (q @ p.T).detach()
    lab = labels.tolist()
    gaps = []
    for i in range(S.shape[0]):
        negs = sorted((float(S[i, j]) for j in range(S.shape[0]) if j != i and lab[j] != lab[i]), reverse=True)
        hinge = negs[0] - float(S[i, i]) + MARGIN
        gaps.append(min(negs[0] - negs[1] if len(negs) > 1 else 1.0, abs(hinge)))
    assert min(gaps) > TIE_GAP, f"{what}: triplet tie/kink gap {min(gaps):.2e} <= {TIE_GAP}"
    return min(gaps)


# ================================================================================================
# per model
# ================================================================================================

def build(name: str, spec: dict, files: dict, summary: list):
    kind = "dinov3" if name.startswith("dinov3") else "dinov2"
    size = spec["size"]
    g = torch.Generator().manual_seed(spec["seed_pix"])
    batch = {
        "query": torch.randn(B, 3, size, size, generator=g, dtype=torch.float32),
        "positive": torch.randn(B, 3, size, size, generator=g, dtype=torch.float32),
        "labels": torch.tensor(LABELS, dtype=torch.int64),
    }
    tensors = {"batch.query": batch["query"], "batch.positive": batch["positive"], "batch.labels": batch["labels"]}
    meta = {}

    base = load_base(name)
    cfg = base.config
    ps = cfg.patch_size
    grid = f"{size // ps}x{size // ps}"
    if kind == "dinov2":
        G = int(round(math.sqrt(base.embeddings.position_embeddings.shape[1] - 1)))
        assert size // ps != G, "the fixed DINOv2 batch must use an interpolated position table"
        grid += f" (position table bicubic {G}x{G}->{grid})"

    # ---- LoRA model at init --------------------------------------------------------------------------
    model = make_lora_model(name, spec)
    params = lora.lora_parameters(model)
    paths = list(lora.lora_modules(model))
    n_layers = cfg.num_hidden_layers
    assert len(paths) == 2 * n_layers, paths
    for k, v in params.items():
        tensors["lora_init." + k] = f32(v)
        assert torch.equal(v.detach(), v.detach().float().double()), "init must be exactly f32-representable"
        assert v.requires_grad
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert n_trainable == sum(v.numel() for v in params.values()), "base must be frozen"

    # B = 0 gives the base model exactly
    zero = copy.deepcopy(model)
    with torch.no_grad():
        for w in lora.lora_modules(zero).values():
            w.lora_B.weight.zero_()
        e0 = dino.embed(zero, batch["query"].double())
        eb = dino.embed(base, batch["query"].double())
        l0, _ = zero(batch["positive"].double())
        lb, _ = base(batch["positive"].double())
    assert torch.equal(e0, eb) and torch.equal(l0, lb), "LoRA with B = 0 must equal the base model"

    # embeddings at init
    with torch.no_grad():
        q_emb, p_emb = embed_pair(model, batch["query"], batch["positive"])
    tensors["lora.q_emb"] = f32(q_emb)
    tensors["lora.p_emb"] = f32(p_emb)
    close(q_emb.norm(dim=-1), np.ones(B), 1e-12, "q_emb norm")
    assert float((q_emb - eb).abs().max()) > 1e-3, "LoRA (B != 0) should change the embeddings"
    # merged == unmerged at init as well
    with torch.no_grad():
        close(dino.embed(lora.merged_copy(model), batch["query"].double()), q_emb.numpy(), 1e-12, "merge at init")
    gap = check_no_ties(q_emb, p_emb, batch["labels"], name)
    np_ref = np_losses(q_emb.numpy(), p_emb.numpy(), LABELS)

    # ---- the five losses: value + LoRA gradients -------------------------------------------------------
    keys = list(params)
    fd_report = []
    for vi, variant in enumerate(losses.VARIANTS):
        loss = loss_of(model, batch, variant)
        grads = dict(zip(keys, torch.autograd.grad(loss, [params[k] for k in keys])))
        close(float(loss), np_ref[variant], 1e-12, f"{name} {variant} loss vs loop form")
        tensors[f"{variant}.loss"] = f32(loss.reshape(1))
        for k in keys:
            gk = grads[k]
            assert float(gk.abs().max()) > 1e-6, f"{name} {variant}: gradient of {k} is trivial"
            tensors[f"{variant}.grad.{k}"] = f32(gk)
        # finite differences: a random direction over all LoRA weights + 4 single entries (A and B, first and last
        # layer)
        fd, an = fd_direction(model, params, grads, batch, variant, seed=1000 + vi)
        assert_fd(fd, an, f"{name} {variant} directional")
        picks = []
        for j, k in enumerate([keys[0], keys[1], keys[-2], keys[-1]]):
            idx = int(torch.argmax(grads[k].abs()).item()) if j % 2 == 0 else (7 * j + vi) % grads[k].numel()
            picks.append((k, idx, float(grads[k].view(-1)[idx])))
        for k, idx, fdv, anv in fd_entries(model, params, batch, variant, picks):
            assert_fd(fdv, anv, f"{name} {variant} {k}[{idx}]")
        fd_report.append(f"{variant}: loss {float(loss):.6f}, dir fd {fd:.6e} vs {an:.6e}")
    summary.append(f"{name}: triplet min tie/kink gap {gap:.3e}; " + "; ".join(fd_report))

    # ---- full fine-tuning gradients (variant infonce_labels) ------------------------------------------
    full_cases = [("full", None)]
    if kind == "dinov2":
        gn = torch.Generator().manual_seed(spec["seed_pix"] + 100)
        nat = spec["native"]
        full_pix = {"query": torch.randn(B, 3, nat, nat, generator=gn, dtype=torch.float32),
                    "positive": torch.randn(B, 3, nat, nat, generator=gn, dtype=torch.float32)}
        assert (nat // ps) ** 2 == base.embeddings.position_embeddings.shape[1] - 1
        tensors["full.query"] = full_pix["query"]
        tensors["full.positive"] = full_pix["positive"]
        full_cases = [("full", full_pix), ("full_interp", None)]
        meta["full.inputs"] = (f"full.query/full.positive {B}x3x{nat}x{nat} (grid {nat // ps}x{nat // ps}: position "
                               f"table used as stored), labels batch.labels")
        meta["full_interp.inputs"] = f"batch.query/batch.positive {B}x3x{size}x{size} (grid {grid}), labels batch.labels"
    else:
        meta["full.inputs"] = f"batch.query/batch.positive {B}x3x{size}x{size} (grid {grid}), labels batch.labels"
    for prefix, pix in full_cases:
        fm = load_base(name)
        fb = dict(batch, **pix) if pix is not None else batch
        named = {k: p for k, p in fm.named_parameters() if not k.endswith("mask_token")}
        for p in fm.parameters():
            p.requires_grad_(True)
        loss = loss_of(fm, fb, "infonce_labels")
        fkeys = sorted(named)
        grads = dict(zip(fkeys, torch.autograd.grad(loss, [named[k] for k in fkeys])))
        tensors[f"{prefix}.loss"] = f32(loss.reshape(1))
        sd_keys = set(k for k in fm.state_dict() if not k.endswith("mask_token"))
        assert set(fkeys) == sd_keys, "every parameter but mask_token gets a gradient"
        for k in fkeys:
            assert grads[k].shape == named[k].shape
            if k.endswith("attention.key.bias"):
                # softmax is shift-invariant per query row, so q . b_k cancels: the true gradient is 0 (autograd
                # leaves ~1e-17 of rounding). Stored as exact zeros.
                assert float(grads[k].abs().max()) < 1e-13, f"{name} {prefix}: {k} gradient should vanish"
                tensors[f"{prefix}.grad.{k}"] = torch.zeros_like(f32(grads[k]))
                continue
            assert float(grads[k].abs().max()) > 1e-4, f"{name} {prefix}: (near) zero gradient for {k}"
            tensors[f"{prefix}.grad.{k}"] = f32(grads[k])
        # the LoRA-init-free base loss equals the stored full loss input: check against the loop form
        with torch.no_grad():
            qf, pf = embed_pair(fm, fb["query"], fb["positive"])
        close(float(loss), np_losses(qf.numpy(), pf.numpy(), LABELS)["infonce_labels"], 1e-12, f"{prefix} loss")
        fd, an = fd_direction(fm, named, grads, fb, "infonce_labels", seed=2000 + len(prefix))
        assert_fd(fd, an, f"{name} {prefix} directional")
        pick_keys = [k for k in fkeys if any(s in k for s in (
            "cls_token", "register_tokens", "position_embeddings", "patch_embeddings", "norm1.weight",
            "lambda1", "layernorm.bias", "norm.bias", "fc1.weight", "up_proj.weight", "k_proj.weight", "key.bias"))]
        picks = []
        for k in pick_keys:
            gk = grads[k].view(-1)
            picks.append((k, int(torch.argmax(gk.abs()).item()), float(gk[int(torch.argmax(gk.abs()).item())])))
            if k.endswith("position_embeddings"):  # a CLS row entry and a grid entry too
                picks.append((k, 3, float(gk[3])))
                picks.append((k, gk.numel() - 5, float(gk[gk.numel() - 5])))
        for k, idx, fdv, anv in fd_entries(fm, named, fb, "infonce_labels", picks):
            assert_fd(fdv, anv, f"{name} {prefix} {k}[{idx}]", rtol=1e-6, atol=1e-9)
        summary.append(f"{name} {prefix}: loss {float(loss):.6f}, {len(fkeys)} parameter gradients, "
                       f"{len(picks)} single-entry FD checks, dir fd {fd:.6e} vs {an:.6e}")

    # ---- AdamW trajectory -----------------------------------------------------------------------------
    am = make_lora_model(name, spec)
    ap = lora.lora_parameters(am)
    akeys = list(ap)
    plist = [ap[k] for k in akeys]
    steps = ADAMW["steps"]
    warmup = math.ceil(steps * ADAMW["warmup_ratio"])
    sched_f = cosine_schedule(warmup, steps)
    opt = torch.optim.AdamW(plist, lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"],
                            weight_decay=ADAMW["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, sched_f)
    # independent hand-written AdamW (torch's formulas) on copies of the same weights
    man = {k: ap[k].detach().clone() for k in akeys}
    m1 = {k: torch.zeros_like(v) for k, v in man.items()}
    m2 = {k: torch.zeros_like(v) for k, v in man.items()}
    b1, b2 = ADAMW["betas"]
    los, lrs, gns, clipped = [], [], [], 0
    for t in range(steps):
        lr_t = opt.param_groups[0]["lr"]
        close(lr_t, ADAMW["lr"] * sched_f(t), 1e-18, "scheduler lr")
        opt.zero_grad(set_to_none=True)
        loss = loss_of(am, batch, ADAMW["variant"])
        loss.backward()
        raw = {k: ap[k].grad.detach().clone() for k in akeys}
        gnorm = torch.nn.utils.clip_grad_norm_(plist, ADAMW["max_grad_norm"])
        own_norm = math.sqrt(sum(float((v * v).sum()) for v in raw.values()))
        close(float(gnorm), own_norm, 1e-12, "grad norm")
        coef = min(1.0, ADAMW["max_grad_norm"] / (own_norm + 1e-6))  # torch's clip formula
        clipped += coef < 1.0
        for k in akeys:
            close(ap[k].grad, (raw[k] * coef).numpy(), 1e-15, "clipped grad")
        opt.step()
        sched.step()
        # manual step
        for k in akeys:
            gk = raw[k] * coef
            man[k] = man[k] * (1 - lr_t * ADAMW["weight_decay"])
            m1[k] = b1 * m1[k] + (1 - b1) * gk
            m2[k] = b2 * m2[k] + (1 - b2) * gk * gk
            bc1 = 1 - b1 ** (t + 1)
            bc2 = 1 - b2 ** (t + 1)
            man[k] = man[k] - (lr_t / bc1) * m1[k] / ((m2[k].sqrt() / math.sqrt(bc2)) + ADAMW["eps"])
        los.append(float(loss))
        lrs.append(lr_t)
        gns.append(float(gnorm))
    for k in akeys:
        close(ap[k].detach(), man[k].numpy(), 1e-13, f"AdamW torch vs hand-written ({k})")
    assert los[0] == los[1], "step 0 has lr 0 (warmup), so the weights must not move"
    assert los[-1] < los[0], f"{name}: AdamW did not reduce the loss {los}"
    with torch.no_grad():
        l_end = float(loss_of(am, batch, ADAMW["variant"]))
    tensors["adamw.losses"] = torch.tensor(los, dtype=torch.float32)
    tensors["adamw.lrs"] = torch.tensor(lrs, dtype=torch.float32)
    tensors["adamw.grad_norms"] = torch.tensor(gns, dtype=torch.float32)
    final = {k: f32(ap[k]) for k in akeys}
    for k in akeys:
        tensors["adamw.final." + k] = final[k]
        assert float((final[k].double() - tensors["lora_init." + k].double()).abs().max()) > 1e-4, "weights moved"
    summary.append(f"{name} adamw: losses {los[0]:.6f} -> {los[-1]:.6f} (after: {l_end:.6f}), clipped "
                   f"{clipped}/{steps} steps, grad norms {gns[0]:.3f}..{gns[-1]:.3f}, lrs {[round(x, 7) for x in lrs]}")

    # ---- PEFT adapter folder + embeddings through it ---------------------------------------------------
    adapter = make_lora_model(name, spec)
    lora.load_lora_state_dict(adapter, {k: v.double() for k, v in final.items()})
    with torch.no_grad():
        e_unmerged = dino.embed(adapter, batch["query"].double())
        e_merged = dino.embed(lora.merged_copy(adapter), batch["query"].double())
    close(e_unmerged, e_merged.numpy(), 1e-12, f"{name} adapter merged vs unmerged")
    assert float((e_unmerged - eb).abs().max()) > 1e-3
    tensors["adapter.embeddings"] = f32(e_unmerged)
    acfg = lora.peft_adapter_config(LORA_R, LORA_ALPHA, spec["targets"],
                                    base_model_name_or_path=f"tests/fixtures/models/{name}",
                                    dropout=LORA_DROPOUT, use_rslora=LORA_RSLORA)
    files[f"{name}-adapter/adapter_config.json"] = lora.adapter_config_json(acfg).encode("utf-8")
    add_safetensors(files, f"{name}-adapter/adapter_model.safetensors", final, {"format": "pt"})

    # ---- metadata ----------------------------------------------------------------------------------------
    meta.update({
        "format": "pt",
        "generator": "tools/gen_train_fixtures.py",
        "model": f"tests/fixtures/models/{name}",
        "reference": "float64 (model, inputs and the stored float32 LoRA weights cast to double), stored float32; "
                     "eval mode (no RoPE augmentation, dropout 0)"
                     + ("; position table resized in float64" if kind == "dinov2" else ""),
        "batch": f"B={B} {size}x{size} grid {grid}, labels {LABELS}",
        "embedding": "L2-normalized pooler_output (CLS row after the final norm)",
        "lora.config": json.dumps({"r": LORA_R, "alpha": LORA_ALPHA, "scaling": LORA_ALPHA / LORA_R,
                                   "targets": spec["targets"], "rslora": LORA_RSLORA, "dropout": LORA_DROPOUT,
                                   "modules": paths, "init_A": "kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), "
                                   "1/sqrt(in))", "init_B": f"N(0, {LORA_B_STD})"}, sort_keys=True),
        "losses": json.dumps({"infonce": {"tau": TAU}, "infonce_labels": {"tau": TAU},
                              "infonce_bidir": {"tau": TAU}, "triplet": {"margin": MARGIN},
                              "cosent": {"scale": COSENT_SCALE}}, sort_keys=True),
        "adamw": json.dumps({"variant": ADAMW["variant"], "steps": steps, "lr": ADAMW["lr"],
                             "betas": list(ADAMW["betas"]), "eps": ADAMW["eps"],
                             "weight_decay": ADAMW["weight_decay"], "schedule": "cosine_with_warmup",
                             "warmup_steps": warmup, "max_grad_norm": ADAMW["max_grad_norm"],
                             "clip": "g *= min(1, max_norm / (norm + 1e-6)) (torch.nn.utils.clip_grad_norm_)",
                             "init": "lora_init.*"}, sort_keys=True),
    })
    add_safetensors(files, f"{name}.safetensors", tensors, meta)
    return tensors, meta, final


def add_safetensors(files: dict, rel: str, tensors: dict, metadata: dict):
    data = stio.serialize(tensors, metadata=metadata)
    verify_roundtrip(data, tensors, metadata, None, rel)
    files[rel] = data


def check_written(results):
    """Re-read every written file from disk: tensors identical; the adapter folder re-creates the embeddings."""
    for name, (tensors, meta, final) in results.items():
        loaded, md = stio.load_file(os.path.join(OUT, f"{name}.safetensors"))
        assert md == meta and set(loaded) == set(tensors), name
        for k, v in tensors.items():
            assert loaded[k].dtype == v.dtype and torch.equal(loaded[k], v), f"{name}:{k} read back differs"
        adir = os.path.join(OUT, f"{name}-adapter")
        with open(os.path.join(adir, "adapter_config.json")) as f:
            acfg = json.load(f)
        aw, amd = stio.load_file(os.path.join(adir, "adapter_model.safetensors"))
        assert amd == {"format": "pt"} and set(aw) == set(final)
        spec = SPECS[name]
        m = load_base(name)
        mods = lora.inject_lora(m, acfg["target_modules"], r=acfg["r"], alpha=acfg["lora_alpha"],
                                use_rslora=acfg["use_rslora"])
        assert len(mods) == 2 * m.config.num_hidden_layers and sorted(acfg["target_modules"]) == spec["targets"]
        lora.load_lora_state_dict(m, {k: v.double() for k, v in aw.items()})
        with torch.no_grad():
            e = dino.embed(m, loaded["batch.query"].double())
        close(e, loaded["adapter.embeddings"].double().numpy(), 1e-7, f"{name} adapter folder round trip")


README = """# Training reference fixtures

Generated by `tools/gen_train_fixtures.py` from the tiny models in `tests/fixtures/models/` with the plain-PyTorch
reference (`tools/torch_ref/dino.py`), a PEFT-semantics LoRA wrapper (`tools/torch_ref/lora.py`) and the losses in
`tools/torch_ref/losses.py`. Regenerate (after `tools/gen_model_fixtures.py`) with Debian's PyTorch (CPU, 1.13):

    /usr/bin/python3 tools/gen_train_fixtures.py

Deterministic (seeded generators, single-threaded torch, sorted JSON and safetensors headers): a re-run rewrites
byte-identical files. Nothing is written unless every check passes.

Everything is computed in **float64** (model weights, pixels and the stored float32 LoRA weights cast to double)
and stored as **float32**. Models run in eval mode: no DINOv3 RoPE coordinate augmentation, every dropout 0
(LoRA dropout too). DINOv2 resizes its position table (bicubic, `size=(Hp, Wp)`) in float64 here.
Embedding = L2-normalized `pooler_output` (CLS row after the final norm).

## Files

| file | content |
|---|---|
| `dinov3-tiny.safetensors` | fixtures for `models/dinov3-tiny` (batch 6x3x32x32, 4x4 grid) |
| `dinov2-tiny.safetensors` | fixtures for `models/dinov2-tiny` (batch 6x3x28x28, 4x4 grid: position table interpolated 5x5 -> 4x4) |
| `<model>-adapter/adapter_config.json` | PEFT LoRA config (r 4, lora_alpha 8, dropout 0, targets, `FEATURE_EXTRACTION`, `inference_mode` true; `json.dumps(indent=2, sort_keys=True)`, the key set PEFT 0.14 writes) |
| `<model>-adapter/adapter_model.safetensors` | the `adamw.final.*` weights under PEFT keys, metadata `{"format": "pt"}` |

LoRA: targets `q_proj`, `v_proj` (DINOv3) / `query`, `value` (DINOv2) in every layer; r = 4, alpha = 8,
s = alpha / r = 2, no rslora, dropout 0: `y = x W^T + b + s (x A^T) B^T`. A was drawn with PEFT's
`kaiming_uniform_(a=sqrt(5))` (U(-1/sqrt(in), 1/sqrt(in))) and **B ~ N(0, 0.05), not zero**, so every gradient is
non-trivial. PEFT keys: `base_model.model.<module path>.lora_A.weight` `[r, in]` and `.lora_B.weight` `[out, r]`,
module paths `layer.<i>.attention.{q_proj,v_proj}` (DINOv3) and `encoder.layer.<i>.attention.attention.{query,value}`
(DINOv2). Below, `<K>` is any of these 8 keys.

## Tensors in `<model>.safetensors`

| name | shape | dtype | what |
|---|---|---|---|
| `batch.query`, `batch.positive` | [6,3,H,W] | F32 | random normal pixels (already normalized) |
| `batch.labels` | [6] | I64 | [0, 1, 1, 2, 3, 3] |
| `lora_init.<K>` | [4,32] / [32,4] | F32 | initial LoRA weights (used by every LoRA case and as the AdamW start) |
| `lora.q_emb`, `lora.p_emb` | [6,32] | F32 | embeddings of query / positive through base + `lora_init` |
| `<variant>.loss` | [1] | F32 | loss at `lora_init` |
| `<variant>.grad.<K>` | like `<K>` | F32 | d loss / d LoRA weight at `lora_init` |
| `full.loss`, `full.grad.<HF key>` | [1], like the weight | F32 | full fine-tuning (no LoRA, every parameter of `model.safetensors` but `mask_token`), variant `infonce_labels` |
| `full.query`, `full.positive` | [6,3,35,35] | F32 | DINOv2 only: the `full` case's pixels (5x5 grid, position table used as stored) |
| `full_interp.loss`, `full_interp.grad.<HF key>` | | F32 | DINOv2 only: full fine-tuning on `batch.*` (28x28: gradient reaches the table through the bicubic resize) |

DINOv2's `attention.attention.key.bias` gradients are stored as exact zeros: the softmax over keys is invariant
to the per-row constant q . b_k, so the true gradient is 0 (autograd leaves ~1e-17 of rounding noise; a
re-implementation will show f32 noise there, so compare with an absolute tolerance). DINOv3 has no key bias.
| `adamw.losses` | [10] | F32 | loss before each update |
| `adamw.lrs` | [10] | F32 | learning rate used by each update |
| `adamw.grad_norms` | [10] | F32 | global gradient L2 norm before clipping |
| `adamw.final.<K>` | like `<K>` | F32 | LoRA weights after the 10 updates |
| `adapter.embeddings` | [6,32] | F32 | embeddings of `batch.query` through base + the adapter folder (merged and unmerged agree to 1e-12) |

For DINOv3 `full.*` uses `batch.*` (32x32 is the native size); metadata `full.inputs` / `full_interp.inputs`
say which pixels each case uses. Labels are always `batch.labels`.

Metadata (`__metadata__`, JSON strings): `lora.config` (r, alpha, scaling, targets, rslora, dropout, module
paths, init), `losses` (tau, margin, scale), `adamw` (hyper-parameters), `batch`, `reference`, `full.inputs`.

## Loss variants (S = q p^T on L2-normalized embeddings, logits = S / tau)

* `infonce`: tau 0.05, cross-entropy with targets arange(B), mean over rows.
* `infonce_labels`: supervised contrastive, M_ij = [label_i == label_j] (diagonal included),
  loss = -mean_i( sum_j M_ij log_softmax(logits)_ij / sum_j M_ij ) (softmax over the whole row).
* `infonce_bidir`: (loss(q->p) + loss(p->q)) / 2, no labels.
* `triplet`: margin 0.5, hardest in-batch negative per row among j != i with label_j != label_i,
  loss = mean_i relu(max_neg_i - S_ii + 0.5); a row without a valid negative contributes 0 but counts in the mean.
  The batch has no ties (the top two negatives of each row differ by > 1e-3, and no hinge is within 1e-3 of 0).
* `cosent`: scale 20, loss = logsumexp({0} U {20 (S_ij - S_ii) : j != i, label_j != label_i}).

## AdamW trajectory

10 steps of LoRA training from `lora_init` on the same batch, variant `infonce_labels`:
`torch.optim.AdamW(betas (0.9, 0.999), eps 1e-8, weight_decay 0.01)` (decoupled decay on all LoRA weights),
lr 1e-3 x cosine schedule with warmup (`get_cosine_schedule_with_warmup(num_warmup_steps=1, num_training_steps=10)`:
step < 1: step / 1, else 0.5 (1 + cos(pi (step - 1) / 9))), so step 0 has lr 0 (Adam's moments and step count
still advance) and `adamw.losses[0] == adamw.losses[1]`. Before each update the global gradient norm is clipped
to 1.0 with `torch.nn.utils.clip_grad_norm_`: g *= min(1, 1.0 / (norm + 1e-6)). One step:
p *= 1 - lr wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps).

## Checks done by the generator

Loss implementations against an independent loop form (1e-12) and torch.autograd.gradcheck, plus hand-made cases
(rows without negatives, all-equal labels); LoRA with B = 0 equals the base model exactly; merged weights
(W + s B A) give the unmerged embeddings (1e-12); for every variant a float64 central finite difference along a
random direction over all LoRA weights and on 4 single entries (rtol 1e-6); the full fine-tuning gradients by a
random-direction finite difference and single entries (CLS/register tokens, position table CLS and grid rows, patch
embedding, norms, layer scales, linears); the AdamW trajectory against a hand-written AdamW + clip; the written
files read back identically, and the adapter folder, loaded into a fresh model, reproduces `adapter.embeddings`.
"""


def main():
    checks_losses()
    files = {}
    summary = []
    results = {}
    for name, spec in SPECS.items():
        results[name] = build(name, spec, files, summary)
    files["README.md"] = README.encode("utf-8")
    for rel, data in sorted(files.items()):
        path = os.path.join(OUT, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    for rel, data in files.items():
        with open(os.path.join(OUT, rel), "rb") as f:
            assert f.read() == data, f"{rel}: disk content differs"
    check_written(results)
    total = 0
    for rel in sorted(files):
        n = len(files[rel])
        total += n
        print(f"{n:8d}  {hashlib.sha256(files[rel]).hexdigest()[:16]}  tests/fixtures/train/{rel}")
    print(f"{total:8d}  total")
    for s in summary:
        print(s)
    print(f"finite differences: worst |fd - autograd| / tolerance {FD_WORST[0]:.2f}; worst relative error "
          f"(|autograd| > 1e-4) {FD_WORST[1]:.2e}")
    assert total < 2_000_000
    print("all checks passed")


if __name__ == "__main__":
    main()
