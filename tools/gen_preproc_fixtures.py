#!/usr/bin/env python3
"""Generate the image decoding / preprocessing fixtures under tests/fixtures/preprocess/.

Run with Debian's Python (PIL 9.4, torch 1.13, numpy):   /usr/bin/python3 tools/gen_preproc_fixtures.py

Images are collages of Fashion-MNIST product photos (Debian package dataset-fashion-mnist,
/usr/share/datasets/fashion-mnist/*.gz) on a tinted gradient background, so every pixel is
non-trivial. Written files (all deterministic; a re-run rewrites byte-identical files):

  good images   collage_97x61.{png,jpg}  wide_300x200.png  gray_64x64.png (mode L)  tall_41x129.{png,jpg}
                rgba_45x30.png (RGBA, alpha varies)  photo_60x40.webp (lossy)
                exif_rot6.jpg (stored 40x24 with EXIF orientation 6, i.e. shown 24x40)
  broken files  truncated.png (first 60% of a PNG)  corrupt.jpg (SOI marker + random bytes)
                not_an_image.jpg (a text file)
  expected.safetensors   see tests/fixtures/preprocess/README.md for the keys.

References:
  * decoding = what transformers' `load_image` does: PIL open, ImageOps.exif_transpose, convert("RGB").
  * DINOv3 (DINOv3ViTImageProcessorFast): uint8 -> float32 * rescale_factor -> torch F.interpolate(bilinear
    or bicubic, antialias=True, align_corners=False) -> (x - mean) / std, all float32.
  * DINOv2 (BitImageProcessor, slow/PIL backend): PIL Image.resize(BICUBIC or BILINEAR) on uint8 to the
    shortest-edge size (long side truncated), center crop (floor), float64 * rescale_factor -> float32,
    (x - mean) / std in float32 (transformers.image_transforms.rescale / normalize).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "torch_ref"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

import safetensors_io as stio  # noqa: E402

torch.set_num_threads(1)

REPO = os.path.dirname(HERE)
OUT = os.path.join(REPO, "tests", "fixtures", "preprocess")
MODELS = os.path.join(REPO, "tests", "fixtures", "models")
MNIST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
SIZE_LIMIT = 300_000  # bytes, whole folder

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
RESCALE = 0.00392156862745098


# ----------------------------------------------------------------------------------------------
# source images
# ----------------------------------------------------------------------------------------------

def load_mnist() -> np.ndarray:
    with gzip.open(MNIST, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    assert magic == 2051 and rows == 28 and cols == 28, "unexpected idx3 header"
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(int(n), 28, 28)


def collage(items: np.ndarray, w: int, h: int, seed: int, count: int, noise: float = 2.5) -> np.ndarray:
    """An HxWx3 uint8 picture: tinted gradient background plus `count` tinted, rescaled product photos."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    c0, c1 = rng.uniform(20, 120, 3), rng.uniform(60, 200, 3)
    t = (xx / max(w - 1, 1) * 0.6 + yy / max(h - 1, 1) * 0.4)[..., None]
    img = c0 * (1 - t) + c1 * t + rng.normal(0, noise, (h, w, 3))  # a little sensor-like noise
    for _ in range(count):
        item = items[rng.integers(len(items))]
        side = int(rng.integers(max(12, min(w, h) // 3), max(13, int(min(w, h) * 0.9))))
        patch = np.asarray(Image.fromarray(item).resize((side, side), Image.BILINEAR), dtype=np.float64) / 255
        tint = rng.uniform(0.3, 1.0, 3) * 255
        x0, y0 = int(rng.integers(-side // 4, w - side * 3 // 4)), int(rng.integers(-side // 4, h - side * 3 // 4))
        xs, ys = slice(max(x0, 0), min(x0 + side, w)), slice(max(y0, 0), min(y0 + side, h))
        p = patch[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0, None]
        img[ys, xs] = img[ys, xs] * (1 - p) + tint * p
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def png_bytes(im: Image.Image) -> bytes:
    b = io.BytesIO()
    im.save(b, format="PNG", optimize=True)
    return b.getvalue()


def jpeg_bytes(im: Image.Image, **kw) -> bytes:
    b = io.BytesIO()
    im.save(b, format="JPEG", quality=90, **kw)
    return b.getvalue()


def webp_bytes(im: Image.Image) -> bytes:
    b = io.BytesIO()
    im.save(b, format="WEBP", quality=80, method=4)
    return b.getvalue()


def pil_decode(data: bytes) -> np.ndarray:
    """transformers.image_utils.load_image: open, exif_transpose, convert('RGB')."""
    im = Image.open(io.BytesIO(data))
    im = ImageOps.exif_transpose(im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


# ----------------------------------------------------------------------------------------------
# reference preprocessing
# ----------------------------------------------------------------------------------------------

def ref_dinov3(rgb: np.ndarray, cfg: dict) -> np.ndarray:
    """[3,H,W] float32 as DINOv3ViTImageProcessorFast: rescale -> resize (AA, float) -> normalize."""
    mode = {2: "bilinear", 3: "bicubic"}[cfg["resample"]]
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None]  # uint8 [1,3,H,W]
    x = x * cfg["rescale_factor"]  # uint8 * python float -> float32, as BaseImageProcessorFast.rescale
    assert x.dtype == torch.float32
    x = F.interpolate(x, size=(cfg["size"]["height"], cfg["size"]["width"]), mode=mode, antialias=True,
                      align_corners=False)
    mean = torch.tensor(cfg["image_mean"], dtype=torch.float32)[:, None, None]
    std = torch.tensor(cfg["image_std"], dtype=torch.float32)[:, None, None]
    return ((x[0] - mean) / std).numpy()


def shortest_edge_size(h: int, w: int, edge: int):
    """transformers get_resize_output_image_size(default_to_square=False): long side truncated."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = edge, int(edge * long / short)
    return (new_long, new_short) if w <= h else (new_short, new_long)  # (height, width)


def ref_dinov2(rgb: np.ndarray, cfg: dict):
    """BitImageProcessor (PIL backend): returns (uint8 HWC after resize+crop, float32 [3,H,W])."""
    h, w = rgb.shape[:2]
    nh, nw = shortest_edge_size(h, w, cfg["size"]["shortest_edge"])
    resample = {2: Image.BILINEAR, 3: Image.BICUBIC}[cfg["resample"]]
    im = np.asarray(Image.fromarray(rgb, "RGB").resize((nw, nh), resample=resample, reducing_gap=None))
    ch, cw = cfg["crop_size"]["height"], cfg["crop_size"]["width"]
    assert nh >= ch and nw >= cw, "fixtures never need the zero-padding branch of center_crop"
    top, left = (nh - ch) // 2, (nw - cw) // 2
    u8 = np.ascontiguousarray(im[top:top + ch, left:left + cw])
    x = (u8.astype(np.float64) * cfg["rescale_factor"]).astype(np.float32)
    mean = np.array(cfg["image_mean"], dtype=np.float32)
    std = np.array(cfg["image_std"], dtype=np.float32)
    x = (x - mean) / std
    return u8, np.ascontiguousarray(x.transpose(2, 0, 1)).astype(np.float32)


def v3_config(h: int, w: int, resample: int = 2) -> dict:
    return {"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": IMAGENET_MEAN,
            "image_processor_type": "DINOv3ViTImageProcessorFast", "image_std": IMAGENET_STD,
            "resample": resample, "rescale_factor": RESCALE, "size": {"height": h, "width": w}}


def v2_config(edge: int, crop: int, resample: int = 3) -> dict:
    return {"crop_size": {"height": crop, "width": crop}, "do_center_crop": True, "do_convert_rgb": True,
            "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": IMAGENET_MEAN,
            "image_processor_type": "BitImageProcessor", "image_std": IMAGENET_STD, "resample": resample,
            "rescale_factor": RESCALE, "size": {"shortest_edge": edge}}


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------

def main():
    items = load_mnist()[:2000]
    files: dict[str, bytes] = {}

    collage_rgb = collage(items, 97, 61, seed=1, count=4)
    wide_rgb = collage(items, 300, 200, seed=2, count=9, noise=0.5)  # low noise keeps the PNG small
    gray = collage(items, 64, 64, seed=3, count=3)[..., 1]
    tall_rgb = collage(items, 41, 129, seed=4, count=4)
    rgba = np.concatenate([collage(items, 45, 30, seed=5, count=2),
                           np.clip(np.add.outer(np.arange(30) * 7, np.arange(45) * 3), 0, 255)
                           .astype(np.uint8)[..., None]], axis=2)
    rgba[:6, :10, 3] = 0  # fully transparent corner whose RGB must survive convert('RGB')
    photo_rgb = collage(items, 60, 40, seed=6, count=2)
    exif_rgb = collage(items, 40, 24, seed=7, count=2)

    files["collage_97x61.png"] = png_bytes(Image.fromarray(collage_rgb, "RGB"))
    files["collage_97x61.jpg"] = jpeg_bytes(Image.fromarray(collage_rgb, "RGB"))
    files["wide_300x200.png"] = png_bytes(Image.fromarray(wide_rgb, "RGB"))
    files["gray_64x64.png"] = png_bytes(Image.fromarray(gray, "L"))
    files["tall_41x129.png"] = png_bytes(Image.fromarray(tall_rgb, "RGB"))
    files["tall_41x129.jpg"] = jpeg_bytes(Image.fromarray(tall_rgb, "RGB"))
    files["rgba_45x30.png"] = png_bytes(Image.fromarray(rgba, "RGBA"))
    files["photo_60x40.webp"] = webp_bytes(Image.fromarray(photo_rgb, "RGB"))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    files["exif_rot6.jpg"] = jpeg_bytes(Image.fromarray(exif_rgb, "RGB"), exif=exif.tobytes())
    good = sorted(files)

    rng = np.random.default_rng(99)
    files["truncated.png"] = files["collage_97x61.png"][: int(len(files["collage_97x61.png"]) * 0.6)]
    files["corrupt.jpg"] = b"\xff\xd8" + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    files["not_an_image.jpg"] = b"This is a text file that was renamed to .jpg; it is not an image.\n" * 4

    tensors: dict[str, np.ndarray] = {}
    meta: dict[str, str] = {}

    # -- decoding: PIL's RGB for every good file (sha256 for all, the pixels where small) -----------
    decoded = {}
    for name in good:
        rgb = pil_decode(files[name])
        decoded[name] = rgb
        meta[f"sha256.{name}"] = hashlib.sha256(rgb.tobytes()).hexdigest()
        meta[f"shape.{name}"] = json.dumps(list(rgb.shape))
        if not name.endswith(".png"):  # PNG is lossless: the file itself holds PIL's pixels, the hash pins them
            tensors[f"dec.{name}"] = rgb
    # sanity: PIL's conversions are what we claim
    assert np.array_equal(decoded["collage_97x61.png"], collage_rgb)
    assert np.array_equal(decoded["wide_300x200.png"], wide_rgb)
    assert np.array_equal(decoded["gray_64x64.png"], np.repeat(gray[..., None], 3, axis=2))
    assert np.array_equal(decoded["rgba_45x30.png"], rgba[..., :3]), "RGBA -> RGB must drop alpha"
    assert decoded["exif_rot6.jpg"].shape == (40, 24, 3), "orientation 6 must rotate 40x24 to 24x40"
    # orientation 6 = rotate 90 degrees clockwise: compare with the unrotated JPEG decode, which is lossless
    raw_exif = np.asarray(Image.open(io.BytesIO(files["exif_rot6.jpg"])).convert("RGB"))
    assert np.array_equal(decoded["exif_rot6.jpg"], np.rot90(raw_exif, k=-1))
    for bad in ("truncated.png", "corrupt.jpg", "not_an_image.jpg"):
        try:
            pil_decode(files[bad])
        except Exception:  # noqa: BLE001 - PIL raises various types; all we need is that it refuses
            continue
        raise AssertionError(f"PIL decoded the broken file {bad}")

    # -- preprocessing cases ------------------------------------------------------------------------
    v3_tiny = read_json(os.path.join(MODELS, "dinov3-tiny", "preprocessor_config.json"))
    v2_tiny = read_json(os.path.join(MODELS, "dinov2-tiny", "preprocessor_config.json"))
    rows224 = [0, 1, 74, 111, 112, 150, 222, 223]
    # case name -> (family, config, input files, rows to keep or None for all)
    cases = {
        "v3tiny": ("dinov3", v3_tiny, ["collage_97x61.png", "wide_300x200.png", "gray_64x64.png",
                                       "exif_rot6.jpg"], None),
        "v3_32x48": ("dinov3", v3_config(32, 48), ["tall_41x129.png"], None),
        "v3_bicubic": ("dinov3", v3_config(20, 24, resample=3), ["collage_97x61.png"], None),
        "v3_224": ("dinov3", v3_config(224, 224), ["wide_300x200.png"], rows224),
        "v2tiny": ("dinov2", v2_tiny, ["collage_97x61.png", "wide_300x200.png", "gray_64x64.png",
                                       "tall_41x129.png", "exif_rot6.jpg"], None),
        "v2_bilinear": ("dinov2", v2_config(30, 28, resample=2), ["collage_97x61.png"], None),
        "v2_224": ("dinov2", v2_config(256, 224), ["wide_300x200.png", "tall_41x129.png"], rows224),
    }
    for case, (family, cfg, inputs, rows) in cases.items():
        meta[f"config.{case}"] = json.dumps(cfg, sort_keys=True)
        meta[f"family.{case}"] = family
        meta[f"inputs.{case}"] = json.dumps(inputs)
        meta[f"rows.{case}"] = json.dumps(rows)
        for i, name in enumerate(inputs):
            rgb = decoded[name]
            if family == "dinov3":
                px = ref_dinov3(rgb, cfg)
                tensors[f"{case}.{name}.px"] = px if rows is None else np.ascontiguousarray(px[:, rows])
            else:
                u8, px = ref_dinov2(rgb, cfg)
                tensors[f"{case}.{name}.u8"] = u8 if rows is None else np.ascontiguousarray(u8[rows])
                if rows is None and i == 0:  # normalization is checked on one image per case
                    tensors[f"{case}.{name}.px"] = px

    # -- write --------------------------------------------------------------------------------------
    os.makedirs(OUT, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    stio.save_file(tensors, os.path.join(OUT, "expected.safetensors"), metadata=meta)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    for n in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, n)):8d}  {n}")
    print(f"{total:8d}  total")
    assert total < SIZE_LIMIT, f"fixtures are {total} bytes, over the {SIZE_LIMIT}-byte budget"


if __name__ == "__main__":
    main()
