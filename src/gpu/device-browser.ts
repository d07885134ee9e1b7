/**
 * Browser entry to the GPU: `navigator.gpu` (pages and Web Workers alike).
 * Throws an Error with a user-facing message when WebGPU is missing or gives no adapter.
 */
import { Gpu } from './device';
import { VembedError } from '../util/errors';

export class NoWebGpuError extends VembedError {
  override name = 'NoWebGpuError';
}

export async function requestBrowserGpu(): Promise<Gpu> {
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  if (!nav?.gpu) {
    throw new NoWebGpuError(
      'This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome or Edge ' +
        '(version 113 or later) on a page served over https or from localhost.',
    );
  }
  const adapter = await nav.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new NoWebGpuError(
      'WebGPU is present but gave no adapter: the GPU may be blocklisted or disabled. ' +
        'Check chrome://gpu, update the graphics driver, or enable hardware acceleration.',
    );
  }
  return Gpu.fromAdapter(adapter, 'browser');
}
