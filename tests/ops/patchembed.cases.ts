/**
 * patchembed: GPU (im2col + matmul) vs the float64 direct-convolution reference
 * (src/ref/patchembed.ts) on non-square images with leftover pixels, batch 1 and 3, patches
 * written after CLS/register rows of a token buffer (other rows untouched); the reference
 * backward vs finite differences.
 */
import type { Gpu } from '../../src/gpu/device';
import { patchembedBackward, patchembedForward, patchGrid, type PatchembedShape } from '../../src/ops/patchembed';
import * as ref from '../../src/ref/patchembed';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, dotLoss, expectClose, expectThrows, f32 } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

async function patchCase(gpu: Gpu, s: PatchembedShape, withBias = true) {
  const g = patchGrid(s);
  const { B, C } = s;
  const rng = new Rng(s.Himg * 100 + s.Wimg + B);
  const pixels = randomArray(rng, B * 3 * s.Himg * s.Wimg, -3, 3);
  const W = randomArray(rng, C * g.K, -0.1, 0.1);
  const bias = withBias ? randomArray(rng, C) : null;
  const out0 = randomArray(rng, B * g.T * C); // rows outside the patch rows must stay as they are
  const dout = randomArray(rng, B * g.T * C);
  const dW0 = randomArray(rng, C * g.K);
  const db0 = randomArray(rng, C);

  const outRef = out0.slice();
  ref.patchembedForward(outRef, pixels, W, bias, s);
  const dWRef = dW0.slice();
  const dbRef = db0.slice();
  ref.patchembedBackward(dWRef, dbRef, dout, pixels, s);

  const gp = gpu.upload(f32(pixels)),
    gW = gpu.upload(f32(W));
  const gb = bias ? gpu.upload(f32(bias)) : null;
  const gout = gpu.upload(f32(out0)),
    gdout = gpu.upload(f32(dout));
  const gdW = gpu.upload(f32(dW0)),
    gdb = gpu.upload(f32(db0));
  patchembedForward(gpu, gout, gp, gW, gb, s);
  patchembedBackward(gpu, gdW, gdb, gdout, gp, s);
  const name = `B=${B} ${s.Himg}x${s.Wimg} p=${s.patch} C=${C} rowOffset=${g.rowOffset} T=${g.T}`;
  // K-long dot products of |pixel| <= 3 and |w| <= 0.1; sums over B*P rows of |pixel| <= 3
  expectClose(await gpu.read(gout), outRef, { atol: 3e-7 * Math.sqrt(g.K), rtol: 1e-5 }, `patchembed.fwd ${name}`);
  expectClose(
    await gpu.read(gdW),
    dWRef,
    { atol: 3e-6 * Math.sqrt(B * g.P), rtol: 1e-5 },
    `patchembed.bwd dweight ${name}`,
  );
  expectClose(
    await gpu.read(gdb),
    dbRef,
    { atol: 1e-6 * Math.sqrt(B * g.P), rtol: 1e-5 },
    `patchembed.bwd dbias ${name}`,
  );
  for (const b of [gp, gW, gb, gout, gdout, gdW, gdb]) b?.destroy();
}

export const gpuCases: GpuCase[] = [
  // 18x13 at p=4: 4x3 patches, 2 bottom rows and 1 right column of pixels left over
  {
    name: 'patchembed p=4 18x13 B=1, plain [B,P,C]',
    run: (g) => patchCase(g, { B: 1, Himg: 18, Wimg: 13, patch: 4, C: 37 }),
  },
  {
    name: 'patchembed p=4 18x13 B=3 into token rows 5.. of T=19 (CLS + 4 registers first)',
    run: (g) => patchCase(g, { B: 3, Himg: 18, Wimg: 13, patch: 4, C: 37, rowOffset: 5, T: 19 }),
  },
  // 40x35 at p=16: 2x2 patches, 8 bottom rows and 3 right columns left over
  {
    name: 'patchembed p=4 36x37 B=2 rowOffset 1 (81 patches: per-image batched matmul)',
    run: (g) => patchCase(g, { B: 2, Himg: 36, Wimg: 37, patch: 4, C: 20, rowOffset: 1 }),
  },
  {
    name: 'patchembed p=16 40x35 B=3, plain [B,P,C]',
    run: (g) => patchCase(g, { B: 3, Himg: 40, Wimg: 35, patch: 16, C: 24 }),
  },
  {
    name: 'patchembed p=16 40x35 B=1 rowOffset 1, no bias',
    run: (g) => patchCase(g, { B: 1, Himg: 40, Wimg: 35, patch: 16, C: 24, rowOffset: 1 }, false),
  },
  {
    name: 'patchembed p=14 (DINOv2) 30x45 B=2 rowOffset 1, C=64',
    run: (g) => patchCase(g, { B: 2, Himg: 30, Wimg: 45, patch: 14, C: 64, rowOffset: 1, T: 7 }),
  },
  {
    name: 'patchembed refuses images smaller than a patch and rows that do not fit',
    run: async (gpu) => {
      const b = gpu.zeros(4);
      await expectThrows(
        () => patchembedForward(gpu, b, b, b, null, { B: 1, Himg: 15, Wimg: 40, patch: 16, C: 4 }),
        /smaller than one/,
      );
      await expectThrows(
        () => patchembedForward(gpu, b, b, b, null, { B: 1, Himg: 32, Wimg: 32, patch: 16, C: 4, rowOffset: 1, T: 4 }),
        /exceeds T = 4/,
      );
      b.destroy();
    },
  },
];

export const refCases: RefCase[] = [
  {
    name: 'patchembed reference backward vs finite differences',
    run: () => {
      const s: PatchembedShape = { B: 2, Himg: 7, Wimg: 5, patch: 2, C: 3, rowOffset: 1, T: 8 };
      const g = patchGrid(s);
      const rng = new Rng(12);
      const pixels = randomArray(rng, s.B * 3 * s.Himg * s.Wimg);
      const W = randomArray(rng, s.C * g.K),
        bias = randomArray(rng, s.C);
      const w = randomArray(rng, s.B * g.T * s.C);
      const out = new Float64Array(s.B * g.T * s.C);
      const loss = (WW: Float64Array, bb: Float64Array) => {
        ref.patchembedForward(out, pixels, WW, bb, s);
        return dotLoss(out, w);
      };
      const dW = new Float64Array(s.C * g.K),
        db = new Float64Array(s.C);
      ref.patchembedBackward(dW, db, w, pixels, s);
      checkGradFD((v) => loss(v, bias), W, dW, 'dweight');
      checkGradFD((v) => loss(W, v), bias, db, 'dbias');
    },
  },
];
