/**
 * attention (no mask, multi-head, scale Dh^-0.5): GPU (strided matmuls + softmax) vs the
 * float64 loop reference at T = 201 and T = 5, batch 1 and 2, Dh = 8 and 64, and with
 * large-magnitude logits (~1e3) that must stay finite; reference backward vs finite
 * differences.
 */
import type { Gpu } from '../../src/gpu/device';
import { attentionAttSize, attentionBackward, attentionForward } from '../../src/ops/attention';
import type { SoftmaxVariant } from '../../src/ops/softmax';
import * as ref from '../../src/ref/attention';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, dotLoss, expectClose, f32, type Tol } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

function expectFinite(a: ArrayLike<number>, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new Error(`${what}: element [${i}] is ${a[i]}`);
  }
}

/**
 * `amp`: q and k are uniform in [-amp, amp] (amp = 60 with Dh = 8 gives logits ~1e3).
 * `tol`: for out and P; gradient sums over T keys get atol * sqrt(T).
 */
async function attentionCase(
  gpu: Gpu,
  B: number,
  T: number,
  H: number,
  Dh: number,
  amp: number,
  tol: Tol,
  opts: { softmax?: SoftmaxVariant; grads?: ('dq' | 'dk' | 'dv')[] } = {},
): Promise<void> {
  const saved = gpu.variants.get('softmax');
  if (opts.softmax) gpu.variants.set('softmax', opts.softmax);
  try {
    await attentionChecks(gpu, B, T, H, Dh, amp, tol, opts.grads ?? ['dq', 'dk', 'dv']);
  } finally {
    if (saved === undefined) gpu.variants.delete('softmax');
    else gpu.variants.set('softmax', saved);
  }
}

async function attentionChecks(
  gpu: Gpu,
  B: number,
  T: number,
  H: number,
  Dh: number,
  amp: number,
  tol: Tol,
  grads: ('dq' | 'dk' | 'dv')[],
): Promise<void> {
  const C = H * Dh;
  const n = B * T * C;
  const rng = new Rng(B * 100003 + T * 101 + H * 7 + Dh);
  const q = randomArray(rng, n, -amp, amp);
  const k = randomArray(rng, n, -amp, amp);
  const v = randomArray(rng, n);
  const dout = randomArray(rng, n);
  const dq0 = randomArray(rng, n); // the backward accumulates: start non-zero
  const dk0 = randomArray(rng, n);
  const dv0 = randomArray(rng, n);
  const A = attentionAttSize(B, T, H);

  const outRef = new Float64Array(n);
  const attRef = new Float64Array(A);
  ref.attentionForward(outRef, attRef, q, k, v, B, T, C, H);
  const [dqRef, dkRef, dvRef] = [dq0.slice(), dk0.slice(), dv0.slice()];
  const want = <X>(g: 'dq' | 'dk' | 'dv', x: X): X | null => (grads.includes(g) ? x : null);
  const dattRef = new Float64Array(A);
  ref.attentionBackward(want('dq', dqRef), want('dk', dkRef), want('dv', dvRef), dattRef,
    dout, q, k, v, attRef, B, T, C, H);

  const [gq, gk, gv, gdout] = [q, k, v, dout].map((a) => gpu.upload(f32(a)));
  const [gdq, gdk, gdv] = [dq0, dk0, dv0].map((a) => gpu.upload(f32(a)));
  const gout = gpu.zeros(n);
  const gatt = gpu.zeros(A);
  const gdatt = gpu.zeros(A);
  attentionForward(gpu, gout, gatt, gq, gk, gv, B, T, C, H);
  attentionBackward(gpu, want('dq', gdq), want('dk', gdk), want('dv', gdv), gdatt,
    gdout, gq, gk, gv, gatt, B, T, C, H);

  const shape =
    `B=${B} T=${T} H=${H} Dh=${Dh} |q|,|k|<=${amp} grads=${grads.join(',')} ` +
    `softmax=${gpu.variants.get('softmax') ?? 'default'}`;
  const gradTol = { atol: tol.atol * Math.sqrt(T), rtol: tol.rtol };
  const got = {
    out: await gpu.read(gout),
    att: await gpu.read(gatt),
    dq: await gpu.read(gdq),
    dk: await gpu.read(gdk),
    dv: await gpu.read(gdv),
  };
  for (const [name, a] of Object.entries(got)) expectFinite(a, `attention ${name} ${shape}`);
  expectClose(got.att, attRef, tol, `attention.fwd P ${shape}`);
  expectClose(got.out, outRef, tol, `attention.fwd out ${shape}`);
  expectClose(got.dq, dqRef, gradTol, `attention.bwd dq ${shape}`);
  expectClose(got.dk, dkRef, gradTol, `attention.bwd dk ${shape}`);
  expectClose(got.dv, dvRef, gradTol, `attention.bwd dv ${shape}`);
  for (const b of [gq, gk, gv, gdout, gdq, gdk, gdv, gout, gatt, gdatt]) b.destroy();
}

/** f32 scores, exp and sums of up to T terms. */
const TOL: Tol = { atol: 2e-6, rtol: 1e-4 };

export const gpuCases: GpuCase[] = [
  { name: 'attention B=1 T=5 H=2 Dh=8', run: (g) => attentionCase(g, 1, 5, 2, 8, 1, TOL) },
  { name: 'attention B=2 T=5 H=2 Dh=8', run: (g) => attentionCase(g, 2, 5, 2, 8, 1, TOL) },
  { name: 'attention B=1 T=201 H=2 Dh=8', run: (g) => attentionCase(g, 1, 201, 2, 8, 1, TOL) },
  { name: 'attention B=2 T=201 H=2 Dh=8', run: (g) => attentionCase(g, 2, 201, 2, 8, 1, TOL) },
  { name: 'attention B=1 T=201 H=1 Dh=64', run: (g) => attentionCase(g, 1, 201, 1, 64, 1, TOL) },
  {
    name: 'attention B=2 T=201 H=2 Dh=8, softmax variant wg',
    run: (g) => attentionCase(g, 2, 201, 2, 8, 1, TOL, { softmax: 'wg' }),
  },
  {
    name: 'attention B=2 T=5 H=2 Dh=8, only dk (dq, dv null)',
    run: (g) => attentionCase(g, 2, 5, 2, 8, 1, TOL, { grads: ['dk'] }),
  },
  {
    name: 'attention B=2 T=5 H=2 Dh=8, only dv (dq, dk null)',
    run: (g) => attentionCase(g, 2, 5, 2, 8, 1, TOL, { grads: ['dv'] }),
  },
  {
    // |q|,|k| <= 60 with Dh = 8: scaled logits have a spread of ~1e3 per row (std ~1.2e3).
    // f32 rounding of such scores (~1e-4 absolute) shows up relatively in P.
    name: 'attention large logits (~1e3) B=1 T=201 H=2 Dh=8',
    run: (g) => attentionCase(g, 1, 201, 2, 8, 60, { atol: 1e-4, rtol: 1e-3 }),
  },
];

export const refCases: RefCase[] = [
  {
    name: 'attention reference backward vs finite differences',
    run: () => {
      const B = 2, T = 4, H = 2, Dh = 3, C = H * Dh, n = B * T * C;
      const rng = new Rng(3);
      const q = randomArray(rng, n), k = randomArray(rng, n), v = randomArray(rng, n);
      const w = randomArray(rng, n);
      const out = new Float64Array(n);
      const att = new Float64Array(B * H * T * T);
      const loss = (qq: Float64Array, kk: Float64Array, vv: Float64Array) => {
        ref.attentionForward(out, att, qq, kk, vv, B, T, C, H);
        return dotLoss(out, w);
      };
      loss(q, k, v);
      const dq = new Float64Array(n), dk = new Float64Array(n), dv = new Float64Array(n);
      const datt = new Float64Array(B * H * T * T);
      ref.attentionBackward(dq, dk, dv, datt, w, q, k, v, att, B, T, C, H);
      checkGradFD((x) => loss(x, k, v), q, dq, 'attention dq');
      checkGradFD((x) => loss(q, x, v), k, dk, 'attention dk');
      checkGradFD((x) => loss(q, k, x), v, dv, 'attention dv');
    },
  },
];
