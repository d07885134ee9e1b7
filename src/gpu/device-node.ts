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
 *
 * Quiet start-up: Dawn prints a multi-line "Warning: Vulkan shaderUniform*ArrayDynamicIndexing
 * required ... at InitializeImpl (...)" on stderr, from native code, each time it probes Mesa's
 * lavapipe (a CPU Vulkan driver it always rejects), and the Vulkan loader adds "Failed to detect
 * any valid GPUs" when Mesa's hardware drivers find no hardware. Unless `verbose` (the CLI's
 * --verbose, $VEMBED_VERBOSE=1), on Linux the GPU probe is skipped when the machine has no GPU
 * device node (/dev/dri/renderD*, /dev/nvidia0, /dev/dxg), and otherwise lists the Vulkan drivers
 * itself and leaves lavapipe out (VK_ICD_FILENAMES for the probe only); so those lines are never
 * produced, and our one line says lavapipe was skipped. Drivers the user chose (VK_ICD_FILENAMES,
 * VK_DRIVER_FILES, VK_ADD_DRIVER_FILES) are left alone.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
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
  /** Probe every Vulkan driver, lavapipe included, and let Dawn print what it says (default:
   *  $VEMBED_VERBOSE === '1'). */
  verbose?: boolean;
}

/** Vulkan driver manifests (ICD JSON files) in the Vulkan loader's standard folders (Linux). */
export function vulkanDrivers(env: NodeJS.ProcessEnv = process.env): string[] {
  const split = (v: string | undefined, dflt: string) => (v || dflt).split(':').filter(Boolean);
  const dirs = [
    ...split(env.XDG_CONFIG_DIRS, '/etc/xdg').map((d) => join(d, 'vulkan/icd.d')),
    '/etc/vulkan/icd.d',
    join(env.XDG_DATA_HOME || join(homedir(), '.local/share'), 'vulkan/icd.d'),
    ...split(env.XDG_DATA_DIRS, '/usr/local/share:/usr/share').map((d) => join(d, 'vulkan/icd.d')),
  ];
  const out: string[] = [];
  for (const d of [...new Set(dirs)]) {
    let names: string[];
    try {
      names = readdirSync(d)
        .filter((n) => n.endsWith('.json'))
        .sort();
    } catch {
      continue;
    }
    out.push(...names.map((n) => join(d, n)));
  }
  return out;
}

/** Mesa's lavapipe (lvp_icd*.json, or a manifest whose library is libvulkan_lvp). */
export function isLavapipe(manifest: string): boolean {
  if (/(^|\/)lvp_icd[^/]*\.json$/.test(manifest)) return true;
  try {
    return /vulkan_lvp/.test(
      String(
        (JSON.parse(readFileSync(manifest, 'utf8')) as { ICD?: { library_path?: string } } | null)?.ICD?.library_path ??
          '',
      ),
    );
  } catch {
    return false;
  }
}

/** GPU device nodes (Linux): DRM render nodes (Mesa, AMD, Intel), NVIDIA's, WSL's /dev/dxg. */
export function gpuDeviceNodes(): string[] {
  let dri: string[] = [];
  try {
    dri = readdirSync('/dev/dri')
      .filter((n) => n.startsWith('renderD'))
      .map((n) => `/dev/dri/${n}`);
  } catch {
    // no /dev/dri
  }
  return [...dri, ...['/dev/nvidia0', '/dev/dxg'].filter((p) => existsSync(p))];
}

/**
 * The Vulkan drivers to probe for a real GPU, or null to leave the loader's own choice. With no
 * GPU device node at all there is nothing to find (keep is empty: straight to SwiftShader, no
 * probe, no "Failed to detect any valid GPUs" from the loader); otherwise every driver but lavapipe.
 */
function probeDrivers(verbose: boolean): { keep: string[]; lavapipe: boolean } | null {
  const env = process.env;
  if (verbose || process.platform !== 'linux' || env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES || env.VK_ADD_DRIVER_FILES)
    return null;
  const all = vulkanDrivers();
  const lavapipe = all.some(isLavapipe);
  if (gpuDeviceNodes().length === 0) return { keep: [], lavapipe };
  return lavapipe ? { keep: all.filter((d) => !isLavapipe(d)), lavapipe } : null;
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
  let skippedLavapipe = false;
  if (opts.prefer !== 'swiftshader') {
    const drivers = probeDrivers(opts.verbose ?? process.env.VEMBED_VERBOSE === '1');
    skippedLavapipe = drivers?.lavapipe ?? false;
    if (!drivers) adapter = await tryAdapter(m, flags);
    else if (drivers.keep.length) {
      process.env.VK_ICD_FILENAMES = drivers.keep.join(':');
      try {
        adapter = await tryAdapter(m, flags);
      } finally {
        delete process.env.VK_ICD_FILENAMES;
      }
    }
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
    log(
      `WebGPU: ${gpu.describe()} - no GPU found, using the slow CPU fallback (SwiftShader)` +
        (skippedLavapipe ? "; Mesa's lavapipe skipped (Dawn does not support it)" : ''),
    );
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
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
