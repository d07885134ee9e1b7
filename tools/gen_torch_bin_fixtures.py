#!/usr/bin/env python3
"""Generate the PyTorch checkpoint (.bin) fixtures under tests/fixtures/torch-bin/ with torch.save.

Run with Debian's torch:   /usr/bin/python3 tools/gen_torch_bin_fixtures.py
Read by tests/io/torch-bin.test.ts, tests/model/torch-bin-parity.test.ts and the browser check
tests/e2e/torch-bin.test.ts. Every file is written by PyTorch itself (torch.save), so the reader is
tested against what PyTorch really emits; the script re-reads each with torch.load and checks it
before writing anything.

  dtypes.bin               torch.save (zip, pickle protocol 2) of a dict of tensors: F32, a
                           transposed view and a strided slice of the same storage, a stride-0
                           expansion, a 0-d and an empty tensor, F16 permuted, BF16, F64, int64,
                           an nn.Parameter
  dtypes-proto4.bin        the same dict with pickle_protocol=4 (FRAME, STACK_GLOBAL, MEMOIZE)
  dtypes-legacy.bin        the same dict in the legacy (pre-1.6, non-zip) format
  dtypes.expected.safetensors  each float tensor made contiguous and F32 (what f32() must give)
  dinov2-tiny/             config.json, preprocessor_config.json and pytorch_model.bin of
                           tests/fixtures/models/dinov2-tiny: q/k/v weights are slices of one
                           shared storage, the MLP weights are transposed (non-contiguous) views,
                           saved as a module state_dict (OrderedDict with _metadata)
  dinov3-tiny-bf16-sharded/  tests/fixtures/models/dinov3-tiny-bf16 in BF16 as two shards
                           (pytorch_model-0000{1,2}-of-00002.bin, the second in the legacy format)
                           with pytorch_model.bin.index.json
  dinov3-tiny-adapter/     tests/fixtures/train/dinov3-tiny-adapter as adapter_config.json +
                           adapter_model.bin (what PEFT's save_pretrained(safe_serialization=False)
                           and vembed-factory write)
  malicious-system.bin     a torch-like ZIP whose data.pkl calls os.system (never to be run:
                           the reader must refuse it); the command would create
                           /tmp/vembed-pickle-pwned
  malicious-system.pkl     the same pickle as a bare file (the legacy path)
  malicious-eval-proto4.bin  an OrderedDict (protocol 4: STACK_GLOBAL, MEMOIZE) whose value is
                           builtins.eval("...os.system...")

Deterministic except the legacy-format files: torch.save names their storages by memory address.
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import shutil
import sys
import zipfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "torch_ref"))

import torch  # noqa: E402

import safetensors_io as stio  # noqa: E402

REPO = os.path.dirname(HERE)
OUT = os.path.join(REPO, "tests", "fixtures", "torch-bin")
MODELS = os.path.join(REPO, "tests", "fixtures", "models")
PWNED = "/tmp/vembed-pickle-pwned"


def dtypes_dict():
    g = torch.Generator().manual_seed(7)
    base = torch.randn(3, 4, generator=g)
    row = torch.randn(1, 4, generator=g)
    return {
        "f32": base,
        "f32_t": base.t(),  # stride (1, 4), same storage
        "f32_slice": base[1:, ::2],  # offset 4, stride (4, 2), same storage
        "f32_expand": row.expand(3, 4),  # stride (0, 1)
        "f32_scalar": torch.tensor(1.5),
        "f32_empty": torch.zeros(0, 3),
        "f16_perm": torch.randn(2, 3, 4, generator=g).half().permute(2, 0, 1),
        "bf16": torch.randn(5, generator=g).bfloat16(),
        "f64": torch.randn(2, 2, generator=g).double(),
        "i64": torch.arange(3),
        "param": torch.nn.Parameter(torch.randn(2, generator=g)),
        "step": 12,  # a non-tensor value next to the tensors
    }


def save(obj, path, **kw):
    torch.save(obj, path, **kw)
    back = torch.load(path)
    for k, v in obj.items():
        if torch.is_tensor(v):
            assert torch.equal(back[k], v), (path, k)
            assert back[k].dtype == v.dtype and back[k].stride() == v.stride(), (path, k)


def state_dict(tensors: dict) -> collections.OrderedDict:
    """A module-style state dict: an OrderedDict with a `_metadata` attribute (what BUILD sets)."""
    sd = collections.OrderedDict(tensors)
    sd._metadata = collections.OrderedDict([("", {"version": 1})])
    return sd


def write_zip_pickle(path: str, pkl: bytes) -> None:
    """A ZIP laid out like torch.save's (archive/data.pkl, archive/version) holding `pkl`."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in (("archive/data.pkl", pkl), ("archive/version", b"3\n")):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)


class SystemCall:
    """Pickles as a call of os.system (posix.system): what a malicious checkpoint does."""

    def __reduce__(self):
        return (os.system, (f"echo pwned > {PWNED}",))


class EvalCall:
    def __reduce__(self):
        return (eval, (f"__import__('os').system('echo pwned > {PWNED}')",))


def main() -> None:
    torch.manual_seed(0)
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)

    # dtypes
    d = dtypes_dict()
    save(d, os.path.join(OUT, "dtypes.bin"))
    save(d, os.path.join(OUT, "dtypes-proto4.bin"), pickle_protocol=4)
    save(d, os.path.join(OUT, "dtypes-legacy.bin"), _use_new_zipfile_serialization=False)
    expected = {k: v.detach().float().contiguous() for k, v in d.items() if torch.is_tensor(v) and v.is_floating_point()}
    expected["i64"] = d["i64"]
    stio.save_file(expected, os.path.join(OUT, "dtypes.expected.safetensors"))

    # dinov2-tiny: shared q/k/v storage, transposed MLP weights
    src = os.path.join(MODELS, "dinov2-tiny")
    w, _ = stio.load_file(os.path.join(src, "model.safetensors"))
    out = os.path.join(OUT, "dinov2-tiny")
    os.makedirs(out)
    for f in ("config.json", "preprocessor_config.json"):
        shutil.copy(os.path.join(src, f), os.path.join(out, f))
    sd = {}
    layers = sorted({int(k.split(".")[2]) for k in w if k.startswith("encoder.layer.")})
    for k, v in w.items():
        sd[k] = v
    for l in layers:
        p = f"encoder.layer.{l}.attention.attention."
        names = [p + n + ".weight" for n in ("query", "key", "value")]
        qkv = torch.cat([w[n] for n in names], 0)
        H = w[names[0]].shape[0]
        for i, n in enumerate(names):
            sd[n] = qkv[i * H:(i + 1) * H]
        for n in (f"encoder.layer.{l}.mlp.fc1.weight", f"encoder.layer.{l}.mlp.fc2.weight"):
            sd[n] = w[n].t().contiguous().t()
            assert not sd[n].is_contiguous()
    sd = state_dict(sd)
    save(sd, os.path.join(out, "pytorch_model.bin"))

    # dinov3-tiny-bf16, sharded, second shard legacy
    src = os.path.join(MODELS, "dinov3-tiny-bf16")
    w, _ = stio.load_file(os.path.join(src, "model.safetensors"))
    assert all(v.dtype == torch.bfloat16 for v in w.values())
    out = os.path.join(OUT, "dinov3-tiny-bf16-sharded")
    os.makedirs(out)
    for f in ("config.json", "preprocessor_config.json"):
        shutil.copy(os.path.join(src, f), os.path.join(out, f))
    keys = sorted(w)
    half = len(keys) // 2
    shards = [keys[:half], keys[half:]]
    weight_map = {}
    total = 0
    for i, ks in enumerate(shards):
        name = f"pytorch_model-{i + 1:05d}-of-{len(shards):05d}.bin"
        kw = {} if i == 0 else {"_use_new_zipfile_serialization": False}
        save(state_dict({k: w[k] for k in ks}), os.path.join(out, name), **kw)
        for k in ks:
            weight_map[k] = name
            total += w[k].numel() * w[k].element_size()
    with open(os.path.join(out, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
        f.write("\n")

    # PEFT adapter as adapter_model.bin
    src = os.path.join(REPO, "tests", "fixtures", "train", "dinov3-tiny-adapter")
    a, _ = stio.load_file(os.path.join(src, "adapter_model.safetensors"))
    out = os.path.join(OUT, "dinov3-tiny-adapter")
    os.makedirs(out)
    shutil.copy(os.path.join(src, "adapter_config.json"), os.path.join(out, "adapter_config.json"))
    save(dict(a), os.path.join(out, "adapter_model.bin"))

    # malicious pickles (never loaded here: pickle.dumps only)
    evil = pickle.dumps({"weight": SystemCall()}, protocol=2)
    assert b"system" in evil
    write_zip_pickle(os.path.join(OUT, "malicious-system.bin"), evil)
    with open(os.path.join(OUT, "malicious-system.pkl"), "wb") as f:
        f.write(evil)
    evil4 = pickle.dumps(collections.OrderedDict(weight=EvalCall()), protocol=4)
    assert b"\x93" in evil4 and b"eval" in evil4  # STACK_GLOBAL builtins.eval
    write_zip_pickle(os.path.join(OUT, "malicious-eval-proto4.bin"), evil4)

    print(f"wrote {sorted(os.listdir(OUT))} in {OUT}")


if __name__ == "__main__":
    main()
