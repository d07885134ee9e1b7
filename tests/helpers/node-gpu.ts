/** One Dawn device per test file (Node). Fails loudly when no adapter can be had. */
import type { Gpu } from '../../src/gpu/device';
import { requestNodeGpu } from '../../src/gpu/device-node';

let gpu: Promise<Gpu> | null = null;
export function nodeGpu(): Promise<Gpu> {
  gpu ??= requestNodeGpu();
  return gpu;
}
