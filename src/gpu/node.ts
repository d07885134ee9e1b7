/**
 * Node entry to the GPU: Dawn through the npm package `webgpu`.
 *
 * Finds a real GPU when the machine has one (Vulkan on Linux, Metal on macOS, D3D12 on
 * Windows). When Dawn finds no usable adapter (no GPU, or only Mesa's lavapipe which Dawn
 * rejects), it falls back by itself to SwiftShader, the CPU Vulkan driver that Debian's
 * `chromium` package ships, and says so (once, with how to get the GPU used): it is a slow CPU
 * fallback.
 *
 * `unsafeFeatures` starts Dawn with the toggles that expose experimental GPU features: subgroup
 * matrices (`chromium-experimental-subgroup-matrix`, guarded by `allow_unsafe_apis`) and, on
 * NVIDIA/Vulkan, `shader-f16` (hidden there unless `vulkan_enable_f16_on_nvidia`; Dawn's
 * PhysicalDeviceVk.cpp, crbug.com/42251215; the f16 subgroup-matrix configurations need it too).
 */
import { existsSync } from 'node:fs';
import { Gpu } from './device';
import { NODE_FALLBACK_HELP } from './fallback';

/** Where SwiftShader's Vulkan ICD lives (Debian/Ubuntu chromium packages). */
export const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
];

export interface NodeGpuOptions {
  /** 'auto' (default): real GPU, else SwiftShader. 'swiftshader': force the CPU fallback. */
  prefer?: 'auto' | 'swiftshader';
  /** Receives one human-readable line about which adapter was chosen. */
  log?: (line: string) => void;
  /**
   * Start Dawn with `UNSAFE_FEATURE_TOGGLES` and also request `EXTRA_FEATURES` when the adapter
   * has them (tools/gpu-bench; not for the app's normal runs).
   */
  unsafeFeatures?: boolean;
  /** Called with the chosen adapter before its device is created (to record adapter.info). */
  onAdapter?: (adapter: GPUAdapter) => void;
}

/** Dawn toggles of `unsafeFeatures`. */
export const UNSAFE_FEATURE_TOGGLES = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia', 'use_vulkan_memory_model'];
/** Device features requested with `unsafeFeatures` where the adapter has them (besides device.ts's). */
export const EXTRA_FEATURES = ['chromium-experimental-subgroup-matrix', 'shader-f16'];

type WebGpuModule = {
  create: (flags: string[]) => GPU;
  globals: Record<string, unknown>;
};

let webgpuModule: Promise<WebGpuModule> | null = null;
async function loadDawn(): Promise<WebGpuModule> {
  webgpuModule ??= import('webgpu') as unknown as Promise<WebGpuModule>;
  const m = await webgpuModule;
  // GPUBufferUsage, GPUMapMode, GPUOutOfMemoryError ... as in a browser.
  for (const [k, v] of Object.entries(m.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  return m;
}

/** Keeps Dawn's GPU instances alive as long as their devices are in use. */
const instances: GPU[] = [];

async function tryAdapter(m: WebGpuModule, flags: string[]): Promise<GPUAdapter | null> {
  const gpu = m.create(flags);
  instances.push(gpu);
  return gpu.requestAdapter({ powerPreference: 'high-performance' });
}

/** Requests a GPU device in Node: a real adapter if there is one, else SwiftShader. */
export async function requestNodeGpu(opts: NodeGpuOptions = {}): Promise<Gpu> {
  const log = opts.log ?? (() => {});
  process.env.XDG_RUNTIME_DIR ??= '/tmp'; // the Vulkan loader complains without it
  const m = await loadDawn();
  const flags = opts.unsafeFeatures ? [`enable-dawn-features=${UNSAFE_FEATURE_TOGGLES.join(',')}`] : [];
  let adapter: GPUAdapter | null = null;
  if (opts.prefer !== 'swiftshader') {
    adapter = await tryAdapter(m, flags);
  }
  if (!adapter) {
    const icd = SWIFTSHADER_ICDS.find((p) => existsSync(p));
    if (!icd) {
      throw new Error(
        'No WebGPU adapter: Dawn found no GPU, and the SwiftShader CPU driver is not installed. ' +
          'Install it with `apt-get install chromium` (it ships /usr/lib/chromium/vk_swiftshader_icd.json).',
      );
    }
    process.env.VK_ICD_FILENAMES = icd;
    adapter = await tryAdapter(m, flags);
    if (!adapter) {
      throw new Error(`No WebGPU adapter: Dawn could not start SwiftShader from ${icd}.`);
    }
  }
  opts.onAdapter?.(adapter);
  const gpu = await Gpu.fromAdapter(opts.unsafeFeatures ? withExtraFeatures(adapter, log) : adapter, 'dawn');
  if (!gpu.report.isFallback) log(`WebGPU: ${gpu.describe()}`);
  else {
    log(`WebGPU: ${gpu.describe()} - no GPU found, using the slow CPU fallback (SwiftShader)`);
    if (opts.log && !fallbackHelpSaid) {
      for (const line of NODE_FALLBACK_HELP) log(`  ${line}`);
      fallbackHelpSaid = true;
    }
  }
  return gpu;
}

/** The how-to after the fallback line is said once per process (to the first caller that logs). */
let fallbackHelpSaid = false;

/**
 * The adapter, with `requestDevice` also asking for the `EXTRA_FEATURES` it has (device.ts
 * requests its own list; this adds to it without changing it; if the device cannot be had with
 * them, it is requested without them and `log` says why). Everything else is the adapter's.
 */
function withExtraFeatures(adapter: GPUAdapter, log: (line: string) => void): GPUAdapter {
  const extra = EXTRA_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  return new Proxy(adapter, {
    get(target, key) {
      if (key === 'requestDevice') {
        return async (desc: GPUDeviceDescriptor = {}) => {
          const features = [...new Set([...(desc.requiredFeatures ?? []), ...extra])];
          try {
            return await target.requestDevice({ ...desc, requiredFeatures: features });
          } catch (e) {
            if (extra.length === 0) throw e;
            log(`WebGPU: no device with ${extra.join(', ')} (${(e as Error).message}); continuing without them`);
            return target.requestDevice(desc);
          }
        };
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
