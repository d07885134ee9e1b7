/**
 * softmax: GPU vs float64 reference on row lengths that are not multiples of the workgroup
 * size (7, 201, 257), with a logit scale, in place, and on rows of huge logits (±1e4, all-equal
 * rows, one dominant entry) that must not produce NaN/Inf, for both kernel layouts ('row':
 * one invocation per row, 'wg': one workgroup per row); reference backward vs finite
 * differences.
 */
import type { Gpu } from '../../src/gpu/device';
import { softmaxBackward, softmaxForward, type SoftmaxVariant } from '../../src/ops/softmax';
import * as ref from '../../src/ref/softmax';
import { Rng, randomArray } from '../../src/util/random';
import { checkGradFD, dotLoss, expectClose, f32, type Tol } from '../helpers/check';
import { withVariants, type GpuCase, type RefCase } from '../helpers/cases';

/**
 * Probabilities: f32 exp (WGSL allows 3 + 2|x| ulp) and an f32 row sum over up to 257 terms.
 * Gradients: the same plus the f32 dot product rowsum(dout ⊙ out).
 */
const TOL_OUT: Tol = { atol: 1e-6, rtol: 2e-5 };
const TOL_GRAD: Tol = { atol: 2e-6, rtol: 2e-5 };

function expectFinite(a: ArrayLike<number>, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new Error(`${what}: element [${i}] is ${a[i]}`);
  }
}

/** Rows of extreme logits, cycling through the kinds below (values exact in f32). */
function extremeRows(rng: Rng, R: number, L: number): Float64Array {
  const x = new Float64Array(R * L);
  for (let r = 0; r < R; r++) {
    const row = x.subarray(r * L, (r + 1) * L);
    const hot = rng.int(L);
    switch (r % 8) {
      case 0:
        for (let j = 0; j < L; j++) row[j] = Math.fround(rng.uniform(-1e4, 1e4));
        break;
      case 1:
        row.fill(1e4);
        break; // all equal, huge
      case 2:
        row.fill(-1e4);
        break; // all equal, hugely negative
      case 3:
        row.fill(0);
        row[hot] = 1e4;
        break; // one dominant entry
      case 4:
        row.fill(0);
        row[hot] = -1e4;
        break; // one hugely negative entry
      case 5:
        row.fill(-1e4);
        row[hot] = 1e4;
        row[(hot + 3) % L] = 1e4;
        break; // tied maxima
      case 6:
        for (let j = 0; j < L; j++) row[j] = Math.fround(1e4 + rng.uniform(-8, 8));
        break;
      default:
        for (let j = 0; j < L; j++) row[j] = Math.fround(rng.uniform(-3, 3));
    }
  }
  return x;
}

async function softmaxCase(
  gpu: Gpu,
  variant: SoftmaxVariant,
  R: number,
  L: number,
  scale: number,
  logits: (rng: Rng) => Float64Array,
): Promise<void> {
  await withVariants(gpu, { softmax: variant }, () =>
    softmaxChecks(gpu, `${variant}: R=${R} L=${L} scale=${scale}`, R, L, scale, logits),
  );
}

async function softmaxChecks(
  gpu: Gpu,
  shape: string,
  R: number,
  L: number,
  scale: number,
  logits: (rng: Rng) => Float64Array,
): Promise<void> {
  const rng = new Rng(R * 1009 + L);
  const x = logits(rng);
  const dout = randomArray(rng, R * L);
  const dinp0 = randomArray(rng, R * L); // the backward accumulates: start non-zero
  const outRef = new Float64Array(R * L);
  ref.softmaxForward(outRef, x, R, L, scale);
  const dinpRef = dinp0.slice();
  ref.softmaxBackward(dinpRef, dout, outRef, R, L, scale);
  const dsRef = dout.slice(); // in-place, overwriting form (as the attention backward uses it)
  ref.softmaxBackward(dsRef, dsRef, outRef, R, L, scale, false);

  const gx = gpu.upload(f32(x));
  const gout = gpu.zeros(R * L);
  const gdout = gpu.upload(f32(dout));
  const gdinp = gpu.upload(f32(dinp0));
  const gxy = gpu.upload(f32(x)); // in-place forward
  const gds = gpu.upload(f32(dout)); // in-place backward
  softmaxForward(gpu, gout, gx, R, L, scale);
  softmaxBackward(gpu, gdinp, gdout, gout, R, L, scale);
  softmaxForward(gpu, gxy, gxy, R, L, scale);
  softmaxBackward(gpu, gds, gds, gout, R, L, scale, false);
  const out = await gpu.read(gout);
  const dinp = await gpu.read(gdinp);
  const outInPlace = await gpu.read(gxy);
  const ds = await gpu.read(gds);
  expectFinite(out, `softmax out ${shape}`);
  expectFinite(dinp, `softmax dinp ${shape}`);
  expectFinite(outInPlace, `softmax out (in place) ${shape}`);
  expectFinite(ds, `softmax ds (in place) ${shape}`);
  expectClose(out, outRef, TOL_OUT, `softmax.fwd out ${shape}`);
  expectClose(outInPlace, outRef, TOL_OUT, `softmax.fwd in place ${shape}`);
  expectClose(dinp, dinpRef, TOL_GRAD, `softmax.bwd dinp ${shape}`);
  expectClose(ds, dsRef, TOL_GRAD, `softmax.bwd in place, overwrite ${shape}`);
  for (const b of [gx, gout, gdout, gdinp, gxy, gds]) b.destroy();
}

const uniform = (R: number, L: number, lo: number, hi: number) => (rng: Rng) => randomArray(rng, R * L, lo, hi);

const shapes: [string, number, number, number, (rng: Rng) => Float64Array][] = [
  ['1 row, L=1', 1, 1, 1, uniform(1, 1, -2, 2)],
  ['5 rows, L=7', 5, 7, 1, uniform(5, 7, -4, 4)],
  ['201 rows, L=201, scale 0.37', 201, 201, 0.37, uniform(201, 201, -10, 10)],
  ['9 rows, L=257', 9, 257, 1, uniform(9, 257, -6, 6)],
  ['huge logits ±1e4, L=201', 16, 201, 1, (rng) => extremeRows(rng, 16, 201)],
  ['huge logits ±1e4, L=7, scale 0.125', 8, 7, 0.125, (rng) => extremeRows(rng, 8, 7)],
  ['huge logits ±1e4, L=257, scale -1', 8, 257, -1, (rng) => extremeRows(rng, 8, 257)],
];

export const gpuCases: GpuCase[] = (['row', 'wg'] as const).flatMap((variant) =>
  shapes.map(([name, R, L, scale, logits]) => ({
    name: `softmax [${variant}] ${name}`,
    run: (g: Gpu) => softmaxCase(g, variant, R, L, scale, logits),
  })),
);
// More than GRID_X = 4096 workgroups: the rows spill into a second grid dimension.
// (The 'wg' layout maps workgroups to rows by the same formula; 4100 of its workgroups take
// ~5 s on SwiftShader, so only 'row' runs here.)
gpuCases.push({
  name: 'softmax [row] 262400 rows (2-D workgroup grid), L=3',
  run: (g) => softmaxCase(g, 'row', 4100 * 64, 3, 1, uniform(4100 * 64, 3, -5, 5)),
});

export const refCases: RefCase[] = [
  {
    name: 'softmax reference backward vs finite differences (scale 0.7)',
    run: () => {
      const R = 3,
        L = 6,
        scale = 0.7;
      const rng = new Rng(2);
      const x = randomArray(rng, R * L, -2, 2);
      const w = randomArray(rng, R * L);
      const out = new Float64Array(R * L);
      const loss = (xx: Float64Array) => {
        ref.softmaxForward(out, xx, R, L, scale);
        return dotLoss(out, w);
      };
      loss(x);
      const dx = new Float64Array(R * L);
      ref.softmaxBackward(dx, w, out, R, L, scale);
      checkGradFD(loss, x, dx, 'softmax dinp');
    },
  },
];
