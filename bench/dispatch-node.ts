/**
 * dispatch.overhead in Node (Dawn): the bench row of bench/gpu/dispatch.ts measured outside the
 * browser. bench/run.ts runs it (before Chromium starts) and merges the row it prints as the last
 * line of stdout (a bench/types.ts BenchResult as JSON). By hand:
 *   npx vite-node bench/dispatch-node.ts
 */
import { requestNodeGpu } from '../src/gpu/device-node';
import { DISPATCH_SHAPE, DISPATCHES, dispatchNote, measureDispatchOverhead } from './gpu/dispatch';
import type { BenchResult } from './types';

const gpu = await requestNodeGpu();
const r = await measureDispatchOverhead(gpu);
const oursMs = (r.oursUs * DISPATCHES) / 1000;
const rawMs = (r.rawUs * DISPATCHES) / 1000;
const row: BenchResult = {
  op: 'dispatch.overhead',
  shape: `${DISPATCH_SHAPE}, Node (Dawn)`,
  ours_ms: oursMs,
  ours_gflops: null,
  peer: 'raw-webgpu',
  peer_ms: rawMs,
  peer_gflops: null,
  ratio: rawMs / oursMs,
  ours_items_per_s: DISPATCHES / (oursMs / 1000),
  peer_items_per_s: DISPATCHES / (rawMs / 1000),
  note: `${dispatchNote(r)}; ${gpu.describe()}`,
};
gpu.destroy();
console.log(JSON.stringify(row));
process.exit(0);
