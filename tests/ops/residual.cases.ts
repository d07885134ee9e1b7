/**
 * residual (+ LayerScale): GPU vs the float64 reference (src/ref/residual.ts), out of place and
 * in place on the residual stream, with and without lambda, large stream values with small
 * lambdas; the reference backward (incl. the dx = dout pass-through) vs finite differences.
 */
import type { Gpu } from '../../src/gpu/device';
import { residualBackward, residualForward } from '../../src/ops/residual';
import * as ref from '../../src/ref/residual';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, dotLoss, expectClose, expectThrows, f32 } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

interface Opts {
  inPlace: boolean;
  withLambda: boolean;
  accumulate: boolean;
  xScale: number;
  lambdaScale: number;
}

async function residualCase(gpu: Gpu, N: number, C: number, o: Opts) {
  const rng = new Rng(N * 31 + C);
  const x = randomArray(rng, N * C, -o.xScale, o.xScale);
  const y = randomArray(rng, N * C, -3, 3);
  const lambda = o.withLambda ? randomArray(rng, C, -o.lambdaScale, o.lambdaScale) : null;
  const dout = randomArray(rng, N * C);
  const dy0 = randomArray(rng, N * C);
  const dl0 = randomArray(rng, C);

  const outRef = new Float64Array(N * C);
  ref.residualForward(outRef, x, y, lambda, N, C);
  const dyRef = dy0.slice();
  const dlRef = dl0.slice();
  ref.residualBackward(dyRef, lambda ? dlRef : null, dout, y, lambda, N, C, o.accumulate);

  const gx = gpu.upload(f32(x)),
    gy = gpu.upload(f32(y));
  const gl = lambda ? gpu.upload(f32(lambda)) : null;
  const gout = o.inPlace ? gx : gpu.zeros(N * C);
  const gdout = gpu.upload(f32(dout)),
    gdy = gpu.upload(f32(dy0)),
    gdl = gpu.upload(f32(dl0));
  residualForward(gpu, gout, gx, gy, gl, N, C);
  residualBackward(gpu, gdy, gl ? gdl : null, gdout, gy, gl, N, C, o.accumulate);
  const s = `N=${N} C=${C} ${JSON.stringify(o)}`;
  // one rounding of lambda*y and one of the sum: within an ulp of the larger operand
  const ulp = 1.2e-7 * Math.max(o.xScale, 3 * (o.withLambda ? o.lambdaScale : 1));
  expectClose(await gpu.read(gout), outRef, { atol: ulp, rtol: 0 }, `residual.fwd out ${s}`);
  expectClose(await gpu.read(gdy), dyRef, { atol: 1e-7, rtol: 2e-7 }, `residual.bwd dy ${s}`);
  if (lambda) {
    // sum over N rows of |dout * y| <= 3
    expectClose(await gpu.read(gdl), dlRef, { atol: 3e-7 * Math.sqrt(N) * 3, rtol: 1e-6 }, `residual.bwd dlambda ${s}`);
  }
  for (const b of [gx, gy, gl, gdout, gdy, gdl]) b?.destroy();
  if (!o.inPlace) gout.destroy();
}

const base: Opts = { inPlace: false, withLambda: true, accumulate: true, xScale: 1, lambdaScale: 1 };

export const gpuCases: GpuCase[] = [
  { name: 'residual N=201 C=37, out of place', run: (g) => residualCase(g, 201, 37, base) },
  {
    name: 'residual N=402 C=384, in place (x += lambda*y)',
    run: (g) => residualCase(g, 402, 384, { ...base, inPlace: true }),
  },
  {
    name: 'residual N=201 C=37, in place, stream ~1e3 with lambda ~1e-5 (LayerScale init)',
    run: (g) => residualCase(g, 201, 37, { ...base, inPlace: true, xScale: 1e3, lambdaScale: 1e-5 }),
  },
  { name: 'residual N=5 C=13, no lambda', run: (g) => residualCase(g, 5, 13, { ...base, withLambda: false }) },
  {
    name: 'residual N=201 C=37, dy overwritten (accumulate = false)',
    run: (g) => residualCase(g, 201, 37, { ...base, accumulate: false }),
  },
  {
    name: 'residual dlambda without lambda is refused',
    run: async (gpu) => {
      const b = gpu.zeros(4);
      const d = gpu.zeros(4);
      await expectThrows(() => residualBackward(gpu, null, d, b, b, null, 1, 4), /dlambda needs lambda/);
      b.destroy();
      d.destroy();
    },
  },
];

export const refCases: RefCase[] = [
  {
    name: 'residual reference backward vs finite differences (dx = dout, dy, dlambda)',
    run: () => {
      const N = 3,
        C = 5;
      const rng = new Rng(2);
      const x = randomArray(rng, N * C),
        y = randomArray(rng, N * C),
        l = randomArray(rng, C);
      const w = randomArray(rng, N * C);
      const out = new Float64Array(N * C);
      const loss = (xx: Float64Array, yy: Float64Array, ll: Float64Array) => {
        ref.residualForward(out, xx, yy, ll, N, C);
        return dotLoss(out, w);
      };
      const dy = new Float64Array(N * C),
        dl = new Float64Array(C);
      ref.residualBackward(dy, dl, w, y, l, N, C);
      checkGradFD((v) => loss(v, y, l), x, w, 'dx (= dout)');
      checkGradFD((v) => loss(x, v, l), y, dy, 'dy');
      checkGradFD((v) => loss(x, y, v), l, dl, 'dlambda');
    },
  },
];
