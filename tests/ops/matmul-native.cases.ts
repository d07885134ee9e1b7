/**
 * The native matmul variants (src/ops/matmul-kernels.ts: `vec4_f16`, `tiled_128x64_f16` with
 * native shader-f16 loads; `subgroup_matrix`, tensor cores) vs the float64 reference of the fused
 * cases (tests/ops/matmul-fused.cases.ts `checkFused`, `PROBLEMS`), on whatever adapter runs the
 * suite:
 *   - "not run here": the variants whose features this adapter lacks are listed, one line each
 *     with the missing features (SwiftShader: all three; never skipped silently), and each falls
 *     back to a variant that runs (pickKernel with the variant forced for f16 calls);
 *   - native-f16 loads written with f32 in place of f16 (`halfAsF32`: the same generated loads,
 *     conversions and paired stores, on f32 data, every operand, C, pre, H and R through them)
 *     run everywhere, on fused problems (`AS_F32`): transposes, bias, prologues, the second
 *     product, GELU with pre, the gelu derivative, residuals with LayerScale, in place;
 *   - on adapters with the features, the variants themselves on the fused problems with
 *     packed-f16 data (subgroup matrices: those with f16 A and B and no second product), and the
 *     subgroup-matrix kernel's fallbacks (an f32 operand, a second product).
 * The compile check of every native variant x fusion on Dawn's null backend is
 * tests/ops/matmul-native.test.ts.
 */
import type { Gpu } from '../../src/gpu/device';
import { zerosF16 } from '../../src/gpu/f16';
import {
  halfAsF32,
  matmulKernels,
  matmulSupported,
  missingFeatures,
  pickKernel,
  type MatmulArgs,
  type MatmulKernel,
} from '../../src/ops/matmul';
import { expectEqual } from '../helpers/check';
import type { GpuCase } from '../helpers/cases';
import { checkFused, PROBLEMS, type FusedProblem } from './matmul-fused.cases';

const NATIVE = matmulKernels().filter((k) => (k.features ?? []).length > 0);

/**
 * The fused problems the f32-written native loads run (each fusion set compiles anew, slowly on
 * SwiftShader): every binding the half path reads or writes (A, B, A2, B2, C in place, pre, H,
 * R), every transpose, outputs that pair up (even N and offset) and 4-aligned operands (vec4).
 */
const AS_F32 = ['linear+lora', 'fc1-gelu', 'fc2-residual', 'fc2-dx-geluGrad', 'inplace-k2-tAtB'];

/** What vec4 loads need of a fused problem (as matmul-fused.cases.ts's "aligned"). */
const aligned = (P: FusedProblem) => [P.M, P.N, P.K, P.K2 ?? 0, P.offA ?? 0].every((x) => x % 4 === 0);

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
    expectEqual(pickKernel(gpu, A, B, { M: 64, N: 64, K: 64, ...a }).name, want, `${name} picks`);
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

/** The fused problems a native kernel runs on packed-f16 data. */
function f16Problems(k: MatmulKernel): FusedProblem[] {
  const f16 = PROBLEMS.filter((P) => P.f16?.length);
  return k.f16Operands ? f16.filter((P) => P.f16!.includes('A') && P.f16!.includes('B') && !P.K2) : f16;
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
      const problems = PROBLEMS.filter((P) => AS_F32.includes(P.name));
      expectEqual(problems.length, AS_F32.length, 'problems found');
      for (const P of problems) await checkFused(gpu, halfAsF32(k), { ...P, f16: undefined });
    },
  })),
  ...NATIVE.map((k) => ({
    name: `${k.name} on packed-f16 data (adapters with ${k.features!.join(', ')})`,
    run: async (gpu: Gpu) => {
      if (!matmulSupported(gpu, k)) return; // listed by the "not run here" case above
      for (const P of f16Problems(k)) await checkFused(gpu, k.vec4 && !aligned(P) ? k.name : k, P);
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
