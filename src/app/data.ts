/**
 * Data section: choose a dataset folder (showDirectoryPicker, else `<input webkitdirectory>`),
 * drop one (DataTransferItem.getAsFileSystemHandle, else webkitGetAsEntry), or use the bundled
 * demo; then the detected format, counts, sample thumbnails and problems, and a background check
 * that every image decodes.
 */
import type { DatasetInput, SessionInfo, StageProgress } from '../worker/protocol';
import { proxy, type App } from './app';
import { $, blobUrl, clearWithUrls, errorText, filesOfEntry, h, show, showError } from './ui';

type DirectoryPicker = (opts?: { id?: string; mode?: 'read' | 'readwrite' }) => Promise<FileSystemDirectoryHandle>;

export function directoryPicker(): DirectoryPicker | null {
  const p = (window as unknown as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;
  return typeof p === 'function' ? p.bind(window) : null;
}

/** Picks a folder: the directory picker, or the given `<input webkitdirectory>` (resolves on change). */
export async function pickFolder(input: HTMLInputElement, id: string): Promise<DatasetInput | null> {
  const picker = directoryPicker();
  if (picker) {
    try {
      return { kind: 'handle', handle: await picker({ id, mode: 'read' }) };
    } catch (e) {
      if ((e as DOMException).name === 'AbortError') return null;
      if ((e as DOMException).name !== 'SecurityError') throw e;
      // not allowed here (e.g. no user activation left): fall back to the input
    }
  }
  return new Promise((resolve) => {
    input.value = '';
    const done = () => {
      input.removeEventListener('change', done);
      input.removeEventListener('cancel', cancel);
      const files = [...(input.files ?? [])];
      resolve(files.length ? { kind: 'files', files, paths: files.map((f) => f.webkitRelativePath || f.name) } : null);
    };
    const cancel = () => {
      input.removeEventListener('change', done);
      input.removeEventListener('cancel', cancel);
      resolve(null);
    };
    input.addEventListener('change', done);
    input.addEventListener('cancel', cancel);
    input.click();
  });
}

/** The folder of a drop event, read synchronously as the event requires. */
export function droppedFolder(e: DragEvent): Promise<DatasetInput | null> {
  const items = [...(e.dataTransfer?.items ?? [])].filter((i) => i.kind === 'file');
  if (!items.length) return Promise.resolve(null);
  const item = items[0] as DataTransferItem & { getAsFileSystemHandle?: () => Promise<FileSystemHandle | null> };
  if (typeof item.getAsFileSystemHandle === 'function') {
    return item.getAsFileSystemHandle().then((handle) => {
      if (!handle) return null;
      if (handle.kind !== 'directory') throw new Error(`${handle.name} is a file: drop the folder that holds the dataset`);
      return { kind: 'handle', handle: handle as FileSystemDirectoryHandle };
    });
  }
  const entry = item.webkitGetAsEntry();
  if (!entry) return Promise.resolve(null);
  if (!entry.isDirectory) return Promise.reject(new Error(`${entry.name} is a file: drop the folder that holds the dataset`));
  return filesOfEntry(entry).then(({ files, paths }) => ({ kind: 'files', files, paths }));
}

/** Makes `zone` accept drops (highlighted while dragging over it). */
export function dropZone(zone: HTMLElement, onDrop: (e: DragEvent) => void): void {
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    onDrop(e);
  });
}

export interface DataSection {
  open(input: DatasetInput): Promise<boolean>;
}

export function setupData(app: App, onPickSample: (path: string) => void): DataSection {
  const choose = $<HTMLButtonElement>('data-choose');
  const demo = $<HTMLButtonElement>('data-demo');
  const input = $<HTMLInputElement>('data-input');
  const status = $('data-status');
  const error = $('data-error');
  const summary = $('data-summary');
  const samples = $('data-samples');
  let checkRun = 0;

  const sessionOf = (inp: DatasetInput, name: string): SessionInfo['dataset'] =>
    inp.kind === 'demo' ? { kind: 'demo' } : inp.kind === 'handle' ? { kind: 'handle', handle: inp.handle, name } : { kind: 'files', name };

  async function open(inp: DatasetInput): Promise<boolean> {
    showError(error, null);
    status.textContent = inp.kind === 'demo' ? 'Opening the demo dataset…' : 'Reading the folder…';
    try {
      const info = await app.busyWith('dataset', () => app.engine.openDataset(inp));
      app.set({ dataset: info, datasetSession: sessionOf(inp, info.name) });
      status.textContent = '';
      render();
      void checkImages();
      return true;
    } catch (e) {
      status.textContent = '';
      showError(error, e);
      return false;
    }
  }

  function render(): void {
    const info = app.state.dataset;
    show(summary, !!info);
    if (!info) return;
    $('data-desc').replaceChildren(h('b', {}, info.name), ` — ${info.description}`);
    const stat = (n: number, label: string) => h('div', { class: 'stat' }, h('b', {}, n.toLocaleString('en-US')), h('span', {}, label));
    $('data-stats').replaceChildren(
      stat(info.images, 'images'), stat(info.classes, 'classes'), stat(info.pairs, 'training pairs'), stat(info.testImages, 'evaluation images'),
    );
    $('data-protocol').textContent = `Training records: ${info.dataPath === '.' ? 'the folder' : info.dataPath}. Evaluation: ${info.evalProtocol}.`;
    clearWithUrls(samples);
    for (const s of info.samples) {
      samples.append(h('button', {
        class: 'thumb', type: 'button', title: s.path, 'aria-label': `Search with ${s.label} (${s.path})`,
        onclick: () => onPickSample(s.path),
      }, h('img', { src: blobUrl(samples, s.blob), alt: '' }), s.label));
    }
    $('data-problems').replaceChildren(...info.problems.map((p) => h('li', {}, p)));
  }

  async function checkImages(): Promise<void> {
    const run = ++checkRun;
    const out = $('data-check');
    out.className = 'small muted';
    out.textContent = 'Checking that every image decodes…';
    try {
      const r = await app.engine.checkImages(proxy((p: StageProgress) => {
        if (run === checkRun) out.textContent = `Checking images: ${p.done}/${p.total}`;
      }));
      if (run !== checkRun) return;
      const scope = r.checked < r.total ? `the first ${r.checked} of ${r.total} images` : `all ${r.total} images`;
      if (r.unreadable.length === 0) {
        out.className = 'small ok';
        out.textContent = `✓ Checked ${scope}: all readable.`;
      } else {
        out.className = 'small warn';
        out.replaceChildren(
          `⚠ ${r.unreadable.length} unreadable in ${scope} (their pairs are skipped during training):`,
          h('ul', { class: 'problems' }, ...r.unreadable.slice(0, 10).map((u) => h('li', {}, `${u.path}: ${u.reason}`))),
        );
      }
    } catch (e) {
      if (run === checkRun) out.textContent = `Image check failed: ${errorText(e)}`;
    }
  }

  choose.addEventListener('click', async () => {
    try {
      const inp = await pickFolder(input, 'vembed-dataset');
      if (inp) await open(inp);
    } catch (e) {
      showError(error, e);
    }
  });
  demo.addEventListener('click', () => void open({ kind: 'demo' }));
  dropZone($('data-drop'), (e) => {
    droppedFolder(e).then((inp) => inp && open(inp), (err) => showError(error, err));
  });

  app.onChange((s) => {
    const locked = s.train !== 'idle' || s.busy === 'dataset';
    choose.disabled = locked;
    demo.disabled = locked;
  });
  return { open };
}
