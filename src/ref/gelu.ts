/**
 * CPU reference for exact GELU in float64, with a float64 erf / erfc (same names and argument
 * order as src/ops/gelu.ts; backward adds into dinp).
 *   erf(x), |x| < 2:  2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1))  (all terms
 *                     positive: no cancellation, relative error ~1e-16)
 *   erfc(x), x >= 2:  e^{-x^2}/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
 *                     (continued fraction, modified Lentz), relative error ~1e-15
 * Checked against erf(0.5), erf(1), erf(2), erf(3) and erfc tail values in tests/ops/gelu.cases.ts.
 */

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const INV_SQRT_PI = 0.5641895835477563;
const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 0.3989422804014327;

/** erf(x) for |x| < 2 by the positive series. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** erfc(x) for x >= 2 by the continued fraction. */
function erfcFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let C = f;
  let D = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    D = x + a * D;
    D = 1 / (Math.abs(D) < tiny ? tiny : D);
    C = x + a / C;
    if (Math.abs(C) < tiny) C = tiny;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (Math.exp(-x * x) * INV_SQRT_PI) / f;
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const z = Math.abs(x);
  if (z < 2) return erfSeries(x);
  return Math.sign(x) * (1 - erfcFraction(z));
}

export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 2) return erfcFraction(x);
  if (x <= -2) return 2 - erfcFraction(-x);
  return 1 - erfSeries(x);
}

/** Standard normal CDF, Phi(x) = erfc(-x/sqrt 2) / 2 (relative accuracy for x << 0). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x * INV_SQRT2);
}

export function gelu(x: number): number {
  return x * normalCdf(x);
}

/** d gelu / dx = Phi(x) + x phi(x). */
export function geluGrad(x: number): number {
  return normalCdf(x) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

export function geluForward(out: Float64Array, inp: Float64Array, N: number): void {
  for (let n = 0; n < N; n++) out[n] = gelu(inp[n]);
}

export function geluBackward(
  dinp: Float64Array,
  dout: Float64Array,
  inp: Float64Array,
  N: number,
  accumulate = true,
): void {
  for (let n = 0; n < N; n++) {
    const g = dout[n] * geluGrad(inp[n]);
    dinp[n] = accumulate ? dinp[n] + g : g;
  }
}

export function erfForward(out: Float64Array, inp: Float64Array, N: number): void {
  for (let n = 0; n < N; n++) out[n] = erf(inp[n]);
}

export function erfcForward(out: Float64Array, inp: Float64Array, N: number): void {
  for (let n = 0; n < N; n++) out[n] = erfc(inp[n]);
}
