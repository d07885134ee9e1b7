/**
 * The cancellation of one download attempt (src/hub/download-file.ts): `AttemptGuard` folds the
 * caller's AbortSignal and a stall timer into the one signal the attempt's fetch and body read
 * use; `sleep` is the backoff between attempts, cut short by the caller's signal. Browser and Node.
 */

/** One attempt's AbortSignal: aborted by the caller's signal, or when no `arm()` comes within `ms`. */
export class AttemptGuard {
  private readonly ctrl = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort = () => this.ctrl.abort(abortReason(this.outer!));
  /** Whether the attempt was aborted for a stall. */
  stalled = false;

  constructor(
    private readonly outer: AbortSignal | undefined,
    private readonly ms: number,
  ) {
    outer?.addEventListener('abort', this.onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.ctrl.signal;
  }

  /** (Re)starts the stall timer. */
  arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.stalled = true;
      this.ctrl.abort(new Error(`no data for ${this.ms} ms`));
    }, this.ms);
  }

  /** Stops the timer and stops listening to the caller's signal. */
  disarm(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onAbort);
  }
}

/** Why the caller aborted: its reason, else an AbortError. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The download was aborted', 'AbortError');
}

/** Resolves after `ms`, or rejects with the abort reason as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((ok, fail) => {
    if (signal?.aborted) return fail(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      fail(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      ok();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
