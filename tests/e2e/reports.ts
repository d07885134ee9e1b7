/**
 * What the browser pages publish on `window` for the Node side to read (tests/e2e/browser.ts
 * `waitForGlobal`). Plain JSON: it crosses the page boundary through Playwright.
 */
import type { AdapterReport } from '../../src/gpu/device';

/** One `gpuCases` entry run in the browser. `file` is the cases file without `.cases.ts`. */
export interface CaseResult {
  file: string;
  name: string;
  ok: boolean;
  error: string | null;
  ms: number;
}

/** `window.__opsReport`, set by tests/e2e/ops-page.ts. */
export interface OpsReport {
  done: boolean;
  /** Set when the page could not run at all (no WebGPU adapter, ...). */
  error: string | null;
  adapter: AdapterReport | null;
  /** `Gpu.describe()` of the adapter. */
  describe: string | null;
  /** Number of cases found, once every cases file is loaded. */
  total: number | null;
  results: CaseResult[];
}
