/**
 * cosent: GPU forward (loss) and backward (dq, dp, accumulated) vs the float64 reference on unit
 * vectors: B = 1, 2, 7, 33, 300 (> one workgroup of rows) and D = 16, 37; with and without
 * labels (repeated labels, one label for the whole batch: loss 0, no gradient), scales 5 / 20 /
 * 50, duplicate rows, identical vectors, and large differences (sim_ij - sim_ii = +-2, so
 * scale * diff = +-100 at scale 50: the loss and gradients must stay finite). The reference is
 * checked against vembed-factory's formula (no labels) and its backward against finite
 * differences.
 * Tolerance (f32 errors of sim are multiplied by the scale k = scale / 20 in the exponent, and
 * once more in the gradient): loss atol 4e-6 * k + rtol 1e-5; dq, dp atol 4e-5 * k^2 + rtol 1e-4.
 */
import type { Gpu } from '../../src/gpu/device';
import { cosentBackward, cosentForward, cosentScratch, type CosentOpts } from '../../src/ops/cosent';
import * as ref from '../../src/ref/cosent';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, expectClose, f32, maxAbsDiff } from '../helpers/check';
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

interface DataOpts {
  /** Number of distinct random labels (repeats when < B). */
  classes?: number;
  /** Explicit labels (wins over classes). */
  labels?: number[];
  /** All q and p rows are the same vector. */
  identical?: boolean;
  /** Duplicate rows: q[1] = q[0], p[2] = p[1]. */
  duplicates?: boolean;
  /**
   * Antipodal query pairs q[2k+1] = -q[2k]; 'far': p = -q, so sim_ii = -1 and
   * sim_{2k,2k+1} = +1 (diff +2); 'near': p = q, so sim_ii = 1 and the pair's diff is -2.
   */
  antipodal?: 'far' | 'near';
  seed?: number;
}

function makeData(B: number, D: number, o: DataOpts) {
  const rng = new Rng(o.seed ?? B * 100 + D + (o.classes ?? 0) * 7);
  let q: Float64Array, p: Float64Array;
  if (o.identical) {
    const v = unitRows(rng, 1, D);
    q = new Float64Array(B * D).map((_, k) => v[k % D]);
    p = q.slice();
  } else {
    q = unitRows(rng, B, D);
    p = unitRows(rng, B, D);
  }
  if (o.duplicates && B >= 3) {
    for (let d = 0; d < D; d++) {
      q[D + d] = q[d];
      p[2 * D + d] = p[D + d];
    }
  }
  if (o.antipodal) {
    for (let i = 1; i < B; i += 2) for (let d = 0; d < D; d++) q[i * D + d] = -q[(i - 1) * D + d];
    p = o.antipodal === 'far' ? q.map((v) => -v) : q.slice();
  }
  const labels = o.labels
    ? Uint32Array.from(o.labels)
    : o.classes
      ? Uint32Array.from({ length: B }, () => rng.int(o.classes!))
      : null;
  return { rng, q, p, labels };
}

type CaseOpts = CosentOpts & DataOpts;

export interface CosentErrors {
  loss: number;
  dq: number;
  dp: number;
}

export async function cosentCase(gpu: Gpu, B: number, D: number, o: CaseOpts): Promise<CosentErrors> {
  const { rng, q, p, labels } = makeData(B, D, o);
  const dq0 = randomArray(rng, B * D); // the backward accumulates: start non-zero
  const dp0 = randomArray(rng, B * D);
  const scale = o.scale ?? 20;
  const what = `cosent B=${B} D=${D} scale=${scale} labels=${labels ? [...labels].join(',') : '-'}`;

  const rs = ref.cosentScratch(B);
  const lossRef = new Float64Array(1);
  ref.cosentForward(lossRef, rs, q, p, labels, B, D, o);
  const dqRef = dq0.slice();
  const dpRef = dp0.slice();
  ref.cosentBackward(dqRef, dpRef, rs, q, p, labels, B, D, o);

  const gq = gpu.upload(f32(q));
  const gp = gpu.upload(f32(p));
  const gl = labels ? gpu.upload(labels) : null;
  const gloss = gpu.zeros(1);
  const gdq = gpu.upload(f32(dq0));
  const gdp = gpu.upload(f32(dp0));
  const gs = cosentScratch(gpu, B);
  cosentForward(gpu, gloss, gs, gq, gp, gl, B, D, o);
  cosentBackward(gpu, gdq, gdp, gs, gq, gp, gl, B, D, o);

  const k = scale / 20;
  const loss = await gpu.read(gloss);
  const dq = await gpu.read(gdq);
  const dp = await gpu.read(gdp);
  if (!Number.isFinite(loss[0])) throw new Error(`${what}: loss ${loss[0]} is not finite`);
  for (const [n, a] of [
    ['dq', dq],
    ['dp', dp],
  ] as const) {
    if (!a.every(Number.isFinite)) throw new Error(`${what}: ${n} is not finite`);
  }
  expectClose(loss, lossRef, { atol: 4e-6 * k, rtol: 1e-5 }, `${what} loss`);
  const gradTol = { atol: 4e-5 * k * k, rtol: 1e-4 };
  expectClose(dq, dqRef, gradTol, `${what} dq`);
  expectClose(dp, dpRef, gradTol, `${what} dp`);
  for (const b of [gq, gp, gl, gloss, gdq, gdp, gs.sim, gs.stats, gs.dsim]) b?.destroy();
  return { loss: Math.abs(loss[0] - lossRef[0]), dq: maxAbsDiff(dq, dqRef), dp: maxAbsDiff(dp, dpRef) };
}

/** The cases as data, so that a script can rerun them and report the errors. */
export const cosentCaseList: [string, number, number, CaseOpts][] = [
  ['B=1 D=16 (no pair: loss 0)', 1, 16, {}],
  ['B=1 D=37 labels', 1, 37, { labels: [3] }],
  ['B=2 D=16', 2, 16, {}],
  ['B=2 D=37 one label for the batch (loss 0)', 2, 37, { labels: [4, 4] }],
  ['B=7 D=16 scale 5', 7, 16, { scale: 5 }],
  ['B=7 D=37 repeated labels, dlossScale 2.5', 7, 37, { classes: 3, dlossScale: 2.5 }],
  ['B=7 D=16 duplicate rows, labels', 7, 16, { duplicates: true, labels: [0, 1, 2, 0, 3, 3, 1] }],
  ['B=33 D=37', 33, 37, {}],
  ['B=33 D=16 repeated labels', 33, 16, { classes: 5 }],
  ['B=33 D=37 one label for the batch', 33, 37, { classes: 1 }],
  ['B=33 D=16 scale 50', 33, 16, { scale: 50 }],
  ['B=33 D=37 identical vectors (loss = log(1 + B(B-1)))', 33, 37, { identical: true }],
  ['B=7 D=16 identical vectors, labels', 7, 16, { identical: true, labels: [0, 0, 1, 1, 1, 2, 0] }],
  ['B=33 D=37 large differences (+2), scale 20', 33, 37, { antipodal: 'far' }],
  ['B=33 D=16 large differences (+2), scale 50', 33, 16, { antipodal: 'far', scale: 50 }],
  ['B=7 D=37 large differences (+2), scale 50, labels', 7, 37, { antipodal: 'far', scale: 50, classes: 3 }],
  ['B=33 D=16 large negative differences (-2), scale 50', 33, 16, { antipodal: 'near', scale: 50 }],
  ['B=300 D=16 repeated labels (rows > workgroup)', 300, 16, { classes: 10 }],
];

export const gpuCases: GpuCase[] = cosentCaseList.map(([name, B, D, o]) => ({
  name: `cosent ${name}`,
  run: async (g) => void (await cosentCase(g, B, D, o)),
}));

/**
 * vembed-factory's formula, literally (no labels): diffs = sim - pos, diagonal masked with -1e9
 * and dropped, loss = logsumexp(cat([0], scale * diffs)).
 */
function vembedCosent(q: Float64Array, p: Float64Array, B: number, D: number, scale: number): number {
  const scores = [0];
  for (let i = 0; i < B; i++) {
    let pos = 0;
    for (let d = 0; d < D; d++) pos += q[i * D + d] * p[i * D + d];
    for (let j = 0; j < B; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += q[i * D + d] * p[j * D + d];
      const diff = i === j ? -1e9 : s - pos;
      if (diff > -1e8) scores.push(scale * diff);
    }
  }
  const mx = Math.max(...scores);
  return mx + Math.log(scores.reduce((a, x) => a + Math.exp(x - mx), 0));
}

function fdCase(B: number, D: number, o: CaseOpts) {
  const { q, p, labels } = makeData(B, D, o);
  const s = ref.cosentScratch(B);
  const loss = new Float64Array(1);
  const f = (qq: Float64Array, pp: Float64Array) => {
    ref.cosentForward(loss, s, qq, pp, labels, B, D, o);
    return loss[0] * (o.dlossScale ?? 1);
  };
  f(q, p);
  const dq = new Float64Array(B * D),
    dp = new Float64Array(B * D);
  ref.cosentBackward(dq, dp, s, q, p, labels, B, D, o);
  const tol = { tol: { atol: 1e-6, rtol: 1e-5 } };
  const what = `cosent FD ${JSON.stringify(o)}`;
  checkGradFD((v) => f(v, p), q, dq, `${what} dq`, tol);
  checkGradFD((v) => f(q, v), p, dp, `${what} dp`, tol);
}

export const refCases: RefCase[] = [
  { name: 'cosent reference backward vs finite differences', run: () => fdCase(5, 4, {}) },
  {
    name: 'cosent reference backward vs FD: labels, scale 5, dlossScale 3',
    run: () => fdCase(6, 3, { classes: 3, scale: 5, dlossScale: 3 }),
  },
  {
    name: 'cosent reference backward vs FD: scale 50, duplicate rows',
    run: () => fdCase(7, 5, { scale: 50, duplicates: true }),
  },
  {
    name: 'cosent reference backward vs FD: large differences, scale 50',
    run: () => fdCase(6, 4, { scale: 50, antipodal: 'far' }),
  },
  {
    name: 'cosent reference equals vembed-factory (no labels), unique labels equal no labels',
    run: () => {
      for (const [B, D, scale] of [
        [1, 4, 20],
        [2, 3, 20],
        [7, 5, 5],
        [12, 6, 50],
      ]) {
        const { q, p } = makeData(B, D, { seed: B });
        const s = ref.cosentScratch(B);
        const a = new Float64Array(1),
          b = new Float64Array(1);
        ref.cosentForward(a, s, q, p, null, B, D, { scale });
        expectClose(a, [vembedCosent(q, p, B, D, scale)], { atol: 1e-12, rtol: 1e-12 }, `vembed B=${B}`);
        ref.cosentForward(
          b,
          s,
          q,
          p,
          Uint32Array.from({ length: B }, (_, i) => 5 + i),
          B,
          D,
          { scale },
        );
        expectClose(b, a, { atol: 0, rtol: 0 }, `unique labels B=${B}`);
      }
    },
  },
  {
    name: 'cosent reference: identical vectors give log(1 + #pairs), one label gives 0 and no gradient',
    run: () => {
      const B = 6,
        D = 4;
      const { q, p } = makeData(B, D, { identical: true });
      const s = ref.cosentScratch(B);
      const l = new Float64Array(1);
      ref.cosentForward(l, s, q, p, null, B, D, {});
      expectClose(l, [Math.log(1 + B * (B - 1))], { atol: 1e-12, rtol: 0 }, 'identical vectors');
      const labels = Uint32Array.from([0, 0, 1, 1, 1, 2]); // 2*4 + 3*3 + 1*5 = 22 pairs
      ref.cosentForward(l, s, q, p, labels, B, D, {});
      expectClose(l, [Math.log(1 + 22)], { atol: 1e-12, rtol: 0 }, 'identical vectors, labels');
      ref.cosentForward(l, s, q, p, new Uint32Array(B).fill(2), B, D, {});
      expectClose(l, [0], { atol: 0, rtol: 0 }, 'one label');
      const dq = new Float64Array(B * D),
        dp = new Float64Array(B * D);
      ref.cosentBackward(dq, dp, s, q, p, new Uint32Array(B).fill(2), B, D, {});
      expectClose([...dq, ...dp], new Float64Array(2 * B * D), { atol: 0, rtol: 0 }, 'one label gradient');
    },
  },
];
