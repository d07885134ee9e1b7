/**
 * Search section: a photo (picked with "Search by image" or dropped) or a dataset image (a sample
 * under Data) -> the top-K most similar images of the dataset with their cosine scores and
 * labels. The engine embeds the dataset once per model (the fine-tuned one when a run has a
 * checkpoint) and keeps the index.
 */
import type { StageProgress } from '../worker/protocol';
import { proxy, type App } from './app';
import { dropZone } from './data';
import { $, blobUrl, clearWithUrls, h, show, showError } from './ui';

export interface SearchSection {
  byPath(path: string): Promise<void>;
}

export function setupSearch(app: App): SearchSection {
  const pick = $<HTMLButtonElement>('search-pick');
  const input = $<HTMLInputElement>('search-input');
  const kSel = $<HTMLSelectElement>('search-k');
  const status = $('search-status');
  const error = $('search-error');
  const results = $('search-results');
  const queryEl = $('search-query');
  const hitsEl = $('search-hits');

  async function run(query: { path: string } | { blob: Blob; name: string }): Promise<void> {
    showError(error, null);
    if (!app.state.dataset || !app.state.model) {
      showError(error, "Choose a dataset and load a model first: Search looks through the dataset's images.");
      return;
    }
    if (app.state.busy !== null || !['idle', 'paused'].includes(app.state.train)) {
      showError(
        error,
        app.state.busy
          ? `Busy (${app.state.busy}); try again in a moment.`
          : 'Training is running: pause or stop it to search.',
      );
      return;
    }
    document.getElementById('search')?.scrollIntoView({ behavior: 'smooth', block: 'start' });
    status.textContent = 'Searching…';
    try {
      const r = await app.busyWith('search', () =>
        app.engine.search(
          query,
          Number(kSel.value),
          proxy((p: StageProgress) => (status.textContent = p.message)),
        ),
      );
      clearWithUrls(queryEl);
      clearWithUrls(hitsEl);
      const qBlob = 'blob' in query ? query.blob : r.query.blob;
      queryEl.append(
        h(
          'figure',
          { class: 'thumb', style: 'margin: 0' },
          qBlob ? h('img', { src: blobUrl(queryEl, qBlob), alt: 'query image' }) : null,
          h('span', {}, r.query.label ?? ('name' in query ? query.name : 'query')),
        ),
      );
      const from = { memory: '', stored: ', index read from browser storage', built: ', index built now and saved' }[
        r.index
      ];
      $('search-meta').textContent =
        `Top ${r.hits.length} of ${r.gallery.toLocaleString('en-US')} dataset images by cosine similarity, model ${r.model} ` +
        `(search ${r.searchMs.toFixed(0)} ms, ${(r.seconds * 1000).toFixed(0)} ms in all${from})` +
        (r.query.label ? '. Green: same product/class as the query.' : '.');
      hitsEl.replaceChildren(
        ...r.hits.map((x, i) =>
          h(
            'figure',
            {
              class: `thumb${r.query.label && x.label === r.query.label ? ' same' : ''}`,
              style: 'margin: 0',
              title: x.path,
            },
            h('img', { src: blobUrl(hitsEl, x.blob), alt: `result ${i + 1}: ${x.label}` }),
            h('span', { class: 'score' }, x.score.toFixed(3)),
            h('span', {}, x.label),
          ),
        ),
      );
      show(results, true);
      status.textContent = '';
    } catch (e) {
      status.textContent = '';
      showError(error, e);
    }
  }

  pick.addEventListener('click', () => {
    input.value = '';
    input.click();
  });
  input.addEventListener('change', () => {
    const f = input.files?.[0];
    if (f) void run({ blob: f, name: f.name });
  });
  dropZone($('search-drop'), (e) => {
    const f = [...(e.dataTransfer?.files ?? [])].find(
      (x) => x.type.startsWith('image/') || /\.(jpe?g|png|webp|gif|bmp|avif)$/i.test(x.name),
    );
    if (f) void run({ blob: f, name: f.name });
    else showError(error, 'Drop an image file (JPEG, PNG, WebP).');
  });

  app.onChange((s) => {
    pick.disabled = !s.dataset || !s.model || s.busy !== null || !['idle', 'paused'].includes(s.train);
  });
  return { byPath: (path) => run({ path }) };
}
