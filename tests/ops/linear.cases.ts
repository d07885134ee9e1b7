/**
 * linear and matmul: GPU vs float64 CPU reference on awkward shapes, and the reference
 * backward vs finite differences.
 */
import { linearBackward, linearForward } from '../../src/ops/linear';
import { matmul } from '../../src/ops/matmul';
import * as ref from '../../src/ref/linear';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, dotLoss, expectClose, expectThrows, f32 } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

const TOL = { atol: 1e-5, rtol: 1e-4 };

async function linearCase(
  gpu: import('../../src/gpu/device').Gpu,
  N: number,
  Cin: number,
  Cout: number,
  withBias: boolean,
) {
  const rng = new Rng(N * 1000 + Cin * 10 + Cout);
  const x = randomArray(rng, N * Cin);
  const W = randomArray(rng, Cout * Cin);
  const b = withBias ? randomArray(rng, Cout) : null;
  const dy = randomArray(rng, N * Cout);
  const dx0 = randomArray(rng, N * Cin); // backward accumulates: start non-zero
  const dW0 = randomArray(rng, Cout * Cin);
  const db0 = randomArray(rng, Cout);

  const yRef = new Float64Array(N * Cout);
  ref.linearForward(yRef, x, W, b, N, Cin, Cout);
  const dxRef = dx0.slice();
  const dWRef = dW0.slice();
  const dbRef = db0.slice();
  ref.linearBackward(dxRef, dWRef, withBias ? dbRef : null, dy, x, W, N, Cin, Cout);

  const gx = gpu.upload(f32(x));
  const gW = gpu.upload(f32(W));
  const gb = b ? gpu.upload(f32(b)) : null;
  const gy = gpu.zeros(N * Cout);
  const gdy = gpu.upload(f32(dy));
  const gdx = gpu.upload(f32(dx0));
  const gdW = gpu.upload(f32(dW0));
  const gdb = gpu.upload(f32(db0));
  linearForward(gpu, gy, gx, gW, gb, N, Cin, Cout);
  linearBackward(gpu, gdx, gdW, withBias ? gdb : null, gdy, gx, gW, N, Cin, Cout);
  const shape = `N=${N} Cin=${Cin} Cout=${Cout}`;
  // K-length dot products: scale atol with sqrt(K)
  const tol = (K: number) => ({ atol: TOL.atol * Math.sqrt(K), rtol: TOL.rtol });
  expectClose(await gpu.read(gy), yRef, tol(Cin), `linear.fwd y ${shape}`);
  expectClose(await gpu.read(gdx), dxRef, tol(Cout), `linear.bwd dx ${shape}`);
  expectClose(await gpu.read(gdW), dWRef, tol(N), `linear.bwd dW ${shape}`);
  if (withBias) expectClose(await gpu.read(gdb), dbRef, tol(N), `linear.bwd db ${shape}`);
  for (const buf of [gx, gW, gb, gy, gdy, gdx, gdW, gdb]) buf?.destroy();
}

async function matmulCase(
  gpu: import('../../src/gpu/device').Gpu,
  batch: number,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  alpha: number,
) {
  const rng = new Rng(M * 7 + N * 13 + K);
  const A = randomArray(rng, batch * M * K);
  const B = randomArray(rng, batch * K * N);
  const C0 = randomArray(rng, batch * M * N);
  const Cref = C0.slice();
  ref.matmul(Cref, A, B, batch, M, N, K, transA, transB, alpha, true);
  const gA = gpu.upload(f32(A));
  const gB = gpu.upload(f32(B));
  const gC = gpu.upload(f32(C0));
  matmul(gpu, gC, gA, gB, { M, N, K, transA, transB, alpha, accum: true, batch1: batch });
  expectClose(
    await gpu.read(gC),
    Cref,
    { atol: 1e-5 * Math.sqrt(K), rtol: 1e-4 },
    `matmul batch=${batch} ${M}x${N}x${K} tA=${transA} tB=${transB}`,
  );
  gA.destroy();
  gB.destroy();
  gC.destroy();
}

export const gpuCases: GpuCase[] = [
  { name: 'linear 1x1x1', run: (g) => linearCase(g, 1, 1, 1, true) },
  { name: 'linear T=201 (batch 1), C=37 -> 53, no bias', run: (g) => linearCase(g, 201, 37, 53, false) },
  { name: 'linear 2x201 rows, 64 -> 3x64 (qkv-like)', run: (g) => linearCase(g, 402, 64, 192, true) },
  { name: 'linear K tail: 13 rows, 130 -> 7', run: (g) => linearCase(g, 13, 130, 7, true) },
  ...[
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ].map(([tA, tB]) => ({
    name: `matmul batch 3, 33x17x29, transA=${tA} transB=${tB}, alpha 0.5`,
    run: (g: import('../../src/gpu/device').Gpu) => matmulCase(g, 3, 33, 17, 29, tA, tB, 0.5),
  })),
  {
    name: 'matmul with per-head strided slices (attention layout)',
    run: async (gpu) => {
      // Q, K: [B=2, T=9, C=12] with 3 heads of Dh=4. S[b,h] = Q_bh K_bh^T.
      const Bn = 2,
        T = 9,
        H = 3,
        Dh = 4,
        C = H * Dh;
      const rng = new Rng(5);
      const q = randomArray(rng, Bn * T * C);
      const k = randomArray(rng, Bn * T * C);
      const Sref = new Float64Array(Bn * H * T * T);
      for (let b = 0; b < Bn; b++)
        for (let h = 0; h < H; h++)
          for (let i = 0; i < T; i++)
            for (let j = 0; j < T; j++) {
              let s = 0;
              for (let d = 0; d < Dh; d++) s += q[(b * T + i) * C + h * Dh + d] * k[(b * T + j) * C + h * Dh + d];
              Sref[((b * H + h) * T + i) * T + j] = s;
            }
      const gq = gpu.upload(f32(q)),
        gk = gpu.upload(f32(k)),
        gS = gpu.zeros(Bn * H * T * T);
      matmul(gpu, gS, gq, gk, {
        M: T,
        N: T,
        K: Dh,
        transB: true,
        lda: C,
        ldb: C,
        batch1: Bn,
        batch2: H,
        strideA: [T * C, Dh],
        strideB: [T * C, Dh],
      });
      expectClose(await gpu.read(gS), Sref, TOL, 'per-head scores');
    },
  },
  {
    name: 'errors name the op and shapes',
    run: async (gpu) => {
      const small = gpu.zeros(4);
      const x = gpu.zeros(64);
      // An output that is also an operand is refused when recorded, naming the op.
      await expectThrows(
        async () => linearForward(gpu, small, x, small, null, 8, 8, 8),
        /linear\.fwd: the output C is also an operand/,
        'aliasing out and weight',
      );
      // A buffer destroyed before the work runs is a GPU error at flush, naming the op and shapes.
      const w = gpu.zeros(64);
      w.destroy();
      linearForward(gpu, x, gpu.zeros(64), w, null, 8, 8, 8);
      await expectThrows(() => gpu.flush(), /linear\.fwd .*\[8,8\]/, 'destroyed weight');
      small.destroy();
      x.destroy();
    },
  },
];

export const refCases: RefCase[] = [
  {
    name: 'linear reference backward vs finite differences',
    run: () => {
      const N = 3,
        Cin = 5,
        Cout = 4;
      const rng = new Rng(1);
      const x = randomArray(rng, N * Cin),
        W = randomArray(rng, Cout * Cin),
        b = randomArray(rng, Cout);
      const w = randomArray(rng, N * Cout);
      const y = new Float64Array(N * Cout);
      const loss = (xx: Float64Array, WW: Float64Array, bb: Float64Array) => {
        ref.linearForward(y, xx, WW, bb, N, Cin, Cout);
        return dotLoss(y, w);
      };
      const dx = new Float64Array(N * Cin),
        dW = new Float64Array(Cout * Cin),
        db = new Float64Array(Cout);
      ref.linearBackward(dx, dW, db, w, x, W, N, Cin, Cout);
      checkGradFD((v) => loss(v, W, b), x, dx, 'dx');
      checkGradFD((v) => loss(x, v, b), W, dW, 'dW');
      checkGradFD((v) => loss(x, W, v), b, db, 'db');
    },
  },
];
