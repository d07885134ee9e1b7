/**
 * DINOv2 learned position table, resized to the patch grid of the input (docs/model.md#position-table).
 *
 * Follows current transformers (`interpolate_pos_encoding` with `size=(Hp, Wp)`): PyTorch
 * `F.interpolate(mode="bicubic", align_corners=False)` without antialias on the [H, G, G] grid,
 * i.e. per axis src = scale*(i+0.5)-0.5 (not clamped), Keys cubic with A = -0.75, taps clamped
 * to the border. Older transformers releases passed a scale_factor instead, which gives different
 * outputs for every non-native grid; that legacy behaviour is not implemented.
 *
 * pos [1 + G*G, C] (row 0 = CLS) -> [1 + Hp*Wp, C] = Interp @ pos, with the matrix Interp built in
 * float64 on the CPU once per grid (positionInterpMatrix); the GPU applies it (and its transpose
 * in the backward of full fine-tuning).
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

/**
 * DINOv2 position-table interpolation as a matrix: posN [T, C] = Interp [T, 1 + G*G] @ pos.
 * Row 0 (CLS) is the identity; patch rows hold the bicubic weights of docs/model.md#position-table (see
 * posembed.ts), or the identity when the grid is the table's own.
 */
export function positionInterpMatrix(G: number, Hp: number, Wp: number): Float32Array {
  const T = 1 + Hp * Wp,
    K = 1 + G * G;
  const m = new Float64Array(T * K);
  m[0] = 1;
  if (Hp === G && Wp === G) {
    for (let t = 1; t < T; t++) m[t * K + t] = 1;
    return Float32Array.from(m);
  }
  const ty = bicubicTaps(G, Hp),
    tx = bicubicTaps(G, Wp);
  for (let r = 0; r < Hp; r++) {
    for (let c = 0; c < Wp; c++) {
      const row = (1 + r * Wp + c) * K;
      for (let a = 0; a < 4; a++)
        for (let b = 0; b < 4; b++) m[row + 1 + ty.idx[r][a] * G + tx.idx[c][b]] += ty.w[r][a] * tx.w[c][b];
    }
  }
  return Float32Array.from(m);
}
