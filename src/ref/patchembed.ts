/**
 * CPU reference for patchembed in float64 (same names and argument order as
 * src/ops/patchembed.ts; backward adds into the gradient arrays, null skips one): a direct
 * Conv2d with kernel = stride = patch, no padding, written into the patch rows of a token
 * buffer [B, T, C].
 */
import type { PatchembedShape } from '../ops/patchembed';

/** The patch grid, worked out here (not taken from the GPU path): Hp x Wp patches at rows rowOffset.. of T. */
function grid(s: PatchembedShape): { Hp: number; Wp: number; rowOffset: number; T: number } {
  const Hp = Math.floor(s.Himg / s.patch);
  const Wp = Math.floor(s.Wimg / s.patch);
  const rowOffset = s.rowOffset ?? 0;
  return { Hp, Wp, rowOffset, T: s.T ?? rowOffset + Hp * Wp };
}

export function patchembedForward(
  out: Float64Array,
  pixels: Float64Array,
  weight: Float64Array,
  bias: Float64Array | null,
  s: PatchembedShape,
): void {
  const { Hp, Wp, rowOffset, T } = grid(s);
  const { B, Himg: H, Wimg: W, patch: p, C } = s;
  for (let b = 0; b < B; b++) {
    for (let r = 0; r < Hp; r++) {
      for (let c = 0; c < Wp; c++) {
        const row = b * T + rowOffset + r * Wp + c;
        for (let o = 0; o < C; o++) {
          let acc = bias ? bias[o] : 0;
          for (let ch = 0; ch < 3; ch++) {
            for (let u = 0; u < p; u++) {
              for (let v = 0; v < p; v++) {
                acc += weight[((o * 3 + ch) * p + u) * p + v] * pixels[((b * 3 + ch) * H + r * p + u) * W + c * p + v];
              }
            }
          }
          out[row * C + o] = acc;
        }
      }
    }
  }
}

export function patchembedBackward(
  dweight: Float64Array | null,
  dbias: Float64Array | null,
  dout: Float64Array,
  pixels: Float64Array,
  s: PatchembedShape,
): void {
  const { Hp, Wp, rowOffset, T } = grid(s);
  const { B, Himg: H, Wimg: W, patch: p, C } = s;
  for (let b = 0; b < B; b++) {
    for (let r = 0; r < Hp; r++) {
      for (let c = 0; c < Wp; c++) {
        const row = b * T + rowOffset + r * Wp + c;
        for (let o = 0; o < C; o++) {
          const g = dout[row * C + o];
          if (dbias) dbias[o] += g;
          if (!dweight) continue;
          for (let ch = 0; ch < 3; ch++) {
            for (let u = 0; u < p; u++) {
              for (let v = 0; v < p; v++) {
                dweight[((o * 3 + ch) * p + u) * p + v] += g * pixels[((b * 3 + ch) * H + r * p + u) * W + c * p + v];
              }
            }
          }
        }
      }
    }
  }
}
