/**
 * The app at SOP scale in headless Chromium (Vite dev server), on synthetic SOP folders from
 * tools/make_sop_synthetic.ts (CI sizes; the full 120k-file folder is bench/scale material):
 * - the 10% folder (12,005 listed images, 30 unreadable, 10 missing) through the
 *   `<input webkitdirectory>` fallback: the same counts as the engine's openDataset over the
 *   folder in Node, a progress line while it is read, no main-thread task running the app's JS
 *   over 200 ms of CPU (a Chrome trace); the background image check of every image can be
 *   cancelled;
 * - a 2% folder: the image check covers every image and names the unreadable ones; Evaluate
 *   (SOP protocol, progress, the unreadable images left out)
 *   gives the Recall@K that `vembed eval sop` gives in Node on the same folder and model; Search
 *   builds its gallery index once, and after a reload (the folder picked again) reads it back
 *   from OPFS instead of embedding again.
 * Run: npx vitest run tests/e2e/scale.test.ts
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { evalCommand, type SopReport } from '../../src/cli/eval';
import { nodeSource } from '../../src/platform/data-source-node';
import { openDataset } from '../../src/run/dataset';
import { makeSyntheticSop } from '../../tools/make_sop_synthetic';
import { nodeGpu } from '../helpers/node-gpu';
import { launchChromium, startVite, type ViteHandle } from './browser';

const MODEL = 'public/demo/model';
const LONG_TASK_LIMIT_MS = 200;

let dir = '';
let vite: ViteHandle | null = null;
let browser: Browser | null = null;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vembed-scale-'));
  vite = await startVite();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await vite?.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
  (await nodeGpu()).destroy();
});

/** A main-thread task of the page's renderer: wall and thread-CPU milliseconds, and whether JS ran in it. */
interface MainTask {
  start: number;
  wall: number;
  cpu: number;
  /** Thread-CPU milliseconds of the JS that ran in it (events, timers, messages, frames). */
  jsCpu: number;
  js: boolean;
  /** The JS entry points that ran in it (function @ script), for the report. */
  what: string[];
}

const JS_EVENTS = new Set([
  'FunctionCall',
  'EventDispatch',
  'TimerFire',
  'FireAnimationFrame',
  'HandlePostMessage',
  'FireIdleCallback',
]);

/**
 * The renderer main thread's tasks in a Chrome trace (categories TRACE_CATEGORIES). CPU time
 * (`tdur`), not wall time, is what the app is answerable for: on a machine shared with other
 * processes the thread is descheduled inside short tasks (a 1.7 s task here used 18 ms of CPU).
 */
function mainTasks(trace: Buffer): MainTask[] {
  type Ev = {
    ph: string;
    name: string;
    pid: number;
    tid: number;
    ts: number;
    dur?: number;
    tdur?: number;
    args?: { name?: string; data?: { functionName?: string; url?: string; type?: string } };
  };
  const events = (JSON.parse(trace.toString('utf8')) as { traceEvents: Ev[] }).traceEvents;
  const mains = new Set(
    events
      .filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
      .map((e) => `${e.pid}:${e.tid}`),
  );
  const onMain = events.filter((e) => e.ph === 'X' && mains.has(`${e.pid}:${e.tid}`));
  const js = onMain.filter((e) => JS_EVENTS.has(e.name)).sort((a, b) => a.ts - b.ts);
  const jsIn = (t0: number, t1: number) => {
    let lo = 0,
      hi = js.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (js[m].ts < t0) lo = m + 1;
      else hi = m;
    }
    const out: Ev[] = [];
    for (let i = lo; i < js.length && js[i].ts <= t1; i++) out.push(js[i]);
    return out;
  };
  return onMain
    .filter((e) => e.name === 'RunTask' && e.dur !== undefined)
    .map((e) => {
      const inside = jsIn(e.ts, e.ts + e.dur!);
      const what = inside.map(
        (x) =>
          `${x.name} ${x.args?.data?.type ?? ''}${x.args?.data?.functionName ?? ''} ${(x.args?.data?.url ?? '').split('/').pop()} ${((x.tdur ?? 0) / 1000).toFixed(0)} ms`,
      );
      let jsCpu = 0,
        end = -1;
      for (const x of inside) {
        if (x.ts < end) continue; // nested in the previous one
        jsCpu += (x.tdur ?? x.dur ?? 0) / 1000;
        end = x.ts + (x.dur ?? 0);
      }
      return {
        start: e.ts / 1000,
        wall: e.dur! / 1000,
        cpu: (e.tdur ?? e.dur!) / 1000,
        jsCpu,
        js: inside.length > 0,
        what,
      };
    });
}

const TRACE_CATEGORIES = ['disabled-by-default-devtools.timeline', 'devtools.timeline'];

/** A page of the app with the directory picker hidden (the input fallback) and its status lines recorded. */
async function appPage(): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(() => {
    Object.defineProperty(window, 'showDirectoryPicker', { value: undefined, configurable: true });
    const w = window as unknown as { __status: string[] };
    w.__status = [];
    addEventListener('DOMContentLoaded', () => {
      const el = document.getElementById('data-status')!;
      new MutationObserver(() => w.__status.push(el.textContent ?? '')).observe(el, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
  });
  const page = await context.newPage();
  await page.goto(`${vite!.url}/`, { waitUntil: 'load' });
  await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
  return page;
}

async function pickDataset(page: Page, folder: string): Promise<void> {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose dataset folder' }).click();
  await (await chooser).setFiles(folder, { timeout: 300_000 });
}

describe('the app at SOP scale', () => {
  test(
    'a 10% SOP folder (12,005 images) through <input webkitdirectory>: counts, progress, no long task of the app, image check cancelled',
    { timeout: 600_000 },
    async () => {
      const root = join(dir, 'sop10');
      const made = await makeSyntheticSop({ out: root, scale: 0.1, corrupt: 30, missing: 10 });
      const want = (await openDataset(nodeSource(root), 'sop10', 'pagefiles')).info;
      const page = await appPage();
      await browser!.startTracing(page, { categories: TRACE_CATEGORIES });
      const t0 = Date.now();
      await pickDataset(page, root);
      await expect
        .poll(() => page.locator('#data-desc').textContent(), { timeout: 120_000 })
        .toContain('Stanford Online Products layout');
      const seconds = (Date.now() - t0) / 1000;
      const tasks = mainTasks(await browser!.stopTracing());
      const stats = await page.locator('#data-stats').innerText();
      const n = (x: number) => x.toLocaleString('en-US');
      expect(stats).toMatch(
        new RegExp(
          `${n(want.images)}\\s+images[\\s\\S]*${n(want.classes)}\\s+classes[\\s\\S]*${n(want.pairs)}\\s+training pairs[\\s\\S]*${n(want.testImages)}\\s+evaluation images`,
        ),
      );
      const status = await page.evaluate(() => (window as unknown as { __status: string[] }).__status);
      const files = n(made.train.images + made.test.images - made.missing.length + 4); // + Ebay_{train,test,info}.txt, README.txt
      expect(
        status.filter((s) => s.startsWith('Reading the folder: ')),
        status.join('\n'),
      ).toContain(`Reading the folder: ${files} of ${files} files`);
      // The app's JS: at most 200 ms of CPU in any one task. Chromium's own filling of the input
      // (one task that ends by dispatching the change event) is reported, not failed.
      const byJs = [...tasks].sort((a, b) => b.jsCpu - a.jsCpu);
      const longest = [...tasks].sort((a, b) => b.cpu - a.cpu)[0];
      console.log(
        `10% SOP folder listed in ${seconds.toFixed(1)} s (setInputFiles included); most JS in one task: ` +
          `${byJs[0].jsCpu.toFixed(0)} ms CPU; longest task ${longest.cpu.toFixed(0)} ms CPU (${longest.wall.toFixed(0)} ms wall, JS ${longest.jsCpu.toFixed(0)} ms of it)`,
      );
      if (byJs[0].jsCpu > LONG_TASK_LIMIT_MS) console.log(byJs.slice(0, 3));
      expect(byJs[0].jsCpu).toBeLessThanOrEqual(LONG_TASK_LIMIT_MS);

      // The image check of every image runs by itself in the background: it can be cancelled.
      const check = page.locator('#data-check');
      await expect
        .poll(() => check.textContent(), { timeout: 60_000 })
        .toMatch(new RegExp(`Checking images: [\\d,]+/${n(want.images)}`));
      await page.getByRole('button', { name: 'Cancel image check' }).click();
      await expect
        .poll(() => check.textContent(), { timeout: 60_000 })
        .toMatch(new RegExp(`of ${n(want.images)} images \\(check cancelled\\)`));
      expect(await page.getByRole('button', { name: 'Check all images' }).isVisible()).toBe(true);
      await page.context().close();
    },
  );

  test(
    'a 2% SOP folder: every image checked; Evaluate equals `vembed eval sop` in Node; the search index is built once and read back after a reload',
    { timeout: 600_000 },
    async () => {
      const root = join(dir, 'sop2');
      const made = await makeSyntheticSop({ out: root, scale: 0.02, corrupt: 14, missing: 2, seed: 3 });
      let cli = '';
      await evalCommand(
        ['sop', '--model_path', MODEL, '--sop_root', root, '--output_dir', join(dir, 'out2'), '--topk', '1,10,100'],
        { gpu: await nodeGpu(), out: (t) => (cli += t), err: () => {} },
      );
      const report = JSON.parse(await readFile(join(dir, 'out2', 'sop_report.json'), 'utf8')) as SopReport;

      const page = await appPage();
      await pickDataset(page, root);
      await expect
        .poll(() => page.locator('#data-desc').textContent(), { timeout: 60_000 })
        .toContain('Stanford Online Products layout');
      // The background image check covers every image and names the unreadable ones.
      const check = page.locator('#data-check');
      await expect.poll(() => check.textContent(), { timeout: 300_000 }).toMatch(/in all [\d,]+ images/);
      const images = Number((await page.locator('#data-stats .stat b').first().textContent())!.replace(/,/g, ''));
      expect(await check.innerText()).toMatch(
        new RegExp(
          `⚠ ${made.corrupt.length} unreadable in all ${images.toLocaleString('en-US')} images[\\s\\S]*${made.corrupt[0]}: [\\s\\S]*… and ${made.corrupt.length - 10} more`,
        ),
      );
      await page.getByRole('button', { name: 'Load model' }).click(); // the bundled demo model (the id field's default)
      await expect.poll(() => page.locator('#model-info').textContent(), { timeout: 60_000 }).toContain('Loaded');
      await page.getByRole('button', { name: 'Evaluate', exact: true }).click();
      await expect.poll(() => page.locator('#eval-status').textContent(), { timeout: 300_000 }).toMatch(/^Done/);
      const rows = await page.locator('#eval-rows').innerText();
      for (const k of [1, 10, 100]) {
        const pct = (report[`recall@${k}`] * 100).toFixed(1);
        expect(rows, `Recall@${k}`).toMatch(new RegExp(`Recall@${k}\\s+${pct}%`));
      }
      // Node lists the missing file among the skipped; the app left it out when it read the folder.
      const unreadable = report.skipped.filter((x) => !/ENOENT|no such file/.test(x.error)).length;
      expect(rows).toMatch(new RegExp(`${unreadable} unreadable images left out`));
      console.log(
        `2% SOP in the browser: ${rows.split('\n').slice(0, 4).join(' | ')}; CLI: ${cli.split('\n').slice(2, 5).join(' | ')}`,
      );

      // Search: built now (and saved), then read back after a reload.
      const search = async () => {
        await page.locator('#search-meta').evaluate((el) => (el.textContent = ''));
        await page.locator('#data-samples button').first().click();
        await expect
          .poll(() => page.locator('#search-meta').textContent(), { timeout: 300_000 })
          .toMatch(/search \d+ ms/);
        return (await page.locator('#search-meta').textContent())!;
      };
      expect(await search()).toContain('index built now and saved');
      expect(await search()).not.toContain('index');
      await page.reload({ waitUntil: 'load' });
      await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
      await pickDataset(page, root);
      await expect
        .poll(() => page.locator('#data-desc').textContent(), { timeout: 60_000 })
        .toContain('Stanford Online Products layout');
      await page.getByRole('button', { name: 'Load model' }).click();
      await expect.poll(() => page.locator('#model-info').textContent(), { timeout: 60_000 }).toContain('Loaded');
      const meta = await search();
      console.log(`search after a reload: ${meta}`);
      expect(meta).toContain('index read from browser storage');
      await page.context().close();
    },
  );
});
