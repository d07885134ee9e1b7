/**
 * l2norm: GPU vs the float64 reference (src/ref/l2norm.ts) for embedding-sized rows (C = 384,
 * 768) and odd ones (C = 37), N = 1 and 5, with large rows, rows under the eps clamp and zero
 * rows; both row kernel variants; the reference backward vs finite differences on both sides
 * of the clamp.
 */
import type { Gpu } from '../../src/gpu/device';
import { l2normBackward, l2normForward } from '../../src/ops/l2norm';
import type { RowVariant } from '../../src/ops/support';
import * as ref from '../../src/ref/l2norm';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, dotLoss, expectClose, f32 } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

/** Row n: 0 plain, 1 values ~1e15, 2 values ~1e-14 (norm under eps = 1e-12), 3 zero, 4 one-hot. */
function makeRows(rng: Rng, N: number, C: number): Float64Array {
  const x = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const u = rng.uniform(-1, 1);
      const v = [u, 1e15 * u, 1e-14 * u, 0, c === 3 ? -2.5 : 0][n % 5];
      x[n * C + c] = Math.fround(v);
    }
  }
  return x;
}

async function l2Case(gpu: Gpu, variant: RowVariant, N: number, C: number) {
  const rng = new Rng(N * 17 + C);
  const x = makeRows(rng, N, C);
  const dy = randomArray(rng, N * C);
  const dx0 = randomArray(rng, N * C);
  const outRef = new Float64Array(N * C);
  const normRef = new Float64Array(N);
  ref.l2normForward(outRef, normRef, x, N, C);
  const dxRef = dx0.slice();
  ref.l2normBackward(dxRef, dy, outRef, normRef, N, C);

  gpu.variants.set('l2norm', variant);
  const gx = gpu.upload(f32(x)),
    gout = gpu.zeros(N * C),
    gnorm = gpu.zeros(N);
  const gdy = gpu.upload(f32(dy)),
    gdx = gpu.upload(f32(dx0));
  try {
    l2normForward(gpu, gout, gnorm, gx, N, C);
    l2normBackward(gpu, gdx, gdy, gout, gnorm, N, C);
    const s = `[${variant}] N=${N} C=${C}`;
    expectClose(await gpu.read(gout), outRef, { atol: 1e-7, rtol: 1e-6 }, `l2norm.fwd out ${s}`);
    expectClose(await gpu.read(gnorm), normRef, { atol: 0, rtol: 1e-6 }, `l2norm.fwd norm ${s}`);
    // clamped rows: dinp = dout / 1e-12 ~ 1e12 (rtol); others ~ |dout| / norm
    expectClose(await gpu.read(gdx), dxRef, { atol: 1e-6, rtol: 1e-5 }, `l2norm.bwd dinp ${s}`);
  } finally {
    gpu.variants.delete('l2norm');
    for (const b of [gx, gout, gnorm, gdy, gdx]) b.destroy();
  }
}

export const gpuCases: GpuCase[] = [];
for (const variant of ['row', 'wg'] as RowVariant[]) {
  for (const [N, C] of [
    [1, 384],
    [1, 768],
    [5, 37],
    [5, 768],
  ]) {
    gpuCases.push({ name: `l2norm [${variant}] N=${N} C=${C}`, run: (g) => l2Case(g, variant, N, C) });
  }
}

export const refCases: RefCase[] = [
  {
    name: 'l2norm reference backward vs finite differences (plain and clamped rows)',
    run: () => {
      const C = 6;
      for (const [scale, h] of [
        [1, 1e-6],
        [1e-14, 1e-20],
      ]) {
        const x = randomArray(new Rng(9), 2 * C).map((v) => v * scale);
        const w = randomArray(new Rng(10), 2 * C);
        const out = new Float64Array(2 * C),
          norm = new Float64Array(2);
        const loss = (v: Float64Array) => (ref.l2normForward(out, norm, v, 2, C), dotLoss(out, w));
        loss(x);
        const dx = new Float64Array(2 * C);
        ref.l2normBackward(dx, w, out, norm, 2, C);
        checkGradFD(loss, x, dx, `dinp (row scale ${scale})`, { h, tol: { atol: 1e-6, rtol: 1e-6 } });
      }
    },
  },
];
