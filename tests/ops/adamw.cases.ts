/**
 * adamw and sumSquares: several GPU AdamW steps vs the float64 reference (n not a multiple of the
 * workgroup size, wd = 0 and 0.01, gradScale, GPU-side grad-norm clipping), and the two-stage
 * sum-of-squares reduction. Tolerance atol 1e-6 + rtol 1e-5 on param, m and v.
 */
import type { Gpu } from '../../src/gpu/device';
import { adamwUpdate, sumSquares, type AdamwHyper } from '../../src/ops/adamw';
import * as ref from '../../src/ref/adamw';
import { Rng, randomArray } from '../../src/util/random';
import { expectClose, f32 } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

const TOL = { atol: 1e-6, rtol: 1e-5 };

interface StepOpts {
  wd: number;
  lr?: number;
  gradScale?: number;
  /** Clip to this global norm (computed over the gradient and a second buffer of 1000). */
  maxNorm?: number;
}

/** Per-step gradient magnitudes: large, small (near eps), ordinary. */
const GRAD_SCALES = [1, 1e-3, 5, 0.2, 1e-7, 2];

async function adamwCase(gpu: Gpu, n: number, steps: number, o: StepOpts) {
  const rng = new Rng(n + 17 * steps + Math.round(o.wd * 1000));
  const p = randomArray(rng, n);
  const m = new Float64Array(n);
  const v = new Float64Array(n);
  const gp = gpu.upload(f32(p));
  const gm = gpu.zeros(n);
  const gv = gpu.zeros(n);
  const gg = gpu.zeros(n);
  const other = randomArray(rng, 1000); // a second gradient buffer for the global norm
  const gother = gpu.upload(f32(other));
  const gsum = gpu.zeros(1);
  for (let t = 1; t <= steps; t++) {
    const g = randomArray(rng, n).map((x) => Math.fround(x * GRAD_SCALES[(t - 1) % GRAD_SCALES.length]));
    await gpu.flush(); // gpu.write goes straight to the queue: submit the previous step first
    gpu.write(gg, f32(g));
    const hp: AdamwHyper<Float64Array> = { lr: o.lr ?? 1e-2, step: t, weightDecay: o.wd, gradScale: o.gradScale };
    const hpGpu: AdamwHyper = { ...hp, clip: undefined };
    if (o.maxNorm !== undefined) {
      const s = new Float64Array(1);
      ref.sumSquares(s, g, n);
      ref.sumSquares(s, other, 1000);
      hp.clip = { sumSq: s, maxNorm: o.maxNorm };
      gpu.clear(gsum);
      sumSquares(gpu, gsum, gg, n);
      sumSquares(gpu, gsum, gother, 1000);
      hpGpu.clip = { sumSq: gsum, maxNorm: o.maxNorm };
    }
    ref.adamwUpdate(p, m, v, g, n, hp);
    adamwUpdate(gpu, gp, gm, gv, gg, n, hpGpu);
  }
  const what = `adamw n=${n} steps=${steps} wd=${o.wd} gradScale=${o.gradScale ?? 1} maxNorm=${o.maxNorm ?? '-'}`;
  expectClose(await gpu.read(gp), p, TOL, `${what} param`);
  expectClose(await gpu.read(gm), m, TOL, `${what} m`);
  expectClose(await gpu.read(gv), v, TOL, `${what} v`);
  for (const b of [gp, gm, gv, gg, gother, gsum]) b.destroy();
}

async function sumSquaresCase(gpu: Gpu, sizes: number[], scale = 1) {
  const rng = new Rng(sizes.reduce((a, b) => a * 31 + b, 7));
  const out = new Float64Array([1.5]); // accumulates into the existing value
  const gout = gpu.upload(f32(out));
  const bufs: GPUBuffer[] = [];
  for (const n of sizes) {
    const x = randomArray(rng, n, -scale, scale);
    ref.sumSquares(out, x, n);
    const gx = gpu.upload(f32(x));
    bufs.push(gx);
    sumSquares(gpu, gout, gx, n);
  }
  expectClose(await gpu.read(gout), out, { atol: 1e-6, rtol: 1e-5 }, `sumSquares n=[${sizes}] scale ${scale}`);
  for (const b of [gout, ...bufs]) b.destroy();
}

export const gpuCases: GpuCase[] = [
  { name: 'adamw n=1, 6 steps, wd=0', run: (g) => adamwCase(g, 1, 6, { wd: 0 }) },
  { name: 'adamw n=1000, 6 steps, wd=0.01', run: (g) => adamwCase(g, 1000, 6, { wd: 0.01 }) },
  { name: 'adamw n=70001, 4 steps, wd=0', run: (g) => adamwCase(g, 70001, 4, { wd: 0 }) },
  { name: 'adamw n=70001, 4 steps, wd=0.01, lr=0.1', run: (g) => adamwCase(g, 70001, 4, { wd: 0.01, lr: 0.1 }) },
  {
    name: 'adamw n=1000, gradScale 0.25',
    run: (g) => adamwCase(g, 1000, 3, { wd: 0.01, gradScale: 0.25 }),
  },
  {
    name: 'adamw n=1000 with global grad-norm clipping on the GPU (active and inactive)',
    run: async (g) => {
      await adamwCase(g, 1000, 3, { wd: 0.01, maxNorm: 1 }); // norm ~ 25: clipped
      await adamwCase(g, 1000, 3, { wd: 0, maxNorm: 1e6 }); // not clipped
    },
  },
  { name: 'sumSquares n=1 (single stage)', run: (g) => sumSquaresCase(g, [1]) },
  { name: 'sumSquares n=1000 + n=70001 + n=3 into one scalar', run: (g) => sumSquaresCase(g, [1000, 70001, 3]) },
  { name: 'sumSquares n=300001, large values', run: (g) => sumSquaresCase(g, [300001], 1e3) },
];

export const refCases: RefCase[] = [
  {
    name: 'adamw reference: first step moves each param by lr*sign(g) (plus decay)',
    run: () => {
      // At t = 1, mhat = g and vhat = g^2, so the update is lr * g / (|g| + eps).
      const p = new Float64Array([0.5, -2, 3]);
      const g = new Float64Array([0.1, -4, 1e-3]);
      const m = new Float64Array(3),
        v = new Float64Array(3);
      const lr = 0.01,
        wd = 0.1;
      const want = Array.from(p, (x, i) => x - lr * wd * x - (lr * g[i]) / (Math.abs(g[i]) + 1e-8));
      ref.adamwUpdate(p, m, v, g, 3, { lr, step: 1, weightDecay: wd });
      expectClose(p, want, { atol: 1e-15, rtol: 1e-12 }, 'adamw step 1');
    },
  },
  {
    name: 'adamw reference: clipCoef matches torch clip_grad_norm_',
    run: () => {
      expectClose([ref.clipCoef(25, 1)], [1 / (5 + 1e-6)], { atol: 0, rtol: 1e-15 }, 'clipped');
      expectClose([ref.clipCoef(0.25, 1)], [1], { atol: 0, rtol: 0 }, 'not clipped');
    },
  },
];
