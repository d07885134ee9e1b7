/**
 * Kernel autotuning, once per Gpu: measures the candidate kernels of an op family on a
 * representative problem and stores the fastest in `gpu.variants` (family -> variant name).
 * Ops read that map when they record work (matmul: `pickKernel` in ./matmul-kernels.ts) and use a
 * per-adapter default while it is unset; setting it by hand forces a variant (tests do).
 *
 * Tuning needs GPU round trips, so it is async and cannot run inside the synchronous op calls:
 * call `await autotune(gpu)` once after creating the device, before recording work (it flushes
 * and waits). It does nothing for families that already have a choice, unless `force`.
 *
 * matmul: candidates are the kernels the adapter supports, except, with software defaults
 * (`gpu.defaults`: SwiftShader), those staging tiles in workgroup memory (barriers run as
 * coroutines there: 10x slower in tools/kernel-lab.ts, and 0.5 s to compile). On GPUs the
 * problems are a model's real shapes, the three products of a linear (`linearShapes`): forward
 * (x W^T with bias, transB), input gradient (dy W) and weight gradient (dy^T x, transA); a
 * candidate's score is its total time over them. At start-up (no model chosen yet) those of
 * ViT-B/16's q|k|v at 8 images of 201 tokens; `shapes` gives others. On software adapters one
 * 192^3 linear forward (a few ms per call).
 * Per candidate and problem: one warm-up call (compiles the pipeline: 0.1-0.3 s each on
 * SwiftShader, most of the ~1 s tuning takes there; its output is compared with the first
 * candidate's, and a candidate that disagrees or fails is dropped), then the best of `reps`
 * timings of `iters` calls, candidates interleaved so that load from other processes hits them
 * alike.
 *
 * matmul-f16 (GPU defaults only; software adapters keep 'matmul' for every call): the same
 * problems with A and B packed f16 (src/gpu/f16.ts, the `fp16` path), whose candidates add the
 * variants that only pay off there: native shader-f16 loads and subgroup matrices (tensor cores),
 * where the adapter has the features. The 'matmul' family leaves those out (on f32 data the
 * native-f16 variants are their twins' code, and subgroup matrices cannot run). Tuned only when
 * asked (`f16`: the trainer asks when `fp16` is on), so a start without fp16 measures one family,
 * not two; until then packed-f16 calls take the 'matmul' choice. The trainer measures it at its
 * model's q|k|v products over one chunk of images.
 */
import type { Gpu } from '../gpu/device';
import { uploadF16 } from '../gpu/f16';
import { Rng, randomArray } from '../util/random';
import { matmulKernels, matmulLegal, matmulSupported, matmulWith, type MatmulArgs, type MatmulKernel } from './matmul';

export interface TuneResult {
  /** Op family, the key in `gpu.variants`. */
  op: string;
  /** The variant now in `gpu.variants`. */
  choice: string;
  /** Milliseconds per call of each candidate (best of the reps, summed over the problems; NaN: dropped). */
  ms: Record<string, number>;
  /** Wall time the tuning took, in milliseconds (0 when a choice was already set). */
  totalMs: number;
}

/** One product autotune times: op(A) [M, K] x op(B) [K, N] (+ bias). */
export interface TuneShape {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
}

/**
 * The three products of a linear layer inF -> outF over `rows` token rows: the forward x W^T + b,
 * its input gradient dy W and its weight gradient dy^T x.
 */
export function linearShapes(rows: number, inF: number, outF: number): TuneShape[] {
  return [
    { M: rows, N: outF, K: inF, transB: true, bias: true },
    { M: rows, N: inF, K: outF },
    { M: outF, N: inF, K: rows, transA: true },
  ];
}

/** GPU problems by default: ViT-B/16's q|k|v linear (768 -> 2304) over 8 images of 201 tokens. */
const VIT_B_QKV = linearShapes(8 * 201, 768, 2304);

export interface TuneOptions {
  /** Tune even when `gpu.variants` already has a choice. */
  force?: boolean;
  /** One square problem M = N = K instead of the default problems. */
  size?: number;
  /** These problems instead of the default ones (e.g. the model's own: `linearShapes`). */
  shapes?: TuneShape[];
  reps?: number;
  iters?: number;
  /** Also tune 'matmul-f16' (GPU defaults only), the GEMMs of the fp16 path. */
  f16?: boolean;
}

/** Tunes 'matmul', and with `f16` (on GPU defaults) 'matmul-f16'; the results in that order. */
export async function autotune(gpu: Gpu, opts: TuneOptions = {}): Promise<TuneResult[]> {
  const out = [await autotuneMatmul(gpu, opts)];
  const f16 = opts.f16 ? await autotuneF16(gpu, opts) : null;
  return f16 ? [...out, f16] : out;
}

/** Tunes 'matmul-f16' where it applies (GPU defaults; null elsewhere): the fp16 path's GEMMs. */
export async function autotuneF16(gpu: Gpu, opts: TuneOptions = {}): Promise<TuneResult | null> {
  return gpu.defaults === 'gpu' ? autotuneMatmul(gpu, opts, 'matmul-f16') : null;
}

export async function autotuneMatmul(
  gpu: Gpu,
  opts: TuneOptions = {},
  family: 'matmul' | 'matmul-f16' = 'matmul',
): Promise<TuneResult> {
  const current = gpu.variants.get(family);
  if (current !== undefined && !opts.force) return { op: family, choice: current, ms: {}, totalMs: 0 };
  const f16 = family === 'matmul-f16';
  const t0 = performance.now();
  const soft = gpu.defaults === 'software';
  const reps = opts.reps ?? 4;
  const iters = opts.iters ?? (soft ? 2 : 5);
  const square = (n: number): TuneShape[] => [{ M: n, N: n, K: n, transB: true, bias: true }];
  const shapes = opts.size ? square(opts.size) : (opts.shapes ?? (soft ? square(192) : VIT_B_QKV));
  await gpu.sync(); // surface earlier errors to the caller, not to a candidate

  const rng = new Rng(7);
  const problems = shapes.map((sh) => {
    const up = (n: number, label: string) => {
      const x = new Float32Array(randomArray(rng, n));
      return f16 ? uploadF16(gpu, x, label) : gpu.upload(x, label);
    };
    const a = up(sh.M * sh.K, 'autotune A');
    const b = up(sh.K * sh.N, 'autotune B');
    const c = gpu.zeros(sh.M * sh.N, 'autotune C');
    const bias = sh.bias ? gpu.zeros(sh.N, 'autotune bias') : undefined;
    const args: MatmulArgs = {
      M: sh.M,
      N: sh.N,
      K: sh.K,
      transA: sh.transA,
      transB: sh.transB,
      bias,
      op: 'autotune.matmul',
    };
    return { a, b, c, bias, args, K: sh.K };
  });
  const ms: Record<string, number> = {};
  try {
    // Warm-up and check: the first kernel (the general one) is the reference for the others.
    const candidates: MatmulKernel[] = [];
    const want: (Float32Array | null)[] = problems.map(() => null);
    const kernels = matmulKernels().filter(
      (k) => matmulSupported(gpu, k) && !(soft && k.workgroupMemory) && (f16 || !(k.f16Operands || k.schedule?.half)),
    );
    for (const k of kernels) {
      try {
        for (const [i, p] of problems.entries()) {
          if (!matmulLegal(gpu, k, p.a, p.b, p.args)) throw new Error('not legal here');
          matmulWith(gpu, k, p.c, p.a, p.b, p.args);
          const got = await gpu.read(p.c);
          matmulWith(gpu, k, p.c, p.a, p.b, p.args); // a second untimed call: the first runs are slower
          await gpu.sync();
          want[i] ??= got;
          if (!close(got, want[i], p.K)) throw new Error('wrong result');
        }
        candidates.push(k);
        ms[k.name] = Infinity;
      } catch {
        ms[k.name] = NaN;
      }
    }
    for (const k of candidates) ms[k.name] = 0;
    for (const p of problems) {
      const best = new Map<string, number>();
      for (let r = 0; r < reps; r++) {
        for (const k of candidates) {
          await gpu.sync();
          const t = performance.now();
          for (let i = 0; i < iters; i++) matmulWith(gpu, k, p.c, p.a, p.b, p.args);
          await gpu.sync();
          best.set(k.name, Math.min(best.get(k.name) ?? Infinity, (performance.now() - t) / iters));
        }
      }
      for (const k of candidates) ms[k.name] += best.get(k.name)!;
    }
    if (candidates.length === 0) throw new Error(`autotune: no ${family} kernel ran correctly`);
    const best = candidates.reduce((a, b) => (ms[b.name] < ms[a.name] ? b : a));
    gpu.variants.set(family, best.name);
    return { op: family, choice: best.name, ms, totalMs: performance.now() - t0 };
  } finally {
    for (const p of problems) for (const b of [p.a, p.b, p.c, p.bias]) b?.destroy();
  }
}

/** Same result up to f32 rounding of K-long dot products. */
function close(a: Float32Array, b: Float32Array, K: number): boolean {
  const atol = 1e-5 * Math.sqrt(K);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= atol + 1e-4 * Math.abs(b[i]))) return false;
  }
  return true;
}
