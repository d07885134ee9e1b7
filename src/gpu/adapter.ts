/**
 * Opening a device on a WebGPU adapter (the browser's `navigator.gpu` or Node's Dawn; see
 * device-browser.ts / device-node.ts): the adapter's own maximum limits (buffer size, storage
 * binding size, workgroup storage and invocations), not the WebGPU defaults; the optional
 * features we use when offered; and a report of the adapter (vendor, architecture, fallback or
 * not, features, limits) for logs, the app header and kernel choices.
 */

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
  /** adapter.info.subgroupMaxSize (0 when not reported): the workgroup width subgroup matrices need. */
  subgroupMaxSize: number;
  /** adapter.info.subgroupMatrixConfigs (`chromium-experimental-subgroup-matrix`; [] without it). */
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
}

/** One matrix multiply the adapter's subgroup matrices do: componentType x componentType -> result. */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
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
  // An alignment limit: the adapter's value is at most the default 256, and a smaller one packs
  // the dispatches' params tighter in the uniform arena (less to write per segment).
  'minUniformBufferOffsetAlignment',
] as const;

/**
 * Optional features we enable when the adapter has them. Subgroup matrices are offered only
 * behind flags (Chrome: an origin trial or --enable-unsafe-webgpu; Dawn in Node: the
 * allow_unsafe_apis toggle, src/gpu/device-node.ts `unsafeFeatures`).
 */
const WANTED_FEATURES = [
  'shader-f16',
  'subgroups',
  'timestamp-query',
  'chromium-experimental-subgroup-matrix',
] as const;

/** Creates the device with the adapter's maximum limits and the optional features it has. */
export async function openDevice(
  adapter: GPUAdapter,
  backend: Backend,
): Promise<{ device: GPUDevice; report: AdapterReport }> {
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
    subgroupMaxSize: (info as { subgroupMaxSize?: number }).subgroupMaxSize ?? 0,
    subgroupMatrixConfigs: [
      ...((info as { subgroupMatrixConfigs?: Iterable<SubgroupMatrixConfig> }).subgroupMatrixConfigs ?? []),
    ].map((c) => ({
      componentType: c.componentType,
      resultComponentType: c.resultComponentType,
      M: c.M,
      N: c.N,
      K: c.K,
    })),
  };
  return { device, report };
}

/** One line that names the adapter, e.g. for logs and the app header. */
export function describeAdapter(r: AdapterReport): string {
  const name = [r.vendor, r.architecture, r.device || r.description].filter(Boolean).join(' ');
  return `${name} (${r.backend}${r.isFallback ? ', software fallback' : ''})`;
}
