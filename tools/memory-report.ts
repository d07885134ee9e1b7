/**
 * Peak GPU memory of one training step, measured by allocating exactly what the trainer allocates
 * (Gpu.memory counts every storage buffer) with dispatches switched off (gpu.dryRun), so a
 * ViT-B/16 step at batch 128 can be sized on a machine without a GPU. Also prints the dispatches
 * the step records (gpu.dispatchCount, per op).
 *
 *   npx vite-node tools/memory-report.ts [-- --model b16|s16 --batch 128 --chunk 8 --lora 1 --path gpu]
 * --path gpu (default): the kernel variants a GPU adapter gets (fused 'flash' attention,
 * workgroup-per-row LayerNorm, tiled matmul), so the counts are those of a real GPU even here;
 * --path adapter: whatever this adapter picks (on SwiftShader: the software variants).
 */
import { parseArgs } from 'node:util';
import { requestNodeGpu } from '../src/gpu/node';
import { parseModelConfig } from '../src/model/config';
import { Vit } from '../src/model/vit';
import { expectedTensors } from '../src/model/weights';
import { AdamW, trainableParams } from '../src/train/optimizer';
import { TrainStep } from '../src/train/step';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    model: { type: 'string', default: 'b16' }, batch: { type: 'string', default: '128' }, chunk: { type: 'string', default: '8' },
    lora: { type: 'string', default: '1' }, path: { type: 'string', default: 'gpu' },
  },
});
const CONFIGS: Record<string, object> = {
  s16: { model_type: 'dinov3_vit', hidden_size: 384, intermediate_size: 1536, num_attention_heads: 6, num_hidden_layers: 12, num_register_tokens: 4 },
  b16: { model_type: 'dinov3_vit', hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12, num_register_tokens: 4 },
};
const spec = parseModelConfig(CONFIGS[values.model!]);
const B = Number(values.batch), chunk = values.chunk === 'none' ? Infinity : Number(values.chunk), lora = values.lora === '1';
const gpu = await requestNodeGpu();
gpu.dryRun = true;
if (values.path === 'gpu') {
  for (const [k, v] of Object.entries({ attention: 'flash', layernorm: 'wg', softmax: 'wg', matmul: 'tiled_128x64' })) gpu.variants.set(k, v);
}
const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const weights = new Map(expectedTensors(spec).filter((t) => !t.optional).map((t) => [t.role, new Float32Array(t.shape.reduce((a, d) => a * d, 1))]));
const vit = new Vit(gpu, spec, weights);
const wBytes = gpu.memory.live;
if (lora) {
  for (let l = 0; l < spec.layers; l++) for (const role of ['q', 'v'] as const) vit.addLora(l, role, 16, 2, 0.05, new Float32Array(16 * spec.hidden), new Float32Array(16 * spec.hidden), true);
} else vit.enableFullGrads();
const opt = new AdamW(gpu, trainableParams(vit), { weightDecay: 0.01, maxGradNorm: 1 });
const paramBytes = gpu.memory.live - wBytes;
const step = new TrainStep(vit, { type: 'infonce', temperature: 0.05, bidirectional: false, tripletMargin: 0.5, cosentScale: 20 }, chunk);
const px = new Float32Array(B * 3 * 224 * 224);
gpu.resetPeak();
gpu.dispatchCount = 0;
gpu.dispatchCounts.clear();
step.run({ query: px, positive: px, labels: null, B, H: 224, W: 224 }, 1);
opt.update(1e-4);
console.log(`ViT-${values.model!.toUpperCase()} ${lora ? 'LoRA r16 (q,v)' : 'full fine-tuning'} step, batch ${B}, 224x224, ${Number.isFinite(chunk) ? `gradient cache chunk ${chunk}` : 'no gradient cache'}:`);
console.log(`  weights ${MiB(wBytes)}, trainable params + grads + AdamW moments ${MiB(paramBytes)}, activations and scratch ${MiB(gpu.memory.peak - wBytes - paramBytes)}`);
console.log(`  peak GPU memory ${MiB(gpu.memory.peak)}`);
const perOp = [...gpu.dispatchCounts].sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op} ${n}`);
console.log(`  dispatches per step (${values.path === 'gpu' ? "a GPU adapter's kernel variants" : 'this adapter\'s variants'}) ${gpu.dispatchCount}: ${perOp.join(', ')}`);
process.exit(0);
