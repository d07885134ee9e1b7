/**
 * Kernel autotuning, once per Gpu: measures the candidate kernels of an op family on a
 * representative problem and stores the fastest in `gpu.variants` (family -> variant name).
 * Ops read that map when they record work (matmul: `pickKernel` in ./matmul.ts) and use a
 * per-adapter default while it is unset; setting it by hand forces a variant (tests do).
 *
 * Tuning needs GPU round trips, so it is async and cannot run inside the synchronous op calls:
 * call `await autotune(gpu)` once after creating the device, before recording work (it flushes
 * and waits). It does nothing for families that already have a choice, unless `force`.
 *
 * matmul: candidates are the kernels the adapter supports, except, on software adapters
 * (SwiftShader), those staging tiles in workgroup memory (barriers run as coroutines there: 10x
 * slower in tools/kernel-lab.ts, and 0.5 s to compile). The problem is a linear forward with
 * bias (transB, 4-aligned so the vec4 kernels run, and the pipeline the model's linears reuse):
 * 192^3 on software adapters (a few ms per call), 1024^3 on GPUs. Per candidate: one warm-up call
 * (compiles the pipeline: 0.1-0.3 s each on SwiftShader, most of the ~1 s tuning takes there; its
 * output is compared with the first candidate's, and a candidate that disagrees or fails is
 * dropped), then the best of `reps` timings of `iters` calls, candidates interleaved so that
 * load from other processes hits them alike.
 */
import type { Gpu } from '../gpu/device';
import { Rng, randomArray } from '../util/random';
import { matmulKernels, matmulSupported, matmulWith, type MatmulArgs, type MatmulKernel } from './matmul';

export interface TuneResult {
  /** Op family, the key in `gpu.variants`. */
  op: string;
  /** The variant now in `gpu.variants`. */
  choice: string;
  /** Best milliseconds per call of each candidate measured (NaN: dropped). */
  ms: Record<string, number>;
  /** Wall time the tuning took, in milliseconds (0 when a choice was already set). */
  totalMs: number;
}

export interface TuneOptions {
  /** Tune even when `gpu.variants` already has a choice. */
  force?: boolean;
  /** Problem size M = N = K (default: 256 on software adapters, 1024 on GPUs). */
  size?: number;
  reps?: number;
  iters?: number;
}

/** Tunes every op family that has variants (today: matmul). */
export async function autotune(gpu: Gpu, opts: TuneOptions = {}): Promise<TuneResult[]> {
  return [await autotuneMatmul(gpu, opts)];
}

export async function autotuneMatmul(gpu: Gpu, opts: TuneOptions = {}): Promise<TuneResult> {
  const current = gpu.variants.get('matmul');
  if (current !== undefined && !opts.force) return { op: 'matmul', choice: current, ms: {}, totalMs: 0 };
  const t0 = performance.now();
  const soft = gpu.report.isFallback;
  const n = opts.size ?? (soft ? 192 : 1024);
  const reps = opts.reps ?? 4;
  const iters = opts.iters ?? (soft ? 2 : 5);
  const bias = gpu.zeros(n, 'autotune bias');
  const args: MatmulArgs = { M: n, N: n, K: n, transB: true, bias, op: 'autotune.matmul' };
  await gpu.sync(); // surface earlier errors to the caller, not to a candidate

  const rng = new Rng(7);
  const A = gpu.upload(new Float32Array(randomArray(rng, n * n)), 'autotune A');
  const B = gpu.upload(new Float32Array(randomArray(rng, n * n)), 'autotune B');
  const C = gpu.zeros(n * n, 'autotune C');
  const ms: Record<string, number> = {};
  try {
    // Warm-up and check: the first kernel (the general one) is the reference for the others.
    const candidates: MatmulKernel[] = [];
    let want: Float32Array | null = null;
    const kernels = matmulKernels().filter((k) => matmulSupported(gpu, k) && !(soft && k.workgroupMemory));
    for (const k of kernels) {
      try {
        matmulWith(gpu, k, C, A, B, args);
        const got = await gpu.read(C);
        matmulWith(gpu, k, C, A, B, args); // a second untimed call: the first runs are slower
        await gpu.sync();
        want ??= got;
        if (!close(got, want, n)) throw new Error('wrong result');
        candidates.push(k);
        ms[k.name] = Infinity;
      } catch {
        ms[k.name] = NaN;
      }
    }
    for (let r = 0; r < reps; r++) {
      for (const k of candidates) {
        await gpu.sync();
        const t = performance.now();
        for (let i = 0; i < iters; i++) matmulWith(gpu, k, C, A, B, args);
        await gpu.sync();
        ms[k.name] = Math.min(ms[k.name], (performance.now() - t) / iters);
      }
    }
    if (candidates.length === 0) throw new Error('autotune: no matmul kernel ran correctly');
    const best = candidates.reduce((a, b) => (ms[b.name] < ms[a.name] ? b : a));
    gpu.variants.set('matmul', best.name);
    return { op: 'matmul', choice: best.name, ms, totalMs: performance.now() - t0 };
  } finally {
    for (const b of [A, B, C, bias]) b.destroy();
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
