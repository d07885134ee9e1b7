/**
 * patchembed: the ViT patch embedding, a Conv2d with kernel = stride = patch and no padding
 * (DINOv3 `embeddings.patch_embeddings`, DINOv2 `...patch_embeddings.projection`):
 *   pixels [B, 3, Himg, Wimg] (NCHW), weight [C, 3, p, p], bias [C]
 *   Hp = floor(Himg / p), Wp = floor(Wimg / p), P = Hp * Wp (leftover right / bottom pixels are
 *   ignored); patch q = r * Wp + c.
 *   forward:  out[b, rowOffset + q, :] = patchvec(b, q) · W.reshape(C, 3pp)^T + bias
 *             with patchvec flattened in (ch, u, v) order. `out` is a token buffer [B, T, C]:
 *             rowOffset = 1 + registers puts the patches after the CLS / register rows;
 *             rowOffset = 0, T = P gives a plain [B, P, C]. Other rows are left untouched.
 *   backward (adds into the gradient buffers; null skips one; no pixel gradient):
 *     dweight += sum_{b,q} dout[b, rowOffset + q, :]^T patchvec(b, q)   [C, 3pp]
 *     dbias   += sum_{b,q} dout[b, rowOffset + q, :]
 * Implementation: im2col into a scratch [B*P, 3pp] (shaders/ops/patchembed.im2col.wgsl; the
 * backward recomputes it from the pixels, so the forward saves nothing), then `matmul`:
 * forward one batched matmul (transB, bias) writing through row strides into the token rows, or,
 * for small images (fewer than 64 patches: a per-image matmul would leave most of each
 * kernel's 64-row tile idle, e.g. 16 patches at 32 px, patch 8), one matmul over all images'
 * patch rows into a scratch, then each image's rows copied into place (a batched matmul took
 * 120 ms and this 30 ms per 128 images of that size on SwiftShader);
 * dweight one transA matmul per image (one in all when the patch rows are contiguous);
 * dbias per-image column sums (patchembed.bwd_bias.wgsl) then `colsum`.
 * Measured on SwiftShader (B=4, 224x224, p=16, C=384): im2col 21 ms vs the matmul 1.7 s, so a
 * direct (implicit-im2col) kernel could save ~1%; the scratch costs B*P*3pp floats (2.4 MB here).
 */
import { cdiv, dims, packParams, type Gpu, type Shapes } from '../gpu/device';
import { colsum } from './colsum';
import { matmul } from './matmul';
import { grid, scratch } from './support';

export interface PatchembedShape {
  B: number;
  Himg: number;
  Wimg: number;
  patch: number;
  /** Embedding width (conv output channels). */
  C: number;
  /** Token row of patch 0 in each image (default 0). */
  rowOffset?: number;
  /** Token rows per image in the output buffer (default: rowOffset + P). */
  T?: number;
}

export interface PatchGrid {
  Hp: number;
  Wp: number;
  /** Patches per image. */
  P: number;
  /** Values per patch, 3 * patch^2. */
  K: number;
  rowOffset: number;
  T: number;
}

/** Patch grid of a shape, checked: at least one patch, and the patch rows fit in T. */
export function patchGrid(s: PatchembedShape): PatchGrid {
  const Hp = Math.floor(s.Himg / s.patch);
  const Wp = Math.floor(s.Wimg / s.patch);
  const P = Hp * Wp;
  const rowOffset = s.rowOffset ?? 0;
  const T = s.T ?? rowOffset + P;
  if (P === 0) {
    throw new Error(`patchembed: image ${s.Himg}x${s.Wimg} is smaller than one ${s.patch}x${s.patch} patch`);
  }
  if (rowOffset + P > T) {
    throw new Error(`patchembed: rowOffset ${rowOffset} + ${P} patches exceeds T = ${T} token rows`);
  }
  return { Hp, Wp, P, K: 3 * s.patch * s.patch, rowOffset, T };
}

function describe(s: PatchembedShape, g: PatchGrid): Shapes {
  return dims`pixels[${s.B},3,${s.Himg},${s.Wimg}] p=${s.patch} -> [${s.B},${g.T},${s.C}] rows ${g.rowOffset}..${g.rowOffset + g.P - 1}`;
}

const WG = 256;

/** cols [B*P, K] <- the patches of `pixels` (a scratch buffer shared by forward and backward). */
function im2col(gpu: Gpu, pixels: GPUBuffer, s: PatchembedShape, g: PatchGrid): GPUBuffer {
  const n = s.B * g.P * g.K;
  const cols = scratch(gpu, 'patchembed.cols', n);
  gpu.dispatch({
    op: 'patchembed.im2col',
    shapes: describe(s, g),
    shader: 'ops/patchembed.im2col',
    constants: { WG },
    buffers: [cols, pixels],
    params: packParams([s.B, s.Himg, s.Wimg, s.patch, g.Wp, g.P]),
    workgroups: grid(gpu, cdiv(n, WG)),
  });
  return cols;
}

export function patchembedForward(
  gpu: Gpu,
  out: GPUBuffer,
  pixels: GPUBuffer,
  weight: GPUBuffer,
  bias: GPUBuffer | null,
  s: PatchembedShape,
): void {
  const g = patchGrid(s);
  const cols = im2col(gpu, pixels, s, g);
  const args = { N: s.C, K: g.K, transB: true, bias: bias ?? undefined, op: 'patchembed.fwd' };
  if (g.T === g.P || (g.P < 64 && s.B > 1)) {
    // All patch rows in one run: one matmul, straight into `out` when its rows are that run.
    const dst = g.T === g.P ? out : scratch(gpu, 'patchembed.out', s.B * g.P * s.C);
    matmul(gpu, dst, cols, weight, { ...args, M: s.B * g.P });
    if (dst !== out) {
      for (let b = 0; b < s.B; b++)
        gpu.copy(dst, out, g.P * s.C * 4, b * g.P * s.C * 4, (b * g.T + g.rowOffset) * s.C * 4);
    }
    return;
  }
  matmul(gpu, out, cols, weight, {
    M: g.P,
    N: s.C,
    K: g.K,
    transB: true,
    bias: bias ?? undefined,
    offC: g.rowOffset * s.C,
    batch1: s.B,
    strideA: [g.P * g.K, 0],
    strideB: [0, 0],
    strideC: [g.T * s.C, 0],
    op: 'patchembed.fwd',
  });
}

export function patchembedBackward(
  gpu: Gpu,
  dweight: GPUBuffer | null,
  dbias: GPUBuffer | null,
  dout: GPUBuffer,
  pixels: GPUBuffer,
  s: PatchembedShape,
): void {
  const g = patchGrid(s);
  const { B, C } = s;
  if (dweight) {
    const cols = im2col(gpu, pixels, s, g);
    // dW [C, K] += dout_rows^T [C, rows] · cols [rows, K]
    const contiguous = g.T === g.P; // then rowOffset = 0: all patch rows in one run
    const runs = contiguous ? 1 : B;
    const rows = contiguous ? B * g.P : g.P;
    for (let b = 0; b < runs; b++) {
      matmul(gpu, dweight, dout, cols, {
        M: C,
        N: g.K,
        K: rows,
        transA: true,
        lda: C,
        offA: (b * g.T + g.rowOffset) * C,
        offB: b * g.P * g.K,
        accum: true,
        op: 'patchembed.bwd.dweight',
      });
    }
  }
  if (dbias) {
    const part = scratch(gpu, 'patchembed.part', B * C);
    gpu.dispatch({
      op: 'patchembed.bwd.dbias',
      shapes: describe(s, g),
      shader: 'ops/patchembed.bwd_bias',
      constants: { WG: 64 },
      buffers: [part, dout],
      params: packParams([C, g.T, g.rowOffset, g.P]),
      workgroups: [cdiv(C, 64), B],
    });
    colsum(gpu, dbias, part, B, C, 'patchembed.bwd.dbias');
  }
}
