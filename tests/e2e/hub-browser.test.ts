/**
 * Hub download into IndexedDB in headless Chromium: the local hub stand-in
 * (tests/hub/hub-server.ts, CORS on, a token required) serves the dinov3-tiny fixture; Vite serves
 * tests/e2e/hub.html (tests/e2e/hub-page.ts). Phase 1 (one page load) downloads with no retries
 * while the weights transfer stalls at 40 000 bytes and the page, once it has them, has the server
 * drop the connection (GET /__drop-stalled); phase 2 (a fresh page load) resumes it with
 * Range, lists the model with its sizes, loads it with loadCheckpoint from the IndexedDB
 * FileSource, compares it with the fixture, then deletes it and lists nothing.
 * Run: npx vitest run tests/e2e/hub-browser.test.ts
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { HubServer, fixtureFiles } from '../hub/hub-server';
import { launchChromium, openPage, startVite, waitForGlobal, type PageHandle, type ViteHandle } from './browser';
import type { HubReport } from './hub-page';

const ID = 'test-org/dinov3-tiny';
const WEIGHTS = 'model.safetensors';
const TOKEN = 'hf_browser_test';
const DROP_AFTER = 40_000;

const files = fixtureFiles();
const hub = new HubServer();
let vite: ViteHandle | null = null;
let browser: Browser | null = null;

beforeAll(async () => {
  hub.addRepo(ID, files);
  await hub.start();
  vite = await startVite();
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await vite?.close().catch(() => {});
  await hub.close();
});

const pageUrl = (phase: string) =>
  `${vite!.url}/tests/e2e/hub.html?${new URLSearchParams({ endpoint: hub.url, id: ID, token: TOKEN, phase, dropAt: String(DROP_AFTER) })}`;

/** Runs a phase in `handle`'s page (one browser context, so one IndexedDB), navigating to it. */
async function runPhase(handle: PageHandle, phase: string): Promise<HubReport> {
  if (handle.page.url() !== pageUrl(phase)) await handle.page.goto(pageUrl(phase), { waitUntil: 'load' });
  const report = await waitForGlobal<HubReport>(handle, '__hubReport', { timeoutMs: 30_000 });
  if (report.error) throw new Error(`${phase}: ${report.error}`);
  return report;
}

test(
  'download into IndexedDB, interrupted and resumed across a reload, load, delete',
  { timeout: 60_000 },
  async () => {
    hub.token = TOKEN;
    hub.rules = [{ file: WEIGHTS, times: 1, stallAfter: DROP_AFTER }];
    const size = files[WEIGHTS].length;

    const handle = await openPage(browser!, pageUrl('interrupt'));
    const p1 = await runPhase(handle, 'interrupt');
    expect(p1.interruptError?.kind).toBe('network');
    expect(p1.interruptError?.message).toContain(`${ID}: ${WEIGHTS}`);
    expect(p1.listAfter).toHaveLength(1);
    const part = p1.listAfter![0].files.find((f) => f.name === WEIGHTS)!;
    expect(p1.listAfter![0].complete).toBe(false);
    expect(part.complete).toBe(false);
    expect(part.size).toBe(size);
    expect(part.bytes).toBe(DROP_AFTER);

    const p2 = await runPhase(handle, 'resume');
    // The only console error is Chromium's note on the dropped transfer.
    expect(handle.errors.filter((e) => !(e.includes('ERR_CONTENT_LENGTH_MISMATCH') && e.includes(WEIGHTS)))).toEqual(
      [],
    );
    // The page reload kept the partial download, and the transfer resumed where it stopped.
    expect(p2.listBefore![0].files.find((f) => f.name === WEIGHTS)!.bytes).toBe(part.bytes);
    const reqs = hub.requests(WEIGHTS);
    expect(reqs.map((r) => [r.range, r.status])).toEqual([
      [null, 200],
      [`bytes=${part.bytes}-`, 206],
    ]);
    expect(hub.requests('config.json')).toHaveLength(1);
    expect(hub.log.filter((r) => r.method === 'GET').every((r) => r.auth === `Bearer ${TOKEN}`)).toBe(true);
    expect(p2.files).toEqual([
      { file: 'config.json', cached: true, verified: null },
      { file: 'preprocessor_config.json', cached: true, verified: null },
      { file: WEIGHTS, cached: false, verified: 'sha256' },
    ]);

    // Listed with its sizes; stored in 16 KiB chunks.
    const model = p2.listAfter![0];
    expect(model).toMatchObject({ id: ID, complete: true, revision: 'main' });
    expect(model.bytes).toBe(Object.values(files).reduce((a, b) => a + b.length, 0));
    const w = model.files.find((f) => f.name === WEIGHTS)!;
    expect(w).toMatchObject({ bytes: size, size, complete: true });
    expect(w.chunks).toBeGreaterThanOrEqual(Math.ceil(size / 16384));

    expect(p2.tensorsCompared).toBeGreaterThan(10);
    expect(p2.tensorMismatches).toEqual([]);
    expect(p2.weightsIdentical).toBe(true);
    expect(p2.secondCallCached.sort()).toEqual(Object.keys(files).sort());
    expect(p2.listAfterDelete).toEqual([]);
    console.log(
      `hub browser: ${WEIGHTS} interrupted at ${part.bytes} bytes, resumed, ${w.chunks} chunks, ` +
        `${p2.tensorsCompared} tensors equal`,
    );
  },
);
