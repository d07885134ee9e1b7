/**
 * What a segment of the dispatch path (src/gpu/device.ts) keeps of its commands until its error
 * scopes answer: enough to re-encode each one on its own and name the culprit when the segment
 * failed (src/gpu/diagnose.ts), and nothing more. Of a dispatch it keeps the op's name and
 * shapes, its kernel, its buffers (long-lived objects) and numbers; none of the objects the op
 * made to describe it (the spec, its arrays, its buffer ranges). A segment spans thousands of
 * dispatches, and a young object kept that long is copied by every minor garbage collection
 * meanwhile: keeping whole specs made that a large share of the host cost of a dispatch in a
 * browser (bench row dispatch.overhead). Logs are reused once their segment has answered.
 */
import { DISPATCH, type DispatchRec, type Kernel, type Rec } from './records';

/** Numbers kept per dispatch: uniform offset and size, workgroups x, y, z, first buffer slot. */
const NUMS = 6;

export class SegmentLog {
  /** Commands logged. */
  length = 0;
  /** Per command: the op's name (null for a copy, clear or resolve) and its shapes. */
  private readonly ops: (string | null)[] = [];
  private readonly shapes: string[] = [];
  private readonly kernels: (Kernel | null)[] = [];
  /** Copies, clears and resolves, whole (they are few). */
  private readonly others: (Exclude<Rec, DispatchRec> | null)[] = [];
  private readonly nums: Int32Array;
  /** Buffers of the dispatches, flat, with their ranges: offset and size (-1: to the end). */
  private nbuf = 0;
  private readonly bufs: (GPUBuffer | null)[] = [];
  private readonly offsets: number[] = [];
  private readonly sizes: number[] = [];

  constructor(readonly capacity: number) {
    this.nums = new Int32Array(capacity * NUMS);
  }

  /** Logs a dispatch (`uoff` -1: no params). */
  dispatch(
    op: string,
    shapes: string,
    buffers: (GPUBuffer | GPUBufferBinding)[],
    kernel: Kernel,
    uoff: number,
    usize: number,
    x: number,
    y: number,
    z: number,
  ): void {
    const i = this.length++;
    this.ops[i] = op;
    this.shapes[i] = shapes;
    this.kernels[i] = kernel;
    this.others[i] = null;
    const n = this.nums,
      k = NUMS * i;
    n[k] = uoff;
    n[k + 1] = usize;
    n[k + 2] = x;
    n[k + 3] = y;
    n[k + 4] = z;
    let j = this.nbuf;
    n[k + 5] = j;
    for (let b = 0; b < buffers.length; b++, j++) {
      const e = buffers[b];
      const range = (e as GPUBufferBinding).buffer; // undefined for a GPUBuffer
      if (range) {
        const r = e as GPUBufferBinding;
        this.bufs[j] = range;
        this.offsets[j] = r.offset ?? 0;
        this.sizes[j] = r.size ?? -1;
      } else {
        this.bufs[j] = e as GPUBuffer;
        this.offsets[j] = 0;
        this.sizes[j] = -1;
      }
    }
    this.nbuf = j;
  }

  /** Logs a copy, clear or resolve. */
  other(r: Exclude<Rec, DispatchRec>): void {
    const i = this.length++;
    this.ops[i] = null;
    this.shapes[i] = '';
    this.kernels[i] = null;
    this.others[i] = r;
    this.nums[NUMS * i + 5] = this.nbuf;
  }

  /** The logged commands as records (made on demand: only a failed segment needs them). */
  records(): Rec[] {
    const out: Rec[] = [];
    const n = this.nums;
    for (let i = 0; i < this.length; i++) {
      const other = this.others[i];
      if (other) {
        out.push(other);
        continue;
      }
      const k = NUMS * i;
      const end = i + 1 < this.length ? n[k + NUMS + 5] : this.nbuf;
      const buffers: (GPUBuffer | GPUBufferBinding)[] = [];
      for (let j = n[k + 5]; j < end; j++) {
        const buffer = this.bufs[j]!,
          offset = this.offsets[j],
          size = this.sizes[j];
        buffers.push(offset === 0 && size < 0 ? buffer : size < 0 ? { buffer, offset } : { buffer, offset, size });
      }
      out.push({
        kind: DISPATCH,
        op: this.ops[i]!,
        shapes: this.shapes[i],
        buffers,
        kernel: this.kernels[i]!,
        uoff: n[k],
        usize: n[k + 1],
        x: n[k + 2],
        y: n[k + 3],
        z: n[k + 4],
      });
    }
    return out;
  }

  /** Empties the log for another segment (dropping what it refers to). */
  clear(): void {
    this.ops.fill(null, 0, this.length);
    this.shapes.fill('', 0, this.length);
    this.kernels.fill(null, 0, this.length);
    this.others.fill(null, 0, this.length);
    this.bufs.fill(null, 0, this.nbuf);
    this.length = 0;
    this.nbuf = 0;
  }
}
