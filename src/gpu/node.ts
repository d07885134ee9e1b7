/**
 * Node entry to the GPU: Dawn through the npm package `webgpu`.
 *
 * Finds a real GPU when the machine has one (Vulkan on Linux, Metal on macOS, D3D12 on
 * Windows). When Dawn finds no usable adapter (no GPU, or only Mesa's lavapipe which Dawn
 * rejects), it falls back by itself to SwiftShader, the CPU Vulkan driver that Debian's
 * `chromium` package ships, and says so: it is a slow CPU fallback.
 */
import { existsSync } from 'node:fs';
import { Gpu } from './device';

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
}

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

async function tryAdapter(m: WebGpuModule): Promise<GPUAdapter | null> {
  const gpu = m.create([]);
  instances.push(gpu);
  return gpu.requestAdapter({ powerPreference: 'high-performance' });
}

/** Requests a GPU device in Node: a real adapter if there is one, else SwiftShader. */
export async function requestNodeGpu(opts: NodeGpuOptions = {}): Promise<Gpu> {
  const log = opts.log ?? (() => {});
  process.env.XDG_RUNTIME_DIR ??= '/tmp'; // the Vulkan loader complains without it
  const m = await loadDawn();
  let adapter: GPUAdapter | null = null;
  if (opts.prefer !== 'swiftshader') {
    adapter = await tryAdapter(m);
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
    adapter = await tryAdapter(m);
    if (!adapter) {
      throw new Error(`No WebGPU adapter: Dawn could not start SwiftShader from ${icd}.`);
    }
  }
  const gpu = await Gpu.fromAdapter(adapter, 'dawn');
  log(
    gpu.report.isFallback
      ? `WebGPU: ${gpu.describe()} - no GPU found, using the slow CPU fallback (SwiftShader)`
      : `WebGPU: ${gpu.describe()}`,
  );
  return gpu;
}
