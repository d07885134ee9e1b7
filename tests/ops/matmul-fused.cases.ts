/**
 * Fused matmuls (src/ops/matmul-args.ts fusions, src/ops/matmul-gen.ts): every kernel variant forced
 * in turn, each fusion the model uses, on shapes that are not multiples of the tiles, vs a float64
 * reference built from the plain pieces (src/ref: dropout mask, GELU, matmul):
 *   LoRA down-projection   u = s * dropout(x) A^T          proA dropout, transB, colScale
 *   fused linear + LoRA    y = x W^T + b + u B^T            k2 (second product), bias
 *   fc1                    pre = x W^T + b, y = gelu(pre)   gelu epilogue
 *   fc2 + residual         y = R + ls * (gelu(h) W^T + b)   proA gelu, residual src with ls
 *   fc2 backward           dh = ((ls * dX) W) * gelu'(H)    kscale prologue, geluGrad epilogue
 *   LoRA dA                dA += g^T dropout(x)             transA, proB dropout, accum
 *   in-place residual      C += alpha (A B + A2 B2)         residual inplace, k2, alpha
 *   dropout on the product (LoRA input gradient), block mask (the q|k|v LoRA B gradient)
 *   several problems in one dispatch (matmulMulti: the LoRA gradients of a layer), sharing and
 *   not sharing buffers, vs the same calls dispatched one by one
 * Tolerance: atol 1e-5 * sqrt(K + K2) + rtol 1e-4 * |ref| (GELU adds its ~1e-7 error).
 */
import type { Gpu } from '../../src/gpu/device';
import {
  matmul,
  matmulKernels,
  matmulLegal,
  matmulMulti,
  matmulSupported,
  matmulWith,
  pickKernel,
  type MatmulArgs,
  type MatmulCall,
  type MatmulKernel,
} from '../../src/ops/matmul';
import { readF16, roundF16, uploadF16 } from '../../src/gpu/f16';
import { dropoutKeep, dropoutThreshold } from '../../src/ref/dropout';
import { gelu, geluGrad } from '../../src/ref/gelu';
import { Rng, randomArray } from '../../src/util/random';
import { expectClose, expectEqual } from '../helpers/check';
import type { GpuCase } from '../helpers/cases';

export interface FusedProblem {
  name: string;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  accum?: boolean;
  bias?: boolean;
  proA?: 'gelu' | 'dropout' | 'kscale';
  proB?: 'gelu' | 'dropout' | 'geludrop';
  /** Second product over K2 (same transposes). */
  K2?: number;
  colScale?: boolean;
  /** Save v before the epilogue's transforms (gelu input, pre-residual branch output). */
  pre?: boolean;
  /** Dropout on the product (mask at base + index in C). */
  epiDropout?: boolean;
  /** Block mask: rows of `blockRows` each keep only their range of columns. */
  blockRows?: number;
  gelu?: boolean;
  geluGrad?: boolean;
  residual?: 'src' | 'inplace';
  ls?: boolean;
  /** Offsets (elements) of A and C inside their buffers, to check the dropout index base. */
  offA?: number;
  offC?: number;
  /** Bindings stored as packed f16 (src/gpu/f16.ts); their values are f16-rounded. */
  f16?: ('A' | 'B' | 'C' | 'A2' | 'B2' | 'H' | 'R' | 'pre')[];
}

const DROP = { p: 0.3, seed0: 1234567, seed1: 89, base: 1000 };
const RANGES: [number, number][] = [
  [0, 2],
  [2, 5],
  [5, 8],
];

function keep(i: number): boolean {
  return dropoutKeep(DROP.seed0, DROP.seed1, DROP.base + i, dropoutThreshold(DROP.p));
}

function applyPro(
  kind: 'gelu' | 'dropout' | 'geludrop' | 'kscale' | undefined,
  x: number,
  i: number,
  k = 0,
  ks?: Float64Array,
): number {
  if (kind === 'gelu') return gelu(x);
  if (kind === 'geludrop') return keep(i) ? gelu(x) / (1 - DROP.p) : 0;
  if (kind === 'kscale') return x * ks![k];
  if (kind === 'dropout') return keep(i) ? x / (1 - DROP.p) : 0;
  return x;
}

/**
 * Runs problem P with `variant` forced (a name: `matmul` picks it, or its fallback where it cannot
 * run) or with the given kernel itself (`matmulWith`, which must be legal for P: a kernel outside
 * the table, e.g. `halfAsF32`), and compares C (and pre) with the float64 reference.
 */
export async function checkFused(gpu: Gpu, variant: string | MatmulKernel, P: FusedProblem): Promise<void> {
  const { M, N, K } = P;
  const tA = !!P.transA,
    tB = !!P.transB;
  const K2 = P.K2 ?? 0;
  const offA = P.offA ?? 0,
    offC = P.offC ?? 0;
  const lda = tA ? M : K,
    ldb = tB ? K : N;
  const lda2 = tA ? M : K2,
    ldb2 = tB ? K2 : N;
  const rng = new Rng(M * 7919 + N * 104729 + K * 13 + K2 + (tA ? 1 : 0) + (tB ? 2 : 0));
  const h = (x: FusedProblem['f16'] extends (infer T)[] | undefined ? T : never) => P.f16?.includes(x) ?? false;
  const r16 = (a: Float64Array, on: boolean) => (on ? a.map(roundF16) : a);
  const A = r16(randomArray(rng, offA + M * K, -2, 2), h('A'));
  const B = r16(randomArray(rng, K * N), h('B'));
  const A2 = r16(randomArray(rng, Math.max(1, M * K2)), h('A2'));
  const B2 = r16(randomArray(rng, Math.max(1, K2 * N)), h('B2'));
  const C0 = r16(randomArray(rng, offC + M * N), h('C'));
  const bias = randomArray(rng, N);
  const cs = randomArray(rng, N, 0.5, 2);
  const R = r16(randomArray(rng, offC + M * N), h('R'));
  const ls = randomArray(rng, N, -1, 1);
  const H = r16(randomArray(rng, offC + M * N, -3, 3), h('H'));
  const kscale = randomArray(rng, K, -2, 2);
  const alpha = P.alpha ?? 1;

  // reference, element by element
  const opA = (m: number, k: number) => {
    const i = tA ? k * lda + m : m * lda + k;
    return applyPro(P.proA, A[offA + i], i, k, kscale);
  };
  const opB = (k: number, n: number) => {
    const i = tB ? n * ldb + k : k * ldb + n;
    return applyPro(P.proB, B[i], i);
  };
  const Cref = C0.slice();
  const preRef = new Float64Array(offC + M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += opA(m, k) * opB(k, n);
      for (let k = 0; k < K2; k++) {
        acc += A2[tA ? k * lda2 + m : m * lda2 + k] * B2[tB ? n * ldb2 + k : k * ldb2 + n];
      }
      const c = offC + m * N + n;
      let v = alpha * acc;
      if (P.bias) v += bias[n];
      if (P.colScale) v *= cs[n];
      if (P.pre) preRef[c] = v;
      if (P.epiDropout) v = keep(c - offC) ? v / (1 - DROP.p) : 0;
      if (P.blockRows) {
        const [lo, hi] = RANGES[Math.min(2, Math.floor(m / P.blockRows))];
        if (n < lo || n >= hi) v = 0;
      }
      if (P.gelu) v = gelu(v);
      if (P.geluGrad) v *= geluGrad(H[c]);
      const sc = P.ls ? ls[n] * v : v;
      if (P.residual === 'src') v = R[c] + sc;
      if (P.residual === 'inplace') v = C0[c] + sc;
      if (P.accum) v += C0[c];
      Cref[c] = v;
    }
  }

  // a kernel run directly may be `halfAsF32`, which reads f32 buffers as pairs: whole pairs, as
  // packed-f16 buffers hold (zerosF16 rounds up)
  const even = (n: number) => (typeof variant === 'string' ? n : n + (n % 2));
  const up = (a: Float64Array, f16 = false) => {
    const x = new Float32Array(even(a.length));
    x.set(a);
    return f16 ? uploadF16(gpu, x) : gpu.upload(x);
  };
  const gA = up(A, h('A')),
    gB = up(B, h('B')),
    gC = up(C0, h('C'));
  const owned = [gA, gB, gC];
  const mk = (a: Float64Array, f16 = false) => {
    const b = up(a, f16);
    owned.push(b);
    return b;
  };
  const gpre = P.pre ? mk(new Float64Array(offC + M * N), h('pre')) : undefined;
  const args: MatmulArgs = {
    M,
    N,
    K,
    transA: tA,
    transB: tB,
    alpha: P.alpha,
    accum: P.accum,
    offA,
    offC,
    bias: P.bias ? mk(bias) : undefined,
    proA:
      P.proA === 'dropout'
        ? { kind: 'dropout', ...DROP }
        : P.proA === 'kscale'
          ? { kind: 'kscale', v: mk(kscale) }
          : P.proA
            ? { kind: 'gelu' }
            : undefined,
    proB:
      P.proB === 'dropout' || P.proB === 'geludrop' ? { kind: P.proB, ...DROP } : P.proB ? { kind: 'gelu' } : undefined,
    second: K2 ? { A: mk(A2, h('A2')), B: mk(B2, h('B2')), K: K2 } : undefined,
    colScale: P.colScale ? mk(cs) : undefined,
    pre: gpre,
    gelu: P.gelu,
    dropout: P.epiDropout ? DROP : undefined,
    blockMask: P.blockRows ? { rows: P.blockRows, ranges: RANGES } : undefined,
    geluGrad: P.geluGrad ? { H: mk(H, h('H')) } : undefined,
    residual: P.residual
      ? { R: P.residual === 'inplace' ? 'inplace' : mk(R, h('R')), ls: P.ls ? mk(ls) : undefined }
      : undefined,
    op: `matmul.fused.${P.name}`,
  };
  const before = gpu.variants.get('matmul');
  if (typeof variant === 'string') gpu.variants.set('matmul', variant);
  try {
    let k: MatmulKernel;
    if (typeof variant === 'string') {
      k = pickKernel(gpu, gA, gB, args);
      if (P.M % 4 === 0 && P.N % 4 === 0 && P.K % 4 === 0 && K2 % 4 === 0 && offA % 4 === 0) {
        expectEqual(k.name, variant, `kernel picked for aligned ${P.name}`);
      }
      matmul(gpu, gC, gA, gB, args);
    } else {
      k = variant;
      expectEqual(matmulLegal(gpu, k, gA, gB, args), true, `${k.name} legal for ${P.name}`);
      matmulWith(gpu, k, gC, gA, gB, args);
    }
    const tol = { atol: 1e-5 * Math.sqrt(K + K2) * (P.proA === 'dropout' || P.proB === 'dropout' ? 2 : 1), rtol: 1e-4 };
    const what = `${P.name} [${k.name}] ${M}x${N}x${K}${K2 ? `+${K2}` : ''} tA=${tA} tB=${tB}`;
    // an f16 output is rounded to f16: 2^-11 relative, plus its atol-sized inputs' share
    const tolOut = (f16: boolean) => (f16 ? { atol: 2 * tol.atol + 1e-3, rtol: 1e-3 } : tol);
    const n = offC + M * N;
    const rd = (b: GPUBuffer, f16: boolean) => (f16 ? readF16(gpu, b, n) : gpu.read(b, n));
    expectClose(await rd(gC, h('C')), Cref, tolOut(h('C')), what);
    if (gpre) expectClose(await rd(gpre, h('pre')), preRef, tolOut(h('pre')), `${what} (pre)`);
  } finally {
    if (before === undefined) gpu.variants.delete('matmul');
    else gpu.variants.set('matmul', before);
    for (const b of owned) b.destroy();
  }
}

/** One aligned shape (vec4 kernels run) and one awkward shape (they fall back) per fusion. */
export const PROBLEMS: FusedProblem[] = [
  { name: 'lora-u', M: 36, N: 8, K: 24, transB: true, proA: 'dropout', colScale: true, offA: 8 },
  { name: 'lora-u-odd', M: 37, N: 6, K: 21, transB: true, proA: 'dropout', colScale: true, offA: 3 },
  { name: 'linear+lora', M: 36, N: 40, K: 24, transB: true, bias: true, K2: 8 },
  { name: 'linear+lora-odd', M: 19, N: 23, K: 10, transB: true, bias: true, K2: 3 },
  { name: 'fc1-gelu', M: 20, N: 48, K: 16, transB: true, bias: true, pre: true, gelu: true, offC: 4 },
  {
    name: 'fc2-residual',
    M: 20,
    N: 16,
    K: 48,
    transB: true,
    bias: true,
    proA: 'gelu',
    residual: 'src',
    ls: true,
    pre: true,
  },
  { name: 'fc2-residual-odd', M: 13, N: 9, K: 15, transB: true, bias: true, proA: 'gelu', residual: 'src', ls: true },
  { name: 'fc2-dx-geluGrad', M: 20, N: 48, K: 16, geluGrad: true, proA: 'kscale' },
  { name: 'fc2-dx-geluGrad-odd', M: 13, N: 21, K: 18, geluGrad: true, proA: 'kscale' },
  { name: 'kscale-tA', M: 12, N: 16, K: 20, transA: true, proA: 'kscale', accum: true },
  { name: 'lora-dA', M: 8, N: 24, K: 36, transA: true, proB: 'dropout', accum: true },
  { name: 'lora-dA-odd', M: 5, N: 11, K: 29, transA: true, proB: 'dropout', accum: true },
  { name: 'inplace-k2', M: 12, N: 20, K: 8, K2: 4, alpha: 0.5, residual: 'inplace' },
  { name: 'lora-dx-dropout', M: 24, N: 16, K: 8, epiDropout: true, accum: true, offC: 4 },
  { name: 'lora-dB-blockmask', M: 21, N: 8, K: 17, transA: true, blockRows: 7, accum: true },
  // packed-f16 storage (frozen weights and activations) with every fusion that reads or writes it
  { name: 'f16-linear+lora', M: 36, N: 40, K: 24, transB: true, bias: true, K2: 8, f16: ['A', 'B', 'C'] },
  {
    name: 'f16-fc1-gelu-odd',
    M: 13,
    N: 22,
    K: 10,
    transB: true,
    bias: true,
    pre: true,
    gelu: true,
    f16: ['A', 'B', 'C', 'pre'],
    offC: 2,
  },
  {
    name: 'f16-fc2-residual',
    M: 20,
    N: 16,
    K: 48,
    transB: true,
    bias: true,
    proA: 'gelu',
    residual: 'src',
    ls: true,
    f16: ['A', 'B'],
  },
  { name: 'f16-dx-dgelu', M: 20, N: 48, K: 16, geluGrad: true, proA: 'kscale', f16: ['B', 'H'] },
  { name: 'f16-dA-dropout', M: 5, N: 12, K: 29, transA: true, proB: 'dropout', accum: true, f16: ['B'] },
  { name: 'f16-accum-out', M: 9, N: 14, K: 7, accum: true, f16: ['A', 'C'] },
  { name: 'f16-dA-geludrop', M: 5, N: 12, K: 29, transA: true, proB: 'geludrop', accum: true, f16: ['B'] },
  { name: 'inplace-k2-tAtB', M: 12, N: 20, K: 8, K2: 4, transA: true, transB: true, residual: 'inplace', ls: true },
];

/**
 * The epilogue and prologue code is shared by all kernels (one generator), and each fusion set
 * compiles to a new pipeline (slow on SwiftShader, where this also runs in Chromium), so the
 * full set runs on one kernel of each load path (scalar loads; vec4 loads with quad sharing) and
 * the others get the problems that exercise their own load and store paths.
 */
const SUBSET: Record<string, string[]> = {
  scalar_quad: ['lora-u-odd', 'linear+lora-odd', 'fc2-residual-odd', 'f16-fc1-gelu-odd', 'kscale-tA'],
  vec4: ['lora-u', 'linear+lora', 'fc1-gelu', 'f16-linear+lora', 'f16-dx-dgelu', 'lora-dA'],
  tiled: [
    'lora-u-odd',
    'linear+lora-odd',
    'lora-dA-odd',
    'fc2-residual-odd',
    'inplace-k2-tAtB',
    'lora-dB-blockmask',
    'kscale-tA',
    'f16-fc1-gelu-odd',
    'f16-dA-geludrop',
  ],
  tiled_128x64: ['linear+lora-odd', 'f16-fc1-gelu-odd', 'kscale-tA'],
  tiled_64x64_8x8: ['linear+lora-odd', 'f16-dA-dropout'],
  tiled_128x128: ['linear+lora-odd', 'f16-dA-dropout'],
};

// subgroup_matrix runs packed-f16 operands without a second product only: matmul-native.cases.ts
export const gpuCases: GpuCase[] = matmulKernels()
  .filter((k) => !k.f16Operands)
  .map((k) => ({
    name: `${k.name}: fused epilogues, prologues and second products`,
    run: async (gpu: Gpu) => {
      if (!matmulSupported(gpu, k)) return;
      const problems = SUBSET[k.name] ? PROBLEMS.filter((P) => SUBSET[k.name].includes(P.name)) : PROBLEMS;
      for (const P of problems) await checkFused(gpu, k.name, P);
    },
  }));

/** dA_q, dA_v (same output buffer at two offsets, one shared input) and dB in one dispatch. */
async function checkMulti(gpu: Gpu, variant: string): Promise<void> {
  const N = 37,
    C = 12,
    r = 4,
    R = 8;
  const rng = new Rng(4242);
  const gu = randomArray(rng, N * R),
    x = randomArray(rng, N * C),
    dy = randomArray(rng, N * 3 * C),
    u = randomArray(rng, N * R);
  const dA0 = randomArray(rng, R * C),
    dB0 = randomArray(rng, 3 * C * R);
  const up = (a: Float64Array) => gpu.upload(new Float32Array(a));
  const calls = (
    dA: GPUBuffer,
    dB: GPUBuffer,
    g: GPUBuffer,
    xb: GPUBuffer,
    dyb: GPUBuffer,
    ub: GPUBuffer,
  ): MatmulCall[] => [
    {
      C: dA,
      A: g,
      B: xb,
      args: { M: r, N: C, K: N, transA: true, lda: R, accum: true, proB: { kind: 'dropout', ...DROP } },
    },
    {
      C: dA,
      A: g,
      B: xb,
      args: {
        M: r,
        N: C,
        K: N,
        transA: true,
        lda: R,
        offA: r,
        offC: r * C,
        accum: true,
        proB: { kind: 'dropout', ...DROP, seed1: 90 },
      },
    },
    {
      C: dB,
      A: dyb,
      B: ub,
      args: {
        M: 3 * C,
        N: R,
        K: N,
        transA: true,
        accum: true,
        blockMask: {
          rows: C,
          ranges: [
            [0, r],
            [0, 0],
            [r, R],
          ],
        },
      },
    },
  ];
  const run = async (multi: boolean) => {
    const bufs = [up(dA0), up(dB0), up(gu), up(x), up(dy), up(u)];
    const cs = calls(bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], bufs[5]);
    if (multi) matmulMulti(gpu, cs, 'lora.grads');
    else for (const c of cs) matmul(gpu, c.C, c.A, c.B, c.args);
    const out = [await gpu.read(bufs[0]), await gpu.read(bufs[1])];
    for (const b of bufs) b.destroy();
    return out;
  };
  const before = gpu.variants.get('matmul');
  gpu.variants.set('matmul', variant);
  try {
    const [dA1, dB1] = await run(false);
    const [dA2, dB2] = await run(true);
    const tol = { atol: 1e-5 * Math.sqrt(N), rtol: 1e-4 };
    expectClose(dA2, Float64Array.from(dA1), tol, `multi [${variant}] dA`);
    expectClose(dB2, Float64Array.from(dB1), tol, `multi [${variant}] dB`);
  } finally {
    if (before === undefined) gpu.variants.delete('matmul');
    else gpu.variants.set('matmul', before);
  }
}

gpuCases.push(
  ...matmulKernels()
    .filter((k) => ['scalar', 'vec4_quad', 'tiled'].includes(k.name))
    .map((k) => ({
      name: `${k.name}: three problems in one dispatch (matmulMulti)`,
      run: async (gpu: Gpu) => {
        if (!matmulSupported(gpu, k)) return;
        await checkMulti(gpu, k.name);
      },
    })),
);
