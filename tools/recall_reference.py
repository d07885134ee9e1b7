"""Independent Recall@K (Stanford Online Products protocol) from a saved embeddings file.

Reads a safetensors file written by `vembed eval sop --save_embeddings` (tensors `embeddings`
[N, D] F32 and `labels` [N] I64) with tools/torch_ref/safetensors_io.py and computes, in numpy:

  * every image is a query; the gallery is all images but the query itself;
  * similarity = dot product of the L2-normalized rows, in float64;
  * neighbours ordered by descending similarity, ties to the lower index;
  * a query hits at K when one of its first K neighbours has its class;
  * the denominator counts only queries whose class has at least 2 images (vembed-factory's
    `valid` mask); recall@K = hits / valid queries.

Prints one JSON object: {"num_images", "num_valid_queries", "recall@K": ...}. Memory is bounded
(queries in blocks), so it also runs on the full 60,502-image test set (slowly).

    /usr/bin/python3 tools/recall_reference.py emb.safetensors [--topk 1,10,100]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ref"))
from safetensors_io import load_numpy  # noqa: E402


def recall_at_k(emb: np.ndarray, labels: np.ndarray, ks: list[int], block: int = 1024) -> dict:
    n = emb.shape[0]
    x = emb.astype(np.float64)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    valid = counts[inverse] > 1
    kmax = min(max(ks), max(n - 1, 0))
    hits = {k: 0 for k in ks}
    for q0 in range(0, n, block):
        s = x[q0:q0 + block] @ x.T  # [b, n]
        for r in range(s.shape[0]):
            q = q0 + r
            if not valid[q]:
                continue
            row = s[r].copy()
            row[q] = -np.inf
            cand = np.arange(n)
            cand = cand[cand != q]
            if kmax < len(cand):
                # Everything scoring at least the kmax-th best (ties at the boundary included), then
                # a stable sort on the score: equal scores keep ascending index order.
                thr = np.partition(row[cand], len(cand) - kmax)[len(cand) - kmax]
                cand = cand[row[cand] >= thr]
            order = cand[np.argsort(-row[cand], kind="stable")][:kmax]
            same = np.nonzero(labels[order] == labels[q])[0]
            if len(same):
                first = int(same[0])
                for k in ks:
                    if first < k:
                        hits[k] += 1
    denom = int(valid.sum())
    out = {"num_images": int(n), "num_valid_queries": denom}
    for k in sorted(ks):
        out[f"recall@{k}"] = hits[k] / denom if denom > 0 else 0.0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("embeddings", help="safetensors file with `embeddings` [N, D] and `labels` [N]")
    ap.add_argument("--topk", default="1,10,100", help="comma-separated K values (default 1,10,100)")
    a = ap.parse_args()
    tensors, _ = load_numpy(a.embeddings)
    for name in ("embeddings", "labels"):
        if name not in tensors:
            sys.exit(f"{a.embeddings}: no tensor named {name!r}")
    emb, labels = tensors["embeddings"], tensors["labels"].astype(np.int64)
    if emb.ndim != 2 or labels.shape != (emb.shape[0],):
        sys.exit(f"{a.embeddings}: embeddings {list(emb.shape)} and labels {list(labels.shape)} do not fit")
    ks = sorted({int(k) for k in a.topk.split(",")})
    print(json.dumps(recall_at_k(emb, labels, ks)))


if __name__ == "__main__":
    main()
