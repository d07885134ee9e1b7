/**
 * layernorm: torch.nn.LayerNorm over the last dim C (biased variance, eps inside the sqrt),
 * on N = B*T rows. eps is 1e-5 for DINOv3, 1e-6 for DINOv2.
 *   forward:  out = (inp - mean) * rstd * weight + bias         (shaders/ops/layernorm.fwd.wgsl)
 *             inp, out [N, C]; weight, bias [C]; saves stats [N, 2] = (mean, rstd).
 *             Variance by the corrected two-pass algorithm (never E[x^2] - E[x]^2).
 *   backward (adds into the gradient buffers; null skips one):
 *     dinp    += rstd * (g - mean_c(g) - xh * mean_c(g * xh)),  g = dout * weight,
 *                xh = (inp - mean) * rstd                       (shaders/ops/layernorm.bwd.wgsl)
 *     dweight += sum_n dout * xh,  dbias += sum_n dout           (layernorm.bwd_params.wgsl
 *                partial sums per chunk of rows, then `colsum`)
 *
 * With `lora`, the kernels also run the LoRA adapters that read the normalized row (the
 * adapters of a linear fed by this LayerNorm: q|k|v after norm1, fc1 after norm2), so neither
 * the down-projection nor its backward costs a pass of its own (common/lnlora.wgsl):
 *   forward:  u[n, r] = scale_s * sum_c drop_s(out[n, c]) A[r, c]
 *   backward: gu[n, r] = scale_s * sum_o dy[n, col0_s + o] B[col0_s + o, r];
 *             dout += drop_s(gu_s A_s) for each adapter s, in place, before the LayerNorm backward
 * `out` may be packed f16 (src/gpu/f16.ts; the fp16 path): the LoRA projections still read the
 * f32 values. The dropout masks are those of ops/dropout (index base + n * C + c, seeds (seed0, seed1_s)),
 * the same as `matmul`'s dropout prologue uses for the A gradients.
 * Row kernels: variant `gpu.variants.get('layernorm')`, 'row' or 'wg' (see ops/support.ts).
 * Whether the model fuses its LoRA projections here: `lnLoraFused` (variant 'lnlora').
 */
import { cdiv, dims, packParams, type Gpu, type Params } from '../gpu/device';
import { isF16 } from '../gpu/f16';
import { colsum } from './colsum';
import { dropoutThreshold } from './dropout';
import { chunkRows, dummyBuffer, grid, rowLayout, scratch } from './support';

/** One adapter reading the normalized row: rows [r0, r1) of A, output columns [col0, col0 + outF). */
export interface LnLoraSegment {
  r0: number;
  r1: number;
  scale: number;
  /** Dropout mask seed of this adapter (the second seed of ops/dropout). */
  seed1: number;
  /** First column of its output in the fused linear's output gradient (backward). */
  col0: number;
}

export interface LnLora {
  /** Buffer holding A [R, C] at element offset offA and B [.., R] at offB (the LoRA arena). */
  P: GPUBuffer;
  offA: number;
  offB: number;
  R: number;
  /** Output width of each adapter (backward). */
  outF: number;
  /** Up to 3 adapters, covering [0, R) in order. */
  segs: LnLoraSegment[];
  dropout: { p: number; seed0: number; base: number } | null;
}

const MAX_R = 256;

/**
 * Whether the model runs the LoRA projections of the adapters after a LayerNorm inside the
 * LayerNorm kernels (`gpu.variants.get('lnlora')` 'fused') or as GEMMs of their own ('gemm').
 * Default: fused on GPUs (no pass of their own); GEMMs on software adapters, where the kernels'
 * row-per-invocation loops over up to 16 accumulators run ~20x slower than the LayerNorm itself
 * and the register-tiled GEMM does the same arithmetic in a fraction of the time
 * (ViT-S/16, B=4 pairs on SwiftShader: 4.7 s of a 30 s step fused).
 */
export function lnLoraFused(gpu: Gpu): boolean {
  return (gpu.variants.get('lnlora') ?? (gpu.defaults === 'software' ? 'gemm' : 'fused')) === 'fused';
}

function loraParams(N: number, C: number, eps: number, l: LnLora | undefined, ldy: number): Params {
  if (!l) return packParams([N, C, 0, 0, ...new Array<number>(16).fill(0)], [eps, 1, 0, 0, 0]);
  const s = l.segs;
  if (s.length < 1 || s.length > 3) throw new Error(`layernorm: LoRA takes 1 to 3 adapters, got ${s.length}`);
  if (l.R > MAX_R) throw new Error(`layernorm: LoRA ranks add up to ${l.R}, above the fused kernel's ${MAX_R}`);
  s.forEach((x, i) => {
    if (x.r0 !== (i === 0 ? 0 : s[i - 1].r1) || x.r1 <= x.r0)
      throw new Error('layernorm: LoRA segments must cover [0, R) in order');
  });
  if (s[s.length - 1].r1 !== l.R) throw new Error('layernorm: LoRA segments must end at R');
  const at = (i: number) => s[Math.min(i, s.length - 1)];
  const d = l.dropout;
  return packParams(
    [
      N,
      C,
      l.R,
      s.length,
      l.offA,
      l.offB,
      d ? d.seed0 >>> 0 : 0,
      d ? dropoutThreshold(d.p) : 0,
      d ? d.base >>> 0 : 0,
      ldy,
      l.outF,
      at(0).r1,
      at(1).r1,
      at(2).r1,
      at(0).seed1 >>> 0,
      at(1).seed1 >>> 0,
      at(2).seed1 >>> 0,
      at(0).col0,
      at(1).col0,
      at(2).col0,
    ],
    [eps, d ? 1 / (1 - d.p) : 1, at(0).scale, at(1).scale, at(2).scale],
  );
}

/** `lora`: also u [N, R] (the adapters' scaled down-projections of out). */
export function layernormForward(
  gpu: Gpu,
  out: GPUBuffer,
  stats: GPUBuffer,
  inp: GPUBuffer,
  weight: GPUBuffer,
  bias: GPUBuffer,
  N: number,
  C: number,
  eps: number,
  lora?: LnLora & { u: GPUBuffer },
): void {
  const { TPR, RPW } = rowLayout(gpu, 'layernorm');
  const f16 = isF16(out);
  if (f16 && C % 2) throw new Error(`layernorm.fwd: a packed-f16 output needs an even C, got ${C}`);
  gpu.dispatch({
    op: lora ? 'layernorm.fwd+lora' : 'layernorm.fwd',
    shapes: dims`inp[${N},${C}] eps=${eps}${lora ? ` lora R=${lora.R}` : ''}${f16 ? ' -> f16' : ''}`,
    shader: 'ops/layernorm.fwd',
    // one invocation per row (CPU adapters): 4 columns per loop step
    defines: { F16_OUT: f16, VEC4: TPR === 1 && C % 4 === 0 },
    constants: { TPR, RPW, LORA: lora ? 1 : 0, DROPOUT: lora?.dropout && lora.dropout.p > 0 ? 1 : 0 },
    buffers: [out, stats, inp, weight, bias, lora?.P ?? dummyBuffer(gpu), lora?.u ?? dummyBuffer(gpu, 'out')],
    params: loraParams(N, C, eps, lora, 0),
    workgroups: grid(gpu, cdiv(N, RPW)),
  });
}

/**
 * `lora`: first gu [N, R] from dy [N, ldy] (the fused linear's output gradient) and the LoRA
 * input gradient added into dout in place; then the LayerNorm backward.
 */
export function layernormBackward(
  gpu: Gpu,
  dinp: GPUBuffer | null,
  dweight: GPUBuffer | null,
  dbias: GPUBuffer | null,
  dout: GPUBuffer,
  inp: GPUBuffer,
  weight: GPUBuffer,
  stats: GPUBuffer,
  N: number,
  C: number,
  lora?: LnLora & { dy: GPUBuffer; ldy: number; gu: GPUBuffer },
): void {
  const shapes = dims`inp[${N},${C}]${lora ? ` lora R=${lora.R}` : ''}`;
  if (dinp || lora) {
    const layout = rowLayout(gpu, 'layernorm');
    const { TPR, RPW } = lora && layout.TPR > 1 ? { TPR: layout.TPR, RPW: 1 } : layout;
    gpu.dispatch({
      op: lora ? 'layernorm.bwd+lora' : 'layernorm.bwd',
      shapes,
      shader: 'ops/layernorm.bwd',
      constants: { TPR, RPW, LORA: lora ? 1 : 0, DROPOUT: lora?.dropout && lora.dropout.p > 0 ? 1 : 0 },
      buffers: [
        dinp ?? scratch(gpu, 'layernorm.dinp.unused', N * C),
        dout,
        inp,
        weight,
        stats,
        lora?.dy ?? dummyBuffer(gpu),
        lora?.P ?? dummyBuffer(gpu),
        lora?.gu ?? dummyBuffer(gpu, 'out'),
      ],
      params: loraParams(N, C, 0, lora, lora?.ldy ?? 0),
      workgroups: grid(gpu, cdiv(N, RPW)),
    });
  }
  if (dweight || dbias) {
    const { rows, chunks } = chunkRows(N);
    const partW = scratch(gpu, 'layernorm.partW', chunks * C);
    const partB = scratch(gpu, 'layernorm.partB', chunks * C);
    const WG = 64;
    gpu.dispatch({
      op: 'layernorm.bwd.params',
      shapes,
      shader: 'ops/layernorm.bwd_params',
      constants: { WG },
      buffers: [partW, partB, dout, inp, stats],
      params: packParams([N, C, rows]),
      workgroups: [cdiv(C, WG), chunks],
    });
    if (dweight) colsum(gpu, dweight, partW, chunks, C, 'layernorm.bwd.dweight');
    if (dbias) colsum(gpu, dbias, partB, chunks, C, 'layernorm.bwd.dbias');
  }
}
