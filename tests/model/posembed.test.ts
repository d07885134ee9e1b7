/** DINOv2 position-table resize: PyTorch bicubic taps and weights (docs/model.md#position-table reference values). */
import { expect, test } from 'vitest';
import { bicubicTaps, positionInterpMatrix } from '../../src/model/posembed';

/** posN = Interp @ pos, as the GPU computes it. */
function interpolatePosEmbed(pos: Float32Array, G: number, C: number, Hp: number, Wp: number): Float32Array {
  const m = positionInterpMatrix(G, Hp, Wp);
  const T = 1 + Hp * Wp,
    K = 1 + G * G;
  const out = new Float32Array(T * C);
  for (let t = 0; t < T; t++)
    for (let k = 0; k < K; k++) {
      const w = m[t * K + k];
      if (w) for (let c = 0; c < C; c++) out[t * C + c] += w * pos[k * C + c];
    }
  return out;
}

test('37 -> 16 bicubic taps and weights match PyTorch', () => {
  const { idx, w } = bicubicTaps(37, 16);
  expect(idx[0]).toEqual([0, 0, 1, 2]);
  expect(idx[1]).toEqual([1, 2, 3, 4]);
  expect(idx[15]).toEqual([34, 35, 36, 36]);
  const near = (a: number[], b: number[]) => a.forEach((x, i) => expect(Math.abs(x - b[i])).toBeLessThan(1e-6));
  near(w[0], [-0.058159, 0.384285, 0.784904, -0.111031]);
  near(w[1], [-0.00071, 0.024864, 0.997841, -0.021996]);
  near(w[15], [-0.111031, 0.784904, 0.384285, -0.058159]);
});

test('native grid is copied; constant tables stay constant; CLS row untouched', () => {
  const G = 5,
    C = 3;
  const pos = Float32Array.from({ length: (1 + G * G) * C }, (_, i) => i);
  expect([...interpolatePosEmbed(pos, G, C, 5, 5)]).toEqual([...pos]);
  const flat = new Float32Array((1 + G * G) * C).fill(2);
  flat[0] = 9;
  const r = interpolatePosEmbed(flat, G, C, 3, 7);
  expect(r.length).toBe((1 + 21) * C);
  expect(r[0]).toBe(9);
  for (let i = C; i < r.length; i++) expect(Math.abs(r[i] - 2)).toBeLessThan(1e-6); // weights sum to 1
});
