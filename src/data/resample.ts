/**
 * The antialiased separable resampler that both families' image processors use (docs/model.md#resample-aa):
 * PIL's algorithm, which torchvision's antialiased resize copies. Pure TypeScript, no Node APIs.
 *
 *   axisTaps(inSize, outSize, filter, rounding)   the taps and weights for one axis
 *   resampleAA(src, w, h, c, outW, outH, filter, rounding)
 *                                                  [H, W, C] -> [outH, outW, C], horizontal pass first
 *
 * Rounding 'f32': torch's float32 weights and values (float64 in, float32-rounded values out);
 * 'pil-u8': PIL's float64 weights in 22-bit fixed point, uint8 values rounded after each pass
 * (bit-identical to PIL's Image.resize).
 */

/** The PIL resampling filters we implement (preprocessor_config.json `resample` 2 and 3). */
export type ResampleFilter = 'bilinear' | 'bicubic';
/** What each resampling pass rounds its result to: float32 (torch's float path) or uint8 (PIL). */
export type Rounding = 'f32' | 'pil-u8';

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
