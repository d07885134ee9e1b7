/** tokens: prefix rows, position add and row gather vs the reference (exact: copies and one add). */
import type { Gpu } from '../../src/gpu/device';
import * as ops from '../../src/ops/tokens';
import * as ref from '../../src/ref/tokens';
import { Rng, randomArray } from '../../src/util/random';
import { expectClose, f32 } from '../helpers/check';
import type { GpuCase } from '../helpers/cases';

async function check(gpu: Gpu, B: number, T: number, C: number, R: number) {
  const rng = new Rng(B * 100 + T + C);
  const X = randomArray(rng, B * T * C);
  const src = randomArray(rng, R * C);
  const pos = randomArray(rng, T * C);
  const gX = gpu.upload(f32(X)),
    gsrc = gpu.upload(f32(src)),
    gpos = gpu.upload(f32(pos)),
    gout = gpu.zeros(B * C);
  const rX = X.slice();
  ops.tokensPrefix(gpu, gX, gsrc, B, T, C, R);
  ref.tokensPrefix(rX, src, B, T, C, R);
  ops.tokensAddPos(gpu, gX, gpos, B, T, C);
  ref.tokensAddPos(rX, pos, B, T, C);
  const row = Math.min(2, T - 1);
  ops.tokensGather(gpu, gout, gX, B, T, C, row);
  const rout = new Float64Array(B * C);
  ref.tokensGather(rout, rX, B, T, C, row);
  expectClose(await gpu.read(gX), rX, { atol: 1e-7, rtol: 1e-7 }, `tokens X B=${B} T=${T} C=${C}`);
  expectClose(await gpu.read(gout), rout, { atol: 1e-7, rtol: 1e-7 }, 'tokens gather');
  ops.tokensScatter(gpu, gX, gout, B, T, C, 0);
  ref.tokensScatter(rX, rout, B, T, C, 0);
  expectClose(await gpu.read(gX), rX, { atol: 1e-7, rtol: 1e-7 }, 'tokens scatter');
  for (const b of [gX, gsrc, gpos, gout]) b.destroy();
}

export const gpuCases: GpuCase[] = [
  { name: 'tokens B=1 T=201 C=37 R=5', run: (g) => check(g, 1, 201, 37, 5) },
  { name: 'tokens B=3 T=17 C=64 R=1', run: (g) => check(g, 3, 17, 64, 1) },
];
