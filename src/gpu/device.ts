/**
 * The one GPU abstraction used everywhere: `Gpu` wraps a GPUDevice obtained from the browser's
 * `navigator.gpu` or from Node's Dawn (device-browser.ts / device-node.ts; the device and its
 * adapter report: adapter.ts).
 *
 * - buffers: upload, readback, zero, reuse-friendly destroy, memory accounting;
 * - dispatches through the pipeline cache (pipelines.ts: keyed by shader, entry, `override`
 *   constants and shader defines) and the bind group cache (bind-groups.ts);
 * - validation and out-of-memory errors become thrown Errors that name the op and its shapes
 *   (thrown at the next `flush`/`read`; diagnose.ts names the culprit in a failed segment);
 * - `device.lost` is surfaced as an event (`onLost`) and as an error at the next flush;
 * - optional per-op GPU timing through timestamp queries (`profile`, profiler.ts);
 * - `dispatchCount` / `dispatchCounts`: dispatches recorded (also under `dryRun`).
 *
 * The dispatch path (a ViT-B training step records thousands of dispatches, so the host cost of
 * one is what WebGPU itself costs plus little more):
 * - `dispatch`, `copy` and `clear` encode their command at once into the current segment's ONE
 *   command encoder (records.ts: consecutive dispatches share a compute pass) and log it for
 *   diagnosis (segment-log.ts: no object the op made is kept). A segment is finished and
 *   submitted when it is flushed (`flush`, `read`), before a `write` (so queue.writeBuffer lands
 *   in stream order: work recorded before it runs before it, work after it after it), or when it
 *   reaches SEGMENT_RECORDS records or its uniform space is full (so a real GPU starts early).
 * - Uniform params are copied into one host arena per segment (a block equal to one already
 *   there is bound again, not copied), written with one writeBuffer into one persistent uniform
 *   buffer and bound with a dynamic offset (queue order keeps a later segment's write after the
 *   earlier segment's dispatches).
 * - Error scopes (scopes.ts) per segment, not per dispatch: pushed when the segment gets its first
 *   record, popped when it is submitted (the commands' validation errors come at `finish`, a bind
 *   group's at its creation, both inside, as is any other device call made meanwhile, e.g. a
 *   buffer's creation); the log is kept until the scopes answer. Pipeline creation and each
 *   `write` have their own nested scopes, so a WGSL error names the first op that used it and a
 *   bad write names its buffer.
 * - Cost: bench row `dispatch.overhead` (bench/gpu/dispatch.ts), in Node and in Chromium.
 */
import { describeAdapter, openDevice, type AdapterReport, type Backend } from './adapter';
import { BindGroupCache } from './bind-groups';
import { diagnoseSegment } from './diagnose';
import { SegmentLog } from './segment-log';
import { PipelineCache } from './pipelines';
import { COPY, CLEAR, RecordEncoder, type DispatchRec, type DispatchSpec, type Rec } from './records';
import { Timestamps, type ProfileEntry } from './profiler';
import { closeScopes, namedGpuError, openScopes, scoped } from './scopes';
import { UniformArena } from './uniform-arena';
import { mapForRead, readBack } from './readback';
import { shapesText } from './shapes';
import type { Defines } from './shaders';

export { cdiv, packParams, type Params } from './params';
import { paramBytes } from './params';
export { declaredBindings } from './pipelines';
export { dims, shapesText, type Shapes } from './shapes';
export type { AdapterReport, Backend } from './adapter';
export type { ProfileEntry } from './profiler';
export type { DispatchSpec } from './records';

/** Records per segment before it is submitted on its own. */
const SEGMENT_RECORDS = 2048;
/** Logs of answered segments kept for reuse. */
const FREE_LOGS = 8;

export class Gpu {
  readonly device: GPUDevice;
  readonly report: AdapterReport;
  /** Kernel variant choices, per op family (filled by autotuning or set by hand). */
  readonly variants = new Map<string, string>();
  /** Which defaults ops take where `variants` has none: 'software' on a fallback adapter, else 'gpu'
   * (docs/model.md#kernel-paths). Tests set 'gpu' to run the GPU path on SwiftShader. */
  defaults: 'gpu' | 'software';
  /**
   * Dry run: buffers are allocated as usual but dispatches are not encoded (they are counted).
   * Used to measure the memory a configuration needs (tools/memory-report.ts) without running it.
   */
  dryRun = false;
  /** When true and the adapter has timestamp queries, each op is timed on the GPU. */
  profile = false;
  profileEntries: ProfileEntry[] = [];
  /** Dispatches recorded (non-empty ones, also under `dryRun`), in total and per op name
   * (`dispatchCounts`; `resetCounts` zeroes both). */
  dispatchCount = 0;
  private readonly opCounts = new Map<string, { n: number }>();

  private readonly pipelines: PipelineCache;
  private readonly groups: BindGroupCache;

  /** The segment being recorded: its encoder (null: none open), its log and its uniform arena;
   * logs of earlier segments, free again. */
  private seg: RecordEncoder | null = null;
  private log = new SegmentLog();
  private readonly logs: SegmentLog[] = [];
  private readonly arena: UniformArena;
  private readonly maxWorkgroups: number;
  private readonly timestamps: boolean;

  private pendingErrors: Promise<Error | null>[] = [];
  private lostListeners: ((info: GPUDeviceLostInfo) => void)[] = [];
  private timing: Timestamps | null = null;
  private lostInfo: GPUDeviceLostInfo | null = null;
  private destroyed = false;

  private constructor(device: GPUDevice, report: AdapterReport) {
    this.device = device;
    this.report = report;
    this.defaults = report.isFallback ? 'software' : 'gpu';
    this.arena = new UniformArena(device, device.limits.minUniformBufferOffsetAlignment);
    this.maxWorkgroups = device.limits.maxComputeWorkgroupsPerDimension;
    this.timestamps = device.features.has('timestamp-query');
    this.pipelines = new PipelineCache(device, (errors) => this.pendingErrors.push(errors));
    this.groups = new BindGroupCache(device, () => this.arena.uniforms());
    void device.lost.then((info) => {
      this.lostInfo = info;
      if (this.destroyed) return;
      for (const cb of this.lostListeners) cb(info);
    });
  }

  /** Creates the device with the adapter's maximum limits and the optional features it has. */
  static async fromAdapter(adapter: GPUAdapter, backend: Backend): Promise<Gpu> {
    const { device, report } = await openDevice(adapter, backend);
    return new Gpu(device, report);
  }

  /** One line that names the adapter, e.g. for logs and the app header. */
  describe(): string {
    return describeAdapter(this.report);
  }

  hasFeature(f: string): boolean {
    return this.device.features.has(f);
  }

  onLost(cb: (info: GPUDeviceLostInfo) => void): void {
    this.lostListeners.push(cb);
    if (this.lostInfo && !this.destroyed) cb(this.lostInfo);
  }

  // ---------------------------------------------------------------- buffers

  /** A storage buffer of `bytes` bytes (rounded up to 4), readable back and writable. */
  buffer(bytes: number, label = ''): GPUBuffer {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    if (size > this.device.limits.maxBufferSize) {
      throw new Error(
        `buffer "${label}" of ${size} bytes exceeds this adapter's maxBufferSize ` +
          `${this.device.limits.maxBufferSize}`,
      );
    }
    const buf = this.device.createBuffer({
      label,
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    // Memory accounting of storage buffers (weights, activations, gradients, optimizer state).
    this.memory.live += size;
    this.memory.peak = Math.max(this.memory.peak, this.memory.live);
    const state = this.groups.track(buf);
    const destroy = buf.destroy.bind(buf);
    buf.destroy = () => {
      if (!state.dead) {
        this.memory.live -= size;
        this.groups.destroyed(state);
      }
      destroy();
    };
    return buf;
  }

  /** Bytes of live storage buffers made by `buffer()` and the peak since `resetPeak()`. */
  readonly memory = { live: 0, peak: 0 };

  resetPeak(): void {
    this.memory.peak = this.memory.live;
  }

  /** A zero-filled f32 storage buffer of `n` elements. */
  zeros(n: number, label = ''): GPUBuffer {
    return this.buffer(n * 4, label); // WebGPU buffers are zero-initialised
  }

  /** Uploads typed data into a new storage buffer. */
  upload(data: Float32Array | Uint32Array | Int32Array, label = ''): GPUBuffer {
    const buf = this.buffer(data.byteLength, label);
    this.write(buf, data);
    return buf;
  }

  /**
   * Writes data into a buffer in stream order: work recorded before the write is submitted first,
   * so the write lands after it and before anything recorded later.
   */
  write(buf: GPUBuffer, data: Float32Array | Uint32Array | Int32Array, offsetBytes = 0): void {
    this.submitPending();
    const errors = scoped(this.device, () =>
      this.device.queue.writeBuffer(buf, offsetBytes, data.buffer, data.byteOffset, data.byteLength),
    );
    const where = `write "${buf.label || 'buffer'}" (${data.byteLength} bytes at ${offsetBytes})`;
    this.pendingErrors.push(errors.then((e) => (e ? namedGpuError(e, where) : null)));
  }

  /** Zeroes a buffer (or a byte range of it) in stream order with the ops. */
  clear(buf: GPUBuffer, offsetBytes = 0, sizeBytes?: number): void {
    this.record({ kind: CLEAR, buf, offset: offsetBytes, size: sizeBytes });
  }

  /** Copies `bytes` bytes between buffers in stream order with the ops. */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    this.record({ kind: COPY, src, dst, bytes, srcOffset, dstOffset });
  }

  /** Reads a buffer back (after flushing all pending work) as raw bytes (readback.ts). */
  readBytes(buf: GPUBuffer, bytes = buf.size, offsetBytes = 0): Promise<ArrayBuffer> {
    return readBack(this, buf, bytes, offsetBytes, (b) => this.mapRead(b));
  }

  async read(buf: GPUBuffer, n?: number, offset = 0): Promise<Float32Array> {
    const count = n ?? (buf.size - offset * 4) / 4;
    return new Float32Array(await this.readBytes(buf, count * 4, offset * 4));
  }

  async readU32(buf: GPUBuffer, n?: number, offset = 0): Promise<Uint32Array> {
    const count = n ?? (buf.size - offset * 4) / 4;
    return new Uint32Array(await this.readBytes(buf, count * 4, offset * 4));
  }

  private mapRead(staging: GPUBuffer): Promise<void> {
    return mapForRead(this.device, staging, () => this.lostInfo);
  }

  // ---------------------------------------------------------------- pipelines

  /**
   * The pipeline of `shader`'s `entry` with these constants and defines, its layout made of every
   * group-0 binding the shader declares (storage 0..n-1, then the params uniform).
   */
  pipeline(
    shader: string,
    entry = 'main',
    constants: Record<string, number> = {},
    defines: Defines = {},
  ): GPUComputePipeline {
    return this.pipelines.pipeline(shader, entry, constants, defines);
  }

  /** Dispatches recorded per op name since the last `resetCounts` (a copy). */
  get dispatchCounts(): Map<string, number> {
    return new Map([...this.opCounts].map(([op, c]) => [op, c.n]));
  }

  resetCounts(): void {
    this.dispatchCount = 0;
    this.opCounts.clear();
  }

  /** Number of cached pipelines (tests check the cache works). */
  get pipelineCount(): number {
    return this.pipelines.count;
  }

  /** Number of cached bind groups (tests check that destroyed buffers leave the cache). */
  get bindGroupCount(): number {
    return this.groups.count;
  }

  // ---------------------------------------------------------------- dispatch

  /**
   * Records one compute dispatch. Errors (validation, out-of-memory) raised while creating the
   * pipeline, encoding or submitting are thrown, naming `op` and `shapes`, by the next `flush()`
   * (which every readback calls); bad bindings (a buffer the shader does not declare) at once.
   */
  dispatch(spec: DispatchSpec): void {
    const wg = spec.workgroups;
    const x = wg[0],
      y = wg[1] ?? 1,
      z = wg[2] ?? 1;
    const maxWg = this.maxWorkgroups;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new Error(
        `${spec.op} ${shapesText(spec.shapes)}: dispatch ${x}x${y}x${z} exceeds ` +
          `maxComputeWorkgroupsPerDimension ${maxWg}`,
      );
    }
    if (x === 0 || y === 0 || z === 0) return; // empty problem
    this.dispatchCount++;
    const counted = this.opCounts.get(spec.op);
    if (counted) counted.n++;
    else this.opCounts.set(spec.op, { n: 1 });
    if (this.dryRun) return;
    const kernel = this.pipelines.kernelFor(spec);
    let uoff = -1,
      usize = 0;
    if (spec.params) {
      usize = paramBytes(spec.params);
      uoff = this.arena.push(spec.params);
      if (uoff < 0) {
        this.submitPending();
        uoff = this.arena.push(spec.params);
      }
    }
    const seg = this.seg ?? this.openSegment();
    const bound = this.groups.get(spec.buffers, kernel.layout, uoff, usize, spec.op);
    const group = bound.group!;
    if (this.profile && this.timestamps) {
      this.timing ??= new Timestamps(this.device);
      seg.dispatchTimed(kernel.pipeline, group, uoff, x, y, z, this.timing.set, this.timing.slot(spec.op, spec.shapes));
    } else {
      seg.dispatch(kernel.pipeline, group, uoff, x, y, z);
    }
    const log = this.log;
    log.dispatch(spec.op, spec.shapes, bound.key, kernel, uoff, usize, x, y, z);
    if (log.length >= SEGMENT_RECORDS) this.submitPending();
  }

  /** Encodes a copy, clear or resolve into the segment and logs it. */
  private record(r: Exclude<Rec, DispatchRec>): void {
    (this.seg ?? this.openSegment()).other(r);
    this.log.other(r);
    if (this.log.length >= SEGMENT_RECORDS) this.submitPending();
  }

  /** Starts a segment: its error scopes and its command encoder. */
  private openSegment(): RecordEncoder {
    openScopes(this.device);
    this.seg = new RecordEncoder(this.device.createCommandEncoder());
    return this.seg;
  }

  /** Submits the segment (uniforms first), closes its scopes; keeps its log until they answer. */
  private submitPending(): void {
    const seg = this.seg;
    if (!seg) return;
    const log = this.log;
    this.seg = null;
    this.log = this.logs.pop() ?? new SegmentLog();
    const dev = this.device;
    let errors: Promise<GPUError | null>;
    try {
      this.arena.submit();
      dev.queue.submit([seg.finish()]);
    } finally {
      errors = closeScopes(dev);
    }
    this.pendingErrors.push(
      errors.then((e) => {
        const recs = e ? log.records() : null;
        log.clear();
        if (this.logs.length < FREE_LOGS) this.logs.push(log);
        return e ? (this.lostError() ?? diagnoseSegment(dev, recs!, e, this.groups)) : null;
      }),
    );
  }

  // ---------------------------------------------------------------- errors

  /** The error a lost device gives, or null while it is not lost. */
  private lostError(): Error | null {
    return this.lostInfo ? new Error(`GPU device lost: ${this.lostInfo.message}`) : null;
  }

  /**
   * Runs `free`, which destroys buffers that work recorded since the last flush may still use:
   * that work is submitted first (WebGPU keeps a buffer alive for the work submitted before its
   * destroy), its errors reported at the next flush as usual. (A plain destroy before the flush
   * is a GPU error naming the op, as it should be where it is a mistake.)
   */
  retire(free: () => void): void {
    this.submitPending();
    free();
  }

  /** Submits all recorded work; throws the first recorded GPU error, naming its op. */
  async flush(): Promise<void> {
    const lost = this.lostError();
    if (lost) throw lost;
    const timing = this.timing?.size ? this.timing : null;
    const resolve = timing?.resolve();
    if (resolve) this.record(resolve);
    this.timing = null;
    this.submitPending();
    const errors = this.pendingErrors;
    this.pendingErrors = [];
    for (const p of errors) {
      const e = await p;
      if (e) throw e;
    }
    const lostNow = this.lostError();
    if (lostNow) throw lostNow;
    if (timing && resolve) this.profileEntries.push(...(await timing.read(resolve.dst, (b) => this.mapRead(b))));
  }

  /** Flushes and waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    await this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  destroy(): void {
    this.destroyed = true;
    this.device.destroy();
  }
}
