/**
 * tokens: token-row helpers of the ViT embeddings over X [B, T, C] (shaders/ops/tokens.wgsl).
 *   tokensPrefix(X, src[R,C])   X[b, t<R] = src[t]        CLS + register tokens into every image
 *   tokensAddPos(X, pos[T,C])   X[b, t] += pos[t]         DINOv2 position table, all rows
 *   tokensGather(out[B,C], X)   out[b] = X[b, row]        CLS row -> pooler_output
 *   tokensScatter(X, src[B,C])  X[b, row] = src[b]        its backward (other rows untouched)
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';
import { grid } from './support';

const WG = 256;

function run(
  gpu: Gpu,
  entry: string,
  dst: GPUBuffer,
  src: GPUBuffer,
  B: number,
  T: number,
  C: number,
  R: number,
  n: number,
): void {
  gpu.dispatch({
    op: `tokens.${entry}`,
    shapes: dims`X[${B},${T},${C}] R=${R}`,
    shader: 'ops/tokens',
    entry,
    constants: { WG },
    buffers: [dst, src],
    params: packParams([B, T, C, R]),
    workgroups: grid(gpu, cdiv(n, WG)),
  });
}

export function tokensPrefix(gpu: Gpu, X: GPUBuffer, src: GPUBuffer, B: number, T: number, C: number, R: number): void {
  run(gpu, 'prefix', X, src, B, T, C, R, B * R * C);
}

export function tokensAddPos(gpu: Gpu, X: GPUBuffer, pos: GPUBuffer, B: number, T: number, C: number): void {
  run(gpu, 'addpos', X, pos, B, T, C, 0, B * T * C);
}

export function tokensGather(gpu: Gpu, out: GPUBuffer, X: GPUBuffer, B: number, T: number, C: number, row = 0): void {
  run(gpu, 'gather', out, X, B, T, C, row, B * C);
}

export function tokensScatter(gpu: Gpu, X: GPUBuffer, src: GPUBuffer, B: number, T: number, C: number, row = 0): void {
  run(gpu, 'scatter', X, src, B, T, C, row, B * C);
}
