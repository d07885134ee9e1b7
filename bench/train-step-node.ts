/**
 * train.dispatches and train.memory: what one ViT-B/16 LoRA step (r16 on q, v, batch 128 pairs at
 * 224x224, gradient cache chunk 8) records and allocates, with a GPU adapter's kernel variants,
 * counted without running it (tools/step-report.ts, gpu.dryRun). The peer is the same count made
 * by the same method on the code before the fused kernels (commit eba6316: 28,789 dispatches,
 * 1877 MiB peak). bench/run.ts runs this (before Chromium starts) and merges the JSON rows it
 * prints, one per line. By hand:
 *   npx vite-node bench/train-step-node.ts
 */
import { requestNodeGpu } from '../src/gpu/device-node';
import { stepReport } from '../tools/step-report';
import type { BenchResult } from './types';

const BEFORE = { dispatches: 28789, peakMiB: 1877, commit: 'eba6316' };

const gpu = await requestNodeGpu();
const shape = 'ViT-B/16 LoRA r16 (q,v), batch 128 pairs, 224x224, chunk 8';
const rows: BenchResult[] = [];
const row = (op: string, shp: string, value: number, unit: string, peer: number | null, note: string): BenchResult => ({
  op,
  shape: shp,
  ours_ms: null,
  ours_gflops: null,
  peer: peer === null ? null : `before (${BEFORE.commit})`,
  peer_ms: null,
  peer_gflops: null,
  ratio: peer === null ? null : peer / value,
  ours_value: value,
  peer_value: peer,
  unit,
  note,
});
const f32 = stepReport(gpu, { model: 'b16', batch: 128, chunk: 8, lora: true, path: 'gpu' });
const top = f32.perOp
  .slice(0, 6)
  .map(([op, n]) => `${op} ${n}`)
  .join(', ');
rows.push(
  row(
    'train.dispatches',
    shape,
    f32.dispatches,
    'dispatches',
    BEFORE.dispatches,
    `a GPU adapter's kernel variants (dry run); most: ${top}`,
  ),
);
const MiB = (b: number) => Math.round(b / 2 ** 20);
rows.push(
  row('train.memory', shape, MiB(f32.peakBytes), 'MiB', BEFORE.peakMiB, 'peak GPU memory (every storage buffer), f32'),
);
const f16 = stepReport(gpu, { model: 'b16', batch: 128, chunk: 8, lora: true, path: 'gpu', fp16: true });
rows.push(
  row(
    'train.memory',
    `${shape}, fp16 storage`,
    MiB(f16.peakBytes),
    'MiB',
    BEFORE.peakMiB,
    'peak GPU memory with fp16: true (packed-f16 frozen weights and activations)',
  ),
);
const sw = stepReport(gpu, { model: 'b16', batch: 128, chunk: 8, lora: true, path: 'adapter' });
rows.push(
  row(
    'train.dispatches',
    `${shape}, ${gpu.report.isFallback ? 'software adapter variants' : "this adapter's variants"}`,
    sw.dispatches,
    'dispatches',
    BEFORE.dispatches,
    `${gpu.describe()} (dry run)`,
  ),
);
gpu.destroy();
for (const r of rows) console.log(JSON.stringify(r));
process.exit(0);
