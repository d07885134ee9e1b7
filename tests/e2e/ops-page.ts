/**
 * Browser page (tests/e2e/ops.html): runs the `gpuCases` entries of tests/ops/*.cases.ts that
 * `runsInBrowser` picks (all but most GEMM schedules), in order, on one device from
 * `requestBrowserGpu()`, and publishes `window.__opsReport` (tests/e2e/reports.ts) for
 * tests/e2e/browser-ops.test.ts.
 *
 * Cases files are imported one by one, so a file that fails to load is reported as a failed
 * `(import)` entry for that file instead of stopping the page. After each case the device is
 * synced, so GPU errors a case left pending are charged to it, not to the next case. A case
 * that loses the device, or times out, leaves a fresh device to the cases after it.
 */
import { requestBrowserGpu } from '../../src/gpu/device-browser';
import type { Gpu } from '../../src/gpu/device';
import { runsInBrowser, type CasesModule, type GpuCase } from '../helpers/cases';
import type { OpsReport } from './reports';

/** A case still running after this is marked failed and the page moves on. */
const CASE_TIMEOUT_MS = 60_000;

const loaders = import.meta.glob<CasesModule>('../ops/*.cases.ts');

const report: OpsReport = {
  done: false,
  error: null,
  adapter: null,
  describe: null,
  total: null,
  results: [],
};
(window as unknown as { __opsReport: OpsReport }).__opsReport = report;

const logEl = document.getElementById('log')!;
function log(line: string): void {
  logEl.textContent += `\n${line}`;
}

function message(e: unknown): string {
  if (e instanceof Error) return e.message || String(e);
  return String(e);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function newGpu(): Promise<{ gpu: Gpu; lost: { value: boolean } }> {
  const gpu = await requestBrowserGpu();
  const lost = { value: false };
  gpu.onLost(() => (lost.value = true));
  return { gpu, lost };
}

async function main(): Promise<void> {
  // Load every cases file first, so `total` is known before anything runs.
  const files: { file: string; cases: GpuCase[] }[] = [];
  for (const [path, load] of Object.entries(loaders).sort(([a], [b]) => a.localeCompare(b))) {
    const file = path.replace(/^.*\//, '').replace(/\.cases\.ts$/, '');
    try {
      const mod = await load();
      files.push({ file, cases: (mod.gpuCases ?? []).filter((c) => runsInBrowser(file, c.name)) });
    } catch (e) {
      report.results.push({
        file,
        name: '(import)',
        ok: false,
        error: `importing ${path} failed: ${message(e)}`,
        ms: 0,
      });
    }
  }
  report.total = files.reduce((n, f) => n + f.cases.length, 0);

  let dev: { gpu: Gpu; lost: { value: boolean } };
  try {
    dev = await newGpu();
  } catch (e) {
    report.error = `no WebGPU device: ${message(e)}`;
    return;
  }
  report.adapter = dev.gpu.report;
  report.describe = dev.gpu.describe();
  log(`adapter: ${report.describe}; ${report.total} cases`);

  for (const { file, cases } of files) {
    for (const c of cases) {
      const t0 = performance.now();
      let error: string | null = null;
      let timedOut = false;
      try {
        await withTimeout(
          (async () => {
            await c.run(dev.gpu);
            await dev.gpu.sync(); // errors the case left pending are its own
          })(),
          CASE_TIMEOUT_MS,
          c.name,
        );
      } catch (e) {
        error = message(e);
        timedOut = error.endsWith(`timed out after ${CASE_TIMEOUT_MS} ms`);
      }
      const ms = performance.now() - t0;
      report.results.push({ file, name: c.name, ok: error === null, error, ms });
      log(`${error === null ? 'ok  ' : 'FAIL'} ${file}: ${c.name} (${ms.toFixed(0)} ms)`);
      if (dev.lost.value || timedOut) {
        // A timed-out case may still be running: leave its device to it.
        log(`${timedOut ? 'case timed out' : 'device lost'}: requesting a new device`);
        try {
          dev = await newGpu();
        } catch (e) {
          report.error = `device lost after "${c.name}" and no new one: ${message(e)}`;
          return;
        }
      }
    }
  }
}

main()
  .catch((e) => {
    report.error = `ops page failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  })
  .finally(() => {
    report.done = true;
  });
