/**
 * Batched matmul on the GPU, the workhorse behind linear, attention and the losses:
 *   C[z] = alpha * op(A[z]) op(B[z]) (+ bias) (+ C[z] when accum)
 * op(A) is [M,K], op(B) is [K,N], C is [M,N]. Strides and offsets are in elements, so per-head
 * slices of [B,T,C] activations can be used without copies.
 *
 * Several kernels compute the same thing (shaders/ops/matmul*.wgsl, all with the same bindings
 * and Params; the numbered experiments behind them are in shaders/dev and tools/kernel-lab.ts):
 *   scalar       general (any strides/offsets), 8x8 outputs per invocation, scalar loads
 *   scalar_quad  as scalar, with loads shared inside a quad (needs the subgroups feature)
 *   vec4         8x8 per invocation, A and B read as vec4 (needs 4-aligned A and B)
 *   vec4_quad    16x8 per invocation, vec4 loads shared inside a quad: fastest on SwiftShader
 *   tiled        64x64 per workgroup staged in workgroup memory: for real GPUs
 * `matmul` picks one per call (see `pickKernel`); `matmulWith` runs a given one.
 */
import { cdiv, packParams, type Gpu } from '../gpu/device';

export interface MatmulArgs {
  M: number;
  N: number;
  K: number;
  /** A is stored [K,M] instead of [M,K]. */
  transA?: boolean;
  /** B is stored [N,K] instead of [K,N]. */
  transB?: boolean;
  /** Add into C instead of overwriting it. */
  accum?: boolean;
  alpha?: number;
  /** Optional bias of length N added to every row. */
  bias?: GPUBuffer;
  /** Leading dimensions (row strides in elements); default: dense. */
  lda?: number;
  ldb?: number;
  ldc?: number;
  offA?: number;
  offB?: number;
  offC?: number;
  /** Batch = batch1 * batch2; matrix z1*batch2+z2 starts at off + z1*s1 + z2*s2. */
  batch1?: number;
  batch2?: number;
  strideA?: [number, number];
  strideB?: [number, number];
  strideC?: [number, number];
  /** Op name for errors/profiles (defaults to `matmul`). */
  op?: string;
}

/** One matmul kernel. All share the bindings (C, A, B, bias, params) and the Params block. */
export interface MatmulKernel {
  /** Variant name, as stored in `gpu.variants.get('matmul')`. */
  name: string;
  shader: string;
  /** Outputs per invocation along M (rows) and N (columns). */
  tm: number;
  tn: number;
  /** Invocations per workgroup along N (x) and M (y): WG_X, WG_Y. */
  wg: [number, number];
  /** A and B are bound as array<vec4<f32>>: needs 4-aligned offsets and strides (`matmulLegal`). */
  vec4: boolean;
  /** Uses quad operations: needs the `subgroups` feature. */
  subgroups: boolean;
  /** Stages tiles in workgroup memory (slow on software adapters such as SwiftShader). */
  workgroupMemory?: boolean;
  /** Variant used instead when this one cannot run a call. */
  fallback?: string;
}

const KERNELS: MatmulKernel[] = [
  { name: 'scalar', shader: 'ops/matmul', tm: 8, tn: 8, wg: [4, 4], vec4: false, subgroups: false },
  {
    name: 'scalar_quad', shader: 'ops/matmul_quad', tm: 8, tn: 8, wg: [4, 4],
    vec4: false, subgroups: true, fallback: 'scalar',
  },
  {
    name: 'vec4', shader: 'ops/matmul_vec4', tm: 8, tn: 8, wg: [4, 4],
    vec4: true, subgroups: false, fallback: 'scalar',
  },
  {
    name: 'vec4_quad', shader: 'ops/matmul_vec4_quad', tm: 16, tn: 8, wg: [4, 4],
    vec4: true, subgroups: true, fallback: 'scalar_quad',
  },
  {
    name: 'tiled', shader: 'ops/matmul_tiled', tm: 4, tn: 4, wg: [16, 16],
    vec4: false, subgroups: false, workgroupMemory: true, fallback: 'scalar',
  },
];

/** All matmul kernels, general fallback first. */
export function matmulKernels(): MatmulKernel[] {
  return KERNELS;
}

export function matmulKernel(name: string): MatmulKernel {
  const k = KERNELS.find((x) => x.name === name);
  if (!k) {
    throw new Error(`matmul: unknown variant "${name}" (known: ${KERNELS.map((x) => x.name).join(', ')})`);
  }
  return k;
}

/** Whether the adapter can run `kernel` at all (features). */
export function matmulSupported(gpu: Gpu, kernel: MatmulKernel): boolean {
  return !kernel.subgroups || gpu.hasFeature('subgroups');
}

/**
 * The variant used when `gpu.variants` has none for 'matmul' (`autotuneMatmul` measures
 * instead): on software adapters (SwiftShader) register tiling without workgroup memory, with
 * quad sharing where subgroups exist; on GPUs the workgroup-memory tiled kernel.
 */
export function defaultMatmulVariant(gpu: Gpu): string {
  if (!gpu.report.isFallback) return 'tiled';
  return gpu.hasFeature('subgroups') ? 'vec4_quad' : 'vec4';
}

const dummies = new WeakMap<Gpu, GPUBuffer>();
/** A 16-byte buffer bound where a shader's optional input is absent. */
export function dummyBuffer(gpu: Gpu): GPUBuffer {
  let b = dummies.get(gpu);
  if (!b) {
    b = gpu.buffer(16, 'dummy');
    dummies.set(gpu, b);
  }
  return b;
}

/** MatmulArgs with every default filled in. */
interface Layout {
  M: number; N: number; K: number;
  transA: boolean; transB: boolean;
  lda: number; ldb: number; ldc: number;
  offA: number; offB: number; offC: number;
  b1: number; b2: number;
  sA: [number, number]; sB: [number, number]; sC: [number, number];
}

function layout(a: MatmulArgs): Layout {
  const { M, N, K } = a;
  const transA = a.transA ?? false;
  const transB = a.transB ?? false;
  const b2 = a.batch2 ?? 1;
  return {
    M, N, K, transA, transB,
    lda: a.lda ?? (transA ? M : K),
    ldb: a.ldb ?? (transB ? K : N),
    ldc: a.ldc ?? N,
    offA: a.offA ?? 0,
    offB: a.offB ?? 0,
    offC: a.offC ?? 0,
    b1: a.batch1 ?? 1,
    b2,
    sA: a.strideA ?? [M * K * b2, M * K],
    sB: a.strideB ?? [K * N * b2, K * N],
    sC: a.strideC ?? [M * N * b2, M * N],
  };
}

/**
 * Can `buf` be read as vec4s for a stored [rows, cols] matrix (row stride ld) at `off`, batched
 * with strides s? Needs offset, row stride and batch strides multiples of 4, and the last element
 * inside the part of the buffer that array<vec4<f32>> reaches (its size rounded down to 16 bytes).
 */
function vec4Readable(
  buf: GPUBuffer, off: number, ld: number, s: [number, number], b1: number, b2: number,
  rows: number, cols: number,
): boolean {
  const aligned = (x: number) => x % 4 === 0;
  if (!aligned(off) || !aligned(ld)) return false;
  if ((b1 > 1 && !aligned(s[0])) || (b2 > 1 && !aligned(s[1]))) return false;
  const last = off + (b1 - 1) * s[0] + (b2 - 1) * s[1] + (rows - 1) * ld + cols - 1;
  return last < Math.floor(buf.size / 16) * 4;
}

/** Whether `kernel` can run this call: adapter features, and alignment for vec4 kernels. */
export function matmulLegal(
  gpu: Gpu, kernel: MatmulKernel, A: GPUBuffer, B: GPUBuffer, a: MatmulArgs,
): boolean {
  if (!matmulSupported(gpu, kernel)) return false;
  if (!kernel.vec4) return true;
  const l = layout(a);
  if (l.M === 0 || l.N === 0 || l.K === 0) return true;
  return (
    vec4Readable(A, l.offA, l.lda, l.sA, l.b1, l.b2, l.transA ? l.K : l.M, l.transA ? l.M : l.K) &&
    vec4Readable(B, l.offB, l.ldb, l.sB, l.b1, l.b2, l.transB ? l.N : l.K, l.transB ? l.K : l.N)
  );
}

/**
 * The kernel for one call: the preferred variant (`gpu.variants.get('matmul')`, set by
 * `autotuneMatmul` or by hand, else `defaultMatmulVariant`), or, while that one cannot run this
 * call (unaligned operands for vec4, no subgroups for quad), its fallback:
 * vec4_quad -> scalar_quad -> scalar, vec4 -> scalar, tiled -> scalar.
 */
export function pickKernel(gpu: Gpu, A: GPUBuffer, B: GPUBuffer, a: MatmulArgs): MatmulKernel {
  let k = matmulKernel(gpu.variants.get('matmul') ?? defaultMatmulVariant(gpu));
  while (!matmulLegal(gpu, k, A, B, a) && k.fallback) k = matmulKernel(k.fallback);
  return k;
}

/** Records C = alpha op(A) op(B) (+ bias) (+ C) with the given kernel (no legality check). */
export function matmulWith(
  gpu: Gpu, kernel: MatmulKernel, C: GPUBuffer, A: GPUBuffer, B: GPUBuffer, a: MatmulArgs,
): void {
  const l = layout(a);
  const batch = l.b1 * l.b2;
  const shapes =
    `op(A)[${batch > 1 ? `${batch},` : ''}${l.M},${l.K}]${l.transA ? 'ᵀ' : ''} ` +
    `op(B)[${l.K},${l.N}]${l.transB ? 'ᵀ' : ''} -> C[${l.M},${l.N}] (${kernel.name})`;
  gpu.dispatch({
    op: a.op ?? 'matmul',
    shapes,
    shader: kernel.shader,
    constants: {
      TRANS_A: l.transA ? 1 : 0,
      TRANS_B: l.transB ? 1 : 0,
      ACCUM: a.accum ? 1 : 0,
      HAS_BIAS: a.bias ? 1 : 0,
      WG_X: kernel.wg[0],
      WG_Y: kernel.wg[1],
    },
    buffers: [C, A, B, a.bias ?? dummyBuffer(gpu)],
    params: packParams(
      [l.M, l.N, l.K, l.lda, l.ldb, l.ldc, l.offA, l.offB, l.offC, l.b2, ...l.sA, ...l.sB, ...l.sC],
      [a.alpha ?? 1],
    ),
    workgroups: [
      cdiv(cdiv(l.N, kernel.tn), kernel.wg[0]),
      cdiv(cdiv(l.M, kernel.tm), kernel.wg[1]),
      batch,
    ],
  });
}

export function matmul(gpu: Gpu, C: GPUBuffer, A: GPUBuffer, B: GPUBuffer, a: MatmulArgs): void {
  matmulWith(gpu, pickKernel(gpu, A, B, a), C, A, B, a);
}

/** out[n] += sum_m x[m,n] for x of shape [M,N]. */
export function colsum(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, M: number, N: number, op = 'colsum'): void {
  gpu.dispatch({
    op,
    shapes: `x[${M},${N}] -> out[${N}]`,
    shader: 'ops/colsum',
    constants: { WG: 64 },
    buffers: [out, x],
    params: packParams([M, N]),
    workgroups: [cdiv(N, 64)],
  });
}
