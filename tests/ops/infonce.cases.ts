/**
 * infonce: GPU forward (loss) and backward (dq, dp, accumulated) vs the float64 reference on
 * random unit vectors, B = 1, 5, 33 and D = 37, 64, with and without (repeated) labels,
 * one or both directions, and large logits (tau = 0.01, identical vectors). The reference
 * backward is checked against finite differences.
 * Tolerance (logit errors scale with 1/tau, so atol does too): loss atol 2e-6 * (0.05/tau) +
 * rtol 1e-5; dq, dp atol 2e-5 * (0.05/tau) + rtol 1e-4.
 */
import type { Gpu } from '../../src/gpu/device';
import { infonceBackward, infonceForward, infonceScratch, type InfonceOpts } from '../../src/ops/infonce';
import * as ref from '../../src/ref/infonce';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, expectClose, f32 } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

/** B unit vectors of dimension D (float64 values exactly representable in f32). */
function unitRows(rng: Rng, B: number, D: number): Float64Array {
  const x = new Float64Array(B * D);
  for (let i = 0; i < B; i++) {
    let n = 0;
    for (let d = 0; d < D; d++) {
      const v = rng.normal();
      x[i * D + d] = v;
      n += v * v;
    }
    for (let d = 0; d < D; d++) x[i * D + d] = Math.fround(x[i * D + d] / Math.sqrt(n));
  }
  return x;
}

interface CaseOpts extends InfonceOpts {
  /** Number of distinct labels (repeats when < B); omitted: no labels. */
  classes?: number;
  /** All q and p rows are the same vector. */
  identical?: boolean;
}

async function infonceCase(gpu: Gpu, B: number, D: number, o: CaseOpts) {
  const rng = new Rng(B * 100 + D + (o.classes ?? 0) * 7);
  let q: Float64Array, p: Float64Array;
  if (o.identical) {
    const v = unitRows(rng, 1, D);
    q = new Float64Array(B * D).map((_, k) => v[k % D]);
    p = q.slice();
  } else {
    q = unitRows(rng, B, D);
    p = unitRows(rng, B, D);
  }
  const labels = o.classes ? Uint32Array.from({ length: B }, () => rng.int(o.classes!)) : null;
  const dq0 = randomArray(rng, B * D); // the backward accumulates: start non-zero
  const dp0 = randomArray(rng, B * D);

  const rs = ref.infonceScratch(B);
  const lossRef = new Float64Array(1);
  ref.infonceForward(lossRef, rs, q, p, labels, B, D, o);
  const dqRef = dq0.slice();
  const dpRef = dp0.slice();
  ref.infonceBackward(dqRef, dpRef, rs, q, p, labels, B, D, o);

  const gq = gpu.upload(f32(q));
  const gp = gpu.upload(f32(p));
  const gl = labels ? gpu.upload(labels) : null;
  const gloss = gpu.zeros(1);
  const gdq = gpu.upload(f32(dq0));
  const gdp = gpu.upload(f32(dp0));
  const gs = infonceScratch(gpu, B);
  infonceForward(gpu, gloss, gs, gq, gp, gl, B, D, o);
  infonceBackward(gpu, gdq, gdp, gs, gq, gp, gl, B, D, o);

  const tau = o.tau ?? 0.05;
  const k = 0.05 / tau; // logit magnitudes (and their f32 errors) scale with 1/tau
  const what = `infonce B=${B} D=${D} tau=${tau} labels=${o.classes ?? '-'} bidir=${o.bidirectional ?? false}`;
  const loss = await gpu.read(gloss);
  if (!Number.isFinite(loss[0])) throw new Error(`${what}: loss ${loss[0]} is not finite`);
  expectClose(loss, lossRef, { atol: 2e-6 * k, rtol: 1e-5 }, `${what} loss`);
  const gradTol = { atol: 2e-5 * k, rtol: 1e-4 };
  expectClose(await gpu.read(gdq), dqRef, gradTol, `${what} dq`);
  expectClose(await gpu.read(gdp), dpRef, gradTol, `${what} dp`);
  for (const b of [gq, gp, gl, gloss, gdq, gdp, gs.logits, gs.stats, gs.dlogits]) b?.destroy();
}

export const gpuCases: GpuCase[] = [
  { name: 'infonce B=1 D=37', run: (g) => infonceCase(g, 1, 37, {}) },
  {
    name: 'infonce B=1 D=37 labels, bidirectional sum',
    run: (g) => infonceCase(g, 1, 37, { classes: 1, bidirectional: 'sum' }),
  },
  { name: 'infonce B=5 D=64', run: (g) => infonceCase(g, 5, 64, {}) },
  {
    name: 'infonce B=5 D=64 repeated labels, bidirectional mean',
    run: (g) => infonceCase(g, 5, 64, { classes: 2, bidirectional: true }),
  },
  { name: 'infonce B=33 D=37', run: (g) => infonceCase(g, 33, 37, {}) },
  {
    name: 'infonce B=33 D=37 bidirectional mean, dlossScale 2.5',
    run: (g) => infonceCase(g, 33, 37, { bidirectional: 'mean', dlossScale: 2.5 }),
  },
  { name: 'infonce B=33 D=64 repeated labels', run: (g) => infonceCase(g, 33, 64, { classes: 5 }) },
  {
    name: 'infonce B=33 D=64 repeated labels, bidirectional sum, tau 0.1',
    run: (g) => infonceCase(g, 33, 64, { classes: 5, bidirectional: 'sum', tau: 0.1 }),
  },
  {
    name: 'infonce large logits: tau 0.01, identical vectors (loss = log B), finite',
    run: async (g) => {
      await infonceCase(g, 33, 64, { tau: 0.01, identical: true });
      await infonceCase(g, 5, 37, { tau: 0.01, identical: true, classes: 2, bidirectional: 'sum' });
    },
  },
  {
    name: 'infonce large logits: tau 0.01, random vectors (near one-hot softmax)',
    run: (g) => infonceCase(g, 33, 37, { tau: 0.01, bidirectional: true, classes: 7 }),
  },
];

function fdCase(B: number, D: number, o: InfonceOpts & { classes?: number }) {
  const rng = new Rng(B + D);
  const q = unitRows(rng, B, D);
  const p = unitRows(rng, B, D);
  const labels = o.classes ? Uint32Array.from({ length: B }, () => rng.int(o.classes!)) : null;
  const s = ref.infonceScratch(B);
  const loss = new Float64Array(1);
  const f = (qq: Float64Array, pp: Float64Array) => {
    ref.infonceForward(loss, s, qq, pp, labels, B, D, o);
    return loss[0] * (o.dlossScale ?? 1);
  };
  f(q, p);
  const dq = new Float64Array(B * D),
    dp = new Float64Array(B * D);
  ref.infonceBackward(dq, dp, s, q, p, labels, B, D, o);
  const tol = { tol: { atol: 1e-6, rtol: 1e-5 } };
  checkGradFD((v) => f(v, p), q, dq, `infonce dq ${JSON.stringify(o)}`, tol);
  checkGradFD((v) => f(q, v), p, dp, `infonce dp ${JSON.stringify(o)}`, tol);
}

export const refCases: RefCase[] = [
  { name: 'infonce reference backward vs finite differences', run: () => fdCase(4, 5, {}) },
  {
    name: 'infonce reference backward vs FD: labels, bidirectional mean',
    run: () => fdCase(6, 3, { classes: 3, bidirectional: true }),
  },
  {
    name: 'infonce reference backward vs FD: bidirectional sum, tau 0.2, dlossScale 3',
    run: () => fdCase(5, 4, { bidirectional: 'sum', tau: 0.2, dlossScale: 3 }),
  },
  {
    name: 'infonce reference: unique labels equal plain InfoNCE; identical vectors give log B',
    run: () => {
      const B = 6,
        D = 4;
      const rng = new Rng(3);
      const q = unitRows(rng, B, D),
        p = unitRows(rng, B, D);
      const s = ref.infonceScratch(B);
      const a = new Float64Array(1),
        b = new Float64Array(1);
      ref.infonceForward(a, s, q, p, null, B, D, { bidirectional: 'sum' });
      ref.infonceForward(
        b,
        s,
        q,
        p,
        Uint32Array.from({ length: B }, (_, i) => 10 + i),
        B,
        D,
        { bidirectional: 'sum' },
      );
      expectClose(b, a, { atol: 1e-12, rtol: 1e-12 }, 'unique labels');
      const same = new Float64Array(B * D).map((_, k) => q[k % D]);
      ref.infonceForward(a, s, same, same, null, B, D, { tau: 0.01, bidirectional: true });
      expectClose(a, [Math.log(B)], { atol: 1e-9, rtol: 0 }, 'identical vectors');
    },
  },
];
