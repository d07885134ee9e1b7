/**
 * The one GPU abstraction used everywhere: wraps a GPUDevice obtained from the browser's
 * `navigator.gpu` or from Node's Dawn (see `node.ts` / `browser.ts`).
 *
 * - requests the adapter's own maximum limits (buffer size, storage binding size, workgroup
 *   storage and invocations), not the WebGPU defaults;
 * - reports the adapter (vendor, architecture, fallback or not, features);
 * - buffers: upload, readback, zero, reuse-friendly destroy;
 * - pipeline cache keyed by shader name, entry point and `override` constants;
 * - every op is encoded inside its own error scopes, so a validation or out-of-memory error
 *   becomes a thrown Error that names the op and its shapes (thrown at the next `flush`/`read`);
 * - `device.lost` is surfaced as an event (`onLost`);
 * - optional per-op GPU timing through timestamp queries (`profile`).
 */
import { shaderSource } from './shaders';

export type Backend = 'browser' | 'dawn';

export interface AdapterReport {
  backend: Backend;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for software adapters (SwiftShader): a slow CPU fallback. */
  isFallback: boolean;
  features: string[];
  limits: Record<string, number>;
}

/** Limits we raise to the adapter's maximum when it offers more than the default. */
const WANTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxUniformBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/** Optional features we enable when the adapter has them. */
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

export interface DispatchSpec {
  /** Op name for errors and profiles, e.g. `linear.fwd`. */
  op: string;
  /** Human-readable shapes for error messages, e.g. `x[402,384] W[1152,384]`. */
  shapes: string;
  /** Shader name under `shaders/` (without `.wgsl`). */
  shader: string;
  entry?: string;
  constants?: Record<string, number>;
  /** Storage buffers in binding order 0..n-1; a {buffer, offset, size} binds a sub-range
   * (offset a multiple of minStorageBufferOffsetAlignment, 256 on most adapters). */
  buffers: (GPUBuffer | GPUBufferBinding)[];
  /** Optional uniform block, bound after the storage buffers. */
  params?: ArrayBuffer;
  workgroups: [number, number?, number?];
}

export interface ProfileEntry {
  op: string;
  shapes: string;
  ms: number;
}

/** Packs a uniform block: u32 fields, then f32 fields, padded to 16 bytes. */
export function packParams(u32: number[], f32: number[] = []): ArrayBuffer {
  const n = Math.max(4, Math.ceil((u32.length + f32.length) / 4) * 4);
  const buf = new ArrayBuffer(n * 4);
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  u32.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new Error(`packParams: u32 field ${i} = ${v} is not a u32`);
    }
    u[i] = v;
  });
  f32.forEach((v, i) => (f[u32.length + i] = v));
  return buf;
}

export class Gpu {
  readonly device: GPUDevice;
  readonly report: AdapterReport;
  /** Kernel variant choices, per op family (filled by autotuning or set by hand). */
  readonly variants = new Map<string, string>();
  /**
   * Dry run: buffers are allocated as usual but dispatches are not encoded. Used to measure the
   * memory a configuration needs (tools/memory-report.ts) without running it.
   */
  dryRun = false;
  /** When true and the adapter has timestamp queries, each op is timed on the GPU. */
  profile = false;
  profileEntries: ProfileEntry[] = [];

  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, GPUComputePipeline>();
  private pending: GPUCommandBuffer[] = [];
  private pendingErrors: Promise<Error | null>[] = [];
  private transient: GPUBuffer[] = [];
  private lostListeners: ((info: GPUDeviceLostInfo) => void)[] = [];
  private timing: { set: GPUQuerySet; ops: { op: string; shapes: string }[] } | null = null;
  private lostInfo: GPUDeviceLostInfo | null = null;
  private destroyed = false;

  private constructor(device: GPUDevice, report: AdapterReport) {
    this.device = device;
    this.report = report;
    device.lost.then((info) => {
      this.lostInfo = info;
      if (this.destroyed) return;
      for (const cb of this.lostListeners) cb(info);
    });
  }

  /** Creates the device with the adapter's maximum limits and the optional features it has. */
  static async fromAdapter(adapter: GPUAdapter, backend: Backend): Promise<Gpu> {
    const requiredLimits: Record<string, number> = {};
    for (const name of WANTED_LIMITS) {
      const v = (adapter.limits as unknown as Record<string, number>)[name];
      if (typeof v === 'number') requiredLimits[name] = v;
    }
    const requiredFeatures = WANTED_FEATURES.filter((f) =>
      adapter.features.has(f),
    ) as GPUFeatureName[];
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    const info = adapter.info;
    const limits: Record<string, number> = {};
    for (const name of WANTED_LIMITS) {
      limits[name] = (device.limits as unknown as Record<string, number>)[name];
    }
    const report: AdapterReport = {
      backend,
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      isFallback:
        (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
        (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
        /swiftshader|llvmpipe|lavapipe|warp/i.test(
          `${info.architecture} ${info.device} ${info.description}`,
        ),
      features: [...device.features].sort(),
      limits,
    };
    return new Gpu(device, report);
  }

  /** One line that names the adapter, e.g. for logs and the app header. */
  describe(): string {
    const r = this.report;
    const name = [r.vendor, r.architecture, r.device || r.description].filter(Boolean).join(' ');
    return `${name} (${r.backend}${r.isFallback ? ', software fallback' : ''})`;
  }

  hasFeature(f: string): boolean {
    return this.device.features.has(f as GPUFeatureName);
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
    const destroy = buf.destroy.bind(buf);
    let gone = false;
    buf.destroy = () => {
      if (!gone) this.memory.live -= size;
      gone = true;
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
    this.device.queue.writeBuffer(buf, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Zeroes a buffer (or a byte range of it) in stream order with the ops. */
  clear(buf: GPUBuffer, offsetBytes = 0, sizeBytes?: number): void {
    const enc = this.device.createCommandEncoder({ label: 'clear' });
    enc.clearBuffer(buf, offsetBytes, sizeBytes);
    this.pending.push(enc.finish());
  }

  /** Copies `bytes` bytes between buffers in stream order with the ops. */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    const enc = this.device.createCommandEncoder({ label: 'copy' });
    enc.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.pending.push(enc.finish());
  }

  /** Reads a buffer back (after flushing all pending work) as raw bytes. */
  async readBytes(buf: GPUBuffer, bytes = buf.size, offsetBytes = 0): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({
      label: `readback ${buf.label}`,
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder({ label: 'readback' });
    enc.copyBufferToBuffer(buf, offsetBytes, staging, 0, size);
    this.pending.push(enc.finish());
    await this.flush();
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  async read(buf: GPUBuffer, n?: number, offset = 0): Promise<Float32Array> {
    const count = n ?? (buf.size - offset * 4) / 4;
    return new Float32Array(await this.readBytes(buf, count * 4, offset * 4));
  }

  async readU32(buf: GPUBuffer, n?: number, offset = 0): Promise<Uint32Array> {
    const count = n ?? (buf.size - offset * 4) / 4;
    return new Uint32Array(await this.readBytes(buf, count * 4, offset * 4));
  }

  // ---------------------------------------------------------------- pipelines

  pipeline(shader: string, entry = 'main', constants: Record<string, number> = {}): GPUComputePipeline {
    const ckeys = Object.keys(constants).sort();
    const key = `${shader}|${entry}|${ckeys.map((k) => `${k}=${constants[k]}`).join(',')}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    let module = this.modules.get(shader);
    if (!module) {
      module = this.device.createShaderModule({ label: shader, code: shaderSource(shader) });
      this.modules.set(shader, module);
    }
    p = this.device.createComputePipeline({
      label: key,
      layout: 'auto',
      compute: { module, entryPoint: entry, constants },
    });
    this.pipelines.set(key, p);
    return p;
  }

  /** Number of cached pipelines (tests check the cache works). */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  // ---------------------------------------------------------------- dispatch

  /**
   * Records one compute dispatch. Errors (validation, out-of-memory) raised while creating the
   * pipeline or encoding are collected and thrown, naming `op` and `shapes`, by the next
   * `flush()` (which every readback calls).
   */
  dispatch(spec: DispatchSpec): void {
    const dev = this.device;
    const maxWg = dev.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = spec.workgroups;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new Error(
        `${spec.op} ${spec.shapes}: dispatch ${x}x${y}x${z} exceeds ` +
          `maxComputeWorkgroupsPerDimension ${maxWg}`,
      );
    }
    if (x === 0 || y === 0 || z === 0) return; // empty problem
    if (this.dryRun) return;
    dev.pushErrorScope('out-of-memory');
    dev.pushErrorScope('validation');
    dev.pushErrorScope('internal');
    const pipeline = this.pipeline(spec.shader, spec.entry ?? 'main', spec.constants ?? {});
    const entries: GPUBindGroupEntry[] = spec.buffers.map((b, binding) => ({
      binding,
      resource: 'buffer' in b ? b : { buffer: b },
    }));
    if (spec.params) {
      const ub = dev.createBuffer({
        label: `${spec.op} params`,
        size: spec.params.byteLength,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      dev.queue.writeBuffer(ub, 0, spec.params);
      this.transient.push(ub);
      entries.push({ binding: spec.buffers.length, resource: { buffer: ub } });
    }
    const bindGroup = dev.createBindGroup({
      label: spec.op,
      layout: pipeline.getBindGroupLayout(0),
      entries,
    });
    const enc = dev.createCommandEncoder({ label: spec.op });
    let timestampWrites: GPUComputePassTimestampWrites | undefined;
    if (this.profile && this.hasFeature('timestamp-query')) {
      timestampWrites = this.nextTimestampSlot(spec.op, spec.shapes);
    }
    const pass = enc.beginComputePass({ label: spec.op, timestampWrites });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.pending.push(enc.finish());
    const where = `${spec.op} ${spec.shapes}`;
    const scopes = [dev.popErrorScope(), dev.popErrorScope(), dev.popErrorScope()];
    this.pendingErrors.push(
      Promise.all(scopes).then((errs) => {
        const e = errs.find((x) => x);
        if (!e) return null;
        const kind = e instanceof GPUOutOfMemoryError ? 'out of memory' : 'GPU error';
        return new Error(`${kind} in ${where}: ${e.message}`);
      }),
    );
  }

  /** Submits all recorded work; throws the first recorded GPU error, naming its op. */
  async flush(): Promise<void> {
    const dev = this.device;
    if (this.lostInfo) throw new Error(`GPU device lost: ${this.lostInfo.message}`);
    let timing = null as null | { set: GPUQuerySet; ops: { op: string; shapes: string }[] };
    let resolveBuf: GPUBuffer | null = null;
    if (this.timing && this.timing.ops.length > 0) {
      timing = this.timing;
      this.timing = null;
      const n = timing.ops.length * 2;
      resolveBuf = dev.createBuffer({
        size: n * 8,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const enc = dev.createCommandEncoder({ label: 'timestamps' });
      enc.resolveQuerySet(timing.set, 0, n, resolveBuf, 0);
      this.pending.push(enc.finish());
    }
    this.submitPending();
    const errors = this.pendingErrors;
    this.pendingErrors = [];
    for (const p of errors) {
      const e = await p;
      if (e) throw e;
    }
    if (timing && resolveBuf) {
      const n = timing.ops.length * 2;
      const staging = dev.createBuffer({
        size: n * 8,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      const enc = dev.createCommandEncoder();
      enc.copyBufferToBuffer(resolveBuf, 0, staging, 0, n * 8);
      dev.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const ts = new BigUint64Array(staging.getMappedRange().slice(0));
      staging.unmap();
      staging.destroy();
      resolveBuf.destroy();
      timing.set.destroy();
      timing.ops.forEach((o, i) => {
        const ns = Number(ts[2 * i + 1] - ts[2 * i]);
        this.profileEntries.push({ op: o.op, shapes: o.shapes, ms: ns / 1e6 });
      });
    }
  }

  /** Submits recorded command buffers now (synchronously); errors surface at the next flush. */
  private submitPending(): void {
    const cmds = this.pending;
    this.pending = [];
    if (cmds.length) {
      // An invalid command buffer was already reported, naming its op, through its scopes.
      this.device.pushErrorScope('validation');
      this.device.queue.submit(cmds);
      void this.device.popErrorScope();
    }
    for (const b of this.transient) b.destroy();
    this.transient = [];
  }

  /** Flushes and waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    await this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  private nextTimestampSlot(op: string, shapes: string): GPUComputePassTimestampWrites {
    const CAP = 2048; // 2 queries per op; 4096 is the maximum query count
    if (!this.timing) {
      this.timing = {
        set: this.device.createQuerySet({ type: 'timestamp', count: CAP * 2 }),
        ops: [],
      };
    }
    const t = this.timing;
    if (t.ops.length >= CAP) {
      throw new Error(`profile: more than ${CAP} ops between flushes; flush more often`);
    }
    const i = t.ops.length;
    t.ops.push({ op, shapes });
    return {
      querySet: t.set,
      beginningOfPassWriteIndex: 2 * i,
      endOfPassWriteIndex: 2 * i + 1,
    };
  }

  destroy(): void {
    this.destroyed = true;
    this.device.destroy();
  }
}

/** Ceil division, for workgroup counts. */
export function cdiv(a: number, b: number): number {
  return Math.ceil(a / b);
}
