/**
 * The matmul kernels (src/ops/matmul.ts runs them) and which one runs a call: the table of
 * variants with their schedules (src/ops/matmul-gen.ts writes each one's WGSL) and fallbacks, the
 * default per adapter, and the per-call legality (features, fusions, vec4 alignment, f16
 * operands) that `pickKernel` walks the fallbacks with.
 *
 * Two families of choice (`gpu.variants` keys, set by src/ops/autotune.ts): 'matmul' for every
 * call, and on GPUs 'matmul-f16' for calls whose A or B is packed f16 (the `fp16` path's frozen
 * weights and activations), whose candidates add the variants that only pay off there: native
 * `shader-f16` loads (`half`) and subgroup matrices (tensor cores), each falling back to its
 * packed-f16 (unpack2x16float) twin where the adapter or the call does not allow it.
 */
import type { Gpu } from '../gpu/device';
import { isF16 } from '../gpu/f16';
import { hasFusion, layout, second, type MatmulArgs } from './matmul-args';
import type { Schedule, SgmatSchedule } from './matmul-gen-spec';

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
  /** Further device features it needs (`shader-f16`, `chromium-experimental-subgroup-matrix`). */
  features?: string[];
  /** Runs only calls whose A and B are packed f16 (subgroup matrices): the 'matmul-f16' family. */
  f16Operands?: boolean;
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

/** `base` with native f16 loads and stores (schedule `half: 'f16'`), falling back to `base`. */
const nativeF16 = (base: MatmulKernel): MatmulKernel => ({
  ...base,
  name: `${base.name}_f16`,
  schedule: { ...(base.schedule as Exclude<Schedule, SgmatSchedule>), half: 'f16' },
  features: ['shader-f16'],
  fallback: base.name,
});
/** NVIDIA's (and AMD's) f16 16x16x16 -> f32: 4 x 2 result matrices, a 64 x 32 tile, K-step 32. */
const SGMAT: SgmatSchedule = { kind: 'sgmat', m: 16, n: 16, k: 16, fm: 4, fn: 2, bk: 32, half: 'f16' };

const BASE: MatmulKernel[] = [
  reg('scalar', 8, 8, false, false),
  reg('scalar_quad', 8, 8, false, true, 'scalar'),
  reg('vec4', 8, 8, true, false, 'scalar'),
  reg('vec4_quad', 16, 8, true, true, 'scalar_quad'),
  tiled('tiled', 64, 64, 16, 4, 4),
  tiled('tiled_128x64', 128, 64, 16, 8, 4),
  tiled('tiled_64x64_8x8', 64, 64, 16, 8, 8),
  tiled('tiled_128x128', 128, 128, 8, 8, 8),
];
const byName = (name: string) => BASE.find((k) => k.name === name)!;

const KERNELS: MatmulKernel[] = [
  ...BASE,
  nativeF16(byName('vec4')),
  nativeF16(byName('tiled_128x64')),
  {
    name: 'subgroup_matrix',
    schedule: SGMAT,
    // one workgroup per BM x BN tile (its width, the adapter's subgroup size, is a constant)
    tm: SGMAT.fm * SGMAT.m,
    tn: SGMAT.fn * SGMAT.n,
    wg: [1, 1],
    vec4: false,
    subgroups: true,
    workgroupMemory: true,
    features: ['shader-f16', 'chromium-experimental-subgroup-matrix'],
    f16Operands: true,
    fallback: 'tiled_128x64_f16',
  },
];

/**
 * A native-f16 variant written with f32 in place of f16 (matmul-gen-spec.ts `Half`): the same
 * loads, conversions and paired stores over f32 data, for adapters without shader-f16. Every
 * binding the f16 path may hold as packed f16 (`HALF_BINDINGS`) goes through them, whatever the
 * buffer (src/ops/matmul.ts); not in the table, not for real calls: tests run it.
 */
export function halfAsF32(kernel: MatmulKernel): MatmulKernel {
  const s = kernel.schedule;
  if (s?.half !== 'f16' || s.kind === 'sgmat') throw new Error(`matmul: ${kernel.name} has no native-f16 loads`);
  return { ...kernel, name: `${kernel.name}@f32`, schedule: { ...s, half: 'f32' }, features: [] };
}

/** Bindings the packed-f16 path reads or writes as f16 (the operands, C and the tensors like it). */
export const HALF_BINDINGS = ['A', 'B', 'A2', 'B2', 'C', 'pre', 'H', 'R'];

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

/**
 * Whether the adapter can run `kernel` at all: its features, and for subgroup matrices the
 * adapter's configuration (f16 operands, f32 result, the schedule's m x n x k) and subgroup size.
 */
export function matmulSupported(gpu: Gpu, kernel: MatmulKernel): boolean {
  if (kernel.subgroups && !gpu.hasFeature('subgroups')) return false;
  if (kernel.features && !kernel.features.every((f) => gpu.hasFeature(f))) return false;
  const s = kernel.schedule;
  if (s?.kind !== 'sgmat') return true;
  return (
    gpu.report.subgroupMaxSize > 0 &&
    gpu.report.subgroupMatrixConfigs.some(
      (c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === s.m && c.N === s.n && c.K === s.k,
    )
  );
}

/** The features `kernel` needs that this adapter lacks (empty: it runs here). */
export function missingFeatures(gpu: Gpu, kernel: MatmulKernel): string[] {
  const need = [...(kernel.subgroups ? ['subgroups'] : []), ...(kernel.features ?? [])];
  const missing = need.filter((f) => !gpu.hasFeature(f));
  if (missing.length === 0 && !matmulSupported(gpu, kernel)) missing.push('a matching subgroupMatrixConfigs entry');
  return missing;
}

/**
 * The variant used when `gpu.variants` has none for 'matmul' (`autotuneMatmul` measures
 * instead): on software adapters (SwiftShader) register tiling without workgroup memory, with
 * quad sharing where subgroups exist; on GPUs the workgroup-memory tiled kernel.
 */
export function defaultMatmulVariant(gpu: Gpu): string {
  if (gpu.defaults === 'gpu') return 'tiled_128x64';
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
  if (kernel.f16Operands && (!isF16(A) || !isF16(B) || a.second)) return false;
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
 * The kernel for one call: the preferred variant (`gpu.variants.get('matmul-f16')` when A or B
 * is packed f16 and that family is tuned, else `gpu.variants.get('matmul')`, set by
 * `autotuneMatmul` or by hand, else `defaultMatmulVariant`), or, while that one cannot run this
 * call (unaligned operands for vec4, no subgroups for quad, no f16 operands or a second product
 * for subgroup matrices), its fallback: vec4_quad -> scalar_quad -> scalar, vec4 -> scalar,
 * tiled -> scalar, subgroup_matrix -> tiled_128x64_f16 -> tiled_128x64, vec4_f16 -> vec4.
 */
export function pickKernel(gpu: Gpu, A: GPUBuffer, B: GPUBuffer, a: MatmulArgs): MatmulKernel {
  const f16 = (isF16(A) || isF16(B)) && gpu.variants.get('matmul-f16');
  let k = matmulKernel(f16 || gpu.variants.get('matmul') || defaultMatmulVariant(gpu));
  while (!matmulLegal(gpu, k, A, B, a) && k.fallback) k = matmulKernel(k.fallback);
  return k;
}
