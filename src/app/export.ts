/**
 * Export section: the active run's latest checkpoint as a PEFT adapter (adapter_config.json +
 * adapter_model.safetensors) or as a merged Hugging Face model (config.json + model.safetensors +
 * preprocessor_config.json), each with train_config.yaml and train_results.json: downloaded one
 * file each, or written into a folder chosen with showDirectoryPicker where the browser has it.
 */
import type { ExportFile, ExportKind } from '../worker/protocol';
import type { App } from './app';
import { $, blobUrl, clearWithUrls, formatBytes, h, show, showError } from './ui';

type WritablePicker = (o: { id?: string; mode: 'readwrite' }) => Promise<FileSystemDirectoryHandle>;

export function setupExport(app: App, storageChanged: () => void): void {
  const adapterBtn = $<HTMLButtonElement>('export-adapter');
  const mergedBtn = $<HTMLButtonElement>('export-merged');
  const toFolder = $<HTMLInputElement>('export-folder');
  const list = $('export-files');
  const error = $('export-error');
  const picker = (window as unknown as { showDirectoryPicker?: WritablePicker }).showDirectoryPicker;
  show($('export-folder-label'), typeof picker === 'function');

  async function writeInto(dir: FileSystemDirectoryHandle, files: ExportFile[]): Promise<void> {
    for (const f of files) {
      const w = await (await dir.getFileHandle(f.name, { create: true })).createWritable();
      await w.write(f.blob);
      await w.close();
    }
  }

  async function run(kind: ExportKind): Promise<void> {
    showError(error, null);
    let dir: FileSystemDirectoryHandle | null = null;
    try {
      // The picker needs the click's user activation: ask first.
      if (toFolder.checked && typeof picker === 'function') {
        try {
          dir = await picker.call(window, { id: 'vembed-export', mode: 'readwrite' });
        } catch (e) {
          if ((e as DOMException).name === 'AbortError') return;
          throw e;
        }
      }
      const files = await app.busyWith('export', () => app.engine.exportFiles(kind));
      clearWithUrls(list);
      const folder = kind === 'adapter' ? 'adapter' : 'merged model';
      if (dir) {
        await writeInto(dir, files);
        list.append(h('li', { class: 'ok' }, `✓ Wrote the ${folder} (${files.length} files) into ${dir.name}.`));
      }
      for (const f of files) {
        const a = h('a', { href: blobUrl(list, f.blob), download: f.name }, f.name);
        list.append(h('li', {}, a, h('span', { class: 'muted' }, ` ${formatBytes(f.blob.size)}`)));
        if (!dir) a.click();
      }
      storageChanged();
    } catch (e) {
      showError(error, e);
    }
  }

  adapterBtn.addEventListener('click', () => void run('adapter'));
  mergedBtn.addEventListener('click', () => void run('merged'));
  app.onChange((s) => {
    const off = !s.model || !s.activeRun || s.busy !== null || !['idle', 'paused'].includes(s.train);
    adapterBtn.disabled = off;
    mergedBtn.disabled = off;
    adapterBtn.title = mergedBtn.title = !s.activeRun ? 'Train (or resume a saved run) first' : '';
  });
}
