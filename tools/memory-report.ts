/**
 * Peak GPU memory and dispatches of one training step (tools/step-report.ts), without running it.
 *
 *   npx vite-node tools/memory-report.ts [-- --model b16|s16 --batch 128 --chunk 8 --lora 1 --path gpu --fp16 0]
 * --path gpu (default): the kernel variants a GPU adapter gets, so the counts are those of a real
 * GPU even here; --path adapter: whatever this adapter picks (on SwiftShader: the software ones).
 */
import { parseArgs } from 'node:util';
import { requestNodeGpu } from '../src/gpu/device-node';
import { stepReport } from './step-report';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    model: { type: 'string', default: 'b16' },
    batch: { type: 'string', default: '128' },
    chunk: { type: 'string', default: '8' },
    lora: { type: 'string', default: '1' },
    path: { type: 'string', default: 'gpu' },
    fp16: { type: 'string', default: '0' },
  },
});
const gpu = await requestNodeGpu();
const r = stepReport(gpu, {
  model: values.model as 's16' | 'b16',
  batch: Number(values.batch),
  chunk: values.chunk === 'none' ? Infinity : Number(values.chunk),
  lora: values.lora === '1',
  path: values.path as 'gpu' | 'adapter',
  fp16: values.fp16 === '1',
});
const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
console.log(`${r.describe}:`);
console.log(
  `  weights ${MiB(r.weightBytes)}, trainable params + grads + AdamW moments ${MiB(r.paramBytes)}, activations and scratch ${MiB(r.peakBytes - r.weightBytes - r.paramBytes)}`,
);
console.log(`  peak GPU memory ${MiB(r.peakBytes)}`);
console.log(
  `  dispatches per step (${values.path === 'gpu' ? "a GPU adapter's kernel variants" : "this adapter's variants"}) ${r.dispatches}: ${r.perOp.map(([op, n]) => `${op} ${n}`).join(', ')}`,
);
process.exit(0);
