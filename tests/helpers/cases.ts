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
