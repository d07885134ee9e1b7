/**
 * Small helpers shared by the ops: 2-D workgroup grids, per-device scratch buffers, the dummy
 * buffer bound where an optional input is absent, chunked column sums and row-kernel layouts.
 */
import { cdiv, type Gpu } from '../gpu/device';

/** Workgroup grid [x, y] with x * y >= `n` workgroups (x capped at the per-dimension limit). */
export function grid(gpu: Gpu, n: number): [number, number] {
  const x = Math.min(n, gpu.device.limits.maxComputeWorkgroupsPerDimension);
  return [x, x === 0 ? 0 : cdiv(n, x)];
}

const scratches = new WeakMap<Gpu, Map<string, GPUBuffer>>();

/**
 * A scratch storage buffer of at least `floats` f32 values, one per (device, key), grown on
 * demand and kept for later calls. Ops use it for intermediates (partial column sums, im2col)
 * that live only between two of their own dispatches; since dispatches run in submission order,
 * reusing it across calls is safe. A grown-out buffer is dropped, not destroyed, as work that
 * was recorded but not yet submitted may still use it.
 */
export function scratch(gpu: Gpu, key: string, floats: number): GPUBuffer {
  let m = scratches.get(gpu);
  if (!m) {
    m = new Map();
    scratches.set(gpu, m);
  }
  const have = m.get(key);
  if (have && have.size >= floats * 4) return have;
  const buf = gpu.buffer(Math.max(floats, 16) * 4, `scratch ${key}`);
  m.set(key, buf);
  return buf;
}

const dummies = new WeakMap<Gpu, Map<string, GPUBuffer>>();
/**
 * A 16-byte buffer bound where a shader's optional input is absent. Writable slots take
 * `dummyBuffer(gpu, 'out')`: one buffer cannot be bound writable and read-only in one dispatch.
 */
export function dummyBuffer(gpu: Gpu, kind: 'in' | 'out' = 'in'): GPUBuffer {
  let m = dummies.get(gpu);
  if (!m) {
    m = new Map();
    dummies.set(gpu, m);
  }
  let b = m.get(kind);
  if (!b) {
    b = gpu.buffer(16, kind === 'in' ? 'dummy' : 'dummy (out)');
    m.set(kind, b);
  }
  return b;
}

/**
 * Rows per chunk for two-stage column sums over `N` rows: stage 1 writes one partial row per
 * chunk (at most 128 of them), stage 2 (`colsum`) adds the partials into the gradient.
 */
export function chunkRows(N: number): { rows: number; chunks: number } {
  const rows = Math.max(16, cdiv(N, 128));
  return { rows, chunks: cdiv(N, rows) };
}

export type RowVariant = 'row' | 'wg';

/**
 * Layout of a row-wise kernel (`TPR` invocations per row, `RPW` rows per workgroup) for the
 * variant `gpu.variants.get(op)`, else by `gpu.defaults`:
 *   'row': one invocation per row, 64 rows per workgroup, no workgroup memory: the fast choice
 *          on CPU backends (SwiftShader), where workgroups and barriers are expensive;
 *   'wg':  one workgroup of 64 invocations per row, tree reductions in workgroup memory: GPUs.
 */
export function rowLayout(gpu: Gpu, op: string): { TPR: number; RPW: number } {
  const v = gpu.variants.get(op) ?? (gpu.defaults === 'software' ? 'row' : 'wg');
  if (v === 'row') return { TPR: 1, RPW: 64 };
  if (v === 'wg') return { TPR: 64, RPW: 1 };
  throw new Error(`${op}: unknown variant "${v}" (expected 'row' or 'wg')`);
}
