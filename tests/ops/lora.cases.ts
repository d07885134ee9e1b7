/** lora: GPU vs float64 reference (with and without dropout) and reference backward vs finite differences. */
import type { Gpu } from '../../src/gpu/device';
import { loraBackward, loraForward, type LoraShape } from '../../src/ops/lora';
import * as ref from '../../src/ref/lora';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, dotLoss, expectClose, f32 } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

function shape(N: number, inF: number, outF: number, r: number, p: number): LoraShape {
  return { N, inF, outF, r, scale: 8 / r, p, seed0: 11, seed1: 3 };
}

async function check(gpu: Gpu, s: LoraShape) {
  const rng = new Rng(s.N + s.inF * 3 + s.r);
  const x = randomArray(rng, s.N * s.inF), A = randomArray(rng, s.r * s.inF), B = randomArray(rng, s.outF * s.r);
  const y0 = randomArray(rng, s.N * s.outF), dy = randomArray(rng, s.N * s.outF);
  const dx0 = randomArray(rng, s.N * s.inF), dA0 = randomArray(rng, s.r * s.inF), dB0 = randomArray(rng, s.outF * s.r);
  const y = y0.slice(), u = new Float64Array(s.N * s.r);
  ref.loraForward(y, u, x, A, B, s);
  const dx = dx0.slice(), dA = dA0.slice(), dB = dB0.slice();
  ref.loraBackward(dx, dA, dB, dy, x, u, A, B, s);
  const g = (a: Float64Array) => gpu.upload(f32(a));
  const gx = g(x), gA = g(A), gB = g(B), gy = g(y0), gu = gpu.zeros(s.N * s.r), gdy = g(dy), gdx = g(dx0), gdA = g(dA0), gdB = g(dB0);
  loraForward(gpu, gy, gu, gx, gA, gB, s);
  loraBackward(gpu, gdx, gdA, gdB, gdy, gx, gu, gA, gB, s);
  const tol = (K: number) => ({ atol: 1e-5 * Math.sqrt(K) * s.scale, rtol: 1e-4 });
  const what = `lora N=${s.N} ${s.inF}->${s.outF} r=${s.r} p=${s.p}`;
  expectClose(await gpu.read(gy), y, tol(s.inF), `${what} y`);
  expectClose(await gpu.read(gu), u, tol(s.inF), `${what} u`);
  expectClose(await gpu.read(gdx), dx, tol(s.outF), `${what} dx`);
  expectClose(await gpu.read(gdA), dA, tol(s.N * s.outF), `${what} dA`);
  expectClose(await gpu.read(gdB), dB, tol(s.N * s.inF), `${what} dB`);
  for (const b of [gx, gA, gB, gy, gu, gdy, gdx, gdA, gdB]) b.destroy();
}

export const gpuCases: GpuCase[] = [
  { name: 'lora N=201 37->53 r=4, no dropout', run: (g) => check(g, shape(201, 37, 53, 4, 0)) },
  { name: 'lora N=2x201 64->64 r=16, dropout 0.1', run: (g) => check(g, shape(402, 64, 64, 16, 0.1)) },
  { name: 'lora N=1 5->3 r=1, dropout 0.5', run: (g) => check(g, shape(1, 5, 3, 1, 0.5)) },
];

export const refCases: RefCase[] = [
  {
    name: 'lora reference backward vs finite differences (with dropout)',
    run: () => {
      const s = shape(3, 5, 4, 2, 0.3);
      const rng = new Rng(2);
      const x = randomArray(rng, s.N * s.inF), A = randomArray(rng, s.r * s.inF), B = randomArray(rng, s.outF * s.r);
      const w = randomArray(rng, s.N * s.outF);
      const loss = (xx: Float64Array, AA: Float64Array, BB: Float64Array) => {
        const y = new Float64Array(s.N * s.outF);
        ref.loraForward(y, new Float64Array(s.N * s.r), xx, AA, BB, s);
        return dotLoss(y, w);
      };
      const u = new Float64Array(s.N * s.r);
      ref.loraForward(new Float64Array(s.N * s.outF), u, x, A, B, s);
      const dx = new Float64Array(x.length), dA = new Float64Array(A.length), dB = new Float64Array(B.length);
      ref.loraBackward(dx, dA, dB, w, x, u, A, B, s);
      checkGradFD((v) => loss(v, A, B), x, dx, 'dx');
      checkGradFD((v) => loss(x, v, B), A, dA, 'dA');
      checkGradFD((v) => loss(x, A, v), B, dB, 'dB');
    },
  },
];
