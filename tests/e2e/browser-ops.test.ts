/**
 * The GPU op cases (tests/ops/*.cases.ts, `gpuCases`) run in headless Chromium on the
 * browser's own WebGPU (SwiftShader without a GPU): Vite serves tests/e2e/ops.html, whose
 * module runs every case and publishes `window.__opsReport` (tests/e2e/reports.ts).
 *
 * Asserts: an adapter was obtained (never skipped: no adapter is a failure), the browser ran
 * exactly the cases Node knows about that `runsInBrowser` picks (tests/helpers/cases.ts: every op,
 * a few of the GEMM schedules), and every one passed.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { runsInBrowser, type CasesModule } from '../helpers/cases';
import { launchChromium, openPage, startVite, waitForGlobal, type ViteHandle } from './browser';
import type { OpsReport } from './reports';

/** The whole browser run (all cases); each case also has its own 60 s limit in the page. */
const RUN_TIMEOUT_MS = 300_000;

const modules = import.meta.glob<CasesModule>('../ops/*.cases.ts', { eager: true });
const nodeCases = Object.entries(modules).flatMap(([path, mod]) => {
  const file = path.replace(/^.*\//, '').replace(/\.cases\.ts$/, '');
  return mod.gpuCases.filter((c) => runsInBrowser(file, c.name)).map((c) => `${file}: ${c.name}`);
});

let vite: ViteHandle | null = null;
let browser: Browser | null = null;

beforeAll(async () => {
  vite = await startVite();
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await vite?.close().catch(() => {});
});

test('gpu op cases pass in headless Chromium', { timeout: RUN_TIMEOUT_MS + 30_000 }, async () => {
  const handle = await openPage(browser!, `${vite!.url}/tests/e2e/ops.html`);
  const t0 = Date.now();
  const report = await waitForGlobal<OpsReport>(handle, '__opsReport', {
    timeoutMs: RUN_TIMEOUT_MS,
  });
  const pageErrors = handle.errors.length ? `\npage console errors:\n  ${handle.errors.join('\n  ')}` : '';

  if (report.error || !report.adapter) {
    throw new Error(`the browser gave no usable WebGPU device: ${report.error ?? 'no adapter'}${pageErrors}`);
  }

  const failed = report.results.filter((r) => !r.ok);
  const passed = report.results.length - failed.length;
  console.log(
    `browser ops: ${report.describe}: ${passed}/${report.results.length} passed ` +
      `(${nodeCases.length} cases known to Node) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );

  const ran = new Set(report.results.filter((r) => r.name !== '(import)').map((r) => `${r.file}: ${r.name}`));
  const known = new Set(nodeCases);
  const missing = [...known].filter((n) => !ran.has(n));
  const extra = [...ran].filter((n) => !known.has(n));

  const problems: string[] = [];
  if (failed.length) {
    problems.push(
      `${failed.length} case(s) failed in the browser:\n` +
        failed.map((r) => `  ✗ ${r.file}: ${r.name} (${r.ms.toFixed(0)} ms)\n      ${r.error}`).join('\n'),
    );
  }
  if (missing.length) problems.push(`not run in the browser:\n  ${missing.join('\n  ')}`);
  if (extra.length) problems.push(`run in the browser but unknown to Node:\n  ${extra.join('\n  ')}`);
  if (problems.length) throw new Error(problems.join('\n') + pageErrors);

  expect(ran.size).toBe(known.size);
});
