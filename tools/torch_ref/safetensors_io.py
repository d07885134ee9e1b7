"""Minimal safetensors writer/reader (no dependency on the `safetensors` package).

File layout (see docs/model.md#safetensors):
  * 8-byte little-endian u64 header length N,
  * N bytes of UTF-8 JSON: {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
    padded with spaces so that N is a multiple of 8 (the data section is then 8-byte aligned),
  * the data section: each tensor C-contiguous, little-endian, offsets relative to byte 8 + N.

This writer emits "__metadata__" first, then the tensors sorted by name, and lays the data out in the
same (name) order. Readers must look tensors up by name, never by position.

Supported dtypes: F32, F16, BF16, I64 (plus F64, I32, U8 for completeness).
BF16 is the top 16 bits of the f32 pattern, rounded to nearest-even (what torch's `.to(torch.bfloat16)`
does); NaN stays a (quiet) NaN.

Values may be torch tensors or numpy arrays. torch.bfloat16 tensors are written as BF16. A float tensor can
be converted on write with `dtypes={name: "BF16"}` or `default_dtype="BF16"`.
"""

from __future__ import annotations

import json
import struct
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

try:  # torch is optional for the numpy-only paths
    import torch
except ImportError:  # pragma: no cover
    torch = None

# dtype string -> (numpy little-endian dtype used for the raw bytes, itemsize)
_NP_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # raw bit patterns
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"),
}


# ----------------------------------------------------------------------------------------------
# bf16 helpers
# ----------------------------------------------------------------------------------------------

def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 array -> uint16 bf16 bit patterns with round-to-nearest-even (NaN -> quiet NaN)."""
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    u = a.view(np.uint32).astype(np.uint64)
    lsb = (u >> 16) & 1
    rounded = ((u + 0x7FFF + lsb) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        rounded = rounded.copy()
        rounded[nan] = ((u[nan] >> 16).astype(np.uint16) | np.uint16(0x0040))
    return rounded.reshape(a.shape)


def bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    """uint16 bf16 bit patterns -> float32 (exact)."""
    b = np.ascontiguousarray(np.asarray(bits, dtype=np.uint16))
    return (b.astype(np.uint32) << 16).view(np.float32).reshape(b.shape)


def round_to_bf16(t):
    """Round a float tensor/array to bf16 precision and return it as float32 (torch or numpy in, same out)."""
    if torch is not None and isinstance(t, torch.Tensor):
        return t.to(torch.float32).to(torch.bfloat16).to(torch.float32)
    return bf16_bits_to_f32(f32_to_bf16_bits(t))


# ----------------------------------------------------------------------------------------------
# conversion of one value to (dtype string, raw little-endian bytes, shape)
# ----------------------------------------------------------------------------------------------

def _to_raw(value, want: Optional[str]) -> Tuple[str, bytes, Tuple[int, ...]]:
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        shape = tuple(t.shape)
        if t.dtype == torch.bfloat16:
            src = "BF16"
            arr = t.view(torch.int16).numpy().view(np.uint16)
        elif t.dtype == torch.float32:
            src, arr = "F32", t.numpy()
        elif t.dtype == torch.float16:
            src, arr = "F16", t.numpy()
        elif t.dtype == torch.float64:
            src, arr = "F64", t.numpy()
        elif t.dtype == torch.int64:
            src, arr = "I64", t.numpy()
        elif t.dtype == torch.int32:
            src, arr = "I32", t.numpy()
        elif t.dtype == torch.uint8:
            src, arr = "U8", t.numpy()
        else:
            raise TypeError(f"unsupported torch dtype {t.dtype}")
    else:
        arr = np.ascontiguousarray(np.asarray(value))
        shape = tuple(arr.shape)
        m = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
             np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}
        if arr.dtype not in m:
            raise TypeError(f"unsupported numpy dtype {arr.dtype}")
        src = m[arr.dtype]

    dst = want or src
    if dst not in _NP_DTYPES:
        raise ValueError(f"unsupported safetensors dtype {dst}")
    if dst != src:
        float_like = {"F64", "F32", "F16", "BF16"}
        if src not in float_like or dst not in float_like:
            raise TypeError(f"refusing to convert {src} -> {dst}")
        f = bf16_bits_to_f32(arr) if src == "BF16" else arr
        if dst == "BF16":
            if torch is not None:
                # torch's own rounding (round-to-nearest-even), as `.to(torch.bfloat16)`
                tt = torch.from_numpy(np.ascontiguousarray(f)).to(torch.bfloat16)
                arr = tt.view(torch.int16).numpy().view(np.uint16)
            else:
                arr = f32_to_bf16_bits(f.astype(np.float32))
        else:
            arr = f.astype(_NP_DTYPES[dst])
    raw = np.ascontiguousarray(arr).astype(_NP_DTYPES[dst], copy=False).tobytes(order="C")
    return dst, raw, shape


def serialize(tensors: Mapping[str, object], metadata: Optional[Mapping[str, str]] = None,
              dtypes: Optional[Mapping[str, str]] = None, default_dtype: Optional[str] = None) -> bytes:
    """Serialize to safetensors bytes. Tensors are written in sorted-name order."""
    header: Dict[str, object] = {}
    if metadata is not None:
        md = {}
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("__metadata__ must map str -> str")
            md[k] = v
        header["__metadata__"] = md
    chunks = []
    offset = 0
    for name in sorted(tensors.keys()):
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        want = (dtypes or {}).get(name)
        value = tensors[name]
        if want is None and default_dtype is not None:
            is_float = (torch is not None and isinstance(value, torch.Tensor) and value.is_floating_point()) or \
                (isinstance(value, np.ndarray) and value.dtype.kind == "f")
            if is_float:
                want = default_dtype
        dt, raw, shape = _to_raw(value, want)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    pad = (-len(hjson)) % 8
    hjson += b" " * pad
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(chunks)


def save_file(tensors: Mapping[str, object], path: str, metadata: Optional[Mapping[str, str]] = None,
              dtypes: Optional[Mapping[str, str]] = None, default_dtype: Optional[str] = None) -> None:
    data = serialize(tensors, metadata=metadata, dtypes=dtypes, default_dtype=default_dtype)
    with open(path, "wb") as f:
        f.write(data)


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------

def parse(data: bytes):
    """Parse safetensors bytes -> (header dict without __metadata__, metadata or None, {name: (dtype, shape, raw)})."""
    if len(data) < 8:
        raise ValueError("file too short")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("header length exceeds file size")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None)
    base = 8 + n
    body_len = len(data) - base
    out = {}
    spans = []
    for name, info in header.items():
        dt = info["dtype"]
        shape = tuple(int(s) for s in info["shape"])
        b, e = (int(x) for x in info["data_offsets"])
        if dt not in _NP_DTYPES:
            raise ValueError(f"{name}: unsupported dtype {dt}")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if e - b != count * _NP_DTYPES[dt].itemsize or b < 0 or e > body_len or b > e:
            raise ValueError(f"{name}: bad data_offsets {b},{e} for {dt}{list(shape)}")
        spans.append((b, e))
        out[name] = (dt, shape, data[base + b:base + e])
    spans.sort()
    pos = 0
    for b, e in spans:  # data section must be exactly covered, no holes/overlaps
        if b != pos:
            raise ValueError("data section has holes or overlaps")
        pos = e
    if pos != body_len:
        raise ValueError("data section size mismatch")
    return header, metadata, out


def load_numpy(path: str, upcast_bf16: bool = True):
    """Read -> ({name: numpy array}, metadata). BF16 becomes float32 (or raw uint16 if upcast_bf16=False)."""
    with open(path, "rb") as f:
        data = f.read()
    _, metadata, raw = parse(data)
    out = {}
    for name, (dt, shape, buf) in raw.items():
        a = np.frombuffer(buf, dtype=_NP_DTYPES[dt]).reshape(shape).copy()
        if dt == "BF16" and upcast_bf16:
            a = bf16_bits_to_f32(a)
        out[name] = a
    return out, metadata


def load_file(path: str):
    """Read -> ({name: torch tensor}, metadata). BF16 stays torch.bfloat16."""
    if torch is None:  # pragma: no cover
        raise RuntimeError("torch is required for load_file; use load_numpy")
    with open(path, "rb") as f:
        data = f.read()
    _, metadata, raw = parse(data)
    out = {}
    for name, (dt, shape, buf) in raw.items():
        a = np.frombuffer(buf, dtype=_NP_DTYPES[dt]).reshape(shape).copy()
        if dt == "BF16":
            t = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
        else:
            t = torch.from_numpy(a)
        out[name] = t
    return out, metadata


def raw_bytes(value, want: Optional[str] = None) -> Tuple[str, bytes, Tuple[int, ...]]:
    """The (dtype, bytes, shape) that `serialize` would write for one value (used by round-trip checks)."""
    return _to_raw(value, want)
