/**
 * The WebGPU adapter as the app shows it (the engine worker's init): its description, vendor,
 * architecture, whether it is a fallback (software) adapter, its features and the limits that
 * bound the model and batch sizes.
 */
import type { Gpu } from '../gpu/device';

export interface GpuInfo {
  description: string;
  vendor: string;
  architecture: string;
  isFallback: boolean;
  features: string[];
  limits: {
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupStorageSize: number;
  };
}

export function describeGpu(g: Gpu): GpuInfo {
  const r = g.report;
  return {
    description: g.describe(),
    vendor: r.vendor,
    architecture: r.architecture,
    isFallback: r.isFallback,
    features: r.features,
    limits: {
      maxBufferSize: r.limits.maxBufferSize,
      maxStorageBufferBindingSize: r.limits.maxStorageBufferBindingSize,
      maxComputeInvocationsPerWorkgroup: r.limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupStorageSize: r.limits.maxComputeWorkgroupStorageSize,
    },
  };
}
