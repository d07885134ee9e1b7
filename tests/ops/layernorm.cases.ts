/**
 * layernorm: GPU vs the float64 reference (src/ref/layernorm.ts) on awkward shapes (C = 37 and
 * 384, N = 201 and 2*201) with rows whose mean dwarfs their spread (mean 1e3, spread 1), where
 * E[x^2] - E[x]^2 in f32 fails, constant rows (variance 0) and outlier channels; both row
 * kernel variants; the reference backward vs finite differences.
 */
import type { Gpu } from '../../src/gpu/device';
import { layernormBackward, layernormForward } from '../../src/ops/layernorm';
import type { RowVariant } from '../../src/ops/support';
import * as ref from '../../src/ref/layernorm';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, dotLoss, expectClose, f32, sampleIndices, type Tol } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

/**
 * 'hard': rows cycling through plain, offset 1e3 with spread 1, constant 1e3, one outlier
 * channel. 'plain': uniform in [-3, 3].
 */
function makeRows(rng: Rng, N: number, C: number, kind: 'hard' | 'plain'): Float64Array {
  const x = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const u = rng.uniform(-1, 1);
      let v: number;
      switch (kind === 'plain' ? 0 : n % 4) {
        case 0: v = 3 * u; break;
        case 1: v = 1e3 + u; break;
        case 2: v = 1e3; break;
        default: v = c === 5 % C ? 300 : u;
      }
      x[n * C + c] = Math.fround(v);
    }
  }
  return x;
}

/** E[x^2] - E[x]^2 in f32 on row 1 (offset 1e3): shows the data defeats the one-pass formula. */
function naiveVarianceError(x: Float64Array, C: number): number {
  let s = 0;
  let s2 = 0;
  for (let c = 0; c < C; c++) {
    s = Math.fround(s + x[C + c]);
    s2 = Math.fround(s2 + Math.fround(x[C + c] * x[C + c]));
  }
  const m = Math.fround(s / C);
  const naive = Math.fround(Math.fround(s2 / C) - Math.fround(m * m));
  let m64 = 0;
  for (let c = 0; c < C; c++) m64 += x[C + c];
  m64 /= C;
  let v = 0;
  for (let c = 0; c < C; c++) v += (x[C + c] - m64) ** 2;
  v /= C;
  return Math.abs(naive - v) / v;
}

type Field = 'out' | 'mean' | 'rstd' | 'dinp' | 'dweight' | 'dbias';

async function lnCase(
  gpu: Gpu, variant: RowVariant, kind: 'hard' | 'plain', N: number, C: number, eps: number,
) {
  const rng = new Rng(N * 7 + C);
  const x = makeRows(rng, N, C, kind);
  const tol = kind === 'hard' ? TOL_HARD : TOL;
  if (kind === 'hard' && N > 1 && C > 8 && naiveVarianceError(x, C) < 0.01) {
    throw new Error('test data too easy: the naive f32 variance is within 1%');
  }
  const w = Float64Array.from(randomArray(rng, C), (v) => Math.fround(1 + 0.5 * v));
  const b = randomArray(rng, C);
  const dy = randomArray(rng, N * C);
  const dx0 = randomArray(rng, N * C); // backward accumulates: start non-zero
  const dw0 = randomArray(rng, C);
  const db0 = randomArray(rng, C);

  const yRef = new Float64Array(N * C);
  const mRef = new Float64Array(N);
  const rRef = new Float64Array(N);
  ref.layernormForward(yRef, mRef, rRef, x, w, b, N, C, eps);
  const dxRef = dx0.slice();
  const dwRef = dw0.slice();
  const dbRef = db0.slice();
  ref.layernormBackward(dxRef, dwRef, dbRef, dy, x, w, mRef, rRef, N, C);

  gpu.variants.set('layernorm', variant);
  const gx = gpu.upload(f32(x)), gw = gpu.upload(f32(w)), gb = gpu.upload(f32(b));
  const gy = gpu.zeros(N * C), gm = gpu.zeros(N), gr = gpu.zeros(N);
  const gdy = gpu.upload(f32(dy)), gdx = gpu.upload(f32(dx0));
  const gdw = gpu.upload(f32(dw0)), gdb = gpu.upload(f32(db0));
  try {
    layernormForward(gpu, gy, gm, gr, gx, gw, gb, N, C, eps);
    layernormBackward(gpu, gdx, gdw, gdb, gdy, gx, gw, gm, gr, N, C);
    const s = `[${variant}] ${kind} N=${N} C=${C} eps=${eps}`;
    expectClose(await gpu.read(gy), yRef, tol.out, `layernorm.fwd out ${s}`);
    expectClose(await gpu.read(gm), mRef, tol.mean, `layernorm.fwd mean ${s}`);
    expectClose(await gpu.read(gr), rRef, tol.rstd, `layernorm.fwd rstd ${s}`);
    expectClose(await gpu.read(gdx), dxRef, tol.dinp, `layernorm.bwd dinp ${s}`);
    expectClose(await gpu.read(gdw), dwRef, tol.dweight, `layernorm.bwd dweight ${s}`);
    expectClose(await gpu.read(gdb), dbRef, tol.dbias, `layernorm.bwd dbias ${s}`);
  } finally {
    gpu.variants.delete('layernorm');
    for (const buf of [gx, gw, gb, gy, gm, gr, gdy, gdx, gdw, gdb]) buf.destroy();
  }
}

const TOL: Record<Field, Tol> = {
  out: { atol: 1e-5, rtol: 1e-5 },
  mean: { atol: 1e-6, rtol: 1e-6 },
  rstd: { atol: 0, rtol: 1e-5 },
  dinp: { atol: 1e-5, rtol: 1e-4 },
  dweight: { atol: 2e-5, rtol: 1e-4 },
  dbias: { atol: 1e-5, rtol: 1e-5 },
};
// Rows at mean 1e3 with spread 1: the saved f32 mean is rounded by up to 3e-5 (half an ulp of
// 1e3, as coarse as the f32 inputs themselves), which shifts the backward's xh of the whole row
// by 3e-5 * rstd = 5e-5; summed over ~100 such rows into dweight that is up to ~5e-4.
// Constant rows have rstd = 1/sqrt(eps) ~ 1e3, so their dinp is ~1e3 (rtol covers it).
const TOL_HARD: Record<Field, Tol> = { ...TOL, dinp: { atol: 1e-4, rtol: 1e-4 }, dweight: { atol: 1e-3, rtol: 1e-4 } };

export const gpuCases: GpuCase[] = [];
for (const variant of ['row', 'wg'] as RowVariant[]) {
  gpuCases.push(
    { name: `layernorm [${variant}] N=201 C=37 eps=1e-5, hard rows`, run: (g) => lnCase(g, variant, 'hard', 201, 37, 1e-5) },
    { name: `layernorm [${variant}] N=402 C=384 eps=1e-6, hard rows`, run: (g) => lnCase(g, variant, 'hard', 402, 384, 1e-6) },
    { name: `layernorm [${variant}] N=402 C=384 eps=1e-5, plain rows`, run: (g) => lnCase(g, variant, 'plain', 402, 384, 1e-5) },
  );
}
gpuCases.push(
  { name: 'layernorm N=3 C=1 (variance 0)', run: (g) => lnCase(g, 'row', 'hard', 3, 1, 1e-5) },
  { name: 'layernorm [wg] N=5 C=130 (C past the workgroup)', run: (g) => lnCase(g, 'wg', 'hard', 5, 130, 1e-5) },
  {
    name: 'layernorm backward with frozen weight / bias (null gradients) and dinp null',
    run: async (gpu) => {
      const N = 9, C = 37, eps = 1e-6;
      const rng = new Rng(21);
      const x = randomArray(rng, N * C, -2, 2), w = randomArray(rng, C), b = randomArray(rng, C);
      const dy = randomArray(rng, N * C);
      const y = new Float64Array(N * C), m = new Float64Array(N), r = new Float64Array(N);
      ref.layernormForward(y, m, r, x, w, b, N, C, eps);
      const dx = new Float64Array(N * C), dw = new Float64Array(C), db = new Float64Array(C);
      ref.layernormBackward(dx, dw, db, dy, x, w, m, r, N, C);
      const gx = gpu.upload(f32(x)), gw = gpu.upload(f32(w)), gb = gpu.upload(f32(b));
      const gy = gpu.zeros(N * C), gm = gpu.zeros(N), gr = gpu.zeros(N), gdy = gpu.upload(f32(dy));
      const gdx = gpu.zeros(N * C), gdw = gpu.zeros(C), gdb = gpu.zeros(C);
      layernormForward(gpu, gy, gm, gr, gx, gw, gb, N, C, eps);
      layernormBackward(gpu, gdx, null, null, gdy, gx, gw, gm, gr, N, C); // LoRA: frozen LN
      layernormBackward(gpu, null, gdw, null, gdy, gx, gw, gm, gr, N, C);
      layernormBackward(gpu, null, null, gdb, gdy, gx, gw, gm, gr, N, C);
      expectClose(await gpu.read(gdx), dx, TOL.dinp, 'dinp alone');
      expectClose(await gpu.read(gdw), dw, TOL.dweight, 'dweight alone');
      expectClose(await gpu.read(gdb), db, TOL.dbias, 'dbias alone');
      for (const buf of [gx, gw, gb, gy, gm, gr, gdy, gdx, gdw, gdb]) buf.destroy();
    },
  },
);

export const refCases: RefCase[] = [
  {
    name: 'layernorm reference backward vs finite differences',
    run: () => {
      const N = 4, C = 7, eps = 1e-5;
      const rng = new Rng(11);
      const x = randomArray(rng, N * C, -2, 2);
      for (let c = 0; c < C; c++) x[C + c] += 50; // an offset row
      const w = randomArray(rng, C), b = randomArray(rng, C), dy = randomArray(rng, N * C);
      const y = new Float64Array(N * C), m = new Float64Array(N), r = new Float64Array(N);
      const loss = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => {
        ref.layernormForward(y, m, r, xx, ww, bb, N, C, eps);
        return dotLoss(y, dy);
      };
      loss(x, w, b);
      const dx = new Float64Array(N * C), dw = new Float64Array(C), db = new Float64Array(C);
      ref.layernormBackward(dx, dw, db, dy, x, w, m, r, N, C);
      checkGradFD((v) => loss(v, w, b), x, dx, 'dinp', { indices: sampleIndices(N * C, N * C) });
      checkGradFD((v) => loss(x, v, b), w, dw, 'dweight');
      checkGradFD((v) => loss(x, w, v), b, db, 'dbias');
    },
  },
];
