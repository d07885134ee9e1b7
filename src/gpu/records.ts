/**
 * What `Gpu` records between two submits (src/gpu/device.ts): dispatches, copies, clears and
 * timestamp resolves, and how a list of them is encoded into one command encoder. Consecutive
 * dispatches share one compute pass (WebGPU orders dispatches and their storage hazards inside a
 * pass); a copy or clear ends the pass and is encoded between passes; a profiled dispatch gets a
 * pass of its own for its timestamps.
 */
import type { Params } from './params';
import type { Defines } from './shaders';

export interface DispatchSpec {
  /** Op name for errors and profiles, e.g. `linear.fwd`. */
  op: string;
  /** Human-readable shapes for error messages, e.g. `x[402,384] W[1152,384]`. */
  shapes: string;
  /** Shader name under `shaders/` (without `.wgsl`), or a generated shader's name. */
  shader: string;
  entry?: string;
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

export interface DispatchRec {
  kind: typeof DISPATCH;
  spec: DispatchSpec;
  kernel: Kernel;
  /** Uniform offset (-1: no params) and binding size. */
  uoff: number;
  usize: number;
  x: number;
  y: number;
  z: number;
  /** Timestamp slot (-1: not profiled). */
  ts: number;
  tsSet: GPUQuerySet | null;
}

export type Rec =
  | DispatchRec
  | { kind: typeof COPY; src: GPUBuffer; dst: GPUBuffer; bytes: number; srcOffset: number; dstOffset: number }
  | { kind: typeof CLEAR; buf: GPUBuffer; offset: number; size: number | undefined }
  | { kind: typeof RESOLVE; set: GPUQuerySet; count: number; dst: GPUBuffer };

export const bufferOf = (b: GPUBuffer | GPUBufferBinding): GPUBuffer => ('buffer' in b ? b.buffer : b);

const dynamicOffset = new Uint32Array(1);

/**
 * Encodes records into `enc`; `groupFor` gives each dispatch's bind group (cached, or made fresh
 * when diagnosing), whose params uniform is bound at the record's dynamic offset.
 */
export function encodeRecords(enc: GPUCommandEncoder, recs: Rec[], groupFor: (r: DispatchRec) => GPUBindGroup): void {
  let pass: GPUComputePassEncoder | null = null;
  let pipeline: GPUComputePipeline | null = null;
  for (const r of recs) {
    if (r.kind === DISPATCH) {
      if (r.ts >= 0) {
        pass?.end();
        pass = enc.beginComputePass({
          timestampWrites: {
            querySet: r.tsSet!,
            beginningOfPassWriteIndex: 2 * r.ts,
            endOfPassWriteIndex: 2 * r.ts + 1,
          },
        });
        pipeline = null;
      } else if (!pass) {
        pass = enc.beginComputePass();
        pipeline = null;
      }
      if (r.kernel.pipeline !== pipeline) {
        pipeline = r.kernel.pipeline;
        pass.setPipeline(pipeline);
      }
      const group = groupFor(r);
      if (r.uoff >= 0) {
        dynamicOffset[0] = r.uoff;
        pass.setBindGroup(0, group, dynamicOffset, 0, 1);
      } else {
        pass.setBindGroup(0, group);
      }
      pass.dispatchWorkgroups(r.x, r.y, r.z);
      if (r.ts >= 0) {
        pass.end();
        pass = null;
      }
      continue;
    }
    pass?.end();
    pass = null;
    if (r.kind === COPY) enc.copyBufferToBuffer(r.src, r.srcOffset, r.dst, r.dstOffset, r.bytes);
    else if (r.kind === CLEAR) enc.clearBuffer(r.buf, r.offset, r.size);
    else enc.resolveQuerySet(r.set, 0, r.count, r.dst, 0);
  }
  pass?.end();
}

/** Where a record comes from, for error messages. */
export function recordWhere(r: Rec): string {
  const label = (b: GPUBuffer) => `"${b.label || 'buffer'}"`;
  if (r.kind === DISPATCH) return `${r.spec.op} ${r.spec.shapes}`;
  if (r.kind === COPY) {
    return `copy ${label(r.src)}[${r.srcOffset}..] -> ${label(r.dst)}[${r.dstOffset}..] (${r.bytes} bytes)`;
  }
  if (r.kind === CLEAR) return `clear ${label(r.buf)}[${r.offset}..] (${r.size ?? 'to the end'})`;
  return 'timestamp resolve';
}

/** The buffers a record uses. */
export function recordBuffers(r: Rec): GPUBuffer[] {
  if (r.kind === DISPATCH) return r.spec.buffers.map(bufferOf);
  if (r.kind === COPY) return [r.src, r.dst];
  if (r.kind === CLEAR) return [r.buf];
  return [];
}
