/**
 * The GPU for a command: Dawn's adapter (a real GPU, else the SwiftShader fallback, said on
 * stderr), with the kernel variants measured on it once (src/ops/autotune.ts) and the choice
 * logged. For tests that run many commands in one process, useSharedGpu(gpu) makes every command
 * use that device (already tuned, its pipelines compiled once) and leave it alive.
 */
import type { Gpu } from '../gpu/device';
import { requestNodeGpu } from '../gpu/device-node';
import { autotune } from '../ops/autotune';

let shared: Gpu | null = null;

/** Commands use `gpu` (their destroy() leaves it alive) until called with null. */
export function useSharedGpu(gpu: Gpu | null): void {
  shared = gpu;
}

export async function commandGpu(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<Gpu> {
  if (shared) {
    const target = shared;
    return new Proxy(target, {
      get: (t, k) =>
        k === 'destroy'
          ? () => {}
          : typeof Reflect.get(t, k) === 'function'
            ? (Reflect.get(t, k) as (...a: unknown[]) => unknown).bind(t)
            : (Reflect.get(t, k) as unknown),
    });
  }
  const gpu = await requestNodeGpu({ log });
  const tuned = await autotune(gpu);
  log(
    `kernels: ${tuned.map((t) => `${t.op} ${t.choice}`).join(', ')} (measured on this adapter in ${tuned.reduce((a, t) => a + t.totalMs, 0).toFixed(0)} ms)`,
  );
  return gpu;
}
