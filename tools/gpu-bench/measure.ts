/**
 * The Node side of tools/gpu-bench: our code through the normal `Gpu` (src/gpu), timed on the
 * adapter Dawn gives (an NVIDIA GPU on the device machine; SwiftShader in tests and --tiny).
 *
 *   adapterReport  what Dawn reported: adapter info (vendor, architecture, subgroup matrix
 *                  configurations), adapter and device features, limits, the toggles used
 *   gemmSection    every matmul variant of src/ops/matmul-kernels.ts (`matmulKernels()`, so variants
 *                  added later are picked up; plus `tiled_128x64.packed_f16`, the default GPU
 *                  kernel on packed-f16 operands, the unpack2x16float baseline of the native-f16
 *                  and subgroup-matrix variants) at each GEMM shape of the plan, plus autotune's
 *                  picks (src/ops/autotune.ts, forced, on this adapter: matmul and, on GPUs,
 *                  matmul-f16). f16-class variants get packed-f16 A and B (the f32 inputs
 *                  rounded), and their reference is the float64 product of the rounded values.
 *                  Per shape and variant:
 *                  unsupported (adapter features), not legal (alignment), failed (threw, GPU
 *                  error, or disagrees with a float64 reference), ok (median ms, TFLOP/s), or
 *                  skipped (time budget). The check: the sampled rows of C are poisoned with NaN,
 *                  one call runs, and 8 rows x 64 columns are compared with float64 dot products
 *                  of the same inputs: ||out - ref|| / ||ref|| within 1e-4 for f32 variants,
 *                  1e-2 for f16 / subgroup-matrix ones (f16 inputs; METHOD.md's ranges); the
 *                  max |out - ref| is recorded and printed with it.
 *                  Timing: each sample records `calls` products (enough for ~15 ms of GPU work),
 *                  then starts the clock and waits for `gpu.sync()` (submit + onSubmittedWorkDone),
 *                  so JS recording is not timed; the median of the samples.
 *   modelSection   a bench entry (bench/model: the ViT forward, the LoRA training step) timed
 *                  whole, recording included: one warm-up (pipelines), its `check()` (unit-norm
 *                  embeddings, finite loss), then iterations of run() + gpu.sync() until 5 or
 *                  the time budget; the median.
 * Each section stops starting new measurements once its budget is spent and marks the rest
 * skipped, so one slow part cannot eat the others' time (run.sh also kills a section at a hard
 * limit; bench.ts writes results as they come).
 */
import { modelEntry } from '../../bench/model/vit.bench';
import { trainEntry } from '../../bench/model/train.bench';
import type { ModelBench, TrainBench } from '../../bench/model/models';
import type { BenchEntry } from '../../bench/types';
import { randomF32 } from '../../bench/util';
import type { Gpu } from '../../src/gpu/device';
import { roundF16, uploadF16 } from '../../src/gpu/f16';
import { UNSAFE_FEATURE_TOGGLES } from '../../src/gpu/device-node';
import { autotune } from '../../src/ops/autotune';
import {
  defaultMatmulVariant,
  matmulKernel,
  matmulKernels,
  matmulLegal,
  matmulSupported,
  matmulWith,
  type MatmulArgs,
  type MatmulKernel,
} from '../../src/ops/matmul';
import { Rng } from '../../src/util/random';
import type { GemmShape, Plan } from './plan';

export interface SectionOpts {
  /** Soft budget: no new measurement starts after it. */
  budgetMs: number;
  log?: (line: string) => void;
  /** Called with the partial result after each row (bench.ts writes it to disk). */
  progress?: (partial: unknown) => void;
}

// ------------------------------------------------------------------ adapter

export interface AdapterReport {
  describe: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallback: boolean;
  /** A real NVIDIA GPU (not a software adapter): the only kind whose numbers the bench reports. */
  isNvidia: boolean;
  /** adapter.info as Dawn gave it (subgroupMatrixConfigs serialized). */
  info: Record<string, unknown>;
  adapterFeatures: string[];
  deviceFeatures: string[];
  limits: Record<string, number>;
  toggles: string[];
}

export function adapterReport(gpu: Gpu, adapter: GPUAdapter | null): AdapterReport {
  const r = gpu.report;
  const info: Record<string, unknown> = {};
  const raw = (adapter?.info ?? {}) as unknown as Record<string, unknown>;
  for (const key in raw) info[key] = plain(raw[key]);
  const name = `${r.vendor} ${r.architecture} ${r.device} ${r.description}`;
  return {
    describe: gpu.describe(),
    vendor: r.vendor,
    architecture: r.architecture,
    device: r.device,
    description: r.description,
    isFallback: r.isFallback,
    isNvidia: !r.isFallback && /nvidia/i.test(name),
    info,
    adapterFeatures: adapter ? [...adapter.features].sort() : [],
    deviceFeatures: r.features,
    limits: r.limits,
    toggles: UNSAFE_FEATURE_TOGGLES,
  };
}

/** Dawn's info objects (GPUSubgroupMatrixConfig ...) as plain JSON values. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const key in v) o[key] = plain((v as Record<string, unknown>)[key]);
    return o;
  }
  return v;
}

// ------------------------------------------------------------------ GEMM

/** 'f16' for variants that compute from f16 values (f16 storage, shader-f16, subgroup matrices). */
export type VariantClass = 'f32' | 'f16';

/**
 * A matmul variant's precision class, from what it declares (src/ops/matmul-kernels.ts MatmulKernel, its
 * schedule included): f16 when its name, shader, schedule or a string field mentions f16, half or
 * subgroup matrices (`precision: 'f16'`, `kind: 'subgroup_matrix'`, `features: ['shader-f16']`),
 * or a flag so named is true (`shaderF16: true`); its `fallback` does not count.
 */
export function variantClass(k: MatmulKernel): VariantClass {
  const F16 = /f16|half|subgroup_?matrix|sgmat|sg_mat|coop/i;
  const declares = (v: unknown, key: string): boolean => {
    if (key === 'fallback') return false;
    if (v === true) return F16.test(key);
    if (typeof v === 'string') return F16.test(v);
    if (v && typeof v === 'object') return Object.entries(v).some(([k2, v2]) => declares(v2, k2));
    return false;
  };
  return declares(k, '') ? 'f16' : 'f32';
}

/** What a variant runs: its static shader or its generated schedule. */
export function kernelSource(k: MatmulKernel): string {
  const rec = k as unknown as { shader?: string; schedule?: unknown };
  return rec.shader ?? JSON.stringify(rec.schedule ?? null);
}

export const TOLERANCE: Record<VariantClass, number> = { f32: 1e-4, f16: 1e-2 };

export interface VariantInfo {
  name: string;
  /** `kernelSource`. */
  source: string;
  class: VariantClass;
  supported: boolean;
}

export interface VariantResult {
  status: 'ok' | 'failed' | 'unsupported' | 'not legal' | 'skipped';
  ms?: number;
  tflops?: number;
  /** Products per timed sample, and the samples' ms per product. */
  calls?: number;
  samples?: number[];
  /** ||out - ref|| / ||ref|| over the sampled entries. */
  relErr?: number;
  /** max |out - ref| over the sampled entries. */
  maxErr?: number;
  note?: string;
}

export interface GemmRow extends GemmShape {
  variants: Record<string, VariantResult>;
}

export interface GemmSection {
  variants: VariantInfo[];
  autotune: { choice: string; ms: Record<string, number>; totalMs: number; f16?: string } | { error: string };
  rows: GemmRow[];
  complete: boolean;
}

const now = () => performance.now();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Sampled output rows (first, last, 6 spread) and 64 columns (first, last, random). */
function sample(sh: GemmShape, seed: number): { rows: number[]; cols: number[] } {
  const rng = new Rng(seed);
  const pick = (n: number, k: number) => {
    const s = new Set([0, n - 1]);
    while (s.size < Math.min(n, k)) s.add(rng.int(n));
    return [...s].sort((a, b) => a - b);
  };
  return { rows: pick(sh.M, 8), cols: pick(sh.N, 64) };
}

/** Float64 C[r, c] of op(A) op(B) for the sampled entries (A, B dense as the shape stores them). */
function reference(sh: GemmShape, A: Float32Array, B: Float32Array, rows: number[], cols: number[]): Float64Array {
  const { M, N, K, transA, transB } = sh;
  const out = new Float64Array(rows.length * cols.length);
  rows.forEach((r, i) => {
    cols.forEach((c, j) => {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[transA ? k * M + r : r * K + k] * B[transB ? c * K + k : k * N + c];
      out[i * cols.length + j] = s;
    });
  });
  return out;
}

export interface GemmOpts extends SectionOpts {
  /** The variants to measure (default: `benchKernels()`; tests add a broken one). */
  kernels?: MatmulKernel[];
  /** Run autotune (forced) and record its pick (default true). */
  autotune?: boolean;
}

/** Every variant of the kernel table, and the default GPU kernel on packed-f16 operands. */
export function benchKernels(): MatmulKernel[] {
  return [...matmulKernels(), { ...matmulKernel('tiled_128x64'), name: 'tiled_128x64.packed_f16' }];
}

export async function gemmSection(gpu: Gpu, plan: Plan, opts: GemmOpts): Promise<GemmSection> {
  const log = opts.log ?? (() => {});
  const t0 = now();
  const tiny = plan.mode === 'tiny';
  const SAMPLES = tiny ? 3 : 4;
  const TARGET_MS = tiny ? 5 : 15;
  const kernels = opts.kernels ?? benchKernels();
  const section: GemmSection = {
    variants: kernels.map((k) => ({
      name: k.name,
      source: kernelSource(k),
      class: variantClass(k),
      supported: matmulSupported(gpu, k),
    })),
    autotune: { error: 'not run' },
    rows: [],
    complete: false,
  };
  if (opts.autotune === false) section.autotune = { error: 'not run (autotune: false)' };
  else
    try {
      const [r, h] = await autotune(gpu, { force: true, f16: true });
      section.autotune = { choice: r.choice, ms: r.ms, totalMs: r.totalMs + (h?.totalMs ?? 0), f16: h?.choice };
      for (const x of [r, h]) {
        if (!x) continue;
        log(
          `[gemm] autotune picks ${x.choice} for ${x.op} (${Object.entries(x.ms)
            .map(([k, v]) => `${k} ${v.toFixed(3)} ms`)
            .join(', ')})`,
        );
      }
    } catch (e) {
      section.autotune = { error: (e as Error).message };
      log(`[gemm] autotune failed: ${(e as Error).message}`);
    }
  opts.progress?.(section);

  // One pair of random operand buffers serves every shape: each reads its dense A and B from the
  // start (uniform in [-1, 1), never zeros: METHOD.md).
  const maxA = Math.max(...plan.gemm.map((s) => s.M * s.K));
  const maxB = Math.max(...plan.gemm.map((s) => s.K * s.N));
  const maxC = Math.max(...plan.gemm.map((s) => s.M * s.N));
  const hostA = randomF32(maxA, 101),
    hostB = randomF32(maxB, 102);
  const A = gpu.upload(hostA, 'gpubench A'),
    B = gpu.upload(hostB, 'gpubench B');
  const C = gpu.zeros(maxC, 'gpubench C');
  // f16-class variants: the same values rounded to f16, packed (uploadF16 rounds the same way)
  const f16Used = kernels.some((k) => variantClass(k) === 'f16');
  const hostA16 = f16Used ? hostA.map(roundF16) : hostA,
    hostB16 = f16Used ? hostB.map(roundF16) : hostB;
  const A16 = f16Used ? uploadF16(gpu, hostA, 'gpubench A f16') : A,
    B16 = f16Used ? uploadF16(gpu, hostB, 'gpubench B f16') : B;
  try {
    for (const [si, sh] of plan.gemm.entries()) {
      const row: GemmRow = { ...sh, variants: {} };
      const { rows, cols } = sample(sh, 7 + si);
      const ref = reference(sh, hostA, hostB, rows, cols);
      const ref16 = f16Used ? reference(sh, hostA16, hostB16, rows, cols) : ref;
      const args: MatmulArgs = {
        M: sh.M,
        N: sh.N,
        K: sh.K,
        transA: sh.transA,
        transB: sh.transB,
        op: `gpubench ${sh.id}`,
      };
      for (const k of kernels) {
        let res: VariantResult;
        const half = variantClass(k) === 'f16';
        const [a, b] = half ? [A16, B16] : [A, B];
        if (now() - t0 > opts.budgetMs) res = { status: 'skipped', note: 'time budget spent' };
        else if (!matmulSupported(gpu, k)) res = { status: 'unsupported', note: 'adapter lacks a feature it needs' };
        else if (!matmulLegal(gpu, k, a, b, args)) res = { status: 'not legal', note: 'operand alignment' };
        else {
          try {
            const check = { rows, cols, ref: half ? ref16 : ref };
            res = await measureVariant(gpu, k, sh, args, { A: a, B: b, C }, check, SAMPLES, TARGET_MS);
          } catch (e) {
            res = { status: 'failed', note: (e as Error).message.split('\n')[0] };
          }
        }
        row.variants[k.name] = res;
        log(
          `[gemm] ${sh.id} ${sh.M}x${sh.N}x${sh.K} ${k.name}: ${res.status.toUpperCase()}${res.tflops !== undefined ? ` ${res.tflops.toPrecision(3)} TFLOP/s` : ''}${res.maxErr !== undefined ? `, max |err| ${res.maxErr.toExponential(2)}` : ''}${res.note ? ` (${res.note})` : ''}`,
        );
      }
      section.rows.push(row);
      opts.progress?.(section);
    }
    section.complete = true;
    return section;
  } finally {
    for (const b of new Set([A, B, C, A16, B16])) b.destroy();
  }
}

async function measureVariant(
  gpu: Gpu,
  k: MatmulKernel,
  sh: GemmShape,
  args: MatmulArgs,
  bufs: { A: GPUBuffer; B: GPUBuffer; C: GPUBuffer },
  check: { rows: number[]; cols: number[]; ref: Float64Array },
  samples: number,
  targetMs: number,
): Promise<VariantResult> {
  const { A, B, C } = bufs;
  // Check: poison the sampled rows, one product, compare with the float64 reference.
  const nan = new Float32Array(sh.N).fill(NaN);
  for (const r of check.rows) gpu.write(C, nan, r * sh.N * 4);
  matmulWith(gpu, k, C, A, B, args);
  await gpu.sync();
  let num = 0,
    den = 0,
    maxErr = 0;
  for (const [i, r] of check.rows.entries()) {
    const got = await gpu.read(C, sh.N, r * sh.N);
    check.cols.forEach((c, j) => {
      const want = check.ref[i * check.cols.length + j];
      num += (got[c] - want) ** 2;
      const e = Math.abs(got[c] - want);
      maxErr = Math.max(maxErr, Number.isNaN(e) ? Infinity : e);
      den += want ** 2;
    });
  }
  const relErr = Math.sqrt(num / den);
  const tol = TOLERANCE[variantClass(k)];
  if (!(relErr <= tol)) {
    return {
      status: 'failed',
      relErr,
      maxErr,
      note: `disagrees with the float64 reference: rel. error ${relErr.toExponential(2)} > ${tol}`,
    };
  }
  // Timing.
  await gpu.sync();
  let t = now();
  matmulWith(gpu, k, C, A, B, args);
  await gpu.sync();
  const one = now() - t;
  const calls = Math.max(1, Math.min(100, Math.ceil(targetMs / Math.max(one, 1e-3))));
  const per: number[] = [];
  for (let s = 0; s < samples; s++) {
    await gpu.sync();
    for (let i = 0; i < calls; i++) matmulWith(gpu, k, C, A, B, args);
    t = now();
    await gpu.sync();
    per.push((now() - t) / calls);
  }
  const ms = median(per);
  return { status: 'ok', ms, tflops: sh.flops / (ms / 1000) / 1e12, calls, samples: per, relErr, maxErr };
}

// ------------------------------------------------------------------ model rows

export interface ModelResult {
  status: 'ok' | 'failed' | 'skipped';
  /** Images one iteration processes (the forward's batch; 2 x pairs for a training step). */
  images: number;
  setupMs?: number;
  /** The first iteration: pipeline compilation and uploads included. */
  warmupMs?: number;
  /** Timed iterations (ms each) and their median. */
  itersMs: number[];
  ms?: number;
  imagesPerS?: number;
  note?: string;
  /** The matmul kernels the model ran (`useTunedKernels`). */
  kernels?: string;
}

/**
 * Sets the matmul choices the GEMM section's autotune made on this adapter (what the CLI and the
 * app would pick there at start-up, with 'matmul-f16' as a run with fp16 would get it), so that
 * the model rows run what a user runs; says which kernels that is.
 */
export function useTunedKernels(gpu: Gpu, gemm: GemmSection | null): string {
  const t = gemm?.autotune;
  if (t && 'choice' in t) {
    gpu.variants.set('matmul', t.choice);
    if (t.f16) gpu.variants.set('matmul-f16', t.f16);
    return `matmul ${t.choice}${t.f16 ? `, matmul-f16 ${t.f16}` : ''} (autotune's picks in the gemm section)`;
  }
  const why = t && 'error' in t ? t.error : 'no gemm section';
  return `matmul ${defaultMatmulVariant(gpu)} (the default; no autotune pick: ${why})`;
}

/** The ViT forward of the plan's config at its forward batch (bench/model/vit.bench.ts's row). */
export function forwardEntry(plan: Plan): { entry: BenchEntry; images: number } {
  const m = modelBench(plan, plan.forward.batch);
  return { entry: modelEntry(m), images: m.batch };
}

/** The LoRA training step of the plan (bench/model/train.bench.ts's row, gradient-cached). */
export function trainStepEntry(plan: Plan): { entry: BenchEntry; images: number } {
  const t = plan.train;
  const bench: TrainBench = {
    op: 'vit.train-lora',
    shape: `${t.pairs} pairs`,
    model: modelBench(plan, 2 * t.pairs),
    pairs: t.pairs,
    lora: { r: t.lora.r, alpha: t.lora.alpha, dropout: t.lora.dropout, targets: t.lora.roles as ('q' | 'v')[] },
    temperature: t.temperature,
    lr: t.lr,
    weightDecay: t.weightDecay,
    maxGradNorm: t.maxGradNorm,
    chunk: t.chunk,
  };
  return { entry: trainEntry(bench), images: 2 * t.pairs };
}

function modelBench(plan: Plan, batch: number): ModelBench {
  return {
    op: 'vit',
    shape: plan.configFile,
    config: plan.config,
    batch,
    image: plan.image,
    onnx: null,
    torchModel: 'b16',
    heavy: false,
  };
}

export async function modelSection(
  gpu: Gpu,
  what: { entry: BenchEntry; images: number },
  opts: SectionOpts & { maxIters?: number },
): Promise<ModelResult> {
  const log = opts.log ?? (() => {});
  const t0 = now();
  const res: ModelResult = { status: 'skipped', images: what.images, itersMs: [] };
  const maxIters = opts.maxIters ?? 5;
  let run;
  try {
    await gpu.sync();
    let t = now();
    run = await what.entry.setup!(gpu);
    res.setupMs = now() - t;
    t = now();
    await run.run();
    await gpu.sync();
    res.warmupMs = now() - t;
    const bad = run.check ? await run.check() : null;
    if (bad) throw new Error(`output check failed: ${bad}`);
    log(`[${what.entry.op}] setup ${res.setupMs.toFixed(0)} ms, warm-up ${res.warmupMs.toFixed(0)} ms, output checked`);
    opts.progress?.(res);
    let last = res.warmupMs;
    while (res.itersMs.length < maxIters && now() - t0 + last <= opts.budgetMs) {
      await gpu.sync();
      t = now();
      await run.run();
      await gpu.sync();
      last = now() - t;
      res.itersMs.push(last);
      log(`[${what.entry.op}] iteration ${res.itersMs.length}: ${last.toFixed(1)} ms`);
    }
    if (res.itersMs.length === 0) {
      res.note = `time budget: only the warm-up ran (${res.warmupMs.toFixed(0)} ms, pipeline compilation included)`;
      return res;
    }
    res.status = 'ok';
    res.ms = median(res.itersMs);
    res.imagesPerS = what.images / (res.ms / 1000);
    return res;
  } catch (e) {
    res.status = 'failed';
    res.note = (e as Error).message.split('\n')[0];
    return res;
  } finally {
    run?.dispose();
  }
}
