/**
 * The matmul kernels (src/ops/matmul.ts runs them) and which one runs a call: the table of
 * variants with their schedules (src/ops/matmul-gen.ts writes each one's WGSL) and fallbacks, the
 * default per adapter, and the per-call legality (features, fusions, vec4 alignment) that
 * `pickKernel` walks the fallbacks with.
 */
import type { Gpu } from '../gpu/device';
import { isF16 } from '../gpu/f16';
import { hasFusion, layout, second, type MatmulArgs } from './matmul-args';
import type { Schedule } from './matmul-gen-spec';

/** One matmul kernel. All share the binding layout of matmul-gen (C, A, B, extras, params). */
export interface MatmulKernel {
  /** Variant name, as stored in `gpu.variants.get('matmul')`. */
  name: string;
  /** How the generated kernel tiles the work (src/ops/matmul-gen.ts). */
  schedule?: Schedule;
  /** A static shader instead (the kernel lab's numbered variants under shaders/dev): bindings
   * C, A, B, bias, params and override constants TRANS_A, TRANS_B, ACCUM, HAS_BIAS; no fusions. */
  shader?: string;
  /** Outputs per invocation along M (rows) and N (columns). */
  tm: number;
  tn: number;
  /** Invocations per workgroup along N (x) and M (y). */
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

const reg = (name: string, tm: number, tn: number, vec4: boolean, quad: boolean, fallback?: string): MatmulKernel => ({
  name,
  schedule: { kind: 'reg', tm, tn, vec4, quad },
  tm,
  tn,
  wg: [4, 4],
  vec4,
  subgroups: quad,
  fallback,
});
const tiled = (name: string, bm: number, bn: number, bk: number, tm: number, tn: number): MatmulKernel => ({
  name,
  schedule: { kind: 'tiled', bm, bn, bk, tm, tn },
  tm,
  tn,
  wg: [bn / tn, bm / tm],
  vec4: false,
  subgroups: false,
  workgroupMemory: true,
  fallback: 'scalar',
});

const KERNELS: MatmulKernel[] = [
  reg('scalar', 8, 8, false, false),
  reg('scalar_quad', 8, 8, false, true, 'scalar'),
  reg('vec4', 8, 8, true, false, 'scalar'),
  reg('vec4_quad', 16, 8, true, true, 'scalar_quad'),
  tiled('tiled', 64, 64, 16, 4, 4),
  tiled('tiled_128x64', 128, 64, 16, 8, 4),
  tiled('tiled_64x64_8x8', 64, 64, 16, 8, 8),
  tiled('tiled_128x128', 128, 128, 8, 8, 8),
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
  if (!gpu.report.isFallback) return 'tiled_128x64';
  return gpu.hasFeature('subgroups') ? 'vec4_quad' : 'vec4';
}

/**
 * Can `buf` be read as vec4s for a stored [rows, cols] matrix (row stride ld) at `off`, batched
 * with strides s? Needs offset, row stride and batch strides multiples of 4, and the last element
 * inside the part of the buffer that array<vec4<f32>> reaches (its size rounded down to 16 bytes).
 */
function vec4Readable(
  buf: GPUBuffer,
  off: number,
  ld: number,
  s: [number, number],
  b1: number,
  b2: number,
  rows: number,
  cols: number,
): boolean {
  const aligned = (x: number) => x % 4 === 0;
  if (!aligned(off) || !aligned(ld)) return false;
  if ((b1 > 1 && !aligned(s[0])) || (b2 > 1 && !aligned(s[1]))) return false;
  const last = off + (b1 - 1) * s[0] + (b2 - 1) * s[1] + (rows - 1) * ld + cols - 1;
  // elements that array<vec4<f32>> (f32) or array<vec2<u32>> (packed f16) reaches
  return last < (isF16(buf) ? Math.floor(buf.size / 8) : Math.floor(buf.size / 16)) * 4;
}

/** Whether `kernel` can run this call: adapter features, fusions, and alignment for vec4 kernels. */
export function matmulLegal(gpu: Gpu, kernel: MatmulKernel, A: GPUBuffer, B: GPUBuffer, a: MatmulArgs): boolean {
  if (!matmulSupported(gpu, kernel)) return false;
  if (!kernel.schedule && hasFusion(a)) return false;
  if (!kernel.vec4) return true;
  const l = layout(a);
  if (l.M === 0 || l.N === 0 || l.K === 0) return true;
  const ok =
    vec4Readable(A, l.offA, l.lda, l.sA, l.b1, l.b2, l.transA ? l.K : l.M, l.transA ? l.M : l.K) &&
    vec4Readable(B, l.offB, l.ldb, l.sB, l.b1, l.b2, l.transB ? l.N : l.K, l.transB ? l.K : l.N);
  if (!ok || !a.second || a.second.K === 0) return ok;
  const s = second(a, l)!;
  return (
    vec4Readable(a.second.A, s.offA, s.lda, [0, 0], 1, 1, l.transA ? s.K : l.M, l.transA ? l.M : s.K) &&
    vec4Readable(a.second.B, s.offB, s.ldb, [0, 0], 1, 1, l.transB ? l.N : s.K, l.transB ? s.K : l.N)
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
