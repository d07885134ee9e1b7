/**
 * An op check that runs on any Gpu: in Node (vitest, Dawn) and in headless Chromium
 * (Playwright). Files named `tests/ops/*.cases.ts` export `gpuCases` (run in both places)
 * and optionally `refCases` (CPU-only checks: reference backward vs finite differences).
 */
import type { Gpu } from '../../src/gpu/device';

export interface GpuCase {
  name: string;
  run: (gpu: Gpu) => Promise<void>;
}

export interface RefCase {
  name: string;
  run: () => void;
}

export interface CasesModule {
  gpuCases: GpuCase[];
  refCases?: RefCase[];
}

/**
 * Which GPU cases the browser run (tests/e2e/browser-ops.test.ts) repeats. Every case runs in
 * Node; in headless Chromium every op file runs in full except the GEMM files, whose ~20
 * generated schedules x fusions are the same WGSL text in both places (src/ops/matmul-gen.ts) and
 * would take minutes to compile again on SwiftShader: there the browser runs the default schedule
 * of software adapters (vec4_quad) and one big GPU tile (tiled_128x64) on every plain case, one
 * schedule on the fused cases, and one multi-problem dispatch (of the native variants, the list
 * of those not run and the f32-written native loads of vec4_f16); the flash attention cases at GPU
 * tile sizes run at 64 only (the tile is an override constant of the same WGSL). What this checks in the browser is
 * that Chrome's WebGPU takes our WGSL and our browser device path runs it right.
 */
export function runsInBrowser(file: string, name: string): boolean {
  const schedule = /^(\w+): /.exec(name)?.[1];
  if (file === 'matmul')
    return (
      (schedule === undefined && !name.startsWith('autotune with GPU defaults')) ||
      schedule === 'vec4_quad' ||
      schedule === 'tiled_128x64'
    );
  if (file === 'matmul-fused') return schedule === 'tiled_128x64' || name.startsWith('tiled: three problems');
  if (file === 'matmul-native') return !name.startsWith('tiled_128x64_f16 written with f32');
  if (file === 'attention') return !/tiles of (32|16)$/.test(name);
  return true;
}

/** Runs `run` with these kernel variants set in `gpu.variants` (each restored, or removed, after). */
export async function withVariants<R>(gpu: Gpu, vars: Record<string, string>, run: () => Promise<R>): Promise<R> {
  const saved = new Map(Object.keys(vars).map((k) => [k, gpu.variants.get(k)]));
  for (const [k, v] of Object.entries(vars)) gpu.variants.set(k, v);
  try {
    return await run();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) gpu.variants.delete(k);
      else gpu.variants.set(k, v);
    }
  }
}

/**
 * Runs `run` with the kernels ops pick by default on this kind of adapter (`gpu.defaults`):
 * 'gpu' runs the GPU path (tiled GEMMs, flash attention at a GPU tile size, workgroup row
 * kernels, LoRA inside the LayerNorm kernels, fused backward GEMMs) here on SwiftShader.
 */
export async function withDefaults<R>(gpu: Gpu, defaults: Gpu['defaults'], run: () => Promise<R>): Promise<R> {
  const saved = gpu.defaults;
  gpu.defaults = defaults;
  try {
    return await run();
  } finally {
    gpu.defaults = saved;
  }
}
