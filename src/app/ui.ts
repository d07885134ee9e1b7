/**
 * Small DOM helpers for the page: element lookup and creation, number/byte/duration formats,
 * error boxes, and a frame-throttled render scheduler (so a burst of worker events costs one
 * paint, keeping main-thread tasks short).
 */

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

type Child = Node | string | null | undefined | false;
/** An attribute or property value, or an `on...` event handler. */
type Prop = string | number | boolean | null | undefined | ((event: never) => unknown);

/** h('button', {class: 'x', onclick}, 'text') */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, Prop>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'class') el.className = String(v);
    else if (k in el && typeof v !== 'string') (el as unknown as Record<string, unknown>)[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function show(el: HTMLElement, on = true): void {
  el.classList.toggle('hidden', !on);
}

/** Shows `e`'s message in an error box (or hides the box for null). */
export function showError(box: HTMLElement, e: unknown): void {
  if (e === null || e === undefined) {
    box.textContent = '';
    show(box, false);
    return;
  }
  box.textContent = errorText(e);
  show(box, true);
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '?';
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

export function formatDuration(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec)) return '?';
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export const pct = (x: number, digits = 1) => `${(x * 100).toFixed(digits)}%`;

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)} k`;
  return n.toLocaleString('en-US');
}

/** Calls `fn` at most once per animation frame however often `schedule()` is called. */
export function frameThrottle(fn: () => void): () => void {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fn();
    });
  };
}

/** An object URL for a Blob, revoked when `owner` is cleared through `revokeUrls(owner)`. */
const urls = new WeakMap<HTMLElement, string[]>();
export function blobUrl(owner: HTMLElement, blob: Blob): string {
  const u = URL.createObjectURL(blob);
  const list = urls.get(owner) ?? [];
  list.push(u);
  urls.set(owner, list);
  return u;
}
export function clearWithUrls(owner: HTMLElement): void {
  for (const u of urls.get(owner) ?? []) URL.revokeObjectURL(u);
  urls.set(owner, []);
  owner.replaceChildren();
}

/**
 * Files under a dropped directory entry (browsers without getAsFileSystemHandle), with their
 * paths ("dropped/sub/a.jpg").
 */
export async function filesOfEntry(entry: FileSystemEntry, prefix = ''): Promise<{ files: File[]; paths: string[] }> {
  const path = prefix ? `${prefix}/${entry.name}` : entry.name;
  if (entry.isFile) {
    const file = await new Promise<File>((ok, fail) => (entry as FileSystemFileEntry).file(ok, fail));
    return { files: [file], paths: [path] };
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const out = { files: [] as File[], paths: [] as string[] };
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (!batch.length) break;
    for (const e of batch) {
      const sub = await filesOfEntry(e, path);
      out.files.push(...sub.files);
      out.paths.push(...sub.paths);
    }
  }
  return out;
}
