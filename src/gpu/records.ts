/**
 * What `Gpu` records between two submits (src/gpu/device.ts): dispatches, copies, clears and
 * timestamp resolves, and how they are encoded into one command encoder (`RecordEncoder`), as
 * they are recorded. Consecutive dispatches share one compute pass (WebGPU orders dispatches and
 * their storage hazards inside a pass); a copy or clear ends the pass and is encoded between
 * passes; a profiled dispatch gets a pass of its own for its timestamps. What a failed segment
 * needs to name its culprit is kept by src/gpu/segment-log.ts.
 */
import type { Params } from './params';
import type { Defines } from './shaders';
import type { Shapes } from './shapes';

export interface DispatchSpec {
  /** Op name for errors and profiles, e.g. `linear.fwd`. */
  op: string;
  /** Human-readable shapes for error messages, e.g. `x[402,384] W[1152,384]`: best written with
   * the `dims` tag (src/gpu/shapes.ts), which formats them only when needed. */
  shapes: string | Shapes;
  /** Shader name under `shaders/` (without `.wgsl`), or a generated shader's name. */
  shader: string;
  entry?: string;
  /** `override` constants. Not changed once dispatched: the pipeline is looked up by the object's
   * identity first (an op with fixed constants keeps them in one frozen object), then by content. */
  constants?: Record<string, number>;
  /** Preprocessor defines (`//#if NAME`, `${NAME}`; src/gpu/shaders.ts); part of the cache key. */
  defines?: Defines;
  /** Storage buffers in binding order 0..n-1; a {buffer, offset, size} binds a sub-range
   * (offset a multiple of minStorageBufferOffsetAlignment, 256 on most adapters). */
  buffers: (GPUBuffer | GPUBufferBinding)[];
  /** Optional uniform block (`packParams`), bound after the storage buffers. */
  params?: Params | ArrayBuffer | ArrayBufferView;
  workgroups: [number, number?, number?];
}

/** A pipeline with its explicit layout: `nbuf` storage bindings, then params if `params`. */
export interface Kernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  key: string;
}

export const DISPATCH = 0,
  COPY = 1,
  CLEAR = 2,
  RESOLVE = 3;

/** A dispatch as diagnosis re-encodes it (src/gpu/segment-log.ts keeps what it is made from). */
export interface DispatchRec {
  kind: typeof DISPATCH;
  op: string;
  shapes: string;
  buffers: (GPUBuffer | GPUBufferBinding)[];
  kernel: Kernel;
  /** Uniform offset (-1: no params) and binding size. */
  uoff: number;
  usize: number;
  x: number;
  y: number;
  z: number;
}

export interface ResolveRec {
  kind: typeof RESOLVE;
  set: GPUQuerySet;
  count: number;
  dst: GPUBuffer;
}

export type Rec =
  | DispatchRec
  | { kind: typeof COPY; src: GPUBuffer; dst: GPUBuffer; bytes: number; srcOffset: number; dstOffset: number }
  | { kind: typeof CLEAR; buf: GPUBuffer; offset: number; size: number | undefined }
  | ResolveRec;

export const bufferOf = (b: GPUBuffer | GPUBufferBinding): GPUBuffer => ('buffer' in b ? b.buffer : b);

const dynamicOffset = new Uint32Array(1);

/**
 * Encodes records into one command encoder as they come: consecutive dispatches share a compute
 * pass (and a pipeline set once per run of the same pipeline); a copy, clear or resolve ends the
 * pass; a profiled dispatch gets a pass of its own. Validation errors of the commands are
 * reported by `finish()` (WebGPU defers them to it), so one set of error scopes around the
 * segment catches them.
 */
export class RecordEncoder {
  private pass: GPUComputePassEncoder | null = null;
  private pipeline: GPUComputePipeline | null = null;

  constructor(private readonly enc: GPUCommandEncoder) {}

  /** A dispatch, its params uniform (if any: `uoff` >= 0) bound from `group` at offset `uoff`. */
  dispatch(pipeline: GPUComputePipeline, group: GPUBindGroup, uoff: number, x: number, y: number, z: number): void {
    let pass = this.pass;
    if (!pass) {
      pass = this.pass = this.enc.beginComputePass();
      this.pipeline = null;
    }
    if (pipeline !== this.pipeline) {
      this.pipeline = pipeline;
      pass.setPipeline(pipeline);
    }
    if (uoff >= 0) {
      dynamicOffset[0] = uoff;
      pass.setBindGroup(0, group, dynamicOffset, 0, 1);
    } else {
      pass.setBindGroup(0, group);
    }
    pass.dispatchWorkgroups(x, y, z);
  }

  /** A dispatch in a pass of its own that writes timestamps `2 * slot` and `2 * slot + 1` of `set`. */
  dispatchTimed(
    pipeline: GPUComputePipeline,
    group: GPUBindGroup,
    uoff: number,
    x: number,
    y: number,
    z: number,
    set: GPUQuerySet,
    slot: number,
  ): void {
    this.endPass();
    this.pass = this.enc.beginComputePass({
      timestampWrites: { querySet: set, beginningOfPassWriteIndex: 2 * slot, endOfPassWriteIndex: 2 * slot + 1 },
    });
    this.pipeline = null;
    this.dispatch(pipeline, group, uoff, x, y, z);
    this.endPass();
  }

  /** A copy, clear or timestamp resolve (between passes). */
  other(r: Exclude<Rec, DispatchRec>): void {
    this.endPass();
    if (r.kind === COPY) this.enc.copyBufferToBuffer(r.src, r.srcOffset, r.dst, r.dstOffset, r.bytes);
    else if (r.kind === CLEAR) this.enc.clearBuffer(r.buf, r.offset, r.size);
    else this.enc.resolveQuerySet(r.set, 0, r.count, r.dst, 0);
  }

  /** Ends the open pass and finishes the encoder. */
  finish(): GPUCommandBuffer {
    this.endPass();
    return this.enc.finish();
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }
}

/**
 * Encodes records into `enc` (diagnosis re-encodes a failed segment's records one by one);
 * `groupFor` gives each dispatch's bind group.
 */
export function encodeRecords(
  enc: GPUCommandEncoder,
  recs: Rec[],
  groupFor: (r: DispatchRec) => GPUBindGroup,
): GPUCommandBuffer {
  const e = new RecordEncoder(enc);
  for (const r of recs) {
    if (r.kind === DISPATCH) e.dispatch(r.kernel.pipeline, groupFor(r), r.uoff, r.x, r.y, r.z);
    else e.other(r);
  }
  return e.finish();
}

/** Where a record comes from, for error messages. */
export function recordWhere(r: Rec): string {
  const label = (b: GPUBuffer) => `"${b.label || 'buffer'}"`;
  if (r.kind === DISPATCH) return `${r.op} ${r.shapes}`;
  if (r.kind === COPY) {
    return `copy ${label(r.src)}[${r.srcOffset}..] -> ${label(r.dst)}[${r.dstOffset}..] (${r.bytes} bytes)`;
  }
  if (r.kind === CLEAR) return `clear ${label(r.buf)}[${r.offset}..] (${r.size ?? 'to the end'})`;
  return 'timestamp resolve';
}

/** The buffers a record uses. */
export function recordBuffers(r: Rec): GPUBuffer[] {
  if (r.kind === DISPATCH) return r.buffers.map(bufferOf);
  if (r.kind === COPY) return [r.src, r.dst];
  if (r.kind === CLEAR) return [r.buf];
  return [];
}
