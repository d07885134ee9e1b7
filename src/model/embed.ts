/**
 * Image embeddings for retrieval: the L2-normalized pooler_output (CLS after the final norm), or
 * optionally `cls_mean`: CLS concatenated with the mean of the patch tokens (registers excluded),
 * then L2-normalized (docs/model.md#embeddings). Pixels come preprocessed ([3, H, W] each, all of one size).
 *
 *   embedBatch(vit, pixels[B*3*H*W], B, H, W, pooling) -> Float32Array [B, D]
 *   D = C for `cls`, 2C for `cls_mean`.
 */
import type { Vit } from './vit';

export type Pooling = 'cls' | 'cls_mean';

export function embeddingDim(vit: Vit, pooling: Pooling): number {
  return pooling === 'cls' ? vit.spec.hidden : 2 * vit.spec.hidden;
}

export async function embedBatch(
  vit: Vit,
  pixels: Float32Array,
  B: number,
  H: number,
  W: number,
  pooling: Pooling = 'cls',
): Promise<Float32Array> {
  const gpu = vit.gpu;
  const C = vit.spec.hidden;
  const px = gpu.upload(pixels, 'pixels');
  try {
    const r = vit.forward(px, B, H, W);
    if (pooling === 'cls') return await gpu.read(r.emb, B * C);
    // cls_mean: mean over patch rows on the CPU from the read-back hidden states.
    const { T, prefix } = r.grid;
    const hidden = await gpu.read(r.hidden, B * T * C);
    const out = new Float32Array(B * 2 * C);
    for (let b = 0; b < B; b++) {
      const acc = new Float64Array(C);
      for (let t = prefix; t < T; t++) for (let c = 0; c < C; c++) acc[c] += hidden[(b * T + t) * C + c];
      out.set(hidden.subarray(b * T * C, b * T * C + C), b * 2 * C);
      for (let c = 0; c < C; c++) out[b * 2 * C + C + c] = acc[c] / (T - prefix);
    }
    l2normalizeRows(out, B, 2 * C);
    return out;
  } finally {
    px.destroy();
  }
}

/** L2-normalizes each row of x [N, D] in place (float64 sums; a zero row stays zero). */
export function l2normalizeRows(x: Float32Array, N: number, D: number): Float32Array {
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[i * D + d] * x[i * D + d];
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let d = 0; d < D; d++) x[i * D + d] *= inv;
  }
  return x;
}
