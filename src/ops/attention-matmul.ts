/**
 * attention, variant 'matmul' (./attention), for CPU adapters (SwiftShader), where workgroup memory
 * and barriers are slow: strided batched matmuls (./matmul) and row kernels without workgroup
 * memory (shaders/ops/attention.rope, .softmax.fwd, .softmax.bwd):
 *   forward  [rope copy] S = scale Q K^T, P = softmax(S) with lse, O = P V;
 *   backward [rope copy] S, dP = dO V^T, P and dS (one row kernel), dV = P^T dO,
 *            dQ = scale dS K, dK = scale dS^T Q, [RoPE backward into dqkv].
 * S, P, dP, dS live in scratch buffers shared by every layer and call (./support `scratch`,
 * B*H*T*T floats each), the rotated q, k and their gradients in [B*T, 2C] scratches; nothing per
 * layer.
 */
import { cdiv, packParams, type Gpu } from '../gpu/device';
import { isF16 } from '../gpu/f16';
import { describe, type Layout } from './attention-layout';
import { matmul } from './matmul';
import { grid, scratch } from './support';

/** A [B*T, ld] matrix holding q and k column blocks. */
interface QK {
  buf: GPUBuffer;
  ld: number;
  offQ: number;
  offK: number;
}

const WG_ROPE = 64;

/** Copies the q, k blocks of src into dst, rotating (or, backward, un-rotating) the patch rows. */
function ropeCopy(gpu: Gpu, backward: boolean, dst: QK, src: QK, l: Layout): void {
  const rope = l.rope!;
  const n = l.B * l.T * 2 * l.H; // one invocation per (row, block, head)
  gpu.dispatch({
    op: backward ? 'attention.bwd.rope' : 'attention.rope',
    shapes: describe(l, 'matmul'),
    shader: 'ops/attention.rope',
    defines: { F16_QKV: isF16(src.buf) },
    constants: { WG: WG_ROPE, BACKWARD: backward ? 1 : 0 },
    buffers: [dst.buf, src.buf, rope.cos, rope.sin],
    params: packParams([
      l.B * l.T,
      l.T,
      l.H,
      l.Dh,
      rope.prefix,
      src.ld,
      src.offQ,
      src.offK,
      dst.ld,
      dst.offQ,
      dst.offK,
    ]),
    workgroups: grid(gpu, cdiv(n, WG_ROPE)),
  });
}

/** The q and k the scores are made of: qkv itself, or the rotated copy in a scratch. */
function scoreInputs(gpu: Gpu, qkv: GPUBuffer, l: Layout): QK {
  const packed = { buf: qkv, ld: l.ld, offQ: l.offQ, offK: l.offK };
  if (!l.rope) return packed;
  const rotated = { buf: scratch(gpu, 'attention.qk', l.B * l.T * 2 * l.C), ld: 2 * l.C, offQ: 0, offK: l.C };
  ropeCopy(gpu, false, rotated, packed, l);
  return rotated;
}

/** S = scale Q K^T [B,H,T,T] into the shared scratch. */
function scores(gpu: Gpu, qk: QK, l: Layout, op: string): GPUBuffer {
  const S = scratch(gpu, 'attention.s', l.B * l.H * l.T * l.T);
  const head: [number, number] = [l.T * qk.ld, l.Dh];
  matmul(gpu, S, qk.buf, qk.buf, {
    M: l.T,
    N: l.T,
    K: l.Dh,
    transB: true,
    alpha: l.scale,
    lda: qk.ld,
    ldb: qk.ld,
    offA: qk.offQ,
    offB: qk.offK,
    batch1: l.B,
    batch2: l.H,
    strideA: head,
    strideB: head,
    op,
  });
  return S;
}

const RPW = 64;

export function matmulForward(gpu: Gpu, out: GPUBuffer, lse: GPUBuffer, qkv: GPUBuffer, l: Layout): void {
  const { B, T, H, Dh, C } = l;
  const S = scores(gpu, scoreInputs(gpu, qkv, l), l, 'attention.fwd.qk');
  gpu.dispatch({
    op: 'attention.fwd.softmax',
    shapes: describe(l, 'matmul'),
    shader: 'ops/attention.softmax.fwd',
    constants: { RPW },
    buffers: [S, lse],
    params: packParams([B * H * T, T]),
    workgroups: grid(gpu, cdiv(B * H * T, RPW)),
  });
  // O = P V -> out, head h into columns [h*Dh, (h+1)*Dh)
  matmul(gpu, out, S, qkv, {
    M: T,
    N: Dh,
    K: T,
    ldb: l.ld,
    offB: l.offV,
    ldc: C,
    batch1: B,
    batch2: H,
    strideB: [T * l.ld, Dh],
    strideC: [T * C, Dh],
    op: 'attention.fwd.pv',
  });
}

export function matmulBackward(
  gpu: Gpu,
  dqkv: GPUBuffer,
  dout: GPUBuffer,
  out: GPUBuffer,
  lse: GPUBuffer,
  qkv: GPUBuffer,
  l: Layout,
): void {
  const { B, T, H, Dh, C, ld } = l;
  const heads = { batch1: B, batch2: H };
  const qk = scoreInputs(gpu, qkv, l);
  const S = scores(gpu, qk, l, 'attention.bwd.qk');
  const dP = scratch(gpu, 'attention.dp', B * H * T * T);
  // dP = dO V^T
  matmul(gpu, dP, dout, qkv, {
    M: T,
    N: T,
    K: Dh,
    transB: true,
    lda: C,
    ldb: ld,
    offB: l.offV,
    ...heads,
    strideA: [T * C, Dh],
    strideB: [T * ld, Dh],
    op: 'attention.bwd.dp',
  });
  // S -> P, dP -> dS
  gpu.dispatch({
    op: 'attention.bwd.softmax',
    shapes: describe(l, 'matmul'),
    shader: 'ops/attention.softmax.bwd',
    defines: { F16_OUT: isF16(out) },
    constants: { RPW },
    buffers: [S, dP, lse, dout, out],
    params: packParams([B * H * T, T, H, Dh, C]),
    workgroups: grid(gpu, cdiv(B * H * T, RPW)),
  });
  // dV = P^T dO -> the v block of dqkv
  matmul(gpu, dqkv, S, dout, {
    M: T,
    N: Dh,
    K: T,
    transA: true,
    ldb: C,
    ldc: ld,
    offC: l.offV,
    ...heads,
    strideB: [T * C, Dh],
    strideC: [T * ld, Dh],
    op: 'attention.bwd.dv',
  });
  // dQ = scale dS K, dK = scale dS^T Q: into dqkv, or (RoPE) into a scratch that the RoPE
  // backward then copies into dqkv.
  const dqk: QK = l.rope
    ? { buf: scratch(gpu, 'attention.dqk', B * T * 2 * C), ld: 2 * C, offQ: 0, offK: C }
    : { buf: dqkv, ld, offQ: l.offQ, offK: l.offK };
  const strideB: [number, number] = [T * qk.ld, Dh];
  const strideC: [number, number] = [T * dqk.ld, Dh];
  matmul(gpu, dqk.buf, dP, qk.buf, {
    M: T,
    N: Dh,
    K: T,
    alpha: l.scale,
    ldb: qk.ld,
    offB: qk.offK,
    ldc: dqk.ld,
    offC: dqk.offQ,
    ...heads,
    strideB,
    strideC,
    op: 'attention.bwd.dq',
  });
  matmul(gpu, dqk.buf, dP, qk.buf, {
    M: T,
    N: Dh,
    K: T,
    transA: true,
    alpha: l.scale,
    ldb: qk.ld,
    offB: qk.offQ,
    ldc: dqk.ld,
    offC: dqk.offK,
    ...heads,
    strideB,
    strideC,
    op: 'attention.bwd.dk',
  });
  if (l.rope) ropeCopy(gpu, true, { buf: dqkv, ld, offQ: l.offQ, offK: l.offK }, dqk, l);
}
