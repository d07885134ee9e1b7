/**
 * The GPU for a command: Dawn's adapter (a real GPU, else the SwiftShader fallback, said on
 * stderr), with the kernel variants measured on it once (src/ops/autotune.ts) and the choice
 * logged.
 */
import type { Gpu } from '../gpu/device';
import { requestNodeGpu } from '../gpu/node';
import { autotune } from '../ops/autotune';

export async function commandGpu(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<Gpu> {
  const gpu = await requestNodeGpu({ log });
  const tuned = await autotune(gpu);
  log(`kernels: ${tuned.map((t) => `${t.op} ${t.choice}`).join(', ')} (measured on this adapter in ${tuned.reduce((a, t) => a + t.totalMs, 0).toFixed(0)} ms)`);
  return gpu;
}
