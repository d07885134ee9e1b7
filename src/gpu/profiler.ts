/**
 * Per-op GPU timing through timestamp queries (`gpu.profile = true` on an adapter with the
 * `timestamp-query` feature): each profiled dispatch gets a compute pass of its own whose
 * beginning and end write two timestamps into the query set of the ops recorded since the last
 * flush; the flush resolves the set and reads it back into `gpu.profileEntries`.
 */
import { RESOLVE, type ResolveRec } from './records';
import { shapesText, type Shapes } from './shapes';

export interface ProfileEntry {
  op: string;
  shapes: string;
  ms: number;
}

/** Ops timed between two flushes: 2 queries per op; 4096 is the maximum query count. */
const CAP = 2048;

export class Timestamps {
  readonly set: GPUQuerySet;
  private readonly ops: { op: string; shapes: string }[] = [];

  constructor(private readonly device: GPUDevice) {
    this.set = device.createQuerySet({ type: 'timestamp', count: CAP * 2 });
  }

  get size(): number {
    return this.ops.length;
  }

  /** The slot of the next profiled op (its queries are 2 * slot and 2 * slot + 1). */
  slot(op: string, shapes: string | Shapes): number {
    if (this.ops.length >= CAP) {
      throw new Error(`profile: more than ${CAP} ops between flushes; flush more often`);
    }
    this.ops.push({ op, shapes: shapesText(shapes) });
    return this.ops.length - 1;
  }

  /** The record that resolves the set into a new buffer (its `dst`). */
  resolve(): ResolveRec {
    const n = this.ops.length * 2;
    const dst = this.device.createBuffer({
      size: n * 8,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    return { kind: RESOLVE, set: this.set, count: n, dst };
  }

  /** Reads the resolved timestamps back (after the resolve was submitted); frees the set. */
  async read(resolved: GPUBuffer, mapRead: (staging: GPUBuffer) => Promise<void>): Promise<ProfileEntry[]> {
    const dev = this.device;
    const n = this.ops.length * 2;
    const staging = dev.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = dev.createCommandEncoder();
    enc.copyBufferToBuffer(resolved, 0, staging, 0, n * 8);
    dev.queue.submit([enc.finish()]);
    try {
      await mapRead(staging);
      const ts = new BigUint64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      return this.ops.map((o, i) => ({ op: o.op, shapes: o.shapes, ms: Number(ts[2 * i + 1] - ts[2 * i]) / 1e6 }));
    } finally {
      staging.destroy();
      resolved.destroy();
      this.set.destroy();
    }
  }
}
