/**
 * gelu (exact, erf-based) and the f32 erf of shaders/common/erf.wgsl: GPU vs the float64
 * reference (src/ref/gelu.ts), the reference erf vs known values, and the reference backward
 * vs finite differences.
 */
import type { Gpu } from '../../src/gpu/device';
import { erfcForward, erfForward, geluBackward, geluForward } from '../../src/ops/gelu';
import * as ref from '../../src/ref/gelu';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, dotLoss, expectClose, expectEqual, expectThrows, f32 } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

/** n points evenly over [lo, hi], rounded to f32. */
function linspace(lo: number, hi: number, n: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.fround(lo + ((hi - lo) * i) / (n - 1));
  return a;
}

/** Values where GELU and its derivative are easy to get wrong. */
const EXTREMES = [
  0, -0, 1e-30, -1e-30, 0.5, -0.5, 1, -1, 1.4142135, -1.4142135, 3, -3, 5.5, -5.5, 8, -8, 20, -20, 50, -50, 1e4, -1e4,
  1e30, -1e30,
].map(Math.fround);

async function unary(
  gpu: Gpu,
  fn: (gpu: Gpu, out: GPUBuffer, inp: GPUBuffer, N: number) => void,
  x: Float64Array,
): Promise<Float32Array> {
  const gx = gpu.upload(f32(x));
  const gy = gpu.zeros(x.length);
  fn(gpu, gy, gx, x.length);
  const y = await gpu.read(gy);
  gx.destroy();
  gy.destroy();
  return y;
}

async function geluCase(gpu: Gpu, x: Float64Array, seed: number): Promise<void> {
  const N = x.length;
  const rng = new Rng(seed);
  const dy = randomArray(rng, N);
  const dx0 = randomArray(rng, N); // backward accumulates: start non-zero
  const yRef = new Float64Array(N);
  ref.geluForward(yRef, x, N);
  const dxRef = dx0.slice();
  ref.geluBackward(dxRef, dy, x, N);

  const gx = gpu.upload(f32(x));
  const gy = gpu.zeros(N);
  const gdy = gpu.upload(f32(dy));
  const gdx = gpu.upload(f32(dx0));
  geluForward(gpu, gy, gx, N);
  geluBackward(gpu, gdx, gdy, gx, N);
  // erf error ~6e-8 scaled by |x|/2, plus f32 rounding of the result
  expectClose(await gpu.read(gy), yRef, { atol: 1e-7, rtol: 1e-6 }, `gelu.fwd N=${N}`);
  expectClose(await gpu.read(gdx), dxRef, { atol: 2e-7, rtol: 2e-6 }, `gelu.bwd dinp N=${N}`);
  for (const b of [gx, gy, gdy, gdx]) b.destroy();
}

export const gpuCases: GpuCase[] = [
  {
    name: 'erf_f32 over [-10, 10] (200001 points) within ~1e-7 of float64 erf',
    run: async (gpu) => {
      const x = linspace(-10, 10, 200001);
      const r = new Float64Array(x.length);
      ref.erfForward(r, x, x.length);
      // measured 8.3e-8 on SwiftShader; 9.5e-8 bound in an f32 emulation with the worst exp
      // WGSL allows (see shaders/common/erf.wgsl)
      expectClose(await unary(gpu, erfForward, x), r, { atol: 1.2e-7, rtol: 0 }, 'erf_f32');
    },
  },
  {
    name: 'erfc_f32 over [-10, 10]: relative accuracy in the tail',
    run: async (gpu) => {
      const x = linspace(-10, 10, 20001);
      const r = new Float64Array(x.length);
      ref.erfcForward(r, x, x.length);
      // z^2 rounded in f32 costs up to ~2e-5 relative at z = 10 (exp(-z^2) amplifies it by z^2);
      // values below 1e-37 are f32 denormals or flushed to zero.
      expectClose(await unary(gpu, erfcForward, x), r, { atol: 1e-37, rtol: 2e-5 }, 'erfc_f32');
    },
  },
  {
    name: 'gelu fwd/bwd, N = 201*37 values in [-6, 6]',
    run: (gpu) => geluCase(gpu, randomArray(new Rng(3), 201 * 37, -6, 6), 4),
  },
  {
    name: 'gelu fwd/bwd at large |x| (+-20, +-1e4, +-1e30): exact limits, no NaN',
    run: async (gpu) => {
      const x = Float64Array.from(EXTREMES);
      await geluCase(gpu, x, 5);
      const y = await unary(gpu, geluForward, x);
      const at = (v: number) => y[EXTREMES.indexOf(Math.fround(v))];
      expectEqual([at(1e4), at(-1e4), at(20), at(-20)], [1e4, 0, 20, 0], 'gelu(+-1e4), gelu(+-20)');
      if (y.some((v) => Number.isNaN(v))) throw new Error(`gelu produced NaN: ${[...y]}`);
      // derivative: exactly 1 far right, 0 far left
      const N = x.length;
      const gx = gpu.upload(f32(x));
      const g = gpu.upload(new Float32Array(N).fill(1));
      geluBackward(gpu, g, g, gx, N, false); // in place: g = 1 * gelu'(x)
      const d = await gpu.read(g);
      const dAt = (v: number) => d[EXTREMES.indexOf(Math.fround(v))];
      expectEqual([dAt(1e4), dAt(-1e4), dAt(1e30), dAt(-1e30)], [1, 0, 1, 0], "gelu'(+-1e4), gelu'(+-1e30)");
      gx.destroy();
      g.destroy();
    },
  },
  {
    name: 'gelu bwd in place (accumulate = false), odd N = 1001',
    run: async (gpu) => {
      const N = 1001;
      const rng = new Rng(6);
      const x = randomArray(rng, N, -4, 4);
      const dy = randomArray(rng, N);
      const r = new Float64Array(N);
      ref.geluBackward(r, dy, x, N, false);
      const gx = gpu.upload(f32(x));
      const g = gpu.upload(f32(dy));
      geluBackward(gpu, g, g, gx, N, false);
      expectClose(await gpu.read(g), r, { atol: 2e-7, rtol: 2e-6 }, 'gelu.bwd in place');
      await expectThrows(() => geluBackward(gpu, g, g, gx, N), /accumulate = false/, 'in place + accumulate');
      gx.destroy();
      g.destroy();
    },
  },
];

export const refCases: RefCase[] = [
  {
    name: 'reference erf/erfc vs known values',
    run: () => {
      const known: [number, number][] = [
        [0.5, 0.5204998778130465],
        [1, 0.8427007929497149],
        [2, 0.9953222650189527],
        [3, 0.9999779095030014],
        [-1, -0.8427007929497149],
        [0.1, 0.1124629160182849],
        [1.9, 0.9927904292352575],
        [0, 0],
      ];
      expectClose(
        known.map(([x]) => ref.erf(x)),
        known.map(([, v]) => v),
        { atol: 0, rtol: 1e-15 },
        'erf',
      );
      // erfc tail, relative: erfc(2), erfc(5), erfc(10), erfc(26)
      const tail: [number, number][] = [
        [2, 0.004677734981047266],
        [5, 1.5374597944280349e-12],
        [10, 2.0884875837625446e-45],
        [26, 5.663192408856143e-296],
        [-3, 1.9999779095030015],
      ];
      expectClose(
        tail.map(([x]) => ref.erfc(x)),
        tail.map(([, v]) => v),
        { atol: 0, rtol: 1e-14 },
        'erfc',
      );
      expectEqual([ref.gelu(-1e4), ref.gelu(1e4), ref.geluGrad(-1e4), ref.geluGrad(1e4)], [-0, 1e4, -0, 1], 'limits');
    },
  },
  {
    name: 'reference gelu backward vs finite differences',
    run: () => {
      const N = 64;
      const x = randomArray(new Rng(7), N, -5, 5);
      const w = randomArray(new Rng(8), N);
      const y = new Float64Array(N);
      const dx = new Float64Array(N);
      ref.geluBackward(dx, w, x, N);
      checkGradFD((v) => (ref.geluForward(y, v, N), dotLoss(y, w)), x, dx, 'gelu dx');
    },
  },
];
