/**
 * vembed forward --model <dir> --input <in.safetensors> --output <out.safetensors> [--adapter <dir>]
 * Every tensor X of shape [B,3,H,W] in the input (normalized pixels) gives X.last_hidden_state
 * [B,T,C] and X.pooler_output [B,C] in the output. A debugging and parity tool.
 */
import { readFile } from 'node:fs/promises';
import { nonFiniteText } from '../util/finite';
import { checkOutputFile, writeFileAtomic } from '../util/output-node';
import { commandGpu } from './gpu';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../io/safetensors';
import { loadCheckpoint } from '../model/load';
import { loadAdapter, mergeAdapter } from '../model/lora';
import { dirSource } from '../platform/file-source-node';
import { resolveModel } from './model-arg';
import { Vit } from '../model/vit';
import { parseOptions } from './args';
import { resolveCheckpointPath } from './checkpoint-path';

export async function forwardCommand(args: string[]): Promise<void> {
  const o = parseOptions(
    'forward',
    args,
    {
      model: { type: 'string', help: 'model folder (config.json + model.safetensors) or hub id', required: true },
      hf_token: { type: 'string', help: 'Hugging Face access token for gated models (or $HF_TOKEN)' },
      input: { type: 'string', help: 'safetensors file of pixel tensors [B,3,H,W]', required: true },
      output: { type: 'string', help: 'safetensors file to write', required: true },
      adapter: { type: 'string', help: 'PEFT LoRA adapter folder, merged into the weights' },
    },
    '--model <dir> --input <in.safetensors> --output <out.safetensors> [--adapter <dir>]',
  );
  if (!o) return;
  const v = o.values as Record<string, string | undefined>;
  await checkOutputFile(v.output!, '--output');
  const input = SafetensorsFile.parse(await readFile(v.input!), v.input);
  const jobs: { name: string; shape: number[] }[] = [];
  for (const t of input.tensors.values()) {
    if (t.shape.length !== 4 || t.shape[1] !== 3) {
      throw new Error(
        `${v.input}: tensor "${t.name}" has shape [${t.shape.join(', ')}]; expected [B, 3, H, W] pixel values`,
      );
    }
    const bad = nonFiniteText(input.f32(t.name));
    if (bad) throw new Error(`${v.input}: tensor "${t.name}" has ${bad}; pixel values must be finite`);
    jobs.push({ name: t.name, shape: t.shape });
  }
  if (jobs.length === 0) throw new Error(`${v.input}: no tensors`);
  const ck = await loadCheckpoint(await resolveModel(v.model!, v.hf_token));
  if (v.adapter)
    mergeAdapter(
      ck.spec,
      ck.weights,
      await loadAdapter(dirSource(await resolveCheckpointPath(v.adapter, (l) => process.stderr.write(`${l}\n`)))),
    );
  const gpu = await commandGpu();
  const vit = new Vit(gpu, ck.spec, ck.weights);
  const out: TensorToWrite[] = [];
  for (const j of jobs) {
    const [B, , H, W] = j.shape;
    const px = gpu.upload(input.f32(j.name));
    const r = vit.forward(px, B, H, W);
    const C = ck.spec.hidden;
    out.push({
      name: `${j.name}.last_hidden_state`,
      shape: [B, r.grid.T, C],
      data: await gpu.read(r.hidden, B * r.grid.T * C),
    });
    out.push({ name: `${j.name}.pooler_output`, shape: [B, C], data: await gpu.read(r.pooled, B * C) });
    px.destroy();
    process.stderr.write(`${j.name}: [${j.shape.join(', ')}] -> T=${r.grid.T}\n`);
  }
  await writeFileAtomic(v.output!, writeSafetensors(out, { format: 'pt' }));
  vit.destroy();
  gpu.destroy();
}
