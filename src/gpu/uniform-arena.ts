/**
 * The uniform params of a segment's dispatches (src/gpu/device.ts): each `packParams` block is
 * copied into one host arena, the arena is written with one writeBuffer into one persistent
 * uniform buffer when the segment is submitted, and each dispatch binds its block at a dynamic
 * offset (a multiple of minUniformBufferOffsetAlignment, 256 bytes on most adapters). A block equal
 * to one already in the segment's arena (same words, same length) is bound there again instead of
 * copied: the ops of the 12 layers of a ViT record the same shapes, hence the same params, and
 * every slot is bytes to write and, in a browser, to send to the GPU process. Repeats are found
 * through a small hash table of the segment's blocks (a collision only costs a slot).
 */
import type { Params } from './params';

/** Bytes of the arena and of the uniform buffer. */
export const UNIFORM_BYTES = 1 << 20;
/** Entries of the table that finds a segment's repeated blocks (a power of two). */
const TABLE = 4096;

export class UniformArena {
  private readonly words = new Uint32Array(UNIFORM_BYTES / 4);
  private used = 0;
  /** The segment's blocks by hash: their word offset + 1 in the arena (0: none), and length. */
  private readonly at = new Int32Array(TABLE);
  private readonly len = new Uint16Array(TABLE);
  private buffer: GPUBuffer | null = null;

  constructor(
    private readonly device: GPUDevice,
    private readonly align: number,
  ) {}

  /** The persistent uniform buffer every segment's params are written to. */
  uniforms(): GPUBuffer {
    this.buffer ??= this.device.createBuffer({
      label: 'dispatch params',
      size: UNIFORM_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    return this.buffer;
  }

  /**
   * The byte offset of block `p` in this segment's arena (copied there unless an equal block is
   * there already), or -1 when the arena is full: submit the segment, then push again.
   */
  push(p: Params | ArrayBuffer | ArrayBufferView): number {
    if (!Array.isArray(p)) return this.pushBytes(p);
    const a = this.words;
    const n = p.length;
    let h = n;
    for (let i = 0; i < n; i++) h = Math.imul(h ^ p[i], 0x9e3779b1);
    h = (h ^ (h >>> 15)) & (TABLE - 1);
    const at = this.at[h];
    if (at > 0 && this.len[h] === n) {
      const o = at - 1;
      let i = 0;
      while (i < n && a[o + i] === p[i]) i++;
      if (i === n) return o << 2;
    }
    const slot = this.slot(4 * n);
    if (this.used + slot > UNIFORM_BYTES) return -1;
    const off = this.used,
      o = off >> 2;
    for (let i = 0; i < n; i++) a[o + i] = p[i]; // a loop beats TypedArray.set at this size
    this.at[h] = o + 1;
    this.len[h] = n;
    this.used = off + slot;
    return off;
  }

  /** `push` of a typed array or ArrayBuffer block (no op passes one): a Uint32Array as its words,
   * any other copied as bytes (no repeat check). */
  private pushBytes(p: ArrayBuffer | ArrayBufferView): number {
    if (p instanceof Uint32Array) return this.push(Array.from(p));
    const bytes = p.byteLength;
    const slot = this.slot(bytes);
    if (this.used + slot > UNIFORM_BYTES) return -1;
    const off = this.used;
    const src = ArrayBuffer.isView(p) ? new Uint8Array(p.buffer, p.byteOffset, bytes) : new Uint8Array(p);
    new Uint8Array(this.words.buffer, off, bytes).set(src);
    this.used = off + slot;
    return off;
  }

  /** Bytes a block of `bytes` bytes takes in the arena: at least 16, a multiple of the alignment. */
  private slot(bytes: number): number {
    const slot = Math.ceil(Math.max(bytes, 16) / this.align) * this.align;
    if (slot > UNIFORM_BYTES) throw new Error(`params of ${bytes} bytes exceed the uniform arena`);
    return slot;
  }

  /** Writes the segment's blocks into the uniform buffer (in queue order) and starts a new segment. */
  submit(): void {
    if (!this.used) return;
    this.device.queue.writeBuffer(this.uniforms(), 0, this.words.buffer, 0, this.used);
    this.used = 0;
    this.at.fill(0);
  }
}
