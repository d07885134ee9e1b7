/** CPU reference of src/ops/lora.ts (float64; same names and argument order). */
import type { LoraShape } from '../ops/lora';
import { dropoutForward } from './dropout';

function dropped(x: Float64Array, s: LoraShape): Float64Array {
  if (s.p === 0) return x;
  const xd = new Float64Array(s.N * s.inF);
  dropoutForward(xd, x, s.N * s.inF, s.p, s.seed0, s.seed1);
  return xd;
}

export function loraForward(y: Float64Array, u: Float64Array, x: Float64Array, A: Float64Array, B: Float64Array, s: LoraShape): void {
  const xd = dropped(x, s);
  for (let n = 0; n < s.N; n++) {
    for (let k = 0; k < s.r; k++) {
      let acc = 0;
      for (let i = 0; i < s.inF; i++) acc += xd[n * s.inF + i] * A[k * s.inF + i];
      u[n * s.r + k] = acc;
    }
    for (let o = 0; o < s.outF; o++) {
      let acc = 0;
      for (let k = 0; k < s.r; k++) acc += u[n * s.r + k] * B[o * s.r + k];
      y[n * s.outF + o] += s.scale * acc;
    }
  }
}

export function loraBackward(
  dx: Float64Array | null, dA: Float64Array, dB: Float64Array, dy: Float64Array,
  x: Float64Array, u: Float64Array, A: Float64Array, B: Float64Array, s: LoraShape,
): void {
  const xd = dropped(x, s);
  const gu = new Float64Array(s.N * s.r);
  for (let n = 0; n < s.N; n++) {
    for (let o = 0; o < s.outF; o++) {
      const d = dy[n * s.outF + o];
      for (let k = 0; k < s.r; k++) {
        dB[o * s.r + k] += s.scale * d * u[n * s.r + k];
        gu[n * s.r + k] += s.scale * d * B[o * s.r + k];
      }
    }
  }
  const gx = new Float64Array(s.N * s.inF);
  for (let n = 0; n < s.N; n++) {
    for (let k = 0; k < s.r; k++) {
      const g = gu[n * s.r + k];
      for (let i = 0; i < s.inF; i++) {
        dA[k * s.inF + i] += g * xd[n * s.inF + i];
        gx[n * s.inF + i] += g * A[k * s.inF + i];
      }
    }
  }
  if (dx) dropoutForward(dx, gx, s.N * s.inF, s.p, s.seed0, s.seed1, true);
}
