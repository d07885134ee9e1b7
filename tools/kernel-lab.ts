/**
 * Kernel lab for the batched matmul (llm.c dev/cuda style): numbered variants under
 * shaders/dev/matmul_v*.wgsl (and the promoted ones under shaders/ops/), each checked against the
 * float64 CPU reference (src/ref/linear.ts `matmul`, on sampled rows) and timed in GFLOP/s at
 * the ViT-B linear shapes and 512^3, on the Node Dawn adapter (SwiftShader on a machine without
 * a GPU).
 *
 *   npx vite-node tools/kernel-lab.ts                       all variants, default shapes
 *   npx vite-node tools/kernel-lab.ts --variants v1,v2 --shapes fwd-qkv,512 --iters 3 --reps 2
 *   npx vite-node tools/kernel-lab.ts --big                 also the M = 6432 shapes (slow)
 *   npx vite-node tools/kernel-lab.ts --list                variant and shape names
 *   npx vite-node tools/kernel-lab.ts --autotune --reps 3   what src/ops/autotune.ts picks, and how fast
 *
 * Shapes are named after the op they model: linear forward y = x W^T is transB, the backward
 * dx = dy W has no transposes, dW = dy^T x is transA. Timing: one warm-up call, then `iters`
 * calls between two `gpu.sync()`; repeated `reps` times, variants interleaved so that load from
 * other processes hits all of them alike; reports the best and the median rep (wall clock), and
 * GFLOP per CPU-second of this process (SwiftShader's threads run in it): on a machine shared with
 * other jobs that one is the stable figure to compare; with 2 idle cores wall ~ 2x it.
 */
import { requestNodeGpu } from '../src/gpu/device-node';
import { registerShaders } from '../src/gpu/shaders';
import { autotuneMatmul } from '../src/ops/autotune';
import type { Gpu } from '../src/gpu/device';
import {
  matmulKernel,
  matmulKernels,
  matmulLegal,
  matmulWith,
  type MatmulArgs,
  type MatmulKernel,
} from '../src/ops/matmul';
import * as ref from '../src/ref/linear';
import { Rng, randomArray } from '../src/util/random';

interface Shape {
  name: string;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  big?: boolean;
}

const SHAPES: Shape[] = [
  { name: '512', M: 512, N: 512, K: 512 },
  { name: 'fwd-qkv', M: 1608, N: 2304, K: 768, transB: true },
  { name: 'fwd-proj', M: 1608, N: 768, K: 768, transB: true },
  { name: 'fwd-fc1', M: 1608, N: 3072, K: 768, transB: true },
  { name: 'fwd-fc2', M: 1608, N: 768, K: 3072, transB: true },
  { name: 'bwd-dx', M: 1608, N: 768, K: 2304 },
  { name: 'bwd-dW', M: 2304, N: 768, K: 1608, transA: true },
  // small widths: all-pairs similarity at D=16 (search), the hidden-48 test model's linears
  { name: 'sim-d16', M: 4096, N: 4096, K: 16, transB: true },
  { name: 'h48-qkv', M: 8320, N: 144, K: 48, transB: true },
  { name: 'h48-fc1', M: 8320, N: 192, K: 48, transB: true },
  { name: 'h48-fc2', M: 8320, N: 48, K: 192, transB: true },
  { name: 'fwd-qkv-6432', M: 6432, N: 2304, K: 768, transB: true, big: true },
  { name: 'fwd-fc1-6432', M: 6432, N: 3072, K: 768, transB: true, big: true },
  { name: 'fwd-fc2-6432', M: 6432, N: 768, K: 3072, transB: true, big: true },
];

/**
 * Lab-only variants (shaders/dev), in the order they were tried; the production kernels
 * (src/ops/matmul-kernels.ts: scalar, scalar_quad, vec4, vec4_quad, tiled) are appended. Lineage:
 *   v1  the original kernel: 4x4 per invocation, scalar loads, loops over small arrays
 *   v2  vec4 loads, 4x4, hand-unrolled (no loops over arrays)
 *   v3  vec4, 8x8, hand-unrolled                       -> ops/matmul_vec4 (vec4)
 *   v4  v3 written with loops over const-sized arrays: not unrolled on SwiftShader, 10x slower
 *   v5  v3 at other tile sizes (16x8, 8x16, 16x16)
 *   v6  v5 with loads shared inside a quad (subgroups) -> 16x8: ops/matmul_vec4_quad (vec4_quad)
 *   v7  scalar loads (any strides), 8x8                -> k unrolled by 4: ops/matmul (scalar)
 *   v8  v7 with quad sharing                           -> 8x8, k by 4: ops/matmul_quad (scalar_quad)
 *   v9  workgroup-memory 64x64 tiles for GPUs          -> ops/matmul_tiled (tiled)
 */
registerShaders(
  import.meta.glob('../shaders/dev/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<
    string,
    string
  >,
);

const dev = (
  name: string,
  tm: number,
  tn: number,
  wg: [number, number],
  vec4: boolean,
  subgroups = false,
  shader = `dev/matmul_${name}`,
): MatmulKernel => ({ name, shader, tm, tn, wg, vec4, subgroups });
const DEV_KERNELS: MatmulKernel[] = [
  dev('v1_scalar', 4, 4, [8, 8], false),
  dev('v2_vec4', 4, 4, [8, 8], true),
  dev('v3_vec4_8x8', 8, 8, [8, 8], true),
  dev('v4_loops', 8, 8, [4, 4], true),
  dev('v5_16x8', 16, 8, [4, 4], true),
  dev('v5_8x16', 8, 16, [4, 4], true),
  dev('v5_16x16', 16, 16, [4, 4], true),
  dev('v6_quad_8x8', 8, 8, [4, 4], true, true),
  dev('v6_quad_8x16', 8, 16, [4, 4], true, true),
  dev('v6_quad_16x16', 16, 16, [4, 4], true, true),
  ...(
    [
      [2, 2],
      [8, 4],
      [4, 8],
      [8, 8],
    ] as [number, number][]
  ).map((wg) => ({
    ...matmulKernel('vec4_quad'),
    name: `v6_quad_16x8_wg${wg[0]}x${wg[1]}`,
    wg,
    fallback: undefined,
  })),
  dev('v7_scalar_8x8_u1', 8, 8, [4, 4], false),
  dev('v8_squad_8x8_u1', 8, 8, [4, 4], false, true),
  dev('v8_squad_16x8_u1', 16, 8, [4, 4], false, true),
];

function parseArgs(argv: string[]) {
  const opts = {
    variants: '',
    shapes: '',
    iters: 2,
    reps: 2,
    big: false,
    list: false,
    check: true,
    autotune: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--variants') opts.variants = argv[++i];
    else if (a === '--shapes') opts.shapes = argv[++i];
    else if (a === '--iters') opts.iters = Number(argv[++i]);
    else if (a === '--reps') opts.reps = Number(argv[++i]);
    else if (a === '--big') opts.big = true;
    else if (a === '--list') opts.list = true;
    else if (a === '--no-check') opts.check = false;
    else if (a === '--autotune') opts.autotune = true;
  }
  return opts;
}

function pick<T extends { name: string }>(all: T[], sel: string): T[] {
  if (!sel) return all;
  const names = sel.split(',');
  return all.filter((x) => names.some((n) => x.name === n || x.name.startsWith(`${n}_`)));
}

/** Checks `rows` sampled rows of C against the float64 reference; returns the worst error/tol. */
function checkRows(C: Float32Array, A: Float32Array, B: Float32Array, s: Shape, rng: Rng, rows = 6): number {
  const { M, N, K } = s;
  const ms = [0, M - 1, ...Array.from({ length: rows - 2 }, () => Math.floor(rng.next() * M))];
  // op(A) rows as a dense [rows, K] matrix, so the reference runs on the sample only.
  const As = new Float64Array(ms.length * K);
  ms.forEach((m, r) => {
    for (let k = 0; k < K; k++) As[r * K + k] = s.transA ? A[k * M + m] : A[m * K + k];
  });
  const Cs = new Float64Array(ms.length * N);
  ref.matmul(Cs, As, Float64Array.from(B), 1, ms.length, N, K, false, s.transB ?? false);
  let worst = 0;
  const atol = 1e-5 * Math.sqrt(K);
  ms.forEach((m, r) => {
    for (let n = 0; n < N; n++) {
      const want = Cs[r * N + n];
      const err = Math.abs(C[m * N + n] - want) / (atol + 1e-4 * Math.abs(want));
      worst = Math.max(worst, Number.isFinite(err) ? err : Infinity);
    }
  });
  return worst;
}

/** Seconds per call: wall clock, and CPU time of this process (SwiftShader runs in-process). */
async function timeIt(gpu: Gpu, run: () => void, iters: number): Promise<{ wall: number; cpu: number }> {
  await gpu.sync();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < iters; i++) run();
  await gpu.sync();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000 / iters, cpu: (c.user + c.system) / 1e6 / iters };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const kernels = pick([...DEV_KERNELS, ...matmulKernels()], opts.variants);
  const shapes = pick(
    SHAPES.filter((s) => opts.big || !s.big || opts.shapes),
    opts.shapes,
  );
  if (opts.list) {
    console.log(`variants: ${[...DEV_KERNELS, ...matmulKernels()].map((k) => k.name).join(' ')}`);
    console.log(`shapes: ${SHAPES.map((s) => s.name).join(' ')}`);
    return;
  }
  const gpu = await requestNodeGpu({ log: console.log });
  if (opts.autotune) {
    for (let i = 0; i < opts.reps; i++) {
      const r = await autotuneMatmul(gpu, { force: true });
      const ms = Object.entries(r.ms)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ');
      console.log(`autotune: picked ${r.choice} in ${r.totalMs.toFixed(0)} ms (ms per call: ${ms})`);
    }
    gpu.destroy();
    return;
  }
  const rng = new Rng(1);
  const table: string[][] = [['shape', 'MxNxK', ...kernels.map((k) => k.name)]];
  for (const s of shapes) {
    const A = new Float32Array(randomArray(rng, s.M * s.K));
    const B = new Float32Array(randomArray(rng, s.K * s.N));
    const gA = gpu.upload(A, 'A');
    const gB = gpu.upload(B, 'B');
    const gC = gpu.zeros(s.M * s.N, 'C');
    const args: MatmulArgs = { M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB };
    const flop = 2 * s.M * s.N * s.K;
    const times = new Map<string, { wall: number; cpu: number }[]>();
    const errs = new Map<string, string>();
    const legal = kernels.filter((k) => matmulLegal(gpu, k, gA, gB, args));
    for (const k of legal) {
      gpu.clear(gC);
      matmulWith(gpu, k, gC, gA, gB, args); // warm-up: compiles the pipeline
      const C = await gpu.read(gC);
      errs.set(k.name, opts.check ? checkRows(C, A, B, s, rng).toFixed(2) : '-');
      times.set(k.name, []);
    }
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const k of legal) {
        times.get(k.name)!.push(await timeIt(gpu, () => matmulWith(gpu, k, gC, gA, gB, args), opts.iters));
      }
    }
    const row = [s.name, `${s.M}x${s.N}x${s.K}${s.transA ? ' tA' : ''}${s.transB ? ' tB' : ''}`];
    for (const k of kernels) {
      const t = times.get(k.name);
      if (!t) {
        row.push('n/a');
        continue;
      }
      const best = flop / Math.min(...t.map((x) => x.wall)) / 1e9;
      const med = flop / median(t.map((x) => x.wall)) / 1e9;
      const cpu = flop / Math.min(...t.map((x) => x.cpu)) / 1e9;
      row.push(`${best.toFixed(2)} (${med.toFixed(2)}) c${cpu.toFixed(2)} e${errs.get(k.name)}`);
      const err = Number(errs.get(k.name));
      if (err > 1) console.log(`!! ${k.name} ${s.name}: error ${err} x tolerance`);
    }
    console.log(row.join(' | '));
    table.push(row);
    gA.destroy();
    gB.destroy();
    gC.destroy();
  }
  console.log(
    '\nGFLOP/s wall-clock best (median) of reps; c = GFLOP per CPU-second of this process ' +
      '(best; less sensitive to other load); e = worst sampled |err| / (atol 1e-5*sqrt(K) + rtol 1e-4*|ref|)',
  );
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  for (const r of table) console.log(`| ${r.map((x, c) => x.padEnd(widths[c])).join(' | ')} |`);
  gpu.destroy();
}

await main();
