/**
 * Data section: choose a dataset folder (showDirectoryPicker, else `<input webkitdirectory>`),
 * drop one (DataTransferItem.getAsFileSystemHandle, else webkitGetAsEntry), or use the bundled
 * demo; then the detected format, counts, sample thumbnails and problems, and a background check
 * that every image decodes (all of them, with progress and Cancel).
 * A folder picked through the input (or dropped as entries) keeps its File objects here: their
 * paths are read in slices between which the page stays responsive (a progress line counts
 * them), only the paths go to the engine, and the engine asks for file bytes when it reads them
 * (PageFileReader). SOP's 120,053 files open without a main-thread task over 200 ms.
 */
import * as Comlink from 'comlink';
import type { DatasetInput, ModelInput, PageFileReader, SessionInfo, StageProgress } from '../worker/protocol';
import { proxy, type App } from './app';
import { $, blobUrl, clearWithUrls, errorText, filesOfEntry, h, show, showError } from './ui';

type DirectoryPicker = (opts?: { id?: string; mode?: 'read' | 'readwrite' }) => Promise<FileSystemDirectoryHandle>;

export function directoryPicker(): DirectoryPicker | null {
  const p = (window as unknown as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;
  return typeof p === 'function' ? p.bind(window) : null;
}

/** A folder whose files stay in the page (the input fallback, or a drop read as entries). */
export interface PageFolder {
  kind: 'pagefolder';
  files: ArrayLike<File>;
  /** Paths when known ("picked/sub/a.jpg"); else each file's webkitRelativePath. */
  paths?: string[];
}

export type PickedFolder = Exclude<DatasetInput, { kind: 'pagefiles' }> | PageFolder;

/** Lets the page render and handle input between slices of long work. */
const breathe = () => new Promise<void>((ok) => setTimeout(ok, 0));

/**
 * The paths of a page folder's files, read in slices of `slice` (2,000 take ~20 ms here) with the
 * event loop free in between; `onProgress(done, total)` after each slice.
 */
export async function folderPaths(
  folder: PageFolder,
  onProgress?: (done: number, total: number) => void,
  slice = 2000,
): Promise<string[]> {
  if (folder.paths) return folder.paths;
  const n = folder.files.length;
  const paths = new Array<string>(n);
  for (let i0 = 0; i0 < n; i0 += slice) {
    for (let i = i0; i < Math.min(n, i0 + slice); i++) {
      const f = folder.files[i];
      paths[i] = f.webkitRelativePath || f.name;
    }
    onProgress?.(Math.min(n, i0 + slice), n);
    if (i0 + slice < n) await breathe();
  }
  return paths;
}

/** The engine's way to read a page folder's files: bytes transferred, an error as its message. */
export function pageFileReader(files: ArrayLike<File>): PageFileReader {
  return async (indices) => {
    const out = await Promise.all(
      indices.map((i) => files[i].arrayBuffer().catch((e: Error) => e.message || String(e))),
    );
    return Comlink.transfer(
      out,
      out.filter((x): x is ArrayBuffer => x instanceof ArrayBuffer),
    );
  };
}

/** A picked folder as a model input (a few files: posted as they are). */
export async function modelInputOf(f: PickedFolder): Promise<ModelInput> {
  if (f.kind !== 'pagefolder') return f.kind === 'files' || f.kind === 'handle' ? f : { kind: 'demo' };
  return { kind: 'files', files: Array.from(f.files), paths: await folderPaths(f) };
}

/** Picks a folder: the directory picker, or the given `<input webkitdirectory>` (resolves on change). */
export async function pickFolder(input: HTMLInputElement, id: string): Promise<PickedFolder | null> {
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
      const files = input.files;
      resolve(files && files.length ? { kind: 'pagefolder', files } : null);
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
export function droppedFolder(e: DragEvent): Promise<PickedFolder | null> {
  const items = [...(e.dataTransfer?.items ?? [])].filter((i) => i.kind === 'file');
  if (!items.length) return Promise.resolve(null);
  const item = items[0] as DataTransferItem & { getAsFileSystemHandle?: () => Promise<FileSystemHandle | null> };
  if (typeof item.getAsFileSystemHandle === 'function') {
    return item.getAsFileSystemHandle().then((handle) => {
      if (!handle) return null;
      if (handle.kind !== 'directory')
        throw new Error(`${handle.name} is a file: drop the folder that holds the dataset`);
      return { kind: 'handle', handle: handle as FileSystemDirectoryHandle };
    });
  }
  const entry = item.webkitGetAsEntry();
  if (!entry) return Promise.resolve(null);
  if (!entry.isDirectory)
    return Promise.reject(new Error(`${entry.name} is a file: drop the folder that holds the dataset`));
  return filesOfEntry(entry).then(({ files, paths }) => ({ kind: 'pagefolder', files, paths }));
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
  open(input: PickedFolder): Promise<boolean>;
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

  const sessionOf = (inp: PickedFolder, name: string): SessionInfo['dataset'] =>
    inp.kind === 'demo'
      ? { kind: 'demo' }
      : inp.kind === 'handle'
        ? { kind: 'handle', handle: inp.handle, name }
        : { kind: 'files', name };
  const fmt = new Intl.NumberFormat('en-US');
  const count = (n: number) => fmt.format(n);

  async function open(inp: PickedFolder): Promise<boolean> {
    showError(error, null);
    status.textContent = inp.kind === 'demo' ? 'Opening the demo dataset…' : 'Reading the folder…';
    const progress = proxy((p: StageProgress) => {
      status.textContent = p.message;
    });
    try {
      if (inp.kind === 'pagefolder') await breathe(); // the input's change event already took its time
      const info = await app.busyWith('dataset', async () => {
        if (inp.kind !== 'pagefolder') return app.engine.openDataset(inp, null, progress);
        await breathe();
        const paths = await folderPaths(
          inp,
          (d, t) => (status.textContent = `Reading the folder: ${count(d)} of ${count(t)} files`),
        );
        status.textContent = `Reading the folder: ${count(paths.length)} files listed; detecting the format…`;
        return app.engine.openDataset({ kind: 'pagefiles', paths }, proxy(pageFileReader(inp.files)), progress);
      });
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
    const stat = (n: number, label: string) =>
      h('div', { class: 'stat' }, h('b', {}, n.toLocaleString('en-US')), h('span', {}, label));
    $('data-stats').replaceChildren(
      stat(info.images, 'images'),
      stat(info.classes, 'classes'),
      stat(info.pairs, 'training pairs'),
      stat(info.testImages, 'evaluation images'),
    );
    $('data-protocol').textContent =
      `Training records: ${info.dataPath === '.' ? 'the folder' : info.dataPath}. Evaluation: ${info.evalProtocol}.`;
    clearWithUrls(samples);
    for (const s of info.samples) {
      samples.append(
        h(
          'button',
          {
            class: 'thumb',
            type: 'button',
            title: s.path,
            'aria-label': `Search with ${s.label} (${s.path})`,
            onclick: () => onPickSample(s.path),
          },
          h('img', { src: blobUrl(samples, s.blob), alt: '' }),
          s.label,
        ),
      );
    }
    $('data-problems').replaceChildren(...info.problems.map((p) => h('li', {}, p)));
  }

  // One button: "Cancel image check" while it runs, "Check all images" after a cancelled one.
  const cancelCheck = $<HTMLButtonElement>('data-check-cancel');
  cancelCheck.addEventListener('click', () => {
    if (cancelCheck.dataset.mode === 'run') void checkImages();
    else void app.engine.cancelImageCheck();
  });

  /** Decodes every image in the background (the engine's decode pool), with progress and Cancel. */
  async function checkImages(): Promise<void> {
    const run = ++checkRun;
    const out = $('data-check');
    out.className = 'small muted';
    out.textContent = 'Checking that every image decodes…';
    cancelCheck.dataset.mode = 'cancel';
    cancelCheck.textContent = 'Cancel image check';
    show(cancelCheck, true);
    let cancelled = false;
    try {
      const r = await app.engine.checkImages(
        proxy((p: StageProgress) => {
          if (run === checkRun) out.textContent = `Checking images: ${p.message.replace(/^checking images /, '')}`;
        }),
      );
      if (run !== checkRun) return;
      cancelled = r.cancelled;
      const scope = r.cancelled
        ? `${count(r.checked)} of ${count(r.total)} images (check cancelled)`
        : `all ${count(r.total)} images`;
      if (r.unreadable.length === 0) {
        out.className = r.cancelled ? 'small muted' : 'small ok';
        out.textContent = `${r.cancelled ? '' : '✓ '}Checked ${scope}: all readable.`;
      } else {
        const more = r.unreadable.length - 10;
        out.className = 'small warn';
        out.replaceChildren(
          `⚠ ${count(r.unreadable.length)} unreadable in ${scope} (their pairs are skipped during training, evaluation leaves them out):`,
          h(
            'ul',
            { class: 'problems' },
            ...r.unreadable.slice(0, 10).map((u) => h('li', {}, `${u.path}: ${u.reason}`)),
            ...(more > 0 ? [h('li', {}, `… and ${count(more)} more`)] : []),
          ),
        );
      }
    } catch (e) {
      if (run === checkRun) out.textContent = `Image check failed: ${errorText(e)}`;
    } finally {
      if (run === checkRun) {
        cancelCheck.dataset.mode = 'run';
        cancelCheck.textContent = 'Check all images';
        show(cancelCheck, cancelled);
      }
    }
  }

  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the handler catches and shows its own errors
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
    droppedFolder(e).then(
      (inp) => inp && open(inp),
      (err) => showError(error, err),
    );
  });

  app.onChange((s) => {
    const locked = s.train !== 'idle' || s.busy === 'dataset';
    choose.disabled = locked;
    demo.disabled = locked;
  });
  return { open };
}
