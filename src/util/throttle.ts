/**
 * A callback called at most every `ms` milliseconds, the latest value always delivered (on the
 * trailing edge): progress messages that cross to the page (the app's model download) without
 * flooding it.
 */

/** `send` calls `onProgress` as described above; `cancel` drops a pending value. */
export function throttled<T>(onProgress: (p: T) => void, ms: number): { send: (p: T) => void; cancel: () => void } {
  let last = 0;
  let pending: T | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    timer = undefined;
    last = performance.now();
    if (pending) onProgress(pending);
    pending = null;
  };
  return {
    send: (p) => {
      pending = p;
      const wait = ms - (performance.now() - last);
      if (wait <= 0) flush();
      else timer ??= setTimeout(flush, wait);
    },
    cancel: () => clearTimeout(timer),
  };
}
