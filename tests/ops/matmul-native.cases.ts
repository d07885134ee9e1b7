/**
 * The native matmul variants (src/ops/matmul-kernels.ts: `vec4_f16`, `tiled_128x64_f16` with
 * native shader-f16 loads; `subgroup_matrix`, tensor cores) vs the float64 reference
 * (src/ref/linear.ts `matmul`, src/ref/gelu.ts), on whatever adapter runs the suite:
 *   - "not run here": the variants whose features this adapter lacks are listed, one line each
 *     with the missing features (SwiftShader: all three; never skipped silently), and each falls
 *     back to a variant that runs (pickKernel with the variant forced);
 *   - native-f16 loads written with f32 in place of f16 (`halfAsF32`: the same generated loads,
 *     conversions and paired stores, on f32 data) run everywhere: transposes x bias, alpha and
 *     accumulation (C read through the half path), fc1 (GELU with `pre` saved), a residual read
 *     through it, and the gelu derivative's H;
 *   - on adapters with the features, the variants themselves on packed-f16 operands (reference on
 *     the f16-rounded inputs), and the subgroup-matrix kernel's fallbacks (f32 operands, a second
 *     product).
 * The compile check of every native variant x fusion on Dawn's null backend is
 * tests/ops/matmul-native.test.ts. Tolerance: atol 1e-5 * sqrt(K) + rtol 1e-4 (f32 accumulation);
 * f16 outputs 2e-3 + 1e-3 |ref|; GPU-run subgroup matrices multiply f16, so the same as f16 data.
 */
import type { Gpu } from '../../src/gpu/device';
import { isF16, readF16, roundF16, uploadF16, zerosF16 } from '../../src/gpu/f16';
import {
  halfAsF32,
  matmulKernels,
  matmulLegal,
  matmulSupported,
  matmulWith,
  missingFeatures,
  pickKernel,
  type MatmulArgs,
  type MatmulKernel,
} from '../../src/ops/matmul';
import { gelu, geluGrad } from '../../src/ref/gelu';
import * as ref from '../../src/ref/linear';
import { Rng, randomArray } from '../../src/util/random';
import { expectClose, expectEqual } from '../helpers/check';
import type { GpuCase } from '../helpers/cases';

const NATIVE = matmulKernels().filter((k) => (k.features ?? []).length > 0);

interface Problem {
  name: string;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  accum?: boolean;
  bias?: boolean;
  /** fc1: C = gelu(v), pre = v. */
  gelu?: boolean;
  /** C = R + v. */
  residual?: boolean;
  /** C = v * gelu'(H). */
  geluGrad?: boolean;
}

const PROBLEMS: Problem[] = [
  ...[false, true].flatMap((tA) =>
    [false, true].map((tB) => ({
      name: `tA=${tA} tB=${tB}, bias, alpha, accum`,
      M: 36,
      N: 28,
      K: 24,
      transA: tA,
      transB: tB,
      alpha: 0.75,
      accum: true,
      bias: true,
    })),
  ),
  { name: 'fc1: gelu with pre saved, two tiles along M', M: 130, N: 18, K: 20, transB: true, bias: true, gelu: true },
  { name: 'residual read through the half path', M: 20, N: 16, K: 12, residual: true },
  { name: 'gelu derivative, H through the half path', M: 9, N: 16, K: 8, geluGrad: true },
];

/**
 * Runs `kernel` on problem P and compares C (and pre) with the float64 reference. `f16`: the
 * operands (and C, pre, R, H) are packed f16 (the native kernel itself); else f32 buffers (its
 * `halfAsF32` instance, which reads all of them through the half path).
 */
async function check(gpu: Gpu, kernel: MatmulKernel, P: Problem, f16: boolean): Promise<void> {
  const { M, N, K } = P;
  const rng = new Rng(M * 1000 + N * 10 + K);
  const r16 = (a: Float64Array) => (f16 ? a.map(roundF16) : a);
  const A = r16(Float64Array.from(randomArray(rng, M * K)));
  const B = r16(Float64Array.from(randomArray(rng, K * N)));
  const C0 = r16(Float64Array.from(randomArray(rng, M * N)));
  const R = r16(Float64Array.from(randomArray(rng, M * N)));
  const H = r16(Float64Array.from(randomArray(rng, M * N)));
  const bias = Float64Array.from(randomArray(rng, N));
  const up = (a: Float64Array, half = f16) =>
    half ? uploadF16(gpu, new Float32Array(a)) : gpu.upload(new Float32Array(a));
  const bufs = {
    A: up(A),
    B: up(B),
    C: up(C0),
    bias: up(bias, false),
    pre: f16 ? zerosF16(gpu, M * N) : gpu.zeros(M * N),
    R: up(R),
    H: up(H),
  };
  const args: MatmulArgs = {
    M,
    N,
    K,
    transA: P.transA,
    transB: P.transB,
    alpha: P.alpha,
    accum: P.accum,
    bias: P.bias ? bufs.bias : undefined,
    gelu: P.gelu,
    pre: P.gelu ? bufs.pre : undefined,
    residual: P.residual ? { R: bufs.R } : undefined,
    geluGrad: P.geluGrad ? { H: bufs.H } : undefined,
    op: `native ${kernel.name} ${P.name}`,
  };
  // reference: v = alpha op(A) op(B) + bias, then the epilogue
  const v = new Float64Array(M * N);
  ref.matmul(v, A, B, 1, M, N, K, P.transA, P.transB, P.alpha ?? 1);
  const want = new Float64Array(M * N);
  for (let i = 0; i < M * N; i++) {
    const n = i % N;
    let x = v[i] + (P.bias ? bias[n] : 0);
    v[i] = x;
    if (P.gelu) x = gelu(x);
    if (P.geluGrad) x *= geluGrad(H[i]);
    if (P.residual) x += R[i];
    if (P.accum) x += C0[i];
    want[i] = x;
  }
  try {
    // (vec4 loads: 4-aligned strides; an f16 output's pairs are cut at N = 18)
    expectEqual(matmulLegal(gpu, kernel, bufs.A, bufs.B, args), true, `${kernel.name} legal for ${P.name}`);
    matmulWith(gpu, kernel, bufs.C, bufs.A, bufs.B, args);
    const tol = { atol: 1e-5 * Math.sqrt(K), rtol: 1e-4 };
    const tolOut = f16 ? { atol: 2e-3, rtol: 1e-3 } : tol;
    const rd = (b: GPUBuffer) => (isF16(b) ? readF16(gpu, b, M * N) : gpu.read(b));
    expectClose(await rd(bufs.C), want, tolOut, `${kernel.name}${f16 ? '' : ' as f32'} ${P.name}: C`);
    if (P.gelu) expectClose(await rd(bufs.pre), v, tolOut, `${kernel.name}${f16 ? '' : ' as f32'} ${P.name}: pre`);
  } finally {
    for (const b of Object.values(bufs)) b.destroy();
  }
}

/**
 * With `name` forced for f16 calls, a 64^3 call with packed-f16 B (and A, unless `f32A`) picks
 * `want`.
 */
async function expectPick(gpu: Gpu, name: string, want: string, a: Partial<MatmulArgs> = {}, f32A = false) {
  const before = gpu.variants.get('matmul-f16');
  const A = f32A ? gpu.zeros(64 * 64) : zerosF16(gpu, 64 * 64);
  const B = zerosF16(gpu, 64 * 64);
  gpu.variants.set('matmul-f16', name);
  try {
    const args = { M: 64, N: 64, K: 64, ...a };
    expectEqual(pickKernel(gpu, A, B, args).name, want, `${name} picks`);
  } finally {
    if (before === undefined) gpu.variants.delete('matmul-f16');
    else gpu.variants.set('matmul-f16', before);
    A.destroy();
    B.destroy();
  }
}

/** The first variant of k's fallback chain that this adapter supports. */
function supportedFallback(gpu: Gpu, k: MatmulKernel): string {
  let x = k;
  while (!matmulSupported(gpu, x) && x.fallback) x = matmulKernels().find((y) => y.name === x.fallback)!;
  return x.name;
}

export const gpuCases: GpuCase[] = [
  {
    name: 'native variants this adapter cannot run are listed as not run here, and fall back',
    run: async (gpu) => {
      const notRun = NATIVE.filter((k) => missingFeatures(gpu, k).length > 0);
      for (const k of notRun) {
        console.info(`matmul ${k.name}: not run here (this adapter lacks ${missingFeatures(gpu, k).join(', ')})`);
        expectEqual(matmulSupported(gpu, k), false, `${k.name} supported`);
        await expectPick(gpu, k.name, supportedFallback(gpu, k));
      }
      if (gpu.report.isFallback)
        expectEqual(notRun.length, NATIVE.length, 'native variants not run on a software adapter');
    },
  },
  ...NATIVE.filter((k) => k.schedule!.kind !== 'sgmat').map((k) => ({
    name: `${k.name} written with f32 in place of f16: the native loads and paired stores vs float64`,
    run: async (gpu: Gpu) => {
      for (const P of PROBLEMS) await check(gpu, halfAsF32(k), P, false);
    },
  })),
  ...NATIVE.map((k) => ({
    name: `${k.name} on packed-f16 data (adapters with ${k.features!.join(', ')})`,
    run: async (gpu: Gpu) => {
      if (!matmulSupported(gpu, k)) return; // listed by the "not run here" case above
      for (const P of PROBLEMS) await check(gpu, k, P, true);
      if (k.f16Operands) {
        // subgroup matrices take packed-f16 A and B and no second product: else the fallback runs
        await expectPick(gpu, k.name, k.fallback!, {}, true);
        const s = { A: zerosF16(gpu, 64 * 8), B: zerosF16(gpu, 8 * 64), K: 8 };
        await expectPick(gpu, k.name, k.fallback!, { second: s });
        s.A.destroy();
        s.B.destroy();
      }
    },
  })),
];
