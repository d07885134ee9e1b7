/**
 * DINOv2 learned position table, resized to the patch grid of the input (spec §2.3-2.4).
 *
 * Follows current transformers (`interpolate_pos_encoding` with `size=(Hp, Wp)`): PyTorch
 * `F.interpolate(mode="bicubic", align_corners=False)` without antialias on the [H, G, G] grid,
 * i.e. per axis src = scale*(i+0.5)-0.5 (not clamped), Keys cubic with A = -0.75, taps clamped
 * to the border. Older transformers releases passed a scale_factor instead, which gives different
 * outputs for every non-native grid; that legacy behaviour is not implemented.
 *
 * pos [1 + G*G, C] (row 0 = CLS) -> [1 + Hp*Wp, C]. Computed in float64 on the CPU once per grid.
 */

/** Per-output taps (4, clamped) and weights of PyTorch's bicubic resize from `inN` to `outN`. */
export function bicubicTaps(inN: number, outN: number): { idx: number[][]; w: number[][] } {
  const A = -0.75;
  const cc1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
  const cc2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  const scale = inN / outN;
  const idx: number[][] = [];
  const w: number[][] = [];
  for (let i = 0; i < outN; i++) {
    const src = scale * (i + 0.5) - 0.5;
    const i0 = Math.floor(src);
    const t = src - i0;
    w.push([cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)]);
    idx.push([i0 - 1, i0, i0 + 1, i0 + 2].map((j) => Math.min(Math.max(j, 0), inN - 1)));
  }
  return { idx, w };
}

export function interpolatePosEmbed(pos: Float32Array, G: number, C: number, Hp: number, Wp: number): Float32Array {
  const out = new Float32Array((1 + Hp * Wp) * C);
  out.set(pos.subarray(0, C), 0); // CLS position unchanged
  if (Hp === G && Wp === G) {
    out.set(pos.subarray(C, (1 + G * G) * C), C);
    return out;
  }
  const ty = bicubicTaps(G, Hp);
  const tx = bicubicTaps(G, Wp);
  const acc = new Float64Array(C);
  for (let r = 0; r < Hp; r++) {
    for (let c = 0; c < Wp; c++) {
      acc.fill(0);
      for (let a = 0; a < 4; a++) {
        for (let b = 0; b < 4; b++) {
          const wgt = ty.w[r][a] * tx.w[c][b];
          const src = (1 + ty.idx[r][a] * G + tx.idx[c][b]) * C;
          for (let ch = 0; ch < C; ch++) acc[ch] += wgt * pos[src + ch];
        }
      }
      out.set(acc, (1 + r * Wp + c) * C);
    }
  }
  return out;
}
