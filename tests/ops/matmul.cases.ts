/**
 * matmul kernels: every variant (src/ops/matmul-kernels.ts `matmulKernels`) forced in turn through
 * `gpu.variants.set('matmul', name)`, on awkward shapes vs the float64 reference
 * (src/ref/linear.ts `matmul`, applied per batch to densely gathered operands):
 *   - M, N, K not multiples of 4 or of the tiles, several workgroups, all transA/transB combos;
 *   - padded leading dimensions, offsets and batch strides (4-aligned, so vec4 kernels really
 *     run: checked with `pickKernel`), alpha, accum, bias;
 *   - per-head strided slices as in attention (Q K^T aligned; P V with T = 9 unaligned, so
 *     vec4 variants fall back) ;
 *   - elements of C outside the matrices are left untouched.
 * Tolerance: atol 1e-5 * sqrt(K) + rtol 1e-4 * |ref|.
 */
import type { Gpu } from '../../src/gpu/device';
import { autotune, autotuneMatmul } from '../../src/ops/autotune';
import { matmul, matmulKernels, matmulSupported, pickKernel, type MatmulArgs } from '../../src/ops/matmul';
import * as ref from '../../src/ref/linear';
import { Rng, randomArray } from '../../src/util/random';
import { expectClose, expectEqual } from '../helpers/check';
import { withDefaults, type GpuCase } from '../helpers/cases';

interface Problem {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  accum?: boolean;
  bias?: boolean;
  lda?: number;
  ldb?: number;
  ldc?: number;
  offA?: number;
  offB?: number;
  offC?: number;
  batch1?: number;
  batch2?: number;
  strideA?: [number, number];
  strideB?: [number, number];
  strideC?: [number, number];
  /** Buffer sizes in elements (default: just large enough). */
  sizeA?: number;
  sizeB?: number;
  sizeC?: number;
}

/** Element offset of matrix z in a batched operand. */
function zOff(off: number, s: [number, number], b2: number, z: number): number {
  return off + Math.floor(z / b2) * s[0] + (z % b2) * s[1];
}

/**
 * Runs `matmul` on random data with variant `name` forced, and compares all of C (inside and
 * outside the output matrices) with the reference. `expectVariant`: the kernel that must be
 * picked (the variant itself, or its fallback for unaligned problems).
 */
async function check(gpu: Gpu, name: string, P: Problem, expectVariant: string = name): Promise<void> {
  const { M, N, K } = P;
  const tA = P.transA ?? false;
  const tB = P.transB ?? false;
  const b1 = P.batch1 ?? 1;
  const b2 = P.batch2 ?? 1;
  const batch = b1 * b2;
  const lda = P.lda ?? (tA ? M : K);
  const ldb = P.ldb ?? (tB ? K : N);
  const ldc = P.ldc ?? N;
  const [offA, offB, offC] = [P.offA ?? 0, P.offB ?? 0, P.offC ?? 0];
  const sA = P.strideA ?? [(tA ? K : M) * lda * b2, (tA ? K : M) * lda];
  const sB = P.strideB ?? [(tB ? N : K) * ldb * b2, (tB ? N : K) * ldb];
  const sC = P.strideC ?? [M * ldc * b2, M * ldc];
  const end = (off: number, s: [number, number], rows: number, ld: number, cols: number) =>
    zOff(off, s, b2, batch - 1) + (rows - 1) * ld + cols;
  // Buffers end on a 16-byte boundary (as whole tensors do), unless the problem says otherwise.
  const ceil4 = (n: number) => Math.ceil(n / 4) * 4;
  const nA = P.sizeA ?? ceil4(end(offA, sA, tA ? K : M, lda, tA ? M : K));
  const nB = P.sizeB ?? ceil4(end(offB, sB, tB ? N : K, ldb, tB ? K : N));
  const nC = P.sizeC ?? ceil4(end(offC, sC, M, ldc, N));

  const rng = new Rng(M * 1000 + N * 100 + K * 10 + batch + (tA ? 3 : 0) + (tB ? 5 : 0));
  const A = randomArray(rng, nA);
  const B = randomArray(rng, nB);
  const C0 = randomArray(rng, nC);
  const bias = P.bias ? randomArray(rng, N) : null;

  // Reference: per batch, gather dense op(A) [M,K], op(B) [K,N] and C, run ref.matmul, scatter.
  const Cref = C0.slice();
  const alpha = P.alpha ?? 1;
  for (let z = 0; z < batch; z++) {
    const a0 = zOff(offA, sA, b2, z),
      bo = zOff(offB, sB, b2, z),
      c0 = zOff(offC, sC, b2, z);
    const Az = new Float64Array(M * K),
      Bz = new Float64Array(K * N),
      Cz = new Float64Array(M * N);
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) Az[m * K + k] = A[a0 + (tA ? k * lda + m : m * lda + k)];
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) Bz[k * N + n] = B[bo + (tB ? n * ldb + k : k * ldb + n)];
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) Cz[m * N + n] = (P.accum ? C0[c0 + m * ldc + n] : 0) + (bias ? bias[n] : 0);
    }
    ref.matmul(Cz, Az, Bz, 1, M, N, K, false, false, alpha, true);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) Cref[c0 + m * ldc + n] = Cz[m * N + n];
  }

  const gA = gpu.upload(new Float32Array(A));
  const gB = gpu.upload(new Float32Array(B));
  const gC = gpu.upload(new Float32Array(C0));
  const gbias = bias ? gpu.upload(new Float32Array(bias)) : undefined;
  const args: MatmulArgs = {
    M,
    N,
    K,
    transA: tA,
    transB: tB,
    alpha: P.alpha,
    accum: P.accum,
    bias: gbias,
    lda,
    ldb,
    ldc,
    offA,
    offB,
    offC,
    batch1: b1,
    batch2: b2,
    strideA: sA,
    strideB: sB,
    strideC: sC,
  };
  const before = gpu.variants.get('matmul');
  gpu.variants.set('matmul', name);
  try {
    expectEqual(pickKernel(gpu, gA, gB, args).name, expectVariant, `kernel picked for variant ${name}`);
    matmul(gpu, gC, gA, gB, args);
    const what =
      `matmul[${name}] batch ${b1}x${b2} ${M}x${N}x${K} tA=${tA} tB=${tB} lda=${lda} ldb=${ldb} ` +
      `ldc=${ldc} alpha=${alpha} accum=${!!P.accum} bias=${!!bias}`;
    expectClose(await gpu.read(gC), Cref, { atol: 1e-5 * Math.sqrt(K), rtol: 1e-4 }, what);
  } finally {
    if (before === undefined) gpu.variants.delete('matmul');
    else gpu.variants.set('matmul', before);
    for (const b of [gA, gB, gC, gbias]) b?.destroy();
  }
}

/** The kernel `name` falls back to when operands are not 4-aligned. */
function unalignedFallback(gpu: Gpu, name: string): string {
  let k = matmulKernels().find((x) => x.name === name)!;
  while ((k.vec4 || !matmulSupported(gpu, k)) && k.fallback) {
    k = matmulKernels().find((x) => x.name === k.fallback)!;
  }
  return k.name;
}

function variantCases(name: string): GpuCase[] {
  const run = (fn: (gpu: Gpu) => Promise<void>) => async (gpu: Gpu) => {
    const k = matmulKernels().find((x) => x.name === name)!;
    if (!matmulSupported(gpu, k)) return; // e.g. no subgroups on this adapter: nothing to test
    await fn(gpu);
  };
  const combos: [boolean, boolean][] = [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ];
  return [
    ...combos.map(([tA, tB]) => ({
      name: `${name}: batch 2, 37x29x23 padded lda/ldb/ldc + offsets, tA=${tA} tB=${tB}, alpha, accum`,
      run: run((gpu) =>
        check(gpu, name, {
          M: 37,
          N: 29,
          K: 23,
          transA: tA,
          transB: tB,
          alpha: 0.75,
          accum: true,
          batch1: 2,
          lda: tA ? 40 : 28,
          ldb: tB ? 24 : 32,
          ldc: 31,
          offA: 8,
          offB: 4,
          offC: 3,
        }),
      ),
    })),
    {
      name: `${name}: several workgroups, 70x67x36 dense transB (linear) with bias`,
      run: run((gpu) => check(gpu, name, { M: 70, N: 67, K: 36, transB: true, bias: true })),
    },
    {
      name: `${name}: 130x68x40 dense, no transposes (linear dx), accum`,
      run: run((gpu) => check(gpu, name, { M: 130, N: 68, K: 40, accum: true })),
    },
    {
      name: `${name}: 68x36x33 dense transA (linear dW), accum`,
      run: run((gpu) => check(gpu, name, { M: 68, N: 36, K: 33, transA: true, accum: true })),
    },
    {
      name: `${name}: 1x1x1 and 5x3x2`,
      run: run(async (gpu) => {
        await check(gpu, name, { M: 1, N: 1, K: 1 }, unalignedFallback(gpu, name));
        await check(
          gpu,
          name,
          { M: 5, N: 3, K: 2, transA: true, transB: true, bias: true, alpha: -2 },
          unalignedFallback(gpu, name),
        );
      }),
    },
    {
      name: `${name}: per-head slices (attention layout), scores and P V`,
      run: run(async (gpu) => {
        // q, k, v: [B=2, T=9, C=24], 3 heads of Dh=8. S[b,h] = Q_bh K_bh^T: aligned (lda = C, offsets h*Dh).
        const Bn = 2,
          T = 9,
          H = 3,
          Dh = 8,
          C = H * Dh;
        const heads = { batch1: Bn, batch2: H };
        await check(gpu, name, {
          M: T,
          N: T,
          K: Dh,
          transB: true,
          lda: C,
          ldb: C,
          ldc: T,
          alpha: 0.35,
          ...heads,
          strideA: [T * C, Dh],
          strideB: [T * C, Dh],
          strideC: [H * T * T, T * T],
        });
        // out[b, :, h] = P_bh V_bh: P has row stride T = 9 (unaligned): vec4 variants fall back.
        await check(
          gpu,
          name,
          {
            M: T,
            N: Dh,
            K: T,
            lda: T,
            ldb: C,
            ldc: C,
            ...heads,
            strideA: [H * T * T, T * T],
            strideB: [T * C, Dh],
            strideC: [T * C, Dh],
          },
          unalignedFallback(gpu, name),
        );
        // dv += P^T dO (transA), P with a padded row stride 12: aligned again.
        await check(gpu, name, {
          M: T,
          N: Dh,
          K: T,
          transA: true,
          accum: true,
          lda: 12,
          ldb: C,
          ldc: C,
          ...heads,
          strideA: [H * T * 12, T * 12],
          strideB: [T * C, Dh],
          strideC: [T * C, Dh],
        });
      }),
    },
    {
      name: `${name}: buffer end not 16-byte aligned (vec4 cannot reach the last elements)`,
      run: run((gpu) =>
        // B [8,6] with row stride 8 ends at element 61 of a 62-element buffer: array<vec4> only
        // reaches element 59, so vec4 variants must fall back (A at offset 4 would be fine).
        check(
          gpu,
          name,
          { M: 5, N: 6, K: 8, offA: 4, ldb: 8, sizeA: 46, sizeB: 62, ldc: 6 },
          unalignedFallback(gpu, name),
        ),
      ),
    },
  ];
}

export const gpuCases: GpuCase[] = [
  // subgroup_matrix runs packed-f16 operands only: tests/ops/matmul-native.cases.ts
  ...matmulKernels()
    .filter((k) => !k.f16Operands)
    .flatMap((k) => variantCases(k.name)),
  {
    name: 'autotune stores a supported variant, and keeps a choice already made',
    run: async (gpu) => {
      const before = gpu.variants.get('matmul');
      try {
        // Same pipeline constants as the 'transB with bias' cases above: compiled already.
        const r = await autotuneMatmul(gpu, { force: true, size: 64, reps: 1, iters: 1 });
        const k = matmulKernels().find((x) => x.name === r.choice);
        expectEqual(k !== undefined && matmulSupported(gpu, k), true, `autotune choice ${r.choice}`);
        expectEqual(gpu.variants.get('matmul'), r.choice, 'gpu.variants after autotune');
        expectEqual(Number.isFinite(r.ms[r.choice]), true, `timing of ${r.choice}: ${r.ms[r.choice]}`);
        gpu.variants.set('matmul', 'scalar');
        const again = await autotuneMatmul(gpu);
        expectEqual([again.choice, again.totalMs], ['scalar', 0], 'autotune without force');
      } finally {
        if (before === undefined) gpu.variants.delete('matmul');
        else gpu.variants.set('matmul', before);
      }
    },
  },
  {
    // Node only (tests/helpers/cases.ts runsInBrowser): it compiles every kernel twice (f32 and
    // packed-f16 operands)
    name: 'autotune with GPU defaults: workgroup-memory kernels among the candidates, matmul-f16 tuned only when asked',
    run: async (gpu) => {
      const before = new Map(gpu.variants);
      gpu.variants.delete('matmul');
      gpu.variants.delete('matmul-f16');
      const opts = { force: true, size: 64, reps: 1, iters: 1 };
      try {
        const soft = await autotune(gpu, { ...opts, f16: true });
        expectEqual(
          soft.map((r) => r.op),
          ['matmul'],
          'software defaults: no matmul-f16 family',
        );
        expectEqual('tiled_128x64' in soft[0].ms, false, 'software defaults: workgroup-memory kernels left out');
        await withDefaults(gpu, 'gpu', async () => {
          const plain = await autotune(gpu, opts);
          expectEqual(
            plain.map((r) => r.op),
            ['matmul'],
            'GPU defaults without f16',
          );
          expectEqual(gpu.variants.has('matmul-f16'), false, 'matmul-f16 untouched without f16');
          const both = await autotune(gpu, { ...opts, f16: true });
          expectEqual(
            both.map((r) => r.op),
            ['matmul', 'matmul-f16'],
            'GPU defaults with f16',
          );
          expectEqual(gpu.variants.get('matmul-f16'), both[1].choice, 'gpu.variants after the f16 tuning');
          // every candidate ran and agreed with the first (NaN: dropped), on f32 and on packed-f16 operands
          for (const r of both) {
            const names = Object.keys(r.ms);
            expectEqual(names.includes('tiled_128x64'), true, `${r.op} candidates: ${names.join(', ')}`);
            for (const [name, ms] of Object.entries(r.ms))
              expectEqual(Number.isFinite(ms), true, `${r.op} candidate ${name}: ${ms} ms`);
          }
        });
      } finally {
        gpu.variants.clear();
        for (const [k, v] of before) gpu.variants.set(k, v);
      }
    },
  },
  {
    name: 'unknown variant names are rejected',
    run: async (gpu) => {
      const before = gpu.variants.get('matmul');
      gpu.variants.set('matmul', 'no-such-kernel');
      const x = gpu.zeros(4);
      try {
        let msg = '';
        try {
          matmul(gpu, x, x, x, { M: 1, N: 1, K: 1 });
        } catch (e) {
          msg = (e as Error).message;
        }
        expectEqual(/unknown variant "no-such-kernel"/.test(msg), true, `error message "${msg}"`);
      } finally {
        if (before === undefined) gpu.variants.delete('matmul');
        else gpu.variants.set('matmul', before);
        x.destroy();
      }
    },
  },
];
