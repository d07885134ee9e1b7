/**
 * The one GPU abstraction used everywhere: wraps a GPUDevice obtained from the browser's
 * `navigator.gpu` or from Node's Dawn (see `device-node.ts` / `device-browser.ts`).
 *
 * - requests the adapter's own maximum limits (buffer size, storage binding size, workgroup
 *   storage and invocations), not the WebGPU defaults;
 * - reports the adapter (vendor, architecture, fallback or not, features);
 * - buffers: upload, readback, zero, reuse-friendly destroy, memory accounting;
 * - pipeline cache keyed by shader name, entry point, `override` constants and shader defines
 *   (src/gpu/shaders.ts preprocessing);
 * - validation and out-of-memory errors become thrown Errors that name the op and its shapes
 *   (thrown at the next `flush`/`read`);
 * - `device.lost` is surfaced as an event (`onLost`) and as an error at the next flush;
 * - optional per-op GPU timing through timestamp queries (`profile`);
 * - `dispatchCount` / `dispatchCounts`: dispatches recorded (also under `dryRun`).
 *
 * The dispatch path (a ViT-B training step records ~29k dispatches, so the host cost of one is
 * what WebGPU itself costs plus little more):
 * - `dispatch`, `copy` and `clear` only append a record to the current segment; nothing touches
 *   the device on the hot path except, on a cache miss, pipeline creation. The pipeline is found
 *   by scanning the shader's variants (constants and defines compared in call order): building a
 *   string key per dispatch cost more than all the rest of the recording.
 * - A segment is encoded and submitted as ONE command encoder when it is flushed (`flush`,
 *   `read`), before a `write` (so queue.writeBuffer lands in stream order: work recorded before it
 *   runs before it, work after it after it), or when it reaches SEGMENT_RECORDS records or its
 *   uniform space is full (so a real GPU starts early). Consecutive dispatches share one compute
 *   pass (WebGPU orders dispatches and their storage hazards inside a pass); a copy or clear
 *   ends the pass and is encoded between passes; profiling gives each dispatch its own pass for
 *   its timestamps.
 * - Uniform params are copied into one host arena per segment, written with one writeBuffer into
 *   one persistent uniform buffer and bound with a dynamic offset (queue order keeps a later
 *   segment's write after the earlier segment's dispatches). `packParams` returns a small
 *   Uint32Array (no ArrayBuffer allocation).
 * - Pipelines use explicit bind group layouts derived from the shader's declarations
 *   (`@group(0) @binding(i) var<storage, read>` / `read_write` / `var<uniform>`), shared by every
 *   shader with the same binding types, so bind groups are cached by (layout, buffers, ranges,
 *   params size): on the first buffer made by `gpu.buffer()`, dropped when any of its buffers is
 *   destroyed. A dispatch that binds a buffer not made by `gpu.buffer()` gets a fresh group.
 *   Buffers the shader does not declare (or a storage buffer where it declares the uniform) are
 *   refused at once, naming the op.
 * - Error scopes per segment, not per dispatch. When a segment reports an error, its records are
 *   encoded again one by one, each in its own encoder and scopes, finished but never submitted
 *   (re-running accumulating ops would corrupt data), to find the first invalid one; a segment
 *   whose records are all valid alone failed at submit (a buffer destroyed before the work ran),
 *   found from the destroyed buffers. The records are kept until the segment's scopes resolve.
 *   Pipeline creation and each `write` have their own scopes, so a WGSL error names the first
 *   op that used it and a bad write names its buffer.
 * - Cost (bench/gpu/dispatch.ts, row `dispatch.overhead`): the host time of a tiny dispatch
 *   through here against a raw WebGPU loop (setBindGroup + dispatchWorkgroups), in Node and in
 *   Chromium.
 */
import { shaderSource, type Defines } from './shaders';

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
  params?: ArrayBuffer | ArrayBufferView;
  workgroups: [number, number?, number?];
}

export interface ProfileEntry {
  op: string;
  shapes: string;
  ms: number;
}

const f32Bits = new Float32Array(1);
const u32Bits = new Uint32Array(f32Bits.buffer);

/** Packs a uniform block: u32 fields, then f32 fields, padded to 16 bytes. */
export function packParams(u32: number[], f32: number[] = []): Uint32Array {
  const n = u32.length + f32.length;
  const out = new Uint32Array(n <= 4 ? 4 : (n + 3) & ~3);
  for (let i = 0; i < u32.length; i++) {
    const v = u32[i];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new Error(`packParams: u32 field ${i} = ${v} is not a u32`);
    }
    out[i] = v;
  }
  for (let i = 0; i < f32.length; i++) {
    f32Bits[0] = f32[i];
    out[u32.length + i] = u32Bits[0];
  }
  return out;
}

/** Records per segment before it is submitted on its own; and its uniform arena in bytes. */
const SEGMENT_RECORDS = 2048;
const UNIFORM_BYTES = 1 << 20;
/** Cached bind groups kept per owning buffer (oldest dropped first). */
const GROUPS_PER_BUFFER = 32;
/** Pipeline variants scanned per shader on the hot path. */
const VARIANTS_PER_SHADER = 64;

type BindingType = 'storage' | 'read-only-storage' | 'uniform';

/** A shader module (per shader + defines) and its group-0 binding declarations. */
interface ModuleInfo {
  module: GPUShaderModule;
  bindings: Map<number, BindingType>;
}

/** A bind group layout shared by every pipeline whose bindings have the same types. */
interface LayoutInfo {
  group: GPUBindGroupLayout;
  pipeline: GPUPipelineLayout;
}

/** A pipeline with its explicit layout: `nbuf` storage bindings, then params if `params`. */
interface Kernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  key: string;
}

/** A pipeline as `dispatch` finds it: entry, binding signature, constants and defines in call order. */
interface Variant {
  entry: string;
  /** 2 * storage bindings + (params ? 1 : 0). */
  sig: number;
  ckeys: string[];
  cvals: number[];
  dkeys: string[];
  dvals: (string | number | boolean)[];
  kernel: Kernel;
}

/** What `gpu.buffer()` attaches to its buffers: destroyed or not, and the groups using them. */
interface BufferState {
  dead: boolean;
  /** Cached groups whose first binding is this buffer (searched on lookup). */
  owned: GroupEntry[];
  /** Every cached group that binds this buffer (dropped when it is destroyed). */
  part: GroupEntry[];
  pruneAt: number;
}

interface GroupEntry {
  layout: GPUBindGroupLayout | null;
  usize: number;
  /** Flat (buffer, offset, size) per binding; size -1 for the whole buffer. */
  key: (GPUBuffer | number)[] | null;
  group: GPUBindGroup | null;
  owner: BufferState;
  dead: boolean;
}

const STATE = Symbol('gpu.buffer state');
const stateOf = (b: GPUBuffer): BufferState | undefined => (b as { [STATE]?: BufferState })[STATE];

const DISPATCH = 0,
  COPY = 1,
  CLEAR = 2,
  RESOLVE = 3;

type Rec =
  | {
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
  | { kind: typeof COPY; src: GPUBuffer; dst: GPUBuffer; bytes: number; srcOffset: number; dstOffset: number }
  | { kind: typeof CLEAR; buf: GPUBuffer; offset: number; size: number | undefined }
  | { kind: typeof RESOLVE; set: GPUQuerySet; count: number; dst: GPUBuffer };

const bufferOf = (b: GPUBuffer | GPUBufferBinding): GPUBuffer => ('buffer' in b ? b.buffer : b);

/** The group-0 bindings a WGSL source declares (comments stripped), by binding index. */
export function declaredBindings(code: string): Map<number, BindingType> {
  const text = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const out = new Map<number, BindingType>();
  const decl =
    /((?:@(?:group|binding)\s*\(\s*\d+\s*\)\s*)+)var\s*<\s*(storage|uniform)\s*(?:,\s*(read_write|read)\s*)?>/g;
  for (const m of text.matchAll(decl)) {
    const group = /@group\s*\(\s*(\d+)/.exec(m[1]);
    const binding = /@binding\s*\(\s*(\d+)/.exec(m[1]);
    if (!group || !binding || group[1] !== '0') continue;
    out.set(
      Number(binding[1]),
      m[2] === 'uniform' ? 'uniform' : m[3] === 'read_write' ? 'storage' : 'read-only-storage',
    );
  }
  return out;
}

/** Canonical text of constants or defines (sorted; strings quoted so `'0'` differs from `0`). */
function canonical(o: Record<string, string | number | boolean> | undefined): string {
  if (!o) return '';
  return Object.keys(o)
    .sort()
    .map((k) => `${k}=${typeof o[k] === 'string' ? JSON.stringify(o[k]) : o[k]}`)
    .join(',');
}

export class Gpu {
  readonly device: GPUDevice;
  readonly report: AdapterReport;
  /** Kernel variant choices, per op family (filled by autotuning or set by hand). */
  readonly variants = new Map<string, string>();
  /**
   * Dry run: buffers are allocated as usual but dispatches are not encoded (they are counted).
   * Used to measure the memory a configuration needs (tools/memory-report.ts) without running it.
   */
  dryRun = false;
  /** When true and the adapter has timestamp queries, each op is timed on the GPU. */
  profile = false;
  profileEntries: ProfileEntry[] = [];
  /** Dispatches recorded (non-empty ones, also under `dryRun`), in total and per op name. */
  dispatchCount = 0;
  readonly dispatchCounts = new Map<string, number>();

  private modules = new Map<string, ModuleInfo>();
  private layouts = new Map<string, LayoutInfo>();
  /** Pipelines by shader (the variants `dispatch` scans) and by canonical key. */
  private variantsByShader = new Map<string, Variant[]>();
  private canonicalKernels = new Map<string, Kernel>();
  private groupCount = 0;

  /** The segment being recorded: its records and its uniform arena. */
  private recs: Rec[] = [];
  private arena = new Uint32Array(UNIFORM_BYTES / 4);
  private arenaUsed = 0;
  private uniforms: GPUBuffer | null = null;
  private readonly dynamicOffset = new Uint32Array(1);
  private readonly uniformAlign: number;
  private readonly maxWorkgroups: number;
  private readonly timestamps: boolean;

  private pendingErrors: Promise<Error | null>[] = [];
  private lostListeners: ((info: GPUDeviceLostInfo) => void)[] = [];
  private timing: { set: GPUQuerySet; ops: { op: string; shapes: string }[] } | null = null;
  private lostInfo: GPUDeviceLostInfo | null = null;
  private destroyed = false;

  private constructor(device: GPUDevice, report: AdapterReport) {
    this.device = device;
    this.report = report;
    this.uniformAlign = device.limits.minUniformBufferOffsetAlignment;
    this.maxWorkgroups = device.limits.maxComputeWorkgroupsPerDimension;
    this.timestamps = device.features.has('timestamp-query');
    void device.lost.then((info) => {
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
    const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
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
        /swiftshader|llvmpipe|lavapipe|warp/i.test(`${info.architecture} ${info.device} ${info.description}`),
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
    const state: BufferState = { dead: false, owned: [], part: [], pruneAt: 8 };
    (buf as { [STATE]?: BufferState })[STATE] = state;
    const destroy = buf.destroy.bind(buf);
    buf.destroy = () => {
      if (!state.dead) {
        this.memory.live -= size;
        state.dead = true;
        this.dropGroups(state);
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
    const errors = this.scoped(() =>
      this.device.queue.writeBuffer(buf, offsetBytes, data.buffer, data.byteOffset, data.byteLength),
    );
    const where = `write "${buf.label || 'buffer'}" (${data.byteLength} bytes at ${offsetBytes})`;
    this.pendingErrors.push(errors.then((e) => (e ? this.named(e, where) : null)));
  }

  /** Zeroes a buffer (or a byte range of it) in stream order with the ops. */
  clear(buf: GPUBuffer, offsetBytes = 0, sizeBytes?: number): void {
    this.record({ kind: CLEAR, buf, offset: offsetBytes, size: sizeBytes });
  }

  /** Copies `bytes` bytes between buffers in stream order with the ops. */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    this.record({ kind: COPY, src, dst, bytes, srcOffset, dstOffset });
  }

  /** Reads a buffer back (after flushing all pending work) as raw bytes. */
  async readBytes(buf: GPUBuffer, bytes = buf.size, offsetBytes = 0): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({
      label: `readback ${buf.label}`,
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.record({ kind: COPY, src: buf, dst: staging, bytes: size, srcOffset: offsetBytes, dstOffset: 0 });
    try {
      await this.flush();
      await this.mapRead(staging);
      return staging.getMappedRange().slice(0, bytes);
    } finally {
      staging.destroy();
    }
  }

  async read(buf: GPUBuffer, n?: number, offset = 0): Promise<Float32Array> {
    const count = n ?? (buf.size - offset * 4) / 4;
    return new Float32Array(await this.readBytes(buf, count * 4, offset * 4));
  }

  async readU32(buf: GPUBuffer, n?: number, offset = 0): Promise<Uint32Array> {
    const count = n ?? (buf.size - offset * 4) / 4;
    return new Uint32Array(await this.readBytes(buf, count * 4, offset * 4));
  }

  /** Maps a staging buffer for reading; a device lost meanwhile is reported as such. */
  private async mapRead(staging: GPUBuffer): Promise<void> {
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      const lost =
        this.lostInfo ??
        (await Promise.race([this.device.lost, new Promise<null>((r) => setTimeout(() => r(null), 100))]));
      if (lost) throw new Error(`GPU device lost: ${lost.message}`, { cause: e });
      throw e;
    }
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
    const bindings = declaredBindings(shaderSource(shader, defines));
    let nbuf = 0;
    while (bindings.has(nbuf) && bindings.get(nbuf) !== 'uniform') nbuf++;
    const params = bindings.get(nbuf) === 'uniform';
    const spec: DispatchSpec = {
      op: shader,
      shapes: '',
      shader,
      entry,
      constants,
      defines,
      buffers: [],
      workgroups: [1],
    };
    return this.makeKernel(spec, nbuf, params).pipeline;
  }

  /** Number of cached pipelines (tests check the cache works). */
  get pipelineCount(): number {
    return this.canonicalKernels.size;
  }

  /** Number of cached bind groups (tests check that destroyed buffers leave the cache). */
  get bindGroupCount(): number {
    return this.groupCount;
  }

  private module(shader: string, defines: Defines | undefined): ModuleInfo {
    const key = `${shader}|${canonical(defines)}`;
    let m = this.modules.get(key);
    if (!m) {
      const code = shaderSource(shader, defines);
      m = { module: this.device.createShaderModule({ label: shader, code }), bindings: declaredBindings(code) };
      this.modules.set(key, m);
    }
    return m;
  }

  /** The bind group layout (and pipeline layout) for these binding types, shared. */
  private layout(types: BindingType[]): LayoutInfo {
    const key = types.join(',');
    let l = this.layouts.get(key);
    if (!l) {
      const group = this.device.createBindGroupLayout({
        label: key,
        entries: types.map((type, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type, hasDynamicOffset: type === 'uniform' },
        })),
      });
      l = { group, pipeline: this.device.createPipelineLayout({ bindGroupLayouts: [group] }) };
      this.layouts.set(key, l);
    }
    return l;
  }

  /**
   * The pipeline a dispatch needs. Hot path: the shader's variants seen so far are scanned,
   * comparing entry, bindings, and constants and defines in call order (building a string key
   * per dispatch costs more than the rest of the recording); a miss goes by canonical key.
   */
  private kernelFor(spec: DispatchSpec): Kernel {
    const entry = spec.entry ?? 'main';
    const sig = spec.buffers.length * 2 + (spec.params ? 1 : 0);
    const c = spec.constants,
      d = spec.defines;
    const list = this.variantsByShader.get(spec.shader);
    if (list) {
      search: for (const v of list) {
        if (v.entry !== entry || v.sig !== sig) continue;
        let i = 0;
        if (c) {
          for (const k in c) {
            if (v.ckeys[i] !== k || v.cvals[i] !== c[k]) continue search;
            i++;
          }
        }
        if (i !== v.ckeys.length) continue;
        i = 0;
        if (d) {
          for (const k in d) {
            if (v.dkeys[i] !== k || v.dvals[i] !== d[k]) continue search;
            i++;
          }
        }
        if (i !== v.dkeys.length) continue;
        return v.kernel;
      }
    }
    const kernel = this.makeKernel(spec, spec.buffers.length, !!spec.params);
    const variant: Variant = {
      entry,
      sig,
      kernel,
      ckeys: c ? Object.keys(c) : [],
      cvals: c ? Object.values(c) : [],
      dkeys: d ? Object.keys(d) : [],
      dvals: d ? Object.values(d) : [],
    };
    if (!list) this.variantsByShader.set(spec.shader, [variant]);
    else if (list.length < VARIANTS_PER_SHADER) list.push(variant);
    else list[list.length - 1] = variant; // many variants of one shader: keep the newest last
    return kernel;
  }

  /**
   * Creates (or finds by canonical key) a pipeline, inside its own error scopes so that a WGSL or
   * pipeline error is reported (at the next flush) naming the op that first needed it.
   */
  private makeKernel(spec: DispatchSpec, nbuf: number, params: boolean): Kernel {
    const entry = spec.entry ?? 'main';
    const key = `${spec.shader}|${entry}|${canonical(spec.constants)}|${canonical(spec.defines)}|${nbuf}${params ? 'p' : ''}`;
    const found = this.canonicalKernels.get(key);
    if (found) return found;
    const where = `${spec.op} ${spec.shapes}`;
    let kernel: Kernel | null = null;
    const errors = this.scoped(() => {
      const mod = this.module(spec.shader, spec.defines);
      const types: BindingType[] = [];
      for (let i = 0; i < nbuf; i++) {
        const t = mod.bindings.get(i);
        if (!t) {
          throw new Error(
            `${where}: shader ${spec.shader} declares no @group(0) @binding(${i}) ` +
              `(the dispatch binds ${nbuf} buffers${params ? ' and params' : ''})`,
          );
        }
        if (t === 'uniform') {
          throw new Error(
            `${where}: the dispatch binds a storage buffer at @binding(${i}), which shader ` +
              `${spec.shader} declares as var<uniform> (params go after the storage buffers)`,
          );
        }
        types.push(t);
      }
      if (params) {
        const t = mod.bindings.get(nbuf);
        if (t !== 'uniform') {
          throw new Error(
            `${where}: the params go to @binding(${nbuf}), which shader ${spec.shader} declares ` +
              `${t ? `as ${t}` : 'not at all'}, not as var<uniform>`,
          );
        }
        types.push('uniform');
      }
      const layout = this.layout(types);
      const pipeline = this.device.createComputePipeline({
        label: key,
        layout: layout.pipeline,
        compute: { module: mod.module, entryPoint: entry, constants: spec.constants ?? {} },
      });
      kernel = { pipeline, layout: layout.group, key };
    });
    this.canonicalKernels.set(key, kernel!);
    this.pendingErrors.push(
      errors.then((e) => {
        if (!e) return null;
        // Forget it: a later dispatch tries again (and reports again) rather than binding an
        // invalid pipeline.
        this.canonicalKernels.delete(key);
        const list = this.variantsByShader.get(spec.shader);
        if (list)
          this.variantsByShader.set(
            spec.shader,
            list.filter((v) => v.kernel !== kernel),
          );
        for (const k of [...this.modules.keys()]) if (k.startsWith(`${spec.shader}|`)) this.modules.delete(k);
        return this.named(e, where);
      }),
    );
    return kernel!;
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
        `${spec.op} ${spec.shapes}: dispatch ${x}x${y}x${z} exceeds ` + `maxComputeWorkgroupsPerDimension ${maxWg}`,
      );
    }
    if (x === 0 || y === 0 || z === 0) return; // empty problem
    this.dispatchCount++;
    this.dispatchCounts.set(spec.op, (this.dispatchCounts.get(spec.op) ?? 0) + 1);
    if (this.dryRun) return;
    const kernel = this.kernelFor(spec);
    let uoff = -1,
      usize = 0;
    if (spec.params) {
      usize = spec.params.byteLength;
      uoff = this.pushParams(spec.params);
    }
    let ts = -1,
      tsSet: GPUQuerySet | null = null;
    if (this.profile && this.timestamps) {
      ts = this.nextTimestampSlot(spec.op, spec.shapes);
      tsSet = this.timing!.set;
    }
    this.record({ kind: DISPATCH, spec, kernel, uoff, usize, x, y, z, ts, tsSet });
  }

  private record(r: Rec): void {
    this.recs.push(r);
    if (this.recs.length >= SEGMENT_RECORDS) this.submitPending();
  }

  /** Copies a uniform block into the segment's arena; returns its byte offset there. */
  private pushParams(p: ArrayBuffer | ArrayBufferView): number {
    const bytes = p.byteLength;
    const slot = Math.ceil(Math.max(bytes, 16) / this.uniformAlign) * this.uniformAlign;
    if (slot > UNIFORM_BYTES) throw new Error(`params of ${bytes} bytes exceed the uniform arena`);
    if (this.arenaUsed + slot > UNIFORM_BYTES) this.submitPending();
    const off = this.arenaUsed;
    if (p instanceof Uint32Array) {
      const a = this.arena,
        o = off >> 2; // a loop beats TypedArray.set at this size
      for (let i = 0; i < p.length; i++) a[o + i] = p[i];
    } else {
      const src = ArrayBuffer.isView(p) ? new Uint8Array(p.buffer, p.byteOffset, bytes) : new Uint8Array(p);
      new Uint8Array(this.arena.buffer, off, bytes).set(src);
    }
    this.arenaUsed = off + slot;
    return off;
  }

  /** The persistent uniform buffer every segment's params are written to. */
  private uniformBuffer(): GPUBuffer {
    this.uniforms ??= this.device.createBuffer({
      label: 'dispatch params',
      size: UNIFORM_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    return this.uniforms;
  }

  /** Encodes and submits the current segment (one encoder) inside one set of error scopes. */
  private submitPending(): void {
    const recs = this.recs;
    if (!recs.length) return;
    this.recs = [];
    const used = this.arenaUsed;
    this.arenaUsed = 0;
    const dev = this.device;
    const errors = this.scoped(() => {
      if (used) dev.queue.writeBuffer(this.uniformBuffer(), 0, this.arena.buffer, 0, used);
      const enc = dev.createCommandEncoder();
      this.encode(enc, recs, true);
      dev.queue.submit([enc.finish()]);
    });
    // `recs` lives until the scopes resolve: only a failed segment needs it, to find the culprit.
    this.pendingErrors.push(errors.then((e) => (e ? this.diagnose(recs, e) : null)));
  }

  /** Encodes records: dispatches share a compute pass, copies and clears go between passes. */
  private encode(enc: GPUCommandEncoder, recs: Rec[], cachedGroups: boolean): void {
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
        const group = cachedGroups ? this.bindGroup(r) : this.makeBindGroup(r);
        if (r.uoff >= 0) {
          this.dynamicOffset[0] = r.uoff;
          pass.setBindGroup(0, group, this.dynamicOffset, 0, 1);
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

  private makeBindGroup(r: Extract<Rec, { kind: typeof DISPATCH }>): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = r.spec.buffers.map((b, binding) => ({
      binding,
      resource: 'buffer' in b ? b : { buffer: b },
    }));
    if (r.uoff >= 0) {
      entries.push({ binding: entries.length, resource: { buffer: this.uniformBuffer(), offset: 0, size: r.usize } });
    }
    return this.device.createBindGroup({ label: r.spec.op, layout: r.kernel.layout, entries });
  }

  /**
   * The cached bind group for a dispatch, kept on its first buffer; made (and cached when every
   * buffer was made by `gpu.buffer()` and is alive) on a miss.
   */
  private bindGroup(r: Extract<Rec, { kind: typeof DISPATCH }>): GPUBindGroup {
    const bufs = r.spec.buffers;
    const b0 = bufs[0];
    // (A GPUBuffer made here carries its state; `'buffer' in` a native object costs more.)
    const owner = b0 && (stateOf(b0 as GPUBuffer) ?? ('buffer' in b0 ? stateOf(b0.buffer) : undefined));
    if (!owner || owner.dead) return this.makeBindGroup(r);
    const layout = r.kernel.layout;
    search: for (const e of owner.owned) {
      if (e.layout !== layout || e.usize !== r.usize) continue;
      const key = e.key!;
      for (let i = 0; i < bufs.length; i++) {
        const b = bufs[i];
        if (key[3 * i] === b) {
          if (key[3 * i + 1] !== 0 || key[3 * i + 2] !== -1) continue search; // b is the whole buffer
        } else {
          const bb = b as GPUBufferBinding; // a range (bb.buffer is undefined for a GPUBuffer)
          if (key[3 * i] !== bb.buffer || key[3 * i + 1] !== (bb.offset ?? 0) || key[3 * i + 2] !== (bb.size ?? -1))
            continue search;
        }
      }
      return e.group!;
    }
    const states: BufferState[] = [];
    const key: (GPUBuffer | number)[] = [];
    for (const b of bufs) {
      const buf = bufferOf(b);
      const st = stateOf(buf);
      if (!st || st.dead) return this.makeBindGroup(r);
      if (!states.includes(st)) states.push(st);
      const range = buf !== b ? (b as GPUBufferBinding) : null;
      key.push(buf, range ? (range.offset ?? 0) : 0, range ? (range.size ?? -1) : -1);
    }
    const group = this.makeBindGroup(r);
    const entry: GroupEntry = { layout, usize: r.usize, key, group, owner, dead: false };
    owner.owned.push(entry);
    if (owner.owned.length > GROUPS_PER_BUFFER) this.killGroup(owner.owned.shift()!);
    for (const st of states) {
      st.part.push(entry);
      if (st.part.length >= st.pruneAt) {
        st.part = st.part.filter((e) => !e.dead);
        st.pruneAt = Math.max(8, 2 * st.part.length);
      }
    }
    this.groupCount++;
    return group;
  }

  private killGroup(e: GroupEntry): void {
    if (e.dead) return;
    e.dead = true;
    e.group = null;
    e.key = null;
    e.layout = null;
    this.groupCount--;
  }

  /** A buffer was destroyed: drop every cached group that binds it. */
  private dropGroups(st: BufferState): void {
    for (const e of st.part) {
      if (e.dead) continue;
      this.killGroup(e);
      const i = e.owner.owned.indexOf(e);
      if (i >= 0) e.owner.owned.splice(i, 1);
    }
    st.part = [];
    st.owned = [];
  }

  // ---------------------------------------------------------------- errors

  /**
   * Runs `f` inside out-of-memory, validation and internal error scopes; the promise gives the
   * first error caught (null when none, or when the device is gone). A JS exception from `f`
   * is rethrown after the scopes are popped.
   */
  private scoped(f: () => void): Promise<GPUError | null> {
    const dev = this.device;
    dev.pushErrorScope('out-of-memory');
    dev.pushErrorScope('validation');
    dev.pushErrorScope('internal');
    let pops: Promise<GPUError | null>[];
    try {
      f();
    } finally {
      pops = [dev.popErrorScope(), dev.popErrorScope(), dev.popErrorScope()];
    }
    return Promise.all(pops).then(
      (errs) => errs.find((e) => e) ?? null,
      () => null,
    );
  }

  private named(e: GPUError, where: string): Error {
    const kind = e instanceof GPUOutOfMemoryError ? 'out of memory' : 'GPU error';
    return new Error(`${kind} in ${where}: ${e.message}`);
  }

  /** Where a record comes from, for error messages. */
  private where(r: Rec): string {
    const label = (b: GPUBuffer) => `"${b.label || 'buffer'}"`;
    if (r.kind === DISPATCH) return `${r.spec.op} ${r.spec.shapes}`;
    if (r.kind === COPY)
      return `copy ${label(r.src)}[${r.srcOffset}..] -> ${label(r.dst)}[${r.dstOffset}..] (${r.bytes} bytes)`;
    if (r.kind === CLEAR) return `clear ${label(r.buf)}[${r.offset}..] (${r.size ?? 'to the end'})`;
    return 'timestamp resolve';
  }

  /**
   * A segment failed: encode its records again one by one (each in its own encoder and scopes,
   * finished, never submitted) and name the first that fails alone; else the first that binds a
   * destroyed buffer (that fails only at submit); else the segment as a whole.
   */
  private async diagnose(recs: Rec[], first: GPUError): Promise<Error> {
    const lost = this.lostError();
    if (lost) return lost;
    const dev = this.device;
    const checks = recs.map((r) =>
      this.scoped(() => {
        const enc = dev.createCommandEncoder({ label: 'diagnose' });
        this.encode(enc, [r], false);
        enc.finish();
      }),
    );
    const found = await Promise.all(checks);
    const i = found.findIndex((e) => e);
    if (i >= 0) return this.named(found[i]!, this.where(recs[i]));
    for (const r of recs) {
      const bufs =
        r.kind === DISPATCH
          ? r.spec.buffers.map(bufferOf)
          : r.kind === COPY
            ? [r.src, r.dst]
            : r.kind === CLEAR
              ? [r.buf]
              : [];
      const gone = bufs.find((b) => stateOf(b)?.dead);
      if (gone) {
        return new Error(
          `GPU error in ${this.where(r)}: buffer "${gone.label}" was destroyed before the work ran (${first.message})`,
        );
      }
    }
    const ops = [...new Set(recs.map((r) => (r.kind === DISPATCH ? r.spec.op : this.where(r).split(' ')[0])))];
    return this.named(
      first,
      `a batch of ${recs.length} commands (${ops.slice(0, 8).join(', ')}${ops.length > 8 ? ', ...' : ''})`,
    );
  }

  /** The error a lost device gives, or null while it is not lost. */
  private lostError(): Error | null {
    return this.lostInfo ? new Error(`GPU device lost: ${this.lostInfo.message}`) : null;
  }

  /** Submits all recorded work; throws the first recorded GPU error, naming its op. */
  async flush(): Promise<void> {
    const dev = this.device;
    const lost = this.lostError();
    if (lost) throw lost;
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
      this.recs.push({ kind: RESOLVE, set: timing.set, count: n, dst: resolveBuf });
    }
    this.submitPending();
    const errors = this.pendingErrors;
    this.pendingErrors = [];
    for (const p of errors) {
      const e = await p;
      if (e) throw e;
    }
    const lostNow = this.lostError();
    if (lostNow) throw lostNow;
    if (timing && resolveBuf) {
      const n = timing.ops.length * 2;
      const staging = dev.createBuffer({
        size: n * 8,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      const enc = dev.createCommandEncoder();
      enc.copyBufferToBuffer(resolveBuf, 0, staging, 0, n * 8);
      dev.queue.submit([enc.finish()]);
      await this.mapRead(staging);
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

  /** Flushes and waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    await this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  private nextTimestampSlot(op: string, shapes: string): number {
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
    t.ops.push({ op, shapes });
    return t.ops.length - 1;
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
