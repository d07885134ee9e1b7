/**
 * dispatch.overhead in Chromium: host microseconds to issue one tiny dispatch through `Gpu` vs a
 * raw WebGPU loop on the same device (bench/gpu/dispatch.ts says what is timed). The Node (Dawn)
 * row is measured by bench/dispatch-node.ts, which bench/run.ts runs before the browser starts.
 * Row: ours_ms / peer_ms are the host time of one flush of DISPATCHES dispatches; items =
 * DISPATCHES (dispatches per second); ratio = raw / ours (1 would be free).
 */
import type { BenchEntry } from '../types';
import { DISPATCH_SHAPE, DISPATCHES, dispatchNote, measureDispatchOverhead } from './dispatch';

export const entries: BenchEntry[] = [
  {
    op: 'dispatch.overhead',
    shape: `${DISPATCH_SHAPE}, Chromium`,
    flops: null,
    items: DISPATCHES,
    quick: true,
    async measure(gpu) {
      const r = await measureDispatchOverhead(gpu);
      return {
        ours_ms: (r.oursUs * DISPATCHES) / 1000,
        peer: 'raw-webgpu',
        peer_ms: (r.rawUs * DISPATCHES) / 1000,
        note: dispatchNote(r),
      };
    },
  },
];
