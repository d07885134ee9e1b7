/**
 * The storage chip: asks for persistent storage (navigator.storage.persist(), so the browser does
 * not evict cached models and checkpoints under pressure) and shows usage and quota.
 */
import { $, formatBytes } from './ui';

export function setupStorage(): () => void {
  const chip = $('storage-chip');
  let persisted: boolean | null = null;
  const refresh = async () => {
    if (!navigator.storage?.estimate) {
      chip.textContent = 'Storage: unknown';
      return;
    }
    try {
      persisted ??= (await navigator.storage.persisted?.()) ?? false;
      const est = await navigator.storage.estimate();
      chip.textContent = `Storage ${formatBytes(est.usage ?? 0)} / ${formatBytes(est.quota ?? 0)}${persisted ? ' · kept' : ''}`;
      chip.title = persisted
        ? 'Models, checkpoints and the app are kept in persistent browser storage.'
        : "The browser may evict this site's data (models, checkpoints) when the disk is short.";
    } catch {
      chip.textContent = 'Storage: unknown';
    }
  };
  if (navigator.storage?.persist) {
    navigator.storage.persist().then(
      (p) => {
        persisted = p;
        void refresh();
      },
      () => void refresh(),
    );
  }
  void refresh();
  return () => void refresh();
}
