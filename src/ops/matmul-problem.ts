/**
 * One matmul call made ready to dispatch (src/ops/matmul.ts): its fusion set, its buffers by
 * binding name (src/ops/matmul-gen-spec.ts `problemBindings`), its parameter block in the order of
 * `paramFields` (checked here, with the errors for calls no kernel can run) and its workgroup
 * tiles; `packProblems` lays the blocks of one dispatch out in the uniform buffer.
 */
import { cdiv, dims, type Shapes } from '../gpu/device';
import { f32Bits, isU32, paramWords, type Params } from '../gpu/params';
import { isF16 } from '../gpu/f16';
import { dropoutThreshold } from './dropout';
import { fusionOf, layout, second, type MatmulArgs, type MatmulDropout, type MatmulPrologue } from './matmul-args';
import { paramFields, problemBindings, type Fusion } from './matmul-gen-spec';
import type { MatmulKernel } from './matmul-kernels';

/** One call, ready to dispatch: its fusions, buffers by binding name, parameters, tiles. */
export interface Problem {
  op: string;
  shapes: Shapes;
  fusion: Fusion;
  buffers: Record<string, GPUBuffer>;
  u32: number[];
  f32: number[];
  /** Workgroup tiles along N and M, and batch count. */
  tiles: [number, number, number];
}

/** A call as a problem for `kernel` (whose tile sizes give the workgroup grid); throws on bad arguments. */
export function problem(kernel: MatmulKernel, C: GPUBuffer, A: GPUBuffer, B: GPUBuffer, a: MatmulArgs): Problem {
  const op = a.op ?? 'matmul';
  const l = layout(a);
  const batch = l.b1 * l.b2;
  const s2 = second(a, l);
  if (s2 && batch > 1) throw new Error(`${op}: a second product cannot be batched`);
  const shapes = dims`op(A)[${batch > 1 ? `${batch},` : ''}${l.M},${l.K}]${l.transA ? 'ᵀ' : ''} op(B)[${l.K},${l.N}]${
    l.transB ? 'ᵀ' : ''
  }${s2 ? ` + [${l.M},${s2.K}]x[${s2.K},${l.N}]` : ''} -> C[${l.M},${l.N}] (${kernel.name})`;
  const u32 = [l.M, l.N, l.K, l.lda, l.ldb, l.ldc, l.offA, l.offB, l.offC, l.b2, ...l.sA, ...l.sB, ...l.sC];
  const f32 = [a.alpha ?? 1];
  const f = fusionOf(l, a);
  const extra: Record<string, GPUBuffer | undefined> = {
    C,
    A,
    B,
    bias: a.bias,
    ks: a.proA?.kind === 'kscale' ? a.proA.v : undefined,
    A2: a.second?.A,
    B2: a.second?.B,
    cs: a.colScale,
    pre: a.pre,
    H: a.geluGrad?.H,
    R: a.residual && a.residual.R !== 'inplace' ? a.residual.R : undefined,
    ls: a.residual?.ls,
  };
  const buffers: Record<string, GPUBuffer> = {};
  for (const name of problemBindings(f)) buffers[name] = extra[name]!;
  if ([A, B, a.second?.A, a.second?.B].includes(C)) {
    throw new Error(
      `${op}: the output C is also an operand (A, B or a second product's); the kernels read operands while others write C`,
    );
  }
  if ((isF16(C) || (a.pre && isF16(a.pre))) && [l.ldc, l.offC, ...(batch > 1 ? l.sC : [])].some((x) => x % 2)) {
    throw new Error(
      `${op}: a packed-f16 output needs an even row stride, offset and batch strides (ldc ${l.ldc}, offC ${l.offC})`,
    );
  }
  if (isF16(C) && a.pre && !isF16(a.pre)) throw new Error(`${op}: C and pre must have the same element type`);
  if (s2) u32.push(s2.K, s2.lda, s2.ldb, s2.offA, s2.offB);
  if (a.proB?.kind === 'kscale') throw new Error(`${op}: kscale is a prologue of A only`);
  const isDrop = (x: MatmulPrologue | undefined) => x?.kind === 'dropout' || x?.kind === 'geludrop';
  const drop = isDrop(a.proA) ? (a.proA as MatmulDropout) : isDrop(a.proB) ? (a.proB as MatmulDropout) : a.dropout;
  if (drop) {
    if (!(drop.p >= 0 && drop.p < 1)) throw new Error(`${op}: dropout p = ${drop.p} must be in [0, 1)`);
    u32.push(drop.seed0 >>> 0, drop.seed1 >>> 0, dropoutThreshold(drop.p), (drop.base ?? 0) >>> 0);
    f32.push(1 / (1 - drop.p));
  }
  if (a.blockMask) {
    const r = a.blockMask.ranges;
    if (r.length < 1 || r.length > 3) throw new Error(`${op}: blockMask takes 1 to 3 ranges`);
    const lo = (i: number) => r[Math.min(i, r.length - 1)];
    u32.push(a.blockMask.rows, lo(0)[0], lo(0)[1], lo(1)[0], lo(1)[1], lo(2)[0], lo(2)[1]);
  }
  u32.push(0, 0); // wg0, wgx: set by the multi-problem dispatch
  const fields = paramFields(f);
  if (fields.u32.length !== u32.length || fields.f32.length !== f32.length) {
    throw new Error(
      `matmul: params (${u32.length}, ${f32.length}) do not match the kernel's (${fields.u32.length}, ${fields.f32.length})`,
    );
  }
  const tileN = kernel.tn * kernel.wg[0],
    tileM = kernel.tm * kernel.wg[1];
  return { op, shapes, fusion: f, buffers, u32, f32, tiles: [cdiv(l.N, tileN), cdiv(l.M, tileM), batch] };
}

/** Packs the per-problem parameter blocks one after the other (u32 fields, then f32 fields). */
export function packProblems(ps: Problem[]): Params {
  const out: Params = new Array<number>(paramWords(ps.reduce((t, x) => t + x.u32.length + x.f32.length, 0)));
  let o = 0;
  for (const x of ps) {
    for (const v of x.u32) {
      if (!isU32(v)) throw new Error(`${x.op}: parameter ${v} is not a u32`);
      out[o++] = v;
    }
    for (const v of x.f32) out[o++] = f32Bits(v);
  }
  while (o < out.length) out[o++] = 0;
  return out;
}
