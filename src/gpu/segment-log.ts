/**
 * What a segment of the dispatch path (src/gpu/device.ts) keeps of its commands until its error
 * scopes answer: enough to re-encode each one on its own and name the culprit when the segment
 * failed (src/gpu/diagnose.ts), and nothing more. Of a dispatch it keeps the op's name, its
 * shapes (a template's constant parts and its values, src/gpu/shapes.ts), its kernel, its
 * bindings as the bind group cache keys them (an array made once per bind group, not per
 * dispatch) and its numbers; none of the objects the op made to describe it (the spec, its
 * arrays, its buffer ranges, a shapes string). A segment spans thousands of dispatches, and a
 * young object kept that long is copied by every minor garbage collection meanwhile (bench row
 * dispatch.overhead). Logs are reused once their segment has answered.
 */
import type { Bound } from './bind-groups';
import { DISPATCH, type DispatchRec, type Kernel, type Rec } from './records';
import { formatParts, type Shapes } from './shapes';

/** Numbers kept per dispatch: uniform offset and size, workgroups x, y, z, first shapes value. */
const NUMS = 6;
/** Commands a new log has room for (it grows by doubling: a segment cut short by a write is small). */
const INITIAL = 64;

export class SegmentLog {
  /** Commands logged. */
  length = 0;
  /** Per command: the op's name (null for a copy, clear or resolve), its shapes (the text, or the
   * template's parts with the values kept flat in `values`), its kernel and its bindings. */
  private readonly ops: (string | null)[] = [];
  private readonly shapes: (string | TemplateStringsArray)[] = [];
  private readonly kernels: (Kernel | null)[] = [];
  private readonly keys: Bound['key'][] = [];
  /** Copies, clears and resolves, whole (they are few; null for a dispatch). */
  private readonly others: (Exclude<Rec, DispatchRec> | null)[] = [];
  private nums = new Int32Array(INITIAL * NUMS);
  private nval = 0;
  private readonly values: unknown[] = [];

  /** Logs a dispatch (`uoff` -1: no params) whose bindings are `key` (see `Bound`). */
  dispatch(
    op: string,
    shapes: string | Shapes,
    key: Bound['key'],
    kernel: Kernel,
    uoff: number,
    usize: number,
    x: number,
    y: number,
    z: number,
  ): void {
    const n = this.room();
    const i = this.length++;
    this.ops[i] = op;
    this.kernels[i] = kernel;
    this.keys[i] = key;
    const k = NUMS * i;
    n[k] = uoff;
    n[k + 1] = usize;
    n[k + 2] = x;
    n[k + 3] = y;
    n[k + 4] = z;
    let v = this.nval;
    n[k + 5] = v;
    if (typeof shapes === 'string') {
      this.shapes[i] = shapes;
    } else {
      this.shapes[i] = shapes.parts;
      const values = shapes.values;
      for (let a = 0; a < values.length; a++) this.values[v++] = values[a];
      this.nval = v;
    }
  }

  /** Logs a copy, clear or resolve. */
  other(r: Exclude<Rec, DispatchRec>): void {
    const n = this.room();
    const i = this.length++;
    this.ops[i] = null;
    this.shapes[i] = '';
    this.kernels[i] = null;
    this.keys[i] = null;
    this.others[i] = r;
    n[NUMS * i + 5] = this.nval;
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
      const key = this.keys[i]!;
      const buffers: (GPUBuffer | GPUBufferBinding)[] = [];
      for (let j = 0; j < key.length; j += 3) {
        const buffer = key[j] as GPUBuffer,
          offset = key[j + 1] as number,
          size = key[j + 2] as number;
        buffers.push(offset === 0 && size < 0 ? buffer : size < 0 ? { buffer, offset } : { buffer, offset, size });
      }
      const s = this.shapes[i];
      out.push({
        kind: DISPATCH,
        op: this.ops[i]!,
        shapes: typeof s === 'string' ? s : formatParts(s, this.values, n[k + 5], s.length - 1),
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
    const len = this.length;
    this.ops.fill(null, 0, len);
    this.shapes.fill('', 0, len);
    this.kernels.fill(null, 0, len);
    this.keys.fill(null, 0, len);
    this.others.fill(null, 0, len);
    this.values.fill(null, 0, this.nval);
    this.length = 0;
    this.nval = 0;
  }

  /** The numbers' array, with room for one more command. */
  private room(): Int32Array {
    let n = this.nums;
    if (NUMS * (this.length + 1) > n.length) {
      n = new Int32Array(2 * n.length);
      n.set(this.nums);
      this.nums = n;
    }
    return n;
  }
}
