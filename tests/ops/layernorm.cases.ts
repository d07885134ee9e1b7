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
import { readF16, zerosF16 } from '../../src/gpu/f16';
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
        case 0:
          v = 3 * u;
          break;
        case 1:
          v = 1e3 + u;
          break;
        case 2:
          v = 1e3;
          break;
        default:
          v = c === 5 % C ? 300 : u;
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

async function lnCase(gpu: Gpu, variant: RowVariant, kind: 'hard' | 'plain', N: number, C: number, eps: number) {
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
  const gx = gpu.upload(f32(x)),
    gw = gpu.upload(f32(w)),
    gb = gpu.upload(f32(b));
  const gy = gpu.zeros(N * C),
    gst = gpu.zeros(2 * N);
  const gdy = gpu.upload(f32(dy)),
    gdx = gpu.upload(f32(dx0));
  const gdw = gpu.upload(f32(dw0)),
    gdb = gpu.upload(f32(db0));
  try {
    layernormForward(gpu, gy, gst, gx, gw, gb, N, C, eps);
    layernormBackward(gpu, gdx, gdw, gdb, gdy, gx, gw, gst, N, C);
    const s = `[${variant}] ${kind} N=${N} C=${C} eps=${eps}`;
    const st = await gpu.read(gst);
    expectClose(await gpu.read(gy), yRef, tol.out, `layernorm.fwd out ${s}`);
    expectClose(
      st.filter((_, i) => i % 2 === 0),
      mRef,
      tol.mean,
      `layernorm.fwd mean ${s}`,
    );
    expectClose(
      st.filter((_, i) => i % 2 === 1),
      rRef,
      tol.rstd,
      `layernorm.fwd rstd ${s}`,
    );
    expectClose(await gpu.read(gdx), dxRef, tol.dinp, `layernorm.bwd dinp ${s}`);
    expectClose(await gpu.read(gdw), dwRef, tol.dweight, `layernorm.bwd dweight ${s}`);
    expectClose(await gpu.read(gdb), dbRef, tol.dbias, `layernorm.bwd dbias ${s}`);
  } finally {
    gpu.variants.delete('layernorm');
    for (const buf of [gx, gw, gb, gy, gst, gdy, gdx, gdw, gdb]) buf.destroy();
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
    {
      name: `layernorm [${variant}] N=201 C=37 eps=1e-5, hard rows`,
      run: (g) => lnCase(g, variant, 'hard', 201, 37, 1e-5),
    },
    {
      name: `layernorm [${variant}] N=402 C=384 eps=1e-6, hard rows`,
      run: (g) => lnCase(g, variant, 'hard', 402, 384, 1e-6),
    },
    {
      name: `layernorm [${variant}] N=402 C=384 eps=1e-5, plain rows`,
      run: (g) => lnCase(g, variant, 'plain', 402, 384, 1e-5),
    },
  );
}
gpuCases.push(
  { name: 'layernorm N=3 C=1 (variance 0)', run: (g) => lnCase(g, 'row', 'hard', 3, 1, 1e-5) },
  { name: 'layernorm [wg] N=5 C=130 (C past the workgroup)', run: (g) => lnCase(g, 'wg', 'hard', 5, 130, 1e-5) },
  {
    name: 'layernorm backward with frozen weight / bias (null gradients) and dinp null',
    run: async (gpu) => {
      const N = 9,
        C = 37,
        eps = 1e-6;
      const rng = new Rng(21);
      const x = randomArray(rng, N * C, -2, 2),
        w = randomArray(rng, C),
        b = randomArray(rng, C);
      const dy = randomArray(rng, N * C);
      const y = new Float64Array(N * C),
        m = new Float64Array(N),
        r = new Float64Array(N);
      ref.layernormForward(y, m, r, x, w, b, N, C, eps);
      const dx = new Float64Array(N * C),
        dw = new Float64Array(C),
        db = new Float64Array(C);
      ref.layernormBackward(dx, dw, db, dy, x, w, m, r, N, C);
      const gx = gpu.upload(f32(x)),
        gw = gpu.upload(f32(w)),
        gb = gpu.upload(f32(b));
      const gy = gpu.zeros(N * C),
        gst = gpu.zeros(2 * N),
        gdy = gpu.upload(f32(dy));
      const gdx = gpu.zeros(N * C),
        gdw = gpu.zeros(C),
        gdb = gpu.zeros(C);
      layernormForward(gpu, gy, gst, gx, gw, gb, N, C, eps);
      layernormBackward(gpu, gdx, null, null, gdy, gx, gw, gst, N, C); // LoRA: frozen LN
      layernormBackward(gpu, null, gdw, null, gdy, gx, gw, gst, N, C);
      layernormBackward(gpu, null, null, gdb, gdy, gx, gw, gst, N, C);
      expectClose(await gpu.read(gdx), dx, TOL.dinp, 'dinp alone');
      expectClose(await gpu.read(gdw), dw, TOL.dweight, 'dweight alone');
      expectClose(await gpu.read(gdb), db, TOL.dbias, 'dbias alone');
      for (const buf of [gx, gw, gb, gy, gst, gdy, gdx, gdw, gdb]) buf.destroy();
    },
  },
);

/**
 * LayerNorm with the LoRA adapters that read its output fused in (the q|k|v group: adapters on
 * q and v of a [N, 3C] fused linear; or one adapter, fc1-like, with a wider output), with and
 * without dropout, vs the reference (which composes the plain pieces).
 */
async function lnLoraCase(
  gpu: Gpu,
  variant: RowVariant,
  N: number,
  C: number,
  rs: number[],
  outF: number,
  cols: number[],
  p: number,
  f16 = false,
): Promise<void> {
  const rng = new Rng(N * 31 + C + rs.length);
  const R = rs.reduce((a, b) => a + b, 0);
  const ldy = Math.max(...cols) + outF;
  const segs = rs.map((r, i) => {
    const r0 = rs.slice(0, i).reduce((a, b) => a + b, 0);
    return { r0, r1: r0 + r, scale: 2 / (i + 1), seed1: 17 + i, col0: cols[i] };
  });
  const dropout = p > 0 ? { p, seed0: 99, base: 3 * C } : null;
  const x = randomArray(rng, N * C, -2, 2),
    w = randomArray(rng, C, 0.5, 1.5),
    b = randomArray(rng, C);
  const A = randomArray(rng, R * C),
    B = randomArray(rng, ldy * R);
  const dy = randomArray(rng, N * ldy),
    dout = randomArray(rng, N * C),
    dx0 = randomArray(rng, N * C);
  const base = { A, B, R, outF, segs, dropout };
  const y = new Float64Array(N * C),
    m = new Float64Array(N),
    r = new Float64Array(N),
    u = new Float64Array(N * R);
  ref.layernormForward(y, m, r, x, w, b, N, C, 1e-5, { ...base, u });
  const dxRef = dx0.slice(),
    doutRef = dout.slice(),
    gu = new Float64Array(N * R);
  ref.layernormBackward(dxRef, null, null, doutRef, x, w, m, r, N, C, { ...base, dy, ldy, gu });

  // the arena: some padding, A, then B
  const offA = 5,
    offB = offA + R * C + 3;
  const P = new Float64Array(offB + ldy * R);
  P.set(A, offA);
  P.set(B, offB);
  gpu.variants.set('layernorm', variant);
  const bufs = [x, w, b, P, dy, dout, dx0].map((a) => gpu.upload(f32(a)));
  const [gx, gw, gb, gP, gdy, gdout, gdx] = bufs;
  const gy = f16 ? zerosF16(gpu, N * C) : gpu.zeros(N * C),
    gst = gpu.zeros(2 * N),
    gu2 = gpu.zeros(N * R),
    ggu = gpu.zeros(N * R);
  const lora = { P: gP, offA, offB, R, outF, segs, dropout };
  try {
    layernormForward(gpu, gy, gst, gx, gw, gb, N, C, 1e-5, { ...lora, u: gu2 });
    layernormBackward(gpu, gdx, null, null, gdout, gx, gw, gst, N, C, { ...lora, dy: gdy, ldy, gu: ggu });
    const what = `[${variant}] N=${N} C=${C} ranks ${rs} p=${p}${f16 ? ' f16 out' : ''}`;
    const tol = { atol: 2e-5 * Math.sqrt(C), rtol: 1e-4 };
    expectClose(
      f16 ? await readF16(gpu, gy) : await gpu.read(gy),
      y,
      f16 ? { atol: 1e-3, rtol: 1e-3 } : TOL.out,
      `layernorm.fwd+lora out ${what}`,
    );
    expectClose(await gpu.read(gu2), u, tol, `layernorm.fwd+lora u ${what}`);
    expectClose(await gpu.read(ggu), gu, { atol: 2e-5 * Math.sqrt(outF), rtol: 1e-4 }, `layernorm.bwd+lora gu ${what}`);
    expectClose(await gpu.read(gdout), doutRef, tol, `layernorm.bwd+lora dout (in place) ${what}`);
    expectClose(await gpu.read(gdx), dxRef, { atol: 1e-4, rtol: 1e-4 }, `layernorm.bwd+lora dinp ${what}`);
  } finally {
    gpu.variants.delete('layernorm');
    for (const buf of [...bufs, gy, gst, gu2, ggu]) buf.destroy();
  }
}

for (const variant of ['row', 'wg'] as RowVariant[]) {
  gpuCases.push(
    {
      name: `layernorm+lora [${variant}] q,v adapters of a fused q|k|v, dropout`,
      run: (g) => lnLoraCase(g, variant, 37, 24, [4, 4], 24, [0, 48], 0.2),
    },
    {
      name: `layernorm+lora [${variant}] q,k,v ranks 3,20,1, no dropout`,
      run: (g) => lnLoraCase(g, variant, 9, 40, [3, 20, 1], 40, [0, 40, 80], 0),
    },
    {
      name: `layernorm+lora [${variant}] one adapter, wider output (fc1)`,
      run: (g) => lnLoraCase(g, variant, 13, 16, [8], 64, [0], 0.1),
    },
    {
      name: `layernorm+lora [${variant}] packed-f16 output (fp16 path)`,
      run: (g) => lnLoraCase(g, variant, 11, 24, [4, 4], 24, [0, 48], 0.2, true),
    },
  );
}

export const refCases: RefCase[] = [
  {
    name: 'layernorm reference backward vs finite differences',
    run: () => {
      const N = 4,
        C = 7,
        eps = 1e-5;
      const rng = new Rng(11);
      const x = randomArray(rng, N * C, -2, 2);
      for (let c = 0; c < C; c++) x[C + c] += 50; // an offset row
      const w = randomArray(rng, C),
        b = randomArray(rng, C),
        dy = randomArray(rng, N * C);
      const y = new Float64Array(N * C),
        m = new Float64Array(N),
        r = new Float64Array(N);
      const loss = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => {
        ref.layernormForward(y, m, r, xx, ww, bb, N, C, eps);
        return dotLoss(y, dy);
      };
      loss(x, w, b);
      const dx = new Float64Array(N * C),
        dw = new Float64Array(C),
        db = new Float64Array(C);
      ref.layernormBackward(dx, dw, db, dy, x, w, m, r, N, C);
      checkGradFD((v) => loss(v, w, b), x, dx, 'dinp', { indices: sampleIndices(N * C, N * C) });
      checkGradFD((v) => loss(x, v, b), w, dw, 'dweight');
      checkGradFD((v) => loss(x, w, v), b, db, 'dbias');
    },
  },
];
