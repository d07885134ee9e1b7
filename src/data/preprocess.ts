/**
 * Image preprocessing exactly as Hugging Face's image processors do it (docs/model.md#preprocessing).
 * Pure TypeScript, no Node APIs: it runs in the browser too.
 *
 *   preprocess(img, pp)                   RgbImage [H0, W0, 3] uint8  ->  pixel_values [3, H, W] float32 (CHW)
 *   outputSize(pp, width, height)         the [H, W] that preprocess() will produce for an input size
 *   resizeAndCropU8(img, pp)              DINOv2 only: the uint8 image before rescale/normalize (for tests)
 *
 * The `Preprocessor` comes from preprocessor_config.json through `preprocessorFromConfig`
 * (src/data/preprocess-config.ts, re-exported here with its types so that callers import the whole
 * preprocessing from this module).
 *
 * DINOv3 (`DINOv3ViTImageProcessorFast`, torchvision backend), order rescale -> resize -> crop -> normalize:
 *   uint8 -> float32 * rescale_factor -> antialiased bilinear (or bicubic) resize in float32, no uint8 rounding
 *   -> optional center crop -> (x - mean) / std.
 * DINOv2 (`BitImageProcessor`, PIL backend), order resize -> crop -> rescale -> normalize:
 *   antialiased bicubic (or bilinear) resize on uint8 with PIL's 22-bit fixed-point coefficients and
 *   rounding to uint8 after each pass (so the result is bit-identical to PIL's Image.resize) -> center
 *   crop (top = floor((h - ch) / 2)) -> float32 * rescale_factor -> (x - mean) / std.
 *
 * Both use one separable resampler (`resampleAA`, src/data/resample.ts): the PIL-compatible antialiased
 * kernel of docs/model.md#resample-aa, horizontal pass first, then vertical; it is parameterized by the
 * filter and by the rounding ('f32': torch's float32 weights and values; 'pil-u8': PIL's float64 weights
 * in 22-bit fixed point, uint8 values).
 *
 * Decoders always hand over RGB (as transformers' `load_image` + `convert("RGB")`), so `do_convert_rgb`
 * has nothing left to do here.
 */
import type { RgbImage } from './image';
import type { Family, Preprocessor } from './preprocess-config';
import { resampleAA } from './resample';

export { preprocessorFromConfig, PreprocessorConfigError, type Family, type Preprocessor } from './preprocess-config';

// --------------------------------------------------------------------------------------------
// sizes
// --------------------------------------------------------------------------------------------

/** Size after the resize step (transformers get_resize_output_image_size, default_to_square=False). */
export function resizedSize(pp: Preprocessor, width: number, height: number): { height: number; width: number } {
  const r = pp.resize;
  if (r === null) return { height, width };
  if (r.kind === 'exact') return { height: r.height, width: r.width };
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((r.edge * long) / short); // int(), truncated, not rounded
  return width <= height ? { height: newLong, width: r.edge } : { height: r.edge, width: newLong };
}

/** [H, W] of the pixel_values that preprocess() produces for a width x height input. */
export function outputSize(pp: Preprocessor, width: number, height: number): { height: number; width: number } {
  return pp.crop ?? resizedSize(pp, width, height);
}
// --------------------------------------------------------------------------------------------
// crop, normalize, the pipelines
// --------------------------------------------------------------------------------------------

/**
 * Offset of the crop window on one axis (out index o reads in index o + offset; outside -> 0).
 * Fits: floor((n - c) / 2) for both processors. Zero padding (c > n): the slow (PIL) processor puts the
 * image ceil((c - n) / 2) in, the fast (torchvision) one floor((c - n) / 2).
 */
function cropOffset(n: number, c: number, family: Family): number {
  if (c <= n) return Math.floor((n - c) / 2);
  return family === 'dinov3' ? -Math.floor((c - n) / 2) : -Math.ceil((c - n) / 2);
}

function centerCrop<T extends Float64Array | Uint8Array>(
  img: T,
  width: number,
  height: number,
  crop: { height: number; width: number },
  family: Family,
): T {
  const top = cropOffset(height, crop.height, family);
  const left = cropOffset(width, crop.width, family);
  const out = (
    img instanceof Uint8Array
      ? new Uint8Array(crop.height * crop.width * 3)
      : new Float64Array(crop.height * crop.width * 3)
  ) as T;
  for (let y = 0; y < crop.height; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= height) continue;
    for (let x = 0; x < crop.width; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= width) continue;
      for (let c = 0; c < 3; c++) out[(y * crop.width + x) * 3 + c] = img[(sy * width + sx) * 3 + c];
    }
  }
  return out;
}

/** [H, W, 3] (already rescaled float32 values) -> [3, H, W] float32, (x - mean) / std in float32. */
function normalizeToChw(hwc: ArrayLike<number>, width: number, height: number, pp: Preprocessor): Float32Array {
  const out = new Float32Array(3 * height * width);
  const plane = height * width;
  for (let c = 0; c < 3; c++) {
    const m = pp.mean ? Math.fround(pp.mean[c]) : 0;
    const s = pp.std ? Math.fround(pp.std[c]) : 1;
    for (let i = 0; i < plane; i++) out[c * plane + i] = Math.fround(Math.fround(hwc[i * 3 + c] - m) / s);
  }
  return out;
}

/** uint8 -> float32 value times rescale_factor, as torch/numpy do it in float32 (or unchanged). */
function rescale(u8: Uint8Array, factor: number | null, family: Family): Float64Array {
  const out = new Float64Array(u8.length);
  if (factor === null) {
    out.set(u8);
    return out;
  }
  // torch: uint8 tensor * python float -> float32 product; numpy (slow): float64 product -> float32.
  const f = family === 'dinov3' ? Math.fround(factor) : factor;
  for (let i = 0; i < u8.length; i++) out[i] = Math.fround(u8[i] * f);
  return out;
}

function checkImage(img: RgbImage): void {
  const { width, height, data } = img;
  if (
    !(Number.isInteger(width) && Number.isInteger(height) && width >= 1 && height >= 1) ||
    data.length !== width * height * 3
  ) {
    throw new Error(`preprocess: image data has ${data.length} bytes, expected ${width}x${height}x3`);
  }
}

/** pixel_values [3, H, W] float32 for one image, exactly as the family's HF image processor. */
export function preprocess(img: RgbImage, pp: Preprocessor): Float32Array {
  checkImage(img);
  const { width, height, data } = img;
  if (pp.family === 'dinov3') {
    // rescale -> resize (float32, no uint8 rounding) -> crop -> normalize
    const rs = resizedSize(pp, width, height);
    let x = rescale(data, pp.rescaleFactor, pp.family);
    x = resampleAA(x, width, height, 3, rs.width, rs.height, pp.resample, 'f32') as Float64Array;
    let [w, h] = [rs.width, rs.height];
    if (pp.crop) {
      x = centerCrop(x, w, h, pp.crop, pp.family);
      [w, h] = [pp.crop.width, pp.crop.height];
    }
    return normalizeToChw(x, w, h, pp);
  }
  // dinov2: resize (uint8, PIL) -> crop -> rescale -> normalize
  const u8 = resizeAndCropU8(img, pp);
  return normalizeToChw(rescale(u8.data, pp.rescaleFactor, pp.family), u8.width, u8.height, pp);
}

/**
 * DINOv2 only: the uint8 [H, W, 3] image after resize and crop, before rescale/normalize (what PIL
 * holds at that point). Used by tests to compare with PIL at the uint8 level.
 */
export function resizeAndCropU8(img: RgbImage, pp: Preprocessor): RgbImage {
  if (pp.family !== 'dinov2') throw new Error('resizeAndCropU8: only the uint8 (dinov2) path has a uint8 stage');
  checkImage(img);
  const rs = resizedSize(pp, img.width, img.height);
  let u8 = resampleAA(img.data, img.width, img.height, 3, rs.width, rs.height, pp.resample, 'pil-u8') as Uint8Array;
  if (pp.crop) {
    u8 = centerCrop(u8, rs.width, rs.height, pp.crop, pp.family);
    return { width: pp.crop.width, height: pp.crop.height, data: u8 };
  }
  return { width: rs.width, height: rs.height, data: u8 };
}

/** One image ready for the GPU: pixel_values [3, h, w]. */
export interface PreparedImage {
  px: Float32Array;
  h: number;
  w: number;
}
