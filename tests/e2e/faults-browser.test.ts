/**
 * The fault-injection suite's browser part, in headless Chromium (tests/e2e/faults.html,
 * faults-page.ts):
 *   - decompression bombs (PNG, JPEG, WebP, GIF headers of 16000 x 16000 and more) are refused by
 *     the browser decoder from the header, with the same message as in Node; a real PNG decodes;
 *   - a tab reloaded in the middle of replacing a checkpoint in OPFS: after the reload the store
 *     holds the old checkpoint or the new one whole, never a mix, and no pending folder.
 * A full OPFS quota is tested in tests/e2e/platform.test.ts (simulated and genuine) and in the
 * app (tests/e2e/app.test.ts), a token never leaving for a link-given origin in the app test.
 * Run: npx vitest run tests/e2e/faults-browser.test.ts
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { BOMBS, bombMessage } from '../faults/bombs';
import { launchChromium, openPage, startVite, waitForGlobal, type PageHandle, type ViteHandle } from './browser';

let vite: ViteHandle | null = null;
let browser: Browser | null = null;
let handle: PageHandle | null = null;

beforeAll(async () => {
  vite = await startVite();
  browser = await launchChromium();
  handle = await openPage(browser, `${vite.url}/tests/e2e/faults.html`);
  await waitForGlobal(handle, '__faultsReady', { timeoutMs: 30_000 });
}, 90_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await vite?.close().catch(() => {});
});

const run = <T>(phase: string): Promise<T> =>
  handle!.page.evaluate(
    (p) => (window as unknown as { __faults: { run(p: string): Promise<unknown> } }).__faults.run(p),
    phase,
  ) as Promise<T>;

test('decompression bombs are refused from the header in the browser too', async () => {
  const r = await run<Record<string, string | null>>('bombs');
  for (const name of Object.keys(BOMBS)) expect(r[name], name).toMatch(bombMessage(name));
  expect(r['gray_64x64.png']).toBe('decoded 64x64');
  expect(handle!.errors).toEqual([]);
});

test('a tab reloaded mid-write leaves the old checkpoint or the new one, whole', async () => {
  const start = await run<{ pending: string[] }>('reloadStart');
  expect(start.pending.length).toBeGreaterThan(0);
  await handle!.page.reload({ waitUntil: 'load' });
  await waitForGlobal(handle!, '__faultsReady', { timeoutMs: 30_000 });
  const after = await run<{ folders: string[]; version: string; tree: { run: string[]; checkpoint: string[] } }>(
    'reloadAfter',
  );
  expect(after.folders).toEqual(['checkpoint-step-1']);
  expect(['v1', 'v2']).toContain(after.version);
  expect(after.tree.run).toEqual(['checkpoint-step-1/']);
  expect(after.tree.checkpoint).toEqual(['adapter_model.safetensors', 'trainer_state.json']);
  console.log(`reload mid-write: checkpoint-step-1 is ${after.version} after the reload`);
});
