"""Contrastive losses on L2-normalized embeddings q, p [B, D] (plain torch, differentiable).

Definitions (vembed-factory style, as used by the training fixtures):
  infonce         logits = q p^T / tau; cross-entropy with targets arange(B); mean over rows.
  infonce_labels  supervised contrastive: M_ij = [label_i == label_j] (diagonal included),
                  loss = -mean_i( sum_j M_ij log_softmax(logits)_ij / sum_j M_ij ).
  infonce_bidir   (loss(q -> p) + loss(p -> q)) / 2; with labels each direction is infonce_labels.
  triplet         S = q p^T; hardest negative per row among j != i with label_j != label_i;
                  loss = mean_i relu(max_neg_i - S_ii + margin); rows without a negative give 0 (still counted).
  cosent          loss = logsumexp({0} U {scale (S_ij - S_ii) : j != i, label_j != label_i}).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def _pos_mask(labels: Optional[torch.Tensor], b: int, device=None) -> torch.Tensor:
    if labels is None:
        return torch.eye(b, dtype=torch.bool, device=device)
    return labels[:, None] == labels[None, :]


def _neg_mask(labels: Optional[torch.Tensor], b: int, device=None) -> torch.Tensor:
    """valid negatives: j != i and label_j != label_i (all j != i without labels)."""
    return ~_pos_mask(labels, b, device) & ~torch.eye(b, dtype=torch.bool, device=device)


def infonce_one_way(q: torch.Tensor, p: torch.Tensor, labels: Optional[torch.Tensor] = None,
                    tau: float = 0.05) -> torch.Tensor:
    logits = q @ p.T / tau
    if labels is None:
        return F.cross_entropy(logits, torch.arange(q.shape[0], device=q.device))
    m = _pos_mask(labels, q.shape[0], q.device).to(logits.dtype)
    log_prob = torch.log_softmax(logits, dim=1)
    return -((m * log_prob).sum(1) / m.sum(1)).mean()


def infonce(q, p, labels=None, tau: float = 0.05, bidirectional: bool = False) -> torch.Tensor:
    l_qp = infonce_one_way(q, p, labels, tau)
    if not bidirectional:
        return l_qp
    return 0.5 * (l_qp + infonce_one_way(p, q, labels, tau))


def triplet(q, p, labels=None, margin: float = 0.5) -> torch.Tensor:
    b = q.shape[0]
    s = q @ p.T
    pos = torch.diagonal(s)
    valid = _neg_mask(labels, b, q.device)
    has = valid.any(dim=1)
    neg = s.masked_fill(~valid, float("-inf")).max(dim=1).values
    neg = torch.where(has, neg, pos)  # keep -inf out of the graph for rows without a negative
    per_row = torch.where(has, F.relu(neg - pos + margin), torch.zeros_like(pos))
    return per_row.mean()


def cosent(q, p, labels=None, scale: float = 20.0) -> torch.Tensor:
    b = q.shape[0]
    s = q @ p.T
    pos = torch.diagonal(s)
    valid = _neg_mask(labels, b, q.device)
    diffs = (scale * (s - pos[:, None]))[valid]
    return torch.logsumexp(torch.cat([diffs.new_zeros(1), diffs]), dim=0)


def compute(variant: str, q, p, labels, tau: float = 0.05, margin: float = 0.5, scale: float = 20.0):
    if variant == "infonce":
        return infonce(q, p, None, tau)
    if variant == "infonce_labels":
        return infonce(q, p, labels, tau)
    if variant == "infonce_bidir":
        return infonce(q, p, None, tau, bidirectional=True)
    if variant == "triplet":
        return triplet(q, p, labels, margin)
    if variant == "cosent":
        return cosent(q, p, labels, scale)
    raise ValueError(variant)


VARIANTS = ("infonce", "infonce_labels", "infonce_bidir", "triplet", "cosent")
