/**
 * Assertions shared by the Node (vitest) and browser (Playwright) runs of the op checks.
 * They throw plain Errors, so the same cases run anywhere.
 *
 * Tolerance is `atol + rtol * |ref|`, element-wise.
 */
export interface Tol {
  atol: number;
  rtol: number;
}

export function expectClose(actual: ArrayLike<number>, ref: ArrayLike<number>, tol: Tol, what = 'values'): void {
  if (actual.length !== ref.length) {
    throw new Error(`${what}: length ${actual.length} != reference length ${ref.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  let bad = 0;
  for (let i = 0; i < ref.length; i++) {
    const a = actual[i];
    const r = ref[i];
    const lim = tol.atol + tol.rtol * Math.abs(r);
    const err = Math.abs(a - r);
    if (!(err <= lim)) {
      // NaN lands here too
      bad++;
      const excess = Number.isFinite(err) ? err / lim : Infinity;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (bad > 0) {
    throw new Error(
      `${what}: ${bad}/${ref.length} elements outside atol ${tol.atol} + rtol ${tol.rtol}*|ref|; ` +
        `worst at [${worst}]: got ${actual[worst]}, ref ${ref[worst]}`,
    );
  }
}

export function expectEqual<T>(actual: T, expected: T, what = 'value'): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: got ${a}, expected ${e}`);
}

export async function expectThrows(
  fn: () => unknown | Promise<unknown>,
  pattern: RegExp,
  what = 'call',
): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (!pattern.test(msg)) {
      throw new Error(`${what}: threw "${msg}", which does not match ${pattern}`, { cause: e });
    }
    return;
  }
  throw new Error(`${what}: did not throw (expected ${pattern})`);
}

/** Max |a - b| (for reporting). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * Checks an analytic gradient against central finite differences of a scalar function.
 * `f` evaluates the scalar loss from `x` (which it must not keep); `grad` is d f / d x.
 * Checks `count` indices (all when omitted), with step `h` (float64 math, so 1e-6 is fine).
 */
export function checkGradFD(
  f: (x: Float64Array) => number,
  x: Float64Array,
  grad: ArrayLike<number>,
  what: string,
  opts: { h?: number; tol?: Tol; indices?: number[] } = {},
): void {
  const h = opts.h ?? 1e-6;
  const tol = opts.tol ?? { atol: 1e-6, rtol: 1e-5 };
  const idx = opts.indices ?? [...Array(x.length).keys()];
  const fd: number[] = [];
  const an: number[] = [];
  for (const i of idx) {
    const x0 = x[i];
    x[i] = x0 + h;
    const fp = f(x);
    x[i] = x0 - h;
    const fm = f(x);
    x[i] = x0;
    fd.push((fp - fm) / (2 * h));
    an.push(grad[i]);
  }
  expectClose(an, fd, tol, `${what} (analytic vs finite differences)`);
}

/** Sum of out * w: turns a tensor output into a scalar loss for gradient checks. */
export function dotLoss(out: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * w[i];
  return s;
}

export function f32(a: ArrayLike<number>): Float32Array {
  return Float32Array.from(a);
}

export function f64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a);
}

/** Evenly spread sample of indices in [0, n), for finite-difference checks on big tensors. */
export function sampleIndices(n: number, count: number): number[] {
  if (n <= count) return [...Array(n).keys()];
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(Math.floor((i * n) / count));
  return out;
}
