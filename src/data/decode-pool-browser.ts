/**
 * A pool of decode workers (./decode-worker-browser.ts) inside the engine worker: image decoding and
 * preprocessing for evaluation, the search index and the image check run on several threads
 * while the engine's thread keeps the GPU fed. Size: hardwareConcurrency - 1 (at least 1, at
 * most 6), workers started on first use and kept; each request goes to the worker with the
 * fewest in flight.
 *   prepare(bytes, name, pp) -> { px [3, h, w], h, w }   decoded and preprocessed
 *   check(bytes, name)       -> resolves if the image decodes
 * Errors are ImageDecodeError-like messages naming the file.
 */
import type { PreparedImage, Preprocessor } from './preprocess';
import type { DecodeReply, DecodeRequest } from './decode-worker-browser';

interface Slot {
  worker: Worker;
  inFlight: number;
}

export function defaultPoolSize(): number {
  const n = (globalThis.navigator?.hardwareConcurrency ?? 2) - 1;
  return Math.max(1, Math.min(6, n));
}

export class DecodePool {
  private slots: Slot[] = [];
  private waiting = new Map<number, { ok: (r: DecodeReply) => void; slot: Slot }>();
  private nextId = 0;

  constructor(readonly size = defaultPoolSize()) {}

  private slot(): Slot {
    if (this.slots.length < this.size && this.slots.every((s) => s.inFlight > 0)) {
      const worker = new Worker(new URL('./decode-worker-browser.ts', import.meta.url), {
        type: 'module',
        name: `vembed-decode-${this.slots.length}`,
      });
      const slot: Slot = { worker, inFlight: 0 };
      worker.onmessage = (e: MessageEvent<DecodeReply>) => {
        const w = this.waiting.get(e.data.id);
        if (!w) return;
        this.waiting.delete(e.data.id);
        w.slot.inFlight--;
        w.ok(e.data);
      };
      worker.onerror = (e) => {
        // A worker that failed to start or crashed: fail its requests, drop it.
        const msg = `decode worker failed: ${e.message || 'could not start'}`;
        for (const [id, w] of this.waiting) {
          if (w.slot !== slot) continue;
          this.waiting.delete(id);
          w.ok({ id, error: msg });
        }
        this.slots = this.slots.filter((s) => s !== slot);
        worker.terminate();
      };
      this.slots.push(slot);
      return slot;
    }
    return this.slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
  }

  private send(bytes: Uint8Array, name: string, pp: Preprocessor | null): Promise<DecodeReply> {
    const slot = this.slot();
    const id = this.nextId++;
    // A view of a larger buffer is copied; a whole buffer moves.
    const buf = (
      bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer
    ) as ArrayBuffer;
    slot.inFlight++;
    return new Promise((ok) => {
      this.waiting.set(id, { ok, slot });
      slot.worker.postMessage({ id, bytes: buf, name, pp } satisfies DecodeRequest, [buf]);
    });
  }

  async prepare(bytes: Uint8Array, name: string, pp: Preprocessor): Promise<PreparedImage> {
    const r = await this.send(bytes, name, pp);
    if (r.error !== undefined) throw new Error(r.error);
    return { px: r.px!, h: r.h!, w: r.w! };
  }

  async check(bytes: Uint8Array, name: string): Promise<void> {
    const r = await this.send(bytes, name, null);
    if (r.error !== undefined) throw new Error(r.error);
  }

  destroy(): void {
    for (const s of this.slots) s.worker.terminate();
    this.slots = [];
    for (const [id, w] of this.waiting) w.ok({ id, error: 'decode pool closed' });
    this.waiting.clear();
  }
}
