/**
 * Node-side helpers to drive pages in headless Chromium (shared by the browser tests under
 * tests/e2e/ and the benchmark bench/run.ts):
 *   startVite()      a Vite dev server on 127.0.0.1 and a free port, with the repo's vite.config.ts
 *   launchChromium() Debian's /usr/bin/chromium through playwright-core, with the flags that give
 *                    a WebGPU adapter even without a GPU (SwiftShader; see /work/shared/WEBGPU.md)
 *   openPage()       opens a page, collects console errors and uncaught exceptions
 *   waitForGlobal()  polls `window[name]` until it reports `done` (or an error), with progress
 *
 * A page that reports through `window[name]` sets an object with at least `done: boolean` and
 * optionally `error: string`. The localhost origin matters: `navigator.gpu` exists only in a
 * secure context (http://127.0.0.1 counts; about:blank and file:// do not).
 */
import { existsSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Chromium binary: $CHROMIUM_PATH, else Debian's package. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** WebGPU on any machine (real GPU when present, else SwiftShader), headless, no network. */
export const CHROMIUM_WEBGPU_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--enable-unsafe-swiftshader',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ViteHandle {
  server: ViteDevServer;
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  close(): Promise<void>;
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createNetServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? ok(port) : fail(new Error('no free port'))));
    });
  });
}

export interface StartViteOptions {
  /**
   * Serve every page cross-origin isolated (COOP same-origin, COEP require-corp): Chromium's
   * `performance.now()` then ticks in 5 us instead of 100 us, which the bench's host-time rows
   * (dispatch.overhead: a few ms per rep) need. Pages must then load only same-origin resources.
   */
  isolated?: boolean;
}

/**
 * Starts a Vite dev server for the repo (its vite.config.ts), without file watching or HMR:
 * the pages load once. `optimizeDeps` are listed up front so Vite does not discover a
 * dependency mid-run and reload the page under us.
 */
export async function startVite(opts: StartViteOptions = {}): Promise<ViteHandle> {
  const port = await freePort();
  const headers = opts.isolated
    ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
    : undefined;
  const server = await createServer({
    root: ROOT,
    configFile: resolve(ROOT, 'vite.config.ts'),
    logLevel: 'warn',
    clearScreen: false,
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false, watch: null, headers },
    optimizeDeps: {
      include: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu'],
    },
  });
  await server.listen();
  const url = `http://127.0.0.1:${port}`;
  return { server, url, close: () => server.close() };
}

/** Launches headless Chromium with WebGPU. Playwright gives it a fresh temporary profile. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: install Debian's \`chromium\` package or set ` +
        'CHROMIUM_PATH (do not run `npx playwright install`).',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_WEBGPU_ARGS, ...extraArgs],
    timeout: 60_000,
  });
}

export interface PageHandle {
  page: Page;
  /** Console errors and uncaught page exceptions seen so far. */
  errors: string[];
  /** Every console line (type: text), for diagnostics. */
  console: string[];
}

/**
 * Opens `url` in a new page and records its console. `onConsole` sees every console message
 * (the bench prints its progress lines this way).
 */
export async function openPage(
  browser: Browser,
  url: string,
  onConsole?: (type: string, text: string) => void,
): Promise<PageHandle> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const lines: string[] = [];
  page.on('console', (msg) => {
    const line = `${msg.type()}: ${msg.text()}`;
    lines.push(line);
    const where = msg.location().url;
    if (msg.type() === 'error' && !where.endsWith('/favicon.ico')) {
      errors.push(`console.error: ${msg.text()}${where ? ` (${where})` : ''}`);
    }
    onConsole?.(msg.type(), msg.text());
  });
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.stack ?? err.message}`));
  page.on('crash', () => errors.push('the page crashed'));
  await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
  return { page, errors, console: lines };
}

export interface DoneReport {
  done: boolean;
  error?: string | null;
}

/**
 * Polls `window[name]` until it has `done: true` or an `error`, the page crashes or closes, or
 * `timeoutMs` passes (then throws, including the page's errors). If the global is still unset
 * `startupMs` after the start while the page has logged errors (its module failed to load),
 * gives up early. `onPoll` sees every snapshot (for progress lines). Returns the final snapshot.
 */
export async function waitForGlobal<T extends DoneReport>(
  handle: PageHandle,
  name: string,
  opts: { timeoutMs: number; startupMs?: number; pollMs?: number; onPoll?: (snapshot: T) => void },
): Promise<T> {
  const { page } = handle;
  const start = Date.now();
  const errorsText = () => (handle.errors.length ? `\npage errors:\n${handle.errors.join('\n')}` : '');
  let last: T | undefined;
  for (;;) {
    if (page.isClosed()) throw new Error(`page closed while waiting for window.${name}`);
    if (handle.errors.includes('the page crashed')) {
      throw new Error(`page crashed while waiting for window.${name}${errorsText()}`);
    }
    last = (await page.evaluate((n) => (window as unknown as Record<string, unknown>)[n], name)) as T | undefined;
    if (last) opts.onPoll?.(last);
    if (last?.done || last?.error) return last;
    const waited = Date.now() - start;
    if (!last && handle.errors.length && waited > (opts.startupMs ?? 15_000)) {
      throw new Error(`window.${name} was never set: the page failed to start${errorsText()}`);
    }
    if (waited > opts.timeoutMs) {
      throw new Error(
        `timed out after ${opts.timeoutMs} ms waiting for window.${name}.done` +
          (last ? ` (last: ${JSON.stringify(last).slice(0, 500)})` : ' (never set)') +
          errorsText(),
      );
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
}

/** Starts Vite and Chromium, runs `fn`, and always closes both. */
export async function withBrowser<R>(
  fn: (ctx: { vite: ViteHandle; browser: Browser }) => Promise<R>,
  opts: StartViteOptions = {},
): Promise<R> {
  const vite = await startVite(opts);
  let browser: Browser | null = null;
  try {
    browser = await launchChromium();
    return await fn({ vite, browser });
  } finally {
    await browser?.close().catch(() => {});
    await vite.close().catch(() => {});
  }
}
