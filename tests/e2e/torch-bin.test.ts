/**
 * The PyTorch .bin reader in headless Chromium (tests/e2e/torch-bin.html, torch-bin-page.ts): the
 * files torch.save wrote (tests/fixtures/torch-bin) read in the browser exactly as in Node: every
 * dtype and view equals PyTorch's values, the .bin models (shared storages, transposed views, BF16
 * shards with an index, the legacy format) load bit for bit like their safetensors twins, the
 * adapter_model.bin modules equal the safetensors adapter's, and the malicious pickles are refused.
 * Run: npx vitest run tests/e2e/torch-bin.test.ts
 */
import { expect, test } from 'vitest';
import { openPage, waitForGlobal, withBrowser } from './browser';
import type { TorchBinReport } from './torch-bin-page';

test('torch.save files in the browser: values, models, adapter, refusals', { timeout: 120_000 }, async () => {
  const r = await withBrowser(async ({ vite, browser }) => {
    const handle = await openPage(browser, `${vite.url}/tests/e2e/torch-bin.html`);
    const report = await waitForGlobal<TorchBinReport & { done: boolean }>(handle, '__torchBin', { timeoutMs: 60_000 });
    expect(handle.errors).toEqual([]);
    return report;
  });
  expect(r.error).toBeNull();
  expect(r.dtypes).toEqual({ 'dtypes.bin': [], 'dtypes-proto4.bin': [], 'dtypes-legacy.bin': [] });
  expect(r.models['dinov2-tiny']).toEqual({ compared: expect.any(Number), differ: [] });
  expect(r.models['dinov2-tiny'].compared).toBeGreaterThan(20);
  expect(r.models['dinov3-tiny-bf16-sharded'].differ).toEqual([]);
  expect(r.adapter).toEqual({ modules: 4, differ: [] });
  expect(r.refused['malicious-system.bin']).toMatch(/imports "posix\.system", which is not allowed/);
  expect(r.refused['malicious-system.pkl']).toMatch(/imports "posix\.system", which is not allowed/);
  expect(r.refused['malicious-eval-proto4.bin']).toMatch(/imports "builtins\.eval", which is not allowed/);
});
