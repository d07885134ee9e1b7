/**
 * triplet: GPU forward (loss, hardest-negative indices) and backward (dq, dp, accumulated) vs the
 * float64 reference on unit vectors: B = 1, 2, 7, 33, 300 (> one workgroup of rows) and
 * D = 16, 37; with and without labels (repeated labels, one label for the whole batch),
 * margins 0 / 0.2 / 0.5 / 1 / 2, ties (duplicate rows: the lowest index must win, as torch's max)
 * and identical vectors. The reference is checked against vembed-factory's formula (no labels)
 * and its backward against finite differences, on data away from hinge kinks and ties.
 * Tolerance: loss atol 2e-6 + rtol 1e-5; dq, dp atol 2e-6 + rtol 1e-5; hard indices exact.
 */
import type { Gpu } from '../../src/gpu/device';
import { tripletBackward, tripletForward, tripletScratch, type TripletOpts } from '../../src/ops/triplet';
import * as ref from '../../src/ref/triplet';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, expectClose, expectEqual, f32, maxAbsDiff } from '../helpers/check';
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

function copyRow(x: Float64Array, D: number, to: number, from: Float64Array, fromRow: number): void {
  for (let d = 0; d < D; d++) x[to * D + d] = from[fromRow * D + d];
}

interface DataOpts {
  /** Number of distinct random labels (repeats when < B). */
  classes?: number;
  /** Explicit labels (wins over classes). */
  labels?: number[];
  /** All q and p rows are the same vector. */
  identical?: boolean;
  /** Duplicate rows: p[1] = p[2] = q[0] (a tie for row 0's hardest negative), q[B-1] = q[B-2]. */
  ties?: boolean;
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
  if (o.ties && B >= 3) {
    copyRow(p, D, 1, q, 0);
    copyRow(p, D, 2, q, 0);
    copyRow(q, D, B - 1, q, B - 2);
  }
  const labels = o.labels
    ? Uint32Array.from(o.labels)
    : o.classes
      ? Uint32Array.from({ length: B }, () => rng.int(o.classes!))
      : null;
  return { rng, q, p, labels };
}

/**
 * Throws when a row's hinge is within eps of 0 or its two largest negatives are within eps of
 * each other (exact ties allowed only when allowTies), so f32 rounding or a finite-difference
 * step could not change which branch the loss takes.
 */
function assertAwayFromKinks(
  S: Float64Array,
  labels: Uint32Array | null,
  B: number,
  margin: number,
  eps: number,
  allowTies: boolean,
  what: string,
): void {
  for (let i = 0; i < B; i++) {
    const neg: number[] = [];
    for (let j = 0; j < B; j++) if (labels ? labels[i] !== labels[j] : i !== j) neg.push(S[i * B + j]);
    if (neg.length === 0) continue;
    neg.sort((a, b) => b - a);
    const h = neg[0] - S[i * B + i] + margin;
    if (h !== 0 && Math.abs(h) < eps) throw new Error(`${what}: row ${i} hinge ${h} is at a kink`);
    if (neg.length > 1) {
      const gap = neg[0] - neg[1];
      if ((gap !== 0 || !allowTies) && gap < eps) throw new Error(`${what}: row ${i} near-tie ${gap}`);
    }
  }
}

type CaseOpts = TripletOpts & DataOpts;

export interface TripletErrors {
  loss: number;
  dq: number;
  dp: number;
}

export async function tripletCase(gpu: Gpu, B: number, D: number, o: CaseOpts): Promise<TripletErrors> {
  const { rng, q, p, labels } = makeData(B, D, o);
  const dq0 = randomArray(rng, B * D); // the backward accumulates: start non-zero
  const dp0 = randomArray(rng, B * D);
  const what = `triplet B=${B} D=${D} margin=${o.margin ?? 0.5} labels=${labels ? [...labels].join(',') : '-'}`;

  const rs = ref.tripletScratch(B);
  const lossRef = new Float64Array(1);
  ref.tripletForward(lossRef, rs, q, p, labels, B, D, o);
  assertAwayFromKinks(rs.sim, labels, B, o.margin ?? 0.5, 1e-5, true, what);
  const dqRef = dq0.slice();
  const dpRef = dp0.slice();
  ref.tripletBackward(dqRef, dpRef, rs, q, p, labels, B, D, o);

  const gq = gpu.upload(f32(q));
  const gp = gpu.upload(f32(p));
  const gl = labels ? gpu.upload(labels) : null;
  const gloss = gpu.zeros(1);
  const gdq = gpu.upload(f32(dq0));
  const gdp = gpu.upload(f32(dp0));
  const gs = tripletScratch(gpu, B);
  tripletForward(gpu, gloss, gs, gq, gp, gl, B, D, o);
  tripletBackward(gpu, gdq, gdp, gs, gq, gp, gl, B, D, o);

  const loss = await gpu.read(gloss);
  if (!Number.isFinite(loss[0])) throw new Error(`${what}: loss ${loss[0]} is not finite`);
  expectClose(loss, lossRef, { atol: 2e-6, rtol: 1e-5 }, `${what} loss`);
  const hard = await gpu.readU32(gs.hard);
  expectEqual(
    [...hard].map((v) => (v === 0xffffffff ? -1 : v)),
    [...rs.hard],
    `${what} hardest negatives`,
  );
  const gradTol = { atol: 2e-6, rtol: 1e-5 };
  const dq = await gpu.read(gdq);
  const dp = await gpu.read(gdp);
  expectClose(dq, dqRef, gradTol, `${what} dq`);
  expectClose(dp, dpRef, gradTol, `${what} dp`);
  for (const b of [gq, gp, gl, gloss, gdq, gdp, gs.sim, gs.hard, gs.dsim]) b?.destroy();
  return { loss: Math.abs(loss[0] - lossRef[0]), dq: maxAbsDiff(dq, dqRef), dp: maxAbsDiff(dp, dpRef) };
}

/** The cases as data, so that a script can rerun them and report the errors. */
export const tripletCaseList: [string, number, number, CaseOpts][] = [
  ['B=1 D=16 (no negative: loss 0)', 1, 16, {}],
  ['B=1 D=37 labels', 1, 37, { labels: [3] }],
  ['B=2 D=16', 2, 16, {}],
  ['B=2 D=37 one label for the batch (loss 0)', 2, 37, { labels: [4, 4] }],
  ['B=7 D=16 margin 0.2', 7, 16, { margin: 0.2 }],
  ['B=7 D=37 repeated labels, dlossScale 2.5', 7, 37, { classes: 3, dlossScale: 2.5 }],
  ['B=7 D=16 ties (duplicate rows)', 7, 16, { ties: true, margin: 1 }],
  ['B=7 D=37 ties, labels', 7, 37, { ties: true, labels: [0, 1, 2, 0, 3, 3, 1] }],
  ['B=33 D=37', 33, 37, {}],
  ['B=33 D=16 repeated labels, margin 1', 33, 16, { classes: 5, margin: 1 }],
  ['B=33 D=37 one label for the batch', 33, 37, { classes: 1 }],
  ['B=33 D=16 margin 0', 33, 16, { margin: 0 }],
  ['B=33 D=37 margin 2 (every row active)', 33, 37, { margin: 2, classes: 4 }],
  ['B=33 D=37 identical vectors (loss = margin)', 33, 37, { identical: true }],
  ['B=33 D=16 identical vectors, margin 0 (loss 0)', 33, 16, { identical: true, margin: 0 }],
  ['B=7 D=16 identical vectors, labels', 7, 16, { identical: true, labels: [0, 0, 1, 1, 1, 2, 0] }],
  ['B=300 D=16 repeated labels (rows > workgroup)', 300, 16, { classes: 10 }],
];

export const gpuCases: GpuCase[] = tripletCaseList.map(([name, B, D, o]) => ({
  name: `triplet ${name}`,
  run: async (g) => void (await tripletCase(g, B, D, o)),
}));

/** vembed-factory's formula, literally (no labels): mask the diagonal with -1e9, max, relu mean. */
function vembedTriplet(q: Float64Array, p: Float64Array, B: number, D: number, margin: number): number {
  let total = 0;
  for (let i = 0; i < B; i++) {
    const row: number[] = [];
    for (let j = 0; j < B; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += q[i * D + d] * p[j * D + d];
      row.push(s);
    }
    const pos = row[i];
    row[i] = -1e9;
    total += Math.max(0, Math.max(...row) - pos + margin);
  }
  return total / B;
}

function fdCase(B: number, D: number, o: CaseOpts) {
  const { q, p, labels } = makeData(B, D, o);
  const s = ref.tripletScratch(B);
  const loss = new Float64Array(1);
  const f = (qq: Float64Array, pp: Float64Array) => {
    ref.tripletForward(loss, s, qq, pp, labels, B, D, o);
    return loss[0] * (o.dlossScale ?? 1);
  };
  f(q, p);
  const what = `triplet FD ${JSON.stringify(o)}`;
  assertAwayFromKinks(s.sim, labels, B, o.margin ?? 0.5, 1e-3, false, what);
  let active = 0;
  for (const h of s.hard) if (h >= 0) active++;
  if (active === 0) throw new Error(`${what}: no active row, the check would be vacuous`);
  const dq = new Float64Array(B * D),
    dp = new Float64Array(B * D);
  ref.tripletBackward(dq, dp, s, q, p, labels, B, D, o);
  const tol = { tol: { atol: 1e-7, rtol: 1e-6 } };
  checkGradFD((v) => f(v, p), q, dq, `${what} dq`, tol);
  checkGradFD((v) => f(q, v), p, dp, `${what} dp`, tol);
}

export const refCases: RefCase[] = [
  { name: 'triplet reference backward vs finite differences', run: () => fdCase(5, 4, { seed: 1 }) },
  {
    name: 'triplet reference backward vs FD: labels, margin 0.3, dlossScale 3',
    run: () => fdCase(6, 3, { classes: 3, margin: 0.3, dlossScale: 3, seed: 2 }),
  },
  {
    name: 'triplet reference backward vs FD: margin 2 (all rows active)',
    run: () => fdCase(7, 5, { margin: 2, seed: 3 }),
  },
  {
    name: 'triplet reference equals vembed-factory (no labels), unique labels equal no labels',
    run: () => {
      for (const [B, D, margin] of [
        [1, 4, 0.5],
        [2, 3, 0.5],
        [7, 5, 0.2],
        [12, 6, 1],
      ]) {
        const { q, p } = makeData(B, D, { seed: B });
        const s = ref.tripletScratch(B);
        const a = new Float64Array(1),
          b = new Float64Array(1);
        ref.tripletForward(a, s, q, p, null, B, D, { margin });
        expectClose(a, [vembedTriplet(q, p, B, D, margin)], { atol: 1e-12, rtol: 1e-12 }, `vembed B=${B}`);
        ref.tripletForward(
          b,
          s,
          q,
          p,
          Uint32Array.from({ length: B }, (_, i) => 5 + i),
          B,
          D,
          { margin },
        );
        expectClose(b, a, { atol: 0, rtol: 0 }, `unique labels B=${B}`);
      }
    },
  },
  {
    name: 'triplet reference: identical vectors give the margin, one label gives 0, ties pick the lowest index',
    run: () => {
      const B = 6,
        D = 4;
      const { q, p } = makeData(B, D, { identical: true });
      const s = ref.tripletScratch(B);
      const l = new Float64Array(1);
      ref.tripletForward(l, s, q, p, null, B, D, { margin: 0.3 });
      expectClose(l, [0.3], { atol: 1e-12, rtol: 0 }, 'identical vectors');
      expectEqual([...s.hard], [1, 0, 0, 0, 0, 0], 'hardest negatives of identical vectors');
      ref.tripletForward(l, s, q, p, new Uint32Array(B).fill(2), B, D, {});
      expectEqual([l[0], ...s.hard], [0, -1, -1, -1, -1, -1, -1], 'one label');
      const t = makeData(B, D, { ties: true, seed: 9 });
      ref.tripletForward(l, s, t.q, t.p, null, B, D, {});
      expectEqual(s.hard[0], 1, 'tie between p[1] = p[2] = q[0]');
    },
  },
];
