/**
 * The pipeline cache of the dispatch path (src/gpu/device.ts). A pipeline is keyed by shader
 * name, entry point, `override` constants and shader defines (src/gpu/shaders.ts preprocessing),
 * and uses an explicit bind group layout derived from the shader's declarations
 * (`@group(0) @binding(i) var<storage, read>` / `read_write` / `var<uniform>`), shared by every
 * shader with the same binding types (so bind groups can be cached across pipelines,
 * src/gpu/bind-groups.ts). Buffers the shader does not declare, or a storage buffer where it
 * declares the uniform, are refused at once, naming the op. Each pipeline is created inside its
 * own error scopes, so a WGSL error names the first op that used it (at the next flush).
 */
import type { DispatchSpec, Kernel } from './records';
import { namedGpuError, scoped } from './scopes';
import { shaderSource, type Defines } from './shaders';
import { shapesText } from './shapes';

/** Pipeline variants scanned per shader on the hot path. */
const VARIANTS_PER_SHADER = 64;

export type BindingType = 'storage' | 'read-only-storage' | 'uniform';

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

/** A pipeline as `dispatch` finds it: entry, binding signature, constants and defines in call order. */
interface Variant {
  entry: string;
  /** 2 * storage bindings + (params ? 1 : 0). */
  sig: number;
  ckeys: string[];
  cvals: number[];
  dkeys: string[];
  dvals: (string | number | boolean)[];
  /** The constants and defines objects last found to match (an op that keeps its constants in
   * one object is found by identity; specs do not change them once dispatched). */
  cref: object | undefined;
  dref: object | undefined;
  kernel: Kernel;
}

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

export class PipelineCache {
  private modules = new Map<string, ModuleInfo>();
  private layouts = new Map<string, LayoutInfo>();
  /** Pipelines by shader (the variants `kernelFor` scans) and by canonical key. */
  private variantsByShader = new Map<string, Variant[]>();
  private canonicalKernels = new Map<string, Kernel>();

  constructor(
    private readonly device: GPUDevice,
    /** Takes the promise of a pipeline's error scopes (an Error naming the op, or null). */
    private readonly report: (errors: Promise<Error | null>) => void,
  ) {}

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
  get count(): number {
    return this.canonicalKernels.size;
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
  kernelFor(spec: DispatchSpec): Kernel {
    const entry = spec.entry ?? 'main';
    const sig = spec.buffers.length * 2 + (spec.params ? 1 : 0);
    const c = spec.constants,
      d = spec.defines;
    const list = this.variantsByShader.get(spec.shader);
    if (list) {
      search: for (let j = 0; j < list.length; j++) {
        const v = list[j];
        if (v.entry !== entry || v.sig !== sig) continue;
        if (c === v.cref && d === v.dref) return v.kernel;
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
        v.cref = c;
        v.dref = d;
        return v.kernel;
      }
    }
    const kernel = this.makeKernel(spec, spec.buffers.length, !!spec.params);
    const variant: Variant = {
      entry,
      sig,
      kernel,
      cref: c,
      dref: d,
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
    const where = `${spec.op} ${shapesText(spec.shapes)}`;
    let kernel: Kernel | null = null;
    const errors = scoped(this.device, () => {
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
    this.report(
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
        return namedGpuError(e, where);
      }),
    );
    return kernel!;
  }
}
