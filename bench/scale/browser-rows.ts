/**
 * The Chromium rows of the SOP-scale benchmark (bench/scale/run.ts), driving the app (Vite dev
 * server, headless Chromium with WebGPU) like a user:
 *   folder.list      the SOP folder picked through `<input webkitdirectory>` (the fallback where
 *                    showDirectoryPicker is missing): seconds until the description shows, and
 *                    the most CPU the app's JS used in one main-thread task (Chrome trace)
 *   eval.sop.embed   Evaluate with the hidden-16 model: the app's embedding rate (decode pool +
 *                    GPU) vs createImageBitmap decode-only of the same files in the page
 */
import type { Browser, Page } from 'playwright-core';
import type { BenchResult } from '../types';

/** Thread-CPU of the app's JS per main-thread task, from a Chrome trace (see tests/e2e/scale.test.ts). */
function maxJsCpuMs(trace: Buffer): { js: number; task: number; taskWall: number } {
  type Ev = {
    ph: string;
    name: string;
    pid: number;
    tid: number;
    ts: number;
    dur?: number;
    tdur?: number;
    args?: { name?: string };
  };
  const events = (JSON.parse(trace.toString('utf8')) as { traceEvents: Ev[] }).traceEvents;
  const mains = new Set(
    events
      .filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
      .map((e) => `${e.pid}:${e.tid}`),
  );
  const onMain = events.filter((e) => e.ph === 'X' && mains.has(`${e.pid}:${e.tid}`)).sort((a, b) => a.ts - b.ts);
  const jsNames = new Set([
    'FunctionCall',
    'EventDispatch',
    'TimerFire',
    'FireAnimationFrame',
    'HandlePostMessage',
    'FireIdleCallback',
  ]);
  let js = 0,
    task = 0,
    taskWall = 0;
  for (const t of onMain.filter((e) => e.name === 'RunTask')) {
    task = Math.max(task, (t.tdur ?? t.dur ?? 0) / 1000);
    taskWall = Math.max(taskWall, (t.dur ?? 0) / 1000);
    let sum = 0,
      end = -1;
    for (const e of onMain) {
      if (e.ts < t.ts || !jsNames.has(e.name) || e.ts < end) continue;
      if (e.ts > t.ts + (t.dur ?? 0)) break;
      sum += (e.tdur ?? e.dur ?? 0) / 1000;
      end = e.ts + (e.dur ?? 0);
    }
    js = Math.max(js, sum);
  }
  return { js, task, taskWall };
}

async function pick(page: Page, button: string, folder: string): Promise<void> {
  const chooser = page.waitForEvent('filechooser', { timeout: 60_000 });
  await page.getByRole('button', { name: button }).click();
  await (await chooser).setFiles(folder, { timeout: 3_600_000 });
}

export async function browserRows(
  browser: Browser,
  url: string,
  root: string,
  model: string,
  testPaths: string[],
  log: (l: string) => void,
  only: (op: string) => boolean,
): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const context = await browser.newContext();
  await context.addInitScript(() =>
    Object.defineProperty(window, 'showDirectoryPicker', { value: undefined, configurable: true }),
  );
  const page = await context.newPage();
  try {
    await page.goto(`${url}/`, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready=true]', { timeout: 120_000 });
    await browser.startTracing(page, { categories: ['disabled-by-default-devtools.timeline', 'devtools.timeline'] });
    const t0 = Date.now();
    await pick(page, 'Choose dataset folder', root);
    const tFiles = Date.now();
    await page.waitForFunction(
      () => /Stanford Online Products/.test(document.querySelector('#data-desc')?.textContent ?? ''),
      null,
      { timeout: 3_600_000, polling: 500 },
    );
    const seconds = (Date.now() - t0) / 1000;
    const cpu = maxJsCpuMs(await browser.stopTracing());
    const stats = (await page.locator('#data-stats').innerText()).replace(/\s+/g, ' ');
    log(
      `  folder listed in ${seconds.toFixed(1)} s (${((tFiles - t0) / 1000).toFixed(1)} s setting the input); ${stats}; ` +
        `most app JS in one task ${cpu.js.toFixed(0)} ms CPU; longest task ${cpu.task.toFixed(0)} ms CPU (${cpu.taskWall.toFixed(0)} ms wall)`,
    );
    if (only('folder.list')) {
      out.push({
        op: 'folder.list',
        shape: `${stats} via <input webkitdirectory> (Chromium)`,
        ours_ms: seconds * 1000,
        ours_gflops: null,
        peer: null,
        peer_ms: null,
        peer_gflops: null,
        ratio: null,
        note:
          `setInputFiles ${((tFiles - t0) / 1000).toFixed(1)} s of it; most CPU of the app's JS in one main-thread task ${cpu.js.toFixed(0)} ms ` +
          `(limit 200); longest task ${cpu.task.toFixed(0)} ms CPU / ${cpu.taskWall.toFixed(0)} ms wall (Chromium filling the input)`,
      });
    }
    if (!only('eval.sop.embed')) return out;
    try {
      out.push(await embedRow(page, model, testPaths, log));
    } catch (e) {
      log(`  eval.sop.embed (Chromium) FAILED: ${(e as Error).stack ?? e}`);
    }
    return out;
  } finally {
    await context.close();
  }
}

/** eval.sop.embed in Chromium: the app's Evaluate vs createImageBitmap decode-only, same files. */
async function embedRow(
  page: Page,
  model: string,
  testPaths: string[],
  log: (l: string) => void,
): Promise<BenchResult> {
  await page
    .locator('#data-check-cancel')
    .click()
    .catch(() => {}); // the background check would compete
  await pick(page, 'Choose model folder', model);
  await page.waitForFunction(() => /Loaded/.test(document.querySelector('#model-info')?.textContent ?? ''), null, {
    timeout: 120_000,
  });

  // Peer: createImageBitmap decode (the app's decoder, src/data/decode-browser.ts) of the test split, 8 in flight.
  const decode = () =>
    page.evaluate(async (paths) => {
      // served by Vite to the page; `import()` spelled in a string, since vite-node, which runs
      // this file, would rewrite an import expression into its own loader (absent in the page)
      const load = new Function('m', 'return import(m)') as (m: string) => Promise<unknown>;
      const { decodeImageBlob } = (await load(
        '/src/data/decode-browser.ts',
      )) as typeof import('../../src/data/decode-browser');
      const files = (document.getElementById('data-input') as HTMLInputElement).files!;
      const byPath = new Map<string, File>();
      for (let i = 0; i < files.length; i++) byPath.set(files[i].webkitRelativePath.replace(/^[^/]*\//, ''), files[i]);
      const list = paths.map((p) => byPath.get(p)).filter((f): f is File => !!f);
      let i = 0;
      const t = performance.now();
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (i < list.length) {
            const f = list[i++];
            await decodeImageBlob(f, f.name).catch(() => null);
          }
        }),
      );
      return { n: list.length, seconds: (performance.now() - t) / 1000 };
    }, testPaths);
  const d1 = await decode();
  log(`  browser decode-only ${(d1.n / d1.seconds).toFixed(0)} images/s`);
  await page.getByRole('button', { name: 'Evaluate', exact: true }).click();
  await page.waitForFunction(
    () =>
      /^Done|error/i.test(document.querySelector('#eval-status')?.textContent ?? '') ||
      !document.querySelector('#eval-error')?.classList.contains('hidden'),
    null,
    { timeout: 4 * 3_600_000, polling: 2000 },
  );
  const text = await page.locator('#eval-rows').innerText();
  const m = /over ([\d,]+) images, .*\(embedding (\d+) images\/s, search ([^)]+)\)/.exec(text);
  if (!m) throw new Error(`no evaluation result: ${text} ${await page.locator('#eval-error').innerText()}`);
  const d2 = await decode();
  const ours = Number(m[2]);
  const peer = (d1.n + d2.n) / (d1.seconds + d2.seconds);
  log(
    `  browser embed ${ours} images/s vs decode-only ${peer.toFixed(0)} (before ${(d1.n / d1.seconds).toFixed(0)}, after ${(d2.n / d2.seconds).toFixed(0)})`,
  );
  const n = Number(m[1].replace(/,/g, ''));
  return {
    op: 'eval.sop.embed',
    shape: `hidden 16, 1 layer, patch 8, ${n} SOP test images at 32 px (Chromium, the app's Evaluate)`,
    ours_ms: (n / ours) * 1000,
    ours_gflops: null,
    peer: 'createImageBitmap decode-only (8 in flight)',
    peer_ms: (n / peer) * 1000,
    peer_gflops: null,
    ratio: ours / peer,
    ours_items_per_s: ours,
    peer_items_per_s: peer,
    note:
      `ratio = ours / decode-only images/s; the app's decode pool has ${await page.evaluate(() => Math.max(1, Math.min(6, navigator.hardwareConcurrency - 1)))} ` +
      `worker(s); search ${m[3]}; ${text.split('\n').slice(0, 3).join(', ')}`,
  };
}
