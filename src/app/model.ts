/**
 * Model section: a hub id (presets: DINOv3 S/16 and B/16, DINOv2 small/base, the bundled demo)
 * with an optional token, downloaded into IndexedDB with progress (bytes, speed, ETA) and
 * cancel (a later Load resumes); the models cached in this browser with sizes and Delete; or a
 * local model folder (config.json + model.safetensors + preprocessor_config.json).
 * A hub mirror can come from the page's link (?hub_endpoint=); the access token is sent to it only
 * after the user ticks the box that names it (a crafted link must not collect tokens).
 */
import { DEMO_MODEL_ID, MODEL_PRESETS } from '../run/presets';
import type { DownloadProgress, ModelInput, SessionInfo } from '../worker/protocol';
import { proxy, type App } from './app';
import { modelInputOf, pickFolder } from './data';
import { $, formatBytes, formatCount, formatDuration, frameThrottle, h, show, showError } from './ui';

/**
 * The hub mirror named by the page's link (?hub_endpoint=), or null: only an http(s) URL, and not
 * huggingface.co itself (the default needs no confirmation).
 */
export function linkEndpoint(search: string): string | null {
  const raw = new URLSearchParams(search).get('hub_endpoint');
  if (!raw) return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
  if (u.origin === 'https://huggingface.co') return null;
  return raw.replace(/\/+$/, '');
}

export interface ModelSection {
  load(input: ModelInput): Promise<boolean>;
  refreshCache(): Promise<void>;
}

export function setupModel(app: App, onLoaded: (name: string) => void, onStorageChange: () => void): ModelSection {
  const preset = $<HTMLSelectElement>('model-preset');
  const idField = $<HTMLInputElement>('model-id');
  const token = $<HTMLInputElement>('model-token');
  const loadBtn = $<HTMLButtonElement>('model-load');
  const cancel = $<HTMLButtonElement>('model-cancel');
  const folder = $<HTMLButtonElement>('model-folder');
  const input = $<HTMLInputElement>('model-input');
  const progress = $('model-progress');
  const bar = $<HTMLProgressElement>('model-progress-bar');
  const text = $('model-progress-text');
  const error = $('model-error');
  const info = $('model-info');
  let downloading = false;
  // A hub mirror with the same URL layout (e.g. ?hub_endpoint=https://hf-mirror.com). A link can
  // carry it, so a token goes there only once the user ticks the box naming it (linkEndpoint).
  const endpoint = linkEndpoint(location.search);
  const endpointOk = $<HTMLInputElement>('model-endpoint-ok');
  if (endpoint) {
    idField.title = `Downloads from ${endpoint}`;
    $('model-endpoint-name').textContent = endpoint;
    show($('model-endpoint-row'), true);
  }

  for (const p of MODEL_PRESETS) preset.append(h('option', { value: p.id }, p.label));
  preset.append(h('option', { value: '' }, 'Other hub id…'));
  preset.value = DEMO_MODEL_ID;
  idField.value = DEMO_MODEL_ID;
  preset.addEventListener('change', () => {
    if (preset.value) idField.value = preset.value;
    else idField.focus();
  });
  idField.addEventListener('input', () => {
    preset.value = MODEL_PRESETS.some((p) => p.id === idField.value.trim()) ? idField.value.trim() : '';
  });

  const sessionOf = (inp: ModelInput, name: string): SessionInfo['model'] =>
    inp.kind === 'demo'
      ? { kind: 'demo' }
      : inp.kind === 'hub'
        ? { kind: 'hub', id: inp.id, endpoint: inp.endpoint ?? null }
        : inp.kind === 'handle'
          ? { kind: 'handle', handle: inp.handle, name }
          : { kind: 'files', name };

  async function load(inp: ModelInput): Promise<boolean> {
    showError(error, null);
    downloading = inp.kind === 'hub';
    show(progress, downloading);
    bar.value = 0;
    bar.removeAttribute('value');
    text.textContent =
      inp.kind === 'hub' ? `Connecting to ${inp.endpoint ?? 'the hub'} for ${inp.id}…` : 'Loading the model…';
    info.textContent = '';
    let last: DownloadProgress | null = null;
    let lastAt = performance.now();
    const render = frameThrottle(() => {
      if (!last) return;
      const p = last;
      const quiet = (performance.now() - lastAt) / 1000;
      if (p.allTotal) bar.value = p.allBytes / p.allTotal;
      text.textContent =
        `${p.file}: ${formatBytes(p.bytes)}${p.total ? ` of ${formatBytes(p.total)}` : ''} · ${formatBytes(p.bytesPerSec)}/s` +
        (p.etaSec !== null ? ` · ETA ${formatDuration(p.etaSec)}` : '') +
        (p.allTotal ? ` · model ${formatBytes(p.allBytes)} of ${formatBytes(p.allTotal)}` : '') +
        (quiet >= 3
          ? ` · no data for ${formatDuration(quiet)} (the download retries by itself; Cancel keeps what arrived)`
          : '');
    });
    // A transfer that stalls sends no progress: say so.
    const quietTimer = inp.kind === 'hub' ? setInterval(render, 1000) : undefined;
    app.set({ model: null, modelSession: null });
    try {
      const m = await app.busyWith('model', () =>
        app.engine.loadModel(
          inp,
          proxy((p: DownloadProgress) => {
            last = p;
            lastAt = performance.now();
            render();
          }),
        ),
      );
      app.set({ model: m, modelSession: sessionOf(inp, m.name) });
      show(progress, false);
      info.replaceChildren(
        h('span', { class: 'ok' }, '✓ '),
        'Loaded ',
        h('b', {}, m.name),
        ': ',
        `${m.family === 'dinov3' ? 'DINOv3' : 'DINOv2'} ViT, ${m.layers} layers, hidden ${m.hidden}, ${m.heads} heads, patch ${m.patch}, ` +
          `input ${m.inputSize}, ${formatCount(m.params)} parameters (${formatBytes(m.bytes)} in float32).`,
      );
      onLoaded(m.name);
      return true;
    } catch (e) {
      show(progress, false);
      showError(error, e);
      return false;
    } finally {
      clearInterval(quietTimer);
      downloading = false;
      app.set({});
      void refreshCache();
      onStorageChange();
    }
  }

  async function refreshCache(): Promise<void> {
    const rows = $('model-cache-rows');
    let list;
    try {
      list = await app.engine.cachedModels();
    } catch (e) {
      rows.replaceChildren(
        h('tr', {}, h('td', { colspan: 4, class: 'bad' }, `Cannot read the cache: ${(e as Error).message}`)),
      );
      return;
    }
    if (!list.length) {
      rows.replaceChildren(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No models cached yet.')));
      return;
    }
    rows.replaceChildren(
      ...list.map((m) =>
        h(
          'tr',
          {},
          h('td', {}, m.id),
          h('td', { class: 'num' }, formatBytes(m.bytes)),
          h('td', {}, m.complete ? 'complete' : 'partial (Load resumes it)'),
          h(
            'td',
            {},
            h(
              'button',
              {
                type: 'button',
                'aria-label': `Delete ${m.id}`,
                onclick: async () => {
                  try {
                    await app.engine.deleteCachedModel(m.id);
                  } catch (e) {
                    showError(error, e);
                  }
                  void refreshCache();
                  onStorageChange();
                },
              },
              'Delete',
            ),
          ),
        ),
      ),
    );
  }

  loadBtn.addEventListener('click', () => {
    const id = idField.value.trim();
    const t = token.value.trim() || null;
    if (id !== DEMO_MODEL_ID && t && endpoint && !endpointOk.checked) {
      showError(
        error,
        `Your access token was not sent anywhere: this page's link names the hub mirror ${endpoint} (?hub_endpoint=), ` +
          `which you did not choose. Tick "Send my access token to ${endpoint}" if you trust it, clear the token to download without it, ` +
          'or open the app without ?hub_endpoint= to use huggingface.co.',
      );
      return;
    }
    void load(id === DEMO_MODEL_ID ? { kind: 'demo' } : { kind: 'hub', id, token: t, endpoint });
  });
  idField.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !loadBtn.disabled) loadBtn.click();
  });
  cancel.addEventListener('click', () => void app.engine.cancelDownload());
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the handler catches and shows its own errors
  folder.addEventListener('click', async () => {
    try {
      const inp = await pickFolder(input, 'vembed-model');
      if (inp) await load(await modelInputOf(inp));
    } catch (e) {
      showError(error, e);
    }
  });

  app.onChange((s) => {
    const locked = s.train !== 'idle' || s.busy === 'model';
    loadBtn.disabled = locked;
    folder.disabled = locked;
    cancel.disabled = !(s.busy === 'model' && downloading);
  });
  void refreshCache();
  return { load, refreshCache };
}
