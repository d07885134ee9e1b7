/**
 * attention on the packed qkv layout (src/ops/attention.ts), both variants ('flash': fused
 * kernels with workgroup memory; 'matmul': strided matmuls and row kernels), against the float64
 * reference (src/ref/attention.ts, with RoPE tables computed independently by src/ref/rope.ts):
 * out, lse and the three gradient blocks of dqkv, at T = 5, 17, 201 (DINOv3 S/B at 224: 1 CLS +
 * 4 registers + 14x14) and 257 (DINOv2 at 224/14), B = 1 and 2, H = 1 and 3, Dh = 8, 16, 64,
 * with and without RoPE (prefix 1 and 5), a non-default packed layout (ld = 3C + 8, blocks in the
 * order v, q, k at unaligned-to-C offsets), large logits (~1e3) that must stay finite, the
 * fallback to 'matmul' for shapes 'flash' cannot run, dispatch counts and the absence of T x T
 * buffers in the flash path, and bad input. The reference backward is checked against finite
 * differences. (The unfused API, `attentionForwardSavedP` / `attentionBackwardSavedP` in
 * src/ops/attention-saved-p.ts, is no longer called by the model: only bench/ops/attention.bench.ts
 * runs it, as the fused op's peer, and no test checks it.)
 *
 * Tolerances (atol + rtol*|ref|): out and lse 2e-6 + 1e-4 |ref| (f32 scores, exps and sums of up
 * to T terms); gradients (sums of T products) atol * sqrt(T); with logits ~1e3 the f32 rounding
 * of the scores (~1e-4 absolute) shows up relatively in P: 1e-4 + 1e-3 |ref|.
 */
import type { DispatchSpec, Gpu } from '../../src/gpu/device';
import {
  attentionBackward,
  attentionForward,
  attentionLseSize,
  attentionVariant,
  type AttentionShape,
  type AttentionVariant,
} from '../../src/ops/attention';
import { ropeTables } from '../../src/ops/rope';
import * as ref from '../../src/ref/attention';
import { ropeTables as refRopeTables } from '../../src/ref/rope';
import { softmaxForward as refSoftmax } from '../../src/ref/softmax';
import { Rng, randomArray } from '../../src/util/random';
import { readF16, roundF16, uploadF16, zerosF16 } from '../../src/gpu/f16';
import { checkGradFD, dotLoss, expectClose, expectEqual, expectThrows, f32, type Tol } from '../helpers/check';
import { withVariants, type GpuCase, type RefCase } from '../helpers/cases';

function expectFinite(a: ArrayLike<number>, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new Error(`${what}: element [${i}] is ${a[i]}`);
  }
}

interface Case {
  B: number;
  H: number;
  Dh: number;
  /** Tokens without RoPE; with RoPE T = prefix + Hp * Wp. */
  T?: number;
  rope?: { Hp: number; Wp: number; prefix: number };
  /** Packed layout (defaults ld = 3C, offsets 0, C, 2C). */
  layout?: (C: number) => { ld: number; offQ: number; offK: number; offV: number };
  /** q and k uniform in [-amp, amp]. */
  amp?: number;
  tol?: Tol;
  /** qkv and out stored as packed f16 (src/gpu/f16.ts): qkv's values are f16 in the reference too. */
  f16?: boolean;
  /** 'flash' with this many keys (queries) per staged tile (`attention.tile`), as a GPU picks it. */
  tile?: number;
}

const TOL: Tol = { atol: 2e-6, rtol: 1e-4 };

function caseName(c: Case, variants: readonly AttentionVariant[]): string {
  const T = c.rope ? c.rope.prefix + c.rope.Hp * c.rope.Wp : c.T!;
  const parts = [`B=${c.B} T=${T} H=${c.H} Dh=${c.Dh}`];
  if (c.rope) parts.push(`rope ${c.rope.Hp}x${c.rope.Wp} prefix ${c.rope.prefix}`);
  if (c.layout) {
    const l = c.layout(c.H * c.Dh);
    parts.push(`ld=${l.ld} q@${l.offQ} k@${l.offK} v@${l.offV}`);
  }
  if (c.amp) parts.push(`|q|,|k|<=${c.amp}`);
  if (c.f16) parts.push('f16 qkv and out');
  if (c.tile) parts.push(`tiles of ${c.tile}`);
  return `attention [${variants.join(', ')}] ${parts.join(', ')}`;
}

/**
 * GPU forward + backward of `c` with each variant in `variants` vs one reference; `runs` says
 * which variant must actually run for each (default: itself).
 */
async function attentionCase(
  gpu: Gpu,
  c: Case,
  variants: readonly AttentionVariant[],
  runs: readonly AttentionVariant[] = variants,
): Promise<void> {
  const { B, H, Dh } = c;
  const C = H * Dh;
  const T = c.rope ? c.rope.prefix + c.rope.Hp * c.rope.Wp : c.T!;
  const L = c.layout?.(C) ?? { ld: 3 * C, offQ: 0, offK: C, offV: 2 * C };
  const rng = new Rng(B * 100003 + T * 101 + H * 7 + Dh + L.ld);
  const amp = c.amp ?? 1;
  // q, k at amplitude amp; v, dout, the padding columns and the initial dqkv (which the
  // backward overwrites in its q, k, v blocks only) at 1.
  const qkv = randomArray(rng, B * T * L.ld);
  for (let r = 0; r < B * T; r++) {
    for (const off of [L.offQ, L.offK]) {
      for (let x = 0; x < C; x++) qkv[r * L.ld + off + x] *= amp;
    }
  }
  if (c.f16) qkv.set(qkv.map(roundF16));
  const dout = randomArray(rng, B * T * C);
  const dqkv0 = randomArray(rng, B * T * L.ld);

  const t64 = c.rope ? refRopeTables(c.rope.Hp, c.rope.Wp, Dh) : null;
  const refShape: ref.AttentionShape = {
    B,
    T,
    H,
    Dh,
    ...L,
    rope: t64 && { cos: t64.cos, sin: t64.sin, prefix: c.rope!.prefix },
  };
  const outRef = new Float64Array(B * T * C);
  const lseRef = new Float64Array(B * H * T);
  ref.attentionForward(outRef, lseRef, qkv, refShape);
  const dqkvRef = dqkv0.slice();
  ref.attentionBackward(dqkvRef, dout, outRef, lseRef, qkv, refShape);
  const tol = c.tol ?? TOL;
  const gradTol = { atol: tol.atol * Math.sqrt(T), rtol: tol.rtol };
  const block = (a: ArrayLike<number>, off: number) => {
    const x = new Float64Array(B * T * C);
    for (let r = 0; r < B * T; r++) for (let j = 0; j < C; j++) x[r * C + j] = a[r * L.ld + off + j];
    return x;
  };
  const inBlock = (x: number) => [L.offQ, L.offK, L.offV].some((o) => x >= o && x < o + C);

  const t32 = c.rope ? ropeTables(c.rope.Hp, c.rope.Wp, Dh) : null;
  const tables = t32 ? [gpu.upload(t32.cos, 'cos'), gpu.upload(t32.sin, 'sin')] : [];
  const shape: AttentionShape = {
    B,
    T,
    H,
    Dh,
    ...L,
    rope: c.rope ? { cos: tables[0], sin: tables[1], prefix: c.rope.prefix } : null,
  };
  const gqkv = c.f16 ? uploadF16(gpu, f32(qkv), 'qkv') : gpu.upload(f32(qkv));
  const gdout = gpu.upload(f32(dout));
  for (const [n, variant] of variants.entries()) {
    const gdqkv = gpu.upload(f32(dqkv0));
    const gout = c.f16 ? zerosF16(gpu, B * T * C, 'out') : gpu.zeros(B * T * C, 'out');
    const glse = gpu.zeros(attentionLseSize(B, T, H), 'lse');
    const vars: Record<string, string> = { attention: variant };
    if (c.tile) vars['attention.tile'] = String(c.tile);
    const { ran, specs } = await withVariants(gpu, vars, async () => {
      const specs = specsOf(gpu, () => {
        attentionForward(gpu, gout, glse, gqkv, shape);
        attentionBackward(gpu, gdqkv, gdout, gout, glse, gqkv, shape);
      });
      return { ran: attentionVariant(gpu, shape), specs };
    });
    const what = `${caseName(c, [variant])} (ran ${ran})`;
    if (ran !== runs[n]) throw new Error(`${what}: expected variant ${runs[n]} to run`);
    if (c.tile) {
      // the BC constant of each flash dispatch
      const tiles = new Set(specs.flatMap((x) => (x.constants && 'BC' in x.constants ? [x.constants.BC] : [])));
      expectEqual([...tiles], [c.tile], `${what}: tile sizes of the flash dispatches`);
    }
    const got = {
      out: c.f16 ? await readF16(gpu, gout) : await gpu.read(gout),
      lse: await gpu.read(glse),
      dqkv: await gpu.read(gdqkv),
    };
    for (const [name, a] of Object.entries(got)) expectFinite(a, `${what} ${name}`);
    // an f16 out is rounded to f16 (2^-11 relative); the backward reads that rounded out for D
    expectClose(got.out, outRef, c.f16 ? { atol: 1e-3, rtol: 1e-3 } : tol, `${what} out`);
    expectClose(got.lse, lseRef, tol, `${what} lse`);
    for (const [name, off] of [
      ['dq', L.offQ],
      ['dk', L.offK],
      ['dv', L.offV],
    ] as const) {
      expectClose(block(got.dqkv, off), block(dqkvRef, off), gradTol, `${what} ${name}`);
    }
    // Columns outside the three blocks are left as they were, bit for bit.
    for (let i = 0; i < got.dqkv.length; i++) {
      if (!inBlock(i % L.ld) && got.dqkv[i] !== Math.fround(dqkv0[i])) {
        throw new Error(`${what}: dqkv padding element [${i}] changed`);
      }
    }
    for (const b of [gdqkv, gout, glse]) b.destroy();
  }
  for (const b of [gqkv, gdout, ...tables]) b.destroy();
}

/** Non-default packed layout: 8 padding columns, blocks in the order v, q, k. */
const shuffled = (C: number) => ({ ld: 3 * C + 8, offV: 0, offQ: C + 4, offK: 2 * C + 8 });

const BOTH = ['flash', 'matmul'] as const;

/**
 * Shapes run on both variants. 'flash' runs at Dh = 8 and 64 only (each head dim is its own
 * set of pipelines, and SwiftShader, where the suite runs, compiles them slowly); Dh = 16 on
 * 'matmul'.
 */
const CASES: [Case, readonly AttentionVariant[]][] = [
  [{ B: 1, T: 5, H: 1, Dh: 8 }, BOTH],
  [{ B: 2, H: 3, Dh: 8, rope: { Hp: 2, Wp: 2, prefix: 1 } }, BOTH],
  [{ B: 2, H: 3, Dh: 16, rope: { Hp: 2, Wp: 2, prefix: 1 } }, ['matmul']],
  [{ B: 2, H: 1, Dh: 64, rope: { Hp: 14, Wp: 14, prefix: 5 } }, BOTH],
  [{ B: 1, T: 257, H: 1, Dh: 64 }, BOTH],
  [{ B: 2, H: 3, Dh: 8, rope: { Hp: 3, Wp: 4, prefix: 5 }, layout: shuffled }, BOTH],
  // |q|,|k| <= 60 with Dh = 8: scaled logits spread over ~1e3 per row.
  [{ B: 1, H: 1, Dh: 8, rope: { Hp: 14, Wp: 14, prefix: 5 }, amp: 60, tol: { atol: 1e-4, rtol: 1e-3 } }, BOTH],
  // packed-f16 qkv and out (the fp16 path): rounded inputs in the reference; out within f16's
  // rounding; the gradients see out only through D = dO . O, hence their looser atol
  [{ B: 2, H: 2, Dh: 64, rope: { Hp: 3, Wp: 3, prefix: 5 }, f16: true, tol: { atol: 2e-4, rtol: 1e-3 } }, BOTH],
  [{ B: 1, T: 9, H: 3, Dh: 8, f16: true, tol: { atol: 2e-4, rtol: 1e-3 } }, BOTH],
  // The tile sizes GPUs pick (attention-flash.ts flashTile; SwiftShader's default is 8): 64 keys
  // where the workgroup storage holds them (Dh = 64 needs more than SwiftShader's 32 KiB: here at
  // Dh = 32), 32 at 32 KiB and 16 at the 16 KiB minimum, at ViT-B/16's T = 201 and DINOv2's 257
  [{ B: 2, H: 2, Dh: 32, rope: { Hp: 14, Wp: 14, prefix: 5 }, tile: 64 }, ['flash']],
  [{ B: 1, H: 1, Dh: 64, rope: { Hp: 14, Wp: 14, prefix: 5 }, tile: 32 }, ['flash']],
  [{ B: 1, T: 257, H: 1, Dh: 64, tile: 16 }, ['flash']],
];

/** The dispatches `fn` records, as their specs (each still dispatched). */
function specsOf(gpu: Gpu, fn: () => void): DispatchSpec[] {
  const specs: DispatchSpec[] = [];
  const dispatch = gpu.dispatch.bind(gpu);
  gpu.dispatch = (spec) => {
    specs.push(spec);
    dispatch(spec);
  };
  try {
    fn();
  } finally {
    gpu.dispatch = dispatch;
  }
  return specs;
}

/** Counts the dispatches `fn` records and the bytes of buffers it leaves allocated. */
async function footprint(gpu: Gpu, fn: () => void): Promise<{ dispatches: string[]; bytes: number }> {
  await gpu.flush();
  const live = gpu.memory.live;
  const dispatches = specsOf(gpu, fn).map((x) => x.op);
  await gpu.flush();
  return { dispatches, bytes: gpu.memory.live - live };
}

export const gpuCases: GpuCase[] = [
  ...CASES.map(([c, variants]) => ({ name: caseName(c, variants), run: (g: Gpu) => attentionCase(g, c, variants) })),
  {
    // Dh % 8 != 0 with RoPE, Dh % 4 != 0, and a packed row of odd width: 'flash' cannot run
    // these (vec4 chunks), 'matmul' runs instead and still matches the reference.
    name: 'attention [flash] falls back to matmul: Dh=12 with rope, Dh=6, ld=3C+1',
    run: async (g) => {
      await attentionCase(g, { B: 1, H: 2, Dh: 12, rope: { Hp: 2, Wp: 2, prefix: 1 } }, ['flash'], ['matmul']);
      await attentionCase(g, { B: 2, T: 5, H: 2, Dh: 6 }, ['flash'], ['matmul']);
      const odd = (C: number) => ({ ld: 3 * C + 1, offQ: 1, offK: C + 1, offV: 2 * C + 1 });
      await attentionCase(g, { B: 1, T: 5, H: 1, Dh: 8, layout: odd }, ['flash'], ['matmul']);
    },
  },
  {
    name: 'attention [flash] is 1 dispatch forward and 2 backward, and keeps no T x T buffer',
    run: async (gpu) => {
      const B = 2,
        T = 201,
        H = 3,
        Dh = 8,
        C = H * Dh;
      const qkv = gpu.zeros(B * T * 3 * C),
        dqkv = gpu.zeros(B * T * 3 * C);
      const out = gpu.zeros(B * T * C),
        dout = gpu.zeros(B * T * C),
        lse = gpu.zeros(B * H * T);
      const shape: AttentionShape = { B, T, H, Dh, rope: null };
      const run = (v: AttentionVariant) =>
        withVariants(gpu, { attention: v }, () =>
          footprint(gpu, () => {
            attentionForward(gpu, out, lse, qkv, shape);
            attentionBackward(gpu, dqkv, dout, out, lse, qkv, shape);
          }),
        );
      const flash = await run('flash');
      expectEqual(flash.dispatches, ['attention.fwd', 'attention.bwd.dq', 'attention.bwd.dkdv'], 'flash dispatches');
      if (flash.bytes > B * H * T * 4) {
        throw new Error(
          `flash attention allocated ${flash.bytes} bytes (at most D [B*H*T] = ${B * H * T * 4} expected)`,
        );
      }
      const unfused = await run('matmul');
      expectEqual(unfused.dispatches.length, 3 + 6, 'matmul variant dispatches without RoPE (3 forward, 6 backward)');
      for (const b of [qkv, dqkv, out, dout, lse]) b.destroy();
    },
  },
  {
    name: 'attention rejects bad shapes, overlapping blocks, small buffers and unknown variants',
    run: async (gpu) => {
      const B = 1,
        T = 5,
        H = 2,
        Dh = 8,
        C = H * Dh;
      const qkv = gpu.zeros(B * T * 3 * C),
        out = gpu.zeros(B * T * C),
        lse = gpu.zeros(B * H * T);
      const small = gpu.zeros(4);
      const fwd = (s: Partial<AttentionShape>, o = out, l = lse, x = qkv) =>
        attentionForward(gpu, o, l, x, { B, T, H, Dh, rope: null, ...s });
      await expectThrows(() => fwd({ T: 0 }), /attention\.fwd: T = 0 must be a positive integer/);
      await expectThrows(() => fwd({ offK: 4 }), /attention\.fwd: the q, k, v blocks overlap \(offQ = 0, offK = 4/);
      await expectThrows(() => fwd({ ld: 2 * C }), /offV = 32: the block .* ld = 32 columns/);
      await expectThrows(() => fwd({}, small), /attention\.fwd: out has 16 bytes, needs \[B\*T=5, C=16\] = 320/);
      await expectThrows(() => fwd({}, out, small), /lse has 16 bytes, needs \[B\*H\*T=10\] = 40/);
      await expectThrows(() => fwd({}, out, lse, small), /qkv has 16 bytes, needs \[B\*T=5, ld=48\]/);
      await expectThrows(
        () => fwd({ rope: { cos: small, sin: small, prefix: 6 } }),
        /RoPE prefix 6 must be an integer in \[0, T = 5\]/,
      );
      await expectThrows(
        () => fwd({ rope: { cos: small, sin: small, prefix: 1 } }),
        /RoPE cos table has 16 bytes, needs \[P=4, Dh=8\] = 128/,
      );
      await expectThrows(
        () => fwd({ Dh: 6, rope: { cos: small, sin: small, prefix: 1 } }),
        /RoPE needs a head dim Dh divisible by 4, got 6/,
      );
      await expectThrows(
        () => attentionBackward(gpu, small, out, out, lse, qkv, { B, T, H, Dh, rope: null }),
        /attention\.bwd: dqkv has 16 bytes/,
      );
      await expectThrows(
        () => withVariants(gpu, { attention: 'fast' }, async () => fwd({})),
        /attention: unknown variant "fast" \(expected 'flash' or 'matmul'\)/,
      );
      await expectThrows(
        () => withVariants(gpu, { attention: 'flash', 'attention.tile': '24' }, async () => fwd({})),
        /attention\.tile: unknown size "24" \(expected 64, 32, 16, 8\)/,
      );
      for (const b of [qkv, out, lse, small]) b.destroy();
    },
  },
];

export const refCases: RefCase[] = [
  {
    name: 'attention reference: backward vs finite differences (RoPE, packed layout), forward vs softmax',
    run: () => {
      const B = 2,
        H = 2,
        Dh = 8,
        C = H * Dh,
        Hp = 1,
        Wp = 3,
        prefix = 1,
        T = prefix + Hp * Wp;
      const L = { ld: 3 * C + 2, offV: 0, offQ: C + 1, offK: 2 * C + 2 };
      const { cos, sin } = refRopeTables(Hp, Wp, Dh);
      const shape: ref.AttentionShape = { B, T, H, Dh, ...L, rope: { cos, sin, prefix } };
      const rng = new Rng(3);
      const qkv = randomArray(rng, B * T * L.ld, -2, 2);
      const w = randomArray(rng, B * T * C);
      const out = new Float64Array(B * T * C),
        lse = new Float64Array(B * H * T);
      const loss = (x: Float64Array) => {
        ref.attentionForward(out, lse, x, shape);
        return dotLoss(out, w);
      };
      loss(qkv);
      const dqkv = new Float64Array(B * T * L.ld);
      ref.attentionBackward(dqkv, w, out, lse, qkv, shape);
      // Padding columns have no gradient (and the backward leaves them at 0 here).
      checkGradFD(loss, qkv, dqkv, 'attention dqkv');

      // Without RoPE, out and lse are the plain softmax(scale q k^T) v of the softmax reference.
      const plain = { ...shape, rope: null };
      ref.attentionForward(out, lse, qkv, plain);
      const at = (t: number, off: number, h: number, d: number) => qkv[t * L.ld + off + h * Dh + d];
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          const s = new Float64Array(T * T);
          for (let i = 0; i < T; i++) {
            for (let j = 0; j < T; j++) {
              for (let d = 0; d < Dh; d++) s[i * T + j] += at(b * T + i, L.offQ, h, d) * at(b * T + j, L.offK, h, d);
            }
          }
          const P = new Float64Array(T * T);
          refSoftmax(P, s, T, T, 1 / Math.sqrt(Dh));
          for (let i = 0; i < T; i++) {
            let z = 0;
            for (let j = 0; j < T; j++) z += Math.exp(s[i * T + j] / Math.sqrt(Dh));
            expectClose([lse[(b * H + h) * T + i]], [Math.log(z)], { atol: 1e-12, rtol: 1e-12 }, 'reference lse');
            for (let d = 0; d < Dh; d++) {
              let o = 0;
              for (let j = 0; j < T; j++) o += P[i * T + j] * at(b * T + j, L.offV, h, d);
              expectClose([out[(b * T + i) * C + h * Dh + d]], [o], { atol: 1e-12, rtol: 1e-12 }, 'reference out');
            }
          }
        }
      }
    },
  },
];
