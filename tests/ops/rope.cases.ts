/**
 * rope (DINOv3 2-D RoPE): tables vs docs/model.md#rope-reference, GPU vs float64 reference on
 * non-square grids with a 5-row prefix (CLS + 4 registers), forward-then-backward identity,
 * and the reference backward vs finite differences.
 */
import type { Gpu } from '../../src/gpu/device';
import { ropeAngles, ropeBackward, ropeForward, ropeInvFreq, ropeTables } from '../../src/ops/rope';
import * as ref from '../../src/ref/rope';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, dotLoss, expectClose, expectThrows, f32, type Tol } from '../helpers/check';
import type { GpuCase, RefCase } from '../helpers/cases';

/**
 * Two f32 products and a sum per output with f32 tables (vs float64 tables in the reference):
 * a few ulp of |x|. `amp` scales x, so atol scales with it.
 */
const tolFor = (amp: number): Tol => ({ atol: 1e-6 * amp, rtol: 1e-5 });

async function ropeCase(
  gpu: Gpu,
  B: number,
  Hp: number,
  Wp: number,
  prefix: number,
  H: number,
  Dh: number,
  amp = 1,
): Promise<void> {
  const P = Hp * Wp,
    T = prefix + P,
    C = H * Dh,
    n = B * T * C;
  const rng = new Rng(B * 7919 + Hp * 97 + Wp * 13 + prefix * 5 + H * 3 + Dh);
  const x = randomArray(rng, n, -amp, amp);
  const dy = randomArray(rng, n, -amp, amp);
  const t64 = ref.ropeTables(Hp, Wp, Dh);
  const t32 = ropeTables(Hp, Wp, Dh);

  const yRef = x.slice();
  ref.ropeForward(yRef, t64.cos, t64.sin, B, T, C, H, prefix);
  const dxRef = dy.slice();
  ref.ropeBackward(dxRef, t64.cos, t64.sin, B, T, C, H, prefix);

  const gcos = gpu.upload(t32.cos),
    gsin = gpu.upload(t32.sin);
  const gx = gpu.upload(f32(x));
  const gdy = gpu.upload(f32(dy));
  const gxx = gpu.upload(f32(x)); // forward then backward: identity
  ropeForward(gpu, gx, gcos, gsin, B, T, C, H, prefix);
  ropeBackward(gpu, gdy, gcos, gsin, B, T, C, H, prefix);
  ropeForward(gpu, gxx, gcos, gsin, B, T, C, H, prefix);
  ropeBackward(gpu, gxx, gcos, gsin, B, T, C, H, prefix);
  const shape = `B=${B} grid ${Hp}x${Wp} prefix=${prefix} H=${H} Dh=${Dh} |x|<=${amp}`;
  const y = await gpu.read(gx);
  expectClose(y, yRef, tolFor(amp), `rope.fwd ${shape}`);
  expectClose(await gpu.read(gdy), dxRef, tolFor(amp), `rope.bwd ${shape}`);
  expectClose(await gpu.read(gxx), x, tolFor(amp), `rope.fwd then rope.bwd = identity ${shape}`);
  // Prefix rows (CLS, registers) are untouched bit for bit.
  for (let b = 0; b < B; b++) {
    for (let i = b * T * C; i < (b * T + prefix) * C; i++) {
      if (y[i] !== x[i]) throw new Error(`rope.fwd ${shape}: prefix element [${i}] changed`);
    }
  }
  for (const buf of [gcos, gsin, gx, gdy, gxx]) buf.destroy();
}

export const gpuCases: GpuCase[] = [
  { name: 'rope B=2 grid 3x5 prefix 5 H=2 Dh=8', run: (g) => ropeCase(g, 2, 3, 5, 5, 2, 8) },
  { name: 'rope B=2 grid 3x5 prefix 5 H=2 Dh=64', run: (g) => ropeCase(g, 2, 3, 5, 5, 2, 64) },
  {
    name: 'rope B=1 grid 5x3 prefix 1 H=3 Dh=16, |x| <= 1e3',
    run: (g) => ropeCase(g, 1, 5, 3, 1, 3, 16, 1e3),
  },
  {
    name: 'rope B=2 grid 14x14 prefix 5 H=6 Dh=64 (DINOv3 S/16, T=201)',
    run: (g) => ropeCase(g, 2, 14, 14, 5, 6, 64),
  },
  {
    // 4 * 196 * 12 * 32 = 301056 invocations > 4096 workgroups of 64: a 2-D workgroup grid.
    name: 'rope B=4 grid 14x14 prefix 5 H=12 Dh=64 (DINOv3 B/16, 2-D workgroup grid)',
    run: (g) => ropeCase(g, 4, 14, 14, 5, 12, 64),
  },
  {
    name: 'rope rejects tables of the wrong size',
    run: async (gpu) => {
      const t = ropeTables(3, 5, 8);
      const gcos = gpu.upload(t.cos),
        gsin = gpu.upload(t.sin),
        x = gpu.zeros(2 * 21 * 16);
      // T = 21 with prefix 5 needs 16 table rows; the tables have 15.
      await expectThrows(() => ropeForward(gpu, x, gcos, gsin, 2, 21, 16, 2, 5), /rope\.fwd: tables/);
      await expectThrows(() => ropeTables(3, 5, 6), /multiple of 4/);
      for (const b of [gcos, gsin, x]) b.destroy();
    },
  },
];

export const refCases: RefCase[] = [
  {
    name: 'rope tables match the docs/model.md reference numbers (14x14, Dh=64, theta 100)',
    run: () => {
      const specInvFreq = [
        1.0, 0.7498942, 0.56234133, 0.42169651, 0.31622776, 0.23713739, 0.17782794, 0.13335215, 0.1, 0.074989416,
        0.056234129, 0.042169649, 0.031622779, 0.023713736, 0.017782794, 0.013335215,
      ];
      expectClose(ropeInvFreq(64, 100), specInvFreq, { atol: 0, rtol: 2e-7 }, 'inv_freq');
      const ang = ropeAngles(14, 14, 64);
      // ang[p, 0] = 2π y_p, ang[p, 16] = 2π x_p (inv_freq[0] = 1): the patch-centre coordinates.
      const coord = (p: number) => [ang[p * 32] / (2 * Math.PI), ang[p * 32 + 16] / (2 * Math.PI)];
      expectClose(
        [...coord(0), ...coord(1), ...coord(14)],
        [-0.9285714, -0.9285714, -0.9285714, -0.7857143, -0.7857143, -0.9285714],
        { atol: 1e-7, rtol: 0 },
        'patch-centre coordinates p=0, 1, 14',
      );
      expectClose([ang[0]], [-5.8343863], { atol: 1e-6, rtol: 0 }, 'ang[0,0]');
      const t = ropeTables(14, 14, 64);
      const tol = { atol: 1e-7, rtol: 0 };
      expectClose([t.cos[0], t.sin[0]], [0.90096885, 0.43388376], tol, 'cos/sin[0,0]');
      // Tiled x2: channel d and d + 32 carry the same angle; channels 0-15 y, 16-31 x.
      for (let p = 0; p < 196; p++) {
        for (let d = 0; d < 32; d++) {
          const i = p * 64 + d;
          if (t.cos[i] !== t.cos[i + 32] || t.sin[i] !== t.sin[i + 32]) {
            throw new Error(`rope table not tiled x2 at p=${p}, d=${d}`);
          }
        }
      }
      if (t.cos.length !== 196 * 64) throw new Error(`cos table length ${t.cos.length}`);
    },
  },
  {
    name: 'rope reference backward vs finite differences; forward then backward = identity',
    run: () => {
      const B = 2,
        Hp = 3,
        Wp = 5,
        prefix = 5,
        H = 2,
        Dh = 8;
      const T = prefix + Hp * Wp,
        C = H * Dh,
        n = B * T * C;
      const { cos, sin } = ref.ropeTables(Hp, Wp, Dh);
      const rng = new Rng(4);
      const x = randomArray(rng, n);
      const w = randomArray(rng, n);
      const loss = (xx: Float64Array) => {
        const y = xx.slice();
        ref.ropeForward(y, cos, sin, B, T, C, H, prefix);
        return dotLoss(y, w);
      };
      const dx = w.slice();
      ref.ropeBackward(dx, cos, sin, B, T, C, H, prefix);
      checkGradFD(loss, x, dx, 'rope dx');
      const y = x.slice();
      ref.ropeForward(y, cos, sin, B, T, C, H, prefix);
      ref.ropeBackward(y, cos, sin, B, T, C, H, prefix);
      expectClose(y, x, { atol: 1e-14, rtol: 0 }, 'rope reference backward(forward(x)) = x');
    },
  },
];
