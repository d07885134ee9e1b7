/// <reference types="vite-plugin-pwa/client" />
/**
 * App entry. The page only shows and controls: the engine worker (src/worker/engine.ts) finds
 * the WebGPU adapter and does all decoding, training, evaluation and search. Without WebGPU (or
 * without an adapter) the page says what is needed instead of the app.
 *
 * Sections, top to bottom: Data, Model, Config, Train, Evaluate, Search, Export (./data.ts ...).
 * The service worker (vite-plugin-pwa, precaching the built app shell and the demo dataset) is
 * registered here, so after the first visit the app loads and trains offline.
 */
import { registerSW } from 'virtual:pwa-register';
import './app.css';
import { App, startEngine, type Remote } from './app';
import { setupConfig } from './config';
import { setupData } from './data';
import { setupEvaluate } from './evaluate';
import { setupExport } from './export';
import { showFallbackNotice } from './gpu-notice';
import { setupModel } from './model';
import { setupRuns } from './runs';
import { setupSearch } from './search';
import { setupStorage } from './storage';
import { setupTrain } from './train';
import { $, h } from './ui';

const INIT_TIMEOUT_MS = 60_000;

/** Replaces the app with a page that says why it cannot run and what is needed. */
function showNoWebGpu(reason: string): void {
  document.title = 'vembed-web needs WebGPU';
  $('gpu-chip').textContent = 'No WebGPU';
  $('gpu-chip').className = 'chip bad';
  document.querySelector('nav.sections')?.remove();
  document.getElementById('storage-chip')?.remove();
  const main = $('app');
  main.replaceChildren(
    h(
      'div',
      { class: 'nogpu', role: 'alert', id: 'no-webgpu' },
      h('h1', {}, 'This app needs WebGPU'),
      h(
        'p',
        {},
        'vembed-web trains image-retrieval models on your graphics card through WebGPU, and this browser did not give it a WebGPU device:',
      ),
      h('p', { class: 'why' }, reason),
      h('p', {}, 'What works:'),
      h(
        'ul',
        {},
        h('li', {}, 'Chrome or Edge 113 or later on Windows, macOS or ChromeOS (WebGPU is on by default).'),
        h(
          'li',
          {},
          'On Linux or Android, a recent Chrome with WebGPU enabled: see chrome://gpu, and chrome://flags/#enable-unsafe-webgpu where it is still off.',
        ),
        h('li', {}, 'Safari 26 and Firefox 141 or later on the platforms where they ship WebGPU.'),
        h(
          'li',
          {},
          'Hardware acceleration turned on in the browser settings, and a graphics driver the browser does not block.',
        ),
      ),
      h(
        'p',
        { class: 'muted' },
        'The page must be opened over https or from localhost. Nothing was downloaded or stored.',
      ),
    ),
  );
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
    p.then(
      (v) => (clearTimeout(t), ok(v)),
      (e) => (clearTimeout(t), fail(e)),
    );
  });
}

async function main(): Promise<void> {
  registerSW({ immediate: true });
  // Dropping a file outside a drop zone must not navigate away from the app.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());

  if (!('gpu' in navigator)) {
    showNoWebGpu('This browser has no WebGPU (navigator.gpu is missing).');
    return;
  }
  let engine: Remote;
  let worker: Worker;
  try {
    ({ engine, worker } = startEngine());
  } catch (e) {
    showNoWebGpu(
      `The engine worker could not start: ${(e as Error).message}. A browser with module Web Workers is needed.`,
    );
    return;
  }
  const workerFailed = new Promise<never>((_, fail) =>
    worker.addEventListener(
      'error',
      (e) => fail(new Error(`the engine worker failed to load${e.message ? `: ${e.message}` : ''}`)),
      { once: true },
    ),
  );
  let init;
  try {
    init = await withTimeout(
      Promise.race([engine.init(import.meta.env.BASE_URL ?? '/'), workerFailed]),
      INIT_TIMEOUT_MS,
      'the engine worker',
    );
  } catch (e) {
    showNoWebGpu(`WebGPU could not be started: ${(e as Error).message}.`);
    return;
  }
  if (!init.ok) {
    showNoWebGpu(init.error);
    return;
  }
  const chip = $('gpu-chip');
  chip.textContent = `${init.gpu.architecture || init.gpu.vendor || 'WebGPU'}${init.gpu.isFallback ? ' (software)' : ''}`;
  chip.className = 'chip ok';
  chip.title = `WebGPU adapter: ${init.gpu.description}`;

  const app = new App(engine);
  const storageChanged = setupStorage();
  const config = setupConfig(app);
  const search = setupSearch(app);
  const data = setupData(app, (path) => void search.byPath(path));
  const runsRef: { changed: () => void; exists: (r: string) => boolean } = { changed: () => {}, exists: () => false };
  const train = setupTrain(app, config, { runsChanged: () => runsRef.changed(), runExists: (r) => runsRef.exists(r) });
  train.setGpu(init.gpu);
  showFallbackNotice(['model-fallback', 'train-fallback'], init.gpu.isFallback);
  const model = setupModel(app, (name) => config.setKey('model_name', name), storageChanged);
  const runs = setupRuns(app, { data, model, config, train, storageChanged });
  runsRef.changed = () => {
    void runs.refresh();
    storageChanged();
  };
  runsRef.exists = runs.exists;
  setupEvaluate(app);
  setupExport(app, storageChanged);
  let lastDataset: typeof app.state.dataset = null;
  app.onChange((s) => {
    // A new dataset sets data_path in the editor to what was found in the folder.
    if (s.dataset && s.dataset !== lastDataset) {
      lastDataset = s.dataset;
      config.setKey('data_path', s.dataset.dataPath);
    }
  });
  await runs.offerResume();
  document.body.dataset.ready = 'true';
}

void main();
