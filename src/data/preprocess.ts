/**
 * Image preprocessing exactly as Hugging Face's image processors do it (docs/model.md#preprocessing).
 * Pure TypeScript, no Node APIs: it runs in the browser too.
 *
 *   preprocessorFromConfig(json, family)  parses preprocessor_config.json (zod) into a `Preprocessor`
 *   preprocess(img, pp)                   RgbImage [H0, W0, 3] uint8  ->  pixel_values [3, H, W] float32 (CHW)
 *   outputSize(pp, width, height)         the [H, W] that preprocess() will produce for an input size
 *
 * DINOv3 (`DINOv3ViTImageProcessorFast`, torchvision backend), order rescale -> resize -> crop -> normalize:
 *   uint8 -> float32 * rescale_factor -> antialiased bilinear (or bicubic) resize in float32, no uint8 rounding
 *   -> optional center crop -> (x - mean) / std.
 * DINOv2 (`BitImageProcessor`, PIL backend), order resize -> crop -> rescale -> normalize:
 *   antialiased bicubic (or bilinear) resize on uint8 with PIL's 22-bit fixed-point coefficients and
 *   rounding to uint8 after each pass (so the result is bit-identical to PIL's Image.resize) -> center
 *   crop (top = floor((h - ch) / 2)) -> float32 * rescale_factor -> (x - mean) / std.
 *
 * Both use one separable resampler (`resampleAA`): the PIL-compatible antialiased kernel of docs/model.md#resample-aa,
 * horizontal pass first, then vertical; it is parameterized by the filter and by the rounding
 * ('f32': torch's float32 weights and values; 'pil-u8': PIL's float64 weights in 22-bit fixed point,
 * uint8 values).
 *
 * Decoders always hand over RGB (as transformers' `load_image` + `convert("RGB")`), so `do_convert_rgb`
 * has nothing left to do here.
 */
import { z } from 'zod';
import type { RgbImage } from './image';
import { VembedError } from '../util/errors';

/** The model family: its image processor (DINOv3: torch path, DINOv2: PIL path) and its ViT (src/model). */
export type Family = 'dinov3' | 'dinov2';
export type ResampleFilter = 'bilinear' | 'bicubic';
/** What each resampling pass rounds its result to: float32 (torch's float path) or uint8 (PIL). */
export type Rounding = 'f32' | 'pil-u8';

/** What the image processor will do, resolved against the processor class defaults. */
export interface Preprocessor {
  family: Family;
  /** Resize target: an exact size, or the shortest edge (the long side is int(edge * long / short)). */
  resize: { kind: 'exact'; height: number; width: number } | { kind: 'shortest_edge'; edge: number } | null;
  resample: ResampleFilter;
  crop: { height: number; width: number } | null;
  /** null: no rescale (pixels stay 0..255). */
  rescaleFactor: number | null;
  /** null: no normalization. */
  mean: [number, number, number] | null;
  std: [number, number, number] | null;
}

export class PreprocessorConfigError extends VembedError {
  override name = 'PreprocessorConfigError';
}

// --------------------------------------------------------------------------------------------
// preprocessor_config.json
// --------------------------------------------------------------------------------------------

const SizeObject = z.looseObject({
  height: z.number().int().positive().optional(),
  width: z.number().int().positive().optional(),
  shortest_edge: z.number().int().positive().optional(),
  longest_edge: z.number().int().positive().nullish(),
  max_height: z.number().int().positive().nullish(),
  max_width: z.number().int().positive().nullish(),
});
const Size = z.union([z.number().int().positive(), SizeObject]);
const Triple = z.union([z.number(), z.array(z.number()).length(3)]);

/** Every field may be missing or null; both mean "the processor class default" (see `DEFAULTS`). */
export const PreprocessorConfig = z.looseObject({
  image_processor_type: z.string().nullish(),
  do_resize: z.boolean().nullish(),
  size: Size.nullish(),
  /** PIL resampling id: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming. */
  resample: z.number().int().nullish(),
  do_center_crop: z.boolean().nullish(),
  crop_size: Size.nullish(),
  do_rescale: z.boolean().nullish(),
  rescale_factor: z.number().positive().nullish(),
  do_normalize: z.boolean().nullish(),
  image_mean: Triple.nullish(),
  image_std: Triple.nullish(),
  do_convert_rgb: z.boolean().nullish(),
  /** Only for an integer `size` in DINOv3 configs: true -> square, false -> shortest edge. */
  default_to_square: z.boolean().nullish(),
  do_pad: z.boolean().nullish(),
});
export type PreprocessorConfig = z.infer<typeof PreprocessorConfig>;

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/** Class defaults: DINOv3ViTImageProcessorFast and BitImageProcessor (transformers). */
const DEFAULTS = {
  dinov3: {
    types: ['DINOv3ViTImageProcessorFast', 'DINOv3ViTImageProcessor'],
    do_resize: true,
    size: { height: 224, width: 224 } as number | z.infer<typeof SizeObject>,
    resample: 2,
    do_center_crop: false,
    crop_size: null as number | z.infer<typeof SizeObject> | null,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: IMAGENET_MEAN,
    image_std: IMAGENET_STD,
  },
  dinov2: {
    // BitImageProcessorFast (torchvision, int16 weights) agrees with the PIL path within 1 uint8 step.
    types: ['BitImageProcessor', 'BitImageProcessorFast'],
    do_resize: true,
    size: { shortest_edge: 224 } as number | z.infer<typeof SizeObject>,
    resample: 3,
    do_center_crop: true,
    crop_size: { height: 224, width: 224 } as number | z.infer<typeof SizeObject> | null,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: CLIP_MEAN,
    image_std: CLIP_STD,
  },
};

const RESAMPLE_NAMES = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming'];

/**
 * Parses a preprocessor_config.json object for `family`; `file` names it in errors. Unsupported values
 * (resample other than 2/3, size with longest_edge/max_*, do_pad, an image_processor_type of another
 * model) are refused with a message naming the key.
 */
export function preprocessorFromConfig(json: unknown, family: Family, file = 'preprocessor_config.json'): Preprocessor {
  const r = PreprocessorConfig.safeParse(json);
  if (!r.success) {
    throw new PreprocessorConfigError(
      r.error.issues.map((i) => `${file}: "${i.path.join('.') || '(root)'}": ${i.message}`).join('\n'),
    );
  }
  const c = r.data;
  const d = DEFAULTS[family];
  const fail = (key: string, msg: string): never => {
    throw new PreprocessorConfigError(`${file}: "${key}": ${msg}`);
  };

  if (c.image_processor_type != null && !d.types.includes(c.image_processor_type)) {
    fail(
      'image_processor_type',
      `"${c.image_processor_type}" is not supported for ${family}; expected one of ${d.types.map((t) => `"${t}"`).join(', ')}`,
    );
  }
  if (c.do_pad) fail('do_pad', 'padding is not supported (expected false or null)');

  const resampleId = c.resample ?? d.resample;
  const resample: ResampleFilter | null = resampleId === 2 ? 'bilinear' : resampleId === 3 ? 'bicubic' : null;
  if (resample === null) {
    const name = RESAMPLE_NAMES[resampleId] ?? 'unknown';
    fail('resample', `${resampleId} (${name}) is not supported; supported: 2 (bilinear), 3 (bicubic)`);
  }

  let resize: Preprocessor['resize'] = null;
  if (c.do_resize ?? d.do_resize) {
    const s = c.size ?? d.size;
    if (typeof s === 'number') {
      // DINOv3 (fast): get_size_dict(size, default_to_square) -> square by default.
      // BitImageProcessor: get_size_dict(size, default_to_square=False) -> shortest edge.
      const square = family === 'dinov3' && (c.default_to_square ?? true);
      resize = square ? { kind: 'exact', height: s, width: s } : { kind: 'shortest_edge', edge: s };
    } else {
      if (s.longest_edge != null) fail('size.longest_edge', 'is not supported');
      if (s.max_height != null || s.max_width != null)
        fail('size.max_height', '"max_height"/"max_width" are not supported');
      if (s.shortest_edge !== undefined) {
        resize = { kind: 'shortest_edge', edge: s.shortest_edge };
      } else if (s.height !== undefined && s.width !== undefined) {
        resize = { kind: 'exact', height: s.height, width: s.width };
      } else {
        fail('size', `${JSON.stringify(s)} needs "shortest_edge" or both "height" and "width"`);
      }
    }
  }

  let crop: Preprocessor['crop'] = null;
  if (c.do_center_crop ?? d.do_center_crop) {
    const s = c.crop_size ?? d.crop_size;
    if (s == null) fail('crop_size', 'is required when "do_center_crop" is true');
    else if (typeof s === 'number') crop = { height: s, width: s };
    else if (s.height !== undefined && s.width !== undefined) crop = { height: s.height, width: s.width };
    else fail('crop_size', `${JSON.stringify(s)} needs "height" and "width"`);
  }

  const triple = (key: 'image_mean' | 'image_std'): [number, number, number] => {
    const v = c[key] ?? d[key];
    const t = (typeof v === 'number' ? [v, v, v] : v) as [number, number, number];
    if (key === 'image_std' && t.some((x) => !(x > 0))) fail(key, `${JSON.stringify(v)} must be positive`);
    return t;
  };
  const normalize = c.do_normalize ?? d.do_normalize;
  return {
    family,
    resize,
    resample: resample as ResampleFilter,
    crop,
    rescaleFactor: (c.do_rescale ?? d.do_rescale) ? (c.rescale_factor ?? d.rescale_factor) : null,
    mean: normalize ? triple('image_mean') : null,
    std: normalize ? triple('image_std') : null,
  };
}

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
// the antialiased separable resampler (docs/model.md#resample-aa)
// --------------------------------------------------------------------------------------------

const f32 = Math.fround;

/**
 * The filters of PIL (Resample.c, float64) and of torch's aa_filter (UpSampleKernel.cpp, evaluated for
 * float32 tensors: the argument is a float, `(x - 5) * x + 8 ...` are float ops, literals like `1.0 - x`
 * are double, the result is stored as a float). Keys cubic with a = -0.5 in both.
 */
const FILTERS: Record<ResampleFilter, { support: number; pil: (x: number) => number; torch: (x: number) => number }> = {
  bilinear: {
    support: 1,
    pil: (x) => {
      x = Math.abs(x);
      return x < 1 ? 1 - x : 0;
    },
    torch: (x) => {
      x = Math.abs(x);
      return x < 1 ? f32(1 - x) : 0;
    },
  },
  bicubic: {
    support: 2,
    pil: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
    torch: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return f32(((a + 2) * x - (a + 3)) * x * x + 1);
      if (x < 2) return f32(f32(f32(f32(f32(x - 5) * x) + 8) * x) - 4) * a;
      return 0;
    },
  },
};

/** Per output index o: taps start[o] .. start[o] + count[o] - 1 of the input axis, weights w[o * ksize + k]. */
export interface AxisTaps {
  start: Int32Array;
  count: Int32Array;
  ksize: number;
  /** Normalized weights (sum 1); for 'pil-u8' they are PIL's integer coefficients (scaled by 2^22). */
  w: Float64Array;
}

const PRECISION_BITS = 32 - 8 - 2; // PIL's fixed point for 8-bit images
const ONE = 2 ** PRECISION_BITS;

/**
 * Weights for resampling one axis of length `inSize` to `outSize` (docs/model.md#resample-aa).
 * 'pil-u8': PIL's precompute_coeffs in float64, then normalize_coeffs_8bpc (22-bit fixed point).
 * 'f32': torch's _compute_weights_aa for float32 tensors, every float32 rounding reproduced (scale,
 * center, the filter argument, the running weight sum and the division by it are floats).
 */
export function axisTaps(inSize: number, outSize: number, filter: ResampleFilter, rounding: Rounding): AxisTaps {
  const { support: fsupport } = FILTERS[filter];
  const torch = rounding === 'f32';
  const fl = torch ? f32 : (x: number) => x;
  const fn = torch ? FILTERS[filter].torch : FILTERS[filter].pil;
  const scale = fl(inSize / outSize);
  const support = scale >= 1 ? fl(fsupport * scale) : fsupport;
  const inv = scale >= 1 ? fl(1 / scale) : 1;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const w = new Float64Array(outSize * ksize);
  for (let o = 0; o < outSize; o++) {
    const center = fl(scale * (o + 0.5));
    const xmin = Math.max(Math.trunc(fl(center - support) + 0.5), 0);
    const xmax = Math.min(Math.trunc(fl(center + support) + 0.5), inSize);
    const n = Math.min(xmax - xmin, ksize); // torch clamps a rare precision overshoot the same way
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const v = fn(fl((fl(xmin + k - center) + 0.5) * inv));
      w[o * ksize + k] = v;
      sum = fl(sum + v);
    }
    for (let k = 0; k < n; k++) {
      let v = sum !== 0 ? fl(w[o * ksize + k] / sum) : w[o * ksize + k];
      // PIL normalize_coeffs_8bpc: (int)(v * 2^22 +- 0.5), i.e. round half away from zero
      if (rounding === 'pil-u8') v = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
      w[o * ksize + k] = v;
    }
    start[o] = xmin;
    count[o] = n;
  }
  return { start, count, ksize, w };
}

/**
 * One pass along an axis. Element (line l, axis index i, inner j) sits at l*lineStride + i*axisStride + j
 * in both src and dst (dst lines are `dstLineStride` apart). 'pil-u8': integer accumulation with PIL's
 * rounding offset 2^21, then clip8 (>> 22, clamped to 0..255). 'f32': float64 accumulation, result
 * rounded to float32 (torch accumulates in float32; the difference is an ulp or two).
 */
function resamplePass(
  dst: Float64Array | Uint8Array,
  src: ArrayLike<number>,
  taps: AxisTaps,
  lines: number,
  srcLineStride: number,
  dstLineStride: number,
  axisStride: number,
  inner: number,
  rounding: Rounding,
): void {
  const { start, count, ksize, w } = taps;
  const outSize = start.length;
  const pil = rounding === 'pil-u8';
  const init = pil ? ONE / 2 : 0;
  for (let l = 0; l < lines; l++) {
    for (let o = 0; o < outSize; o++) {
      const s0 = l * srcLineStride + start[o] * axisStride;
      const d0 = l * dstLineStride + o * axisStride;
      const n = count[o];
      const wo = o * ksize;
      for (let j = 0; j < inner; j++) {
        let acc = init;
        for (let k = 0; k < n; k++) acc += src[s0 + k * axisStride + j] * w[wo + k];
        if (pil) {
          const v = Math.floor(acc / ONE);
          dst[d0 + j] = v < 0 ? 0 : v > 255 ? 255 : v;
        } else {
          dst[d0 + j] = f32(acc);
        }
      }
    }
  }
}

/**
 * Antialiased separable resize of an interleaved [H, W, C] image to [outH, outW, C]: horizontal pass
 * first, then vertical; an axis whose size does not change is copied (as both PIL and torch do).
 * 'f32': float values in and out, kept in float32 (torch's float path); 'pil-u8': uint8 in and out,
 * rounded after each pass (PIL's Image.resize).
 */
export function resampleAA(
  src: Float64Array | Uint8Array,
  width: number,
  height: number,
  channels: number,
  outW: number,
  outH: number,
  filter: ResampleFilter,
  rounding: Rounding,
): Float64Array | Uint8Array {
  if (src.length !== width * height * channels) {
    throw new Error(`resampleAA: ${src.length} values for a ${width}x${height}x${channels} image`);
  }
  const alloc = (n: number) => (rounding === 'pil-u8' ? new Uint8Array(n) : new Float64Array(n));
  let cur: Float64Array | Uint8Array = src;
  if (outW !== width) {
    const next = alloc(height * outW * channels);
    resamplePass(
      next,
      cur,
      axisTaps(width, outW, filter, rounding),
      height,
      width * channels,
      outW * channels,
      channels,
      channels,
      rounding,
    );
    cur = next;
  }
  if (outH !== height) {
    const next = alloc(outH * outW * channels);
    resamplePass(
      next,
      cur,
      axisTaps(height, outH, filter, rounding),
      1,
      0,
      0,
      outW * channels,
      outW * channels,
      rounding,
    );
    cur = next;
  }
  return cur === src ? src.slice() : cur;
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
