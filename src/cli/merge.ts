/**
 * vembed merge --model <base dir | hub id> --adapter <PEFT adapter dir> --output <dir>
 * Writes a merged checkpoint (W + s * B A under the original Hugging Face names, as PEFT's
 * merge_and_unload + save_pretrained): config.json, preprocessor_config.json, model.safetensors.
 * It loads as a plain model, in this tool and in transformers.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { writeSafetensors } from '../io/safetensors';
import { loadCheckpoint } from '../model/load';
import { loadAdapter, mergeAdapter } from '../model/lora';
import { dirSource } from '../model/node-source';
import { weightsToTensors } from '../model/weights';
import { parseOptions } from './args';
import { resolveCheckpointPath } from './checkpoint-path';
import { resolveModel } from './model-arg';

export async function mergeCommand(args: string[]): Promise<void> {
  const o = parseOptions('merge', args, {
    model: { type: 'string', help: 'base model folder or hub id', required: true },
    adapter: { type: 'string', help: 'PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors or .bin; checkpoint-<N> accepted)', required: true },
    output: { type: 'string', help: 'folder to write the merged model into', required: true },
    hf_token: { type: 'string', help: 'Hugging Face access token for gated models (or $HF_TOKEN)' },
  }, '--model <dir|hub id> --adapter <dir> --output <dir>');
  if (!o) return;
  const v = o.values as Record<string, string | undefined>;
  const ck = await loadCheckpoint(await resolveModel(v.model!, v.hf_token));
  const adapter = await loadAdapter(dirSource(await resolveCheckpointPath(v.adapter!, (l) => process.stderr.write(`${l}\n`))));
  mergeAdapter(ck.spec, ck.weights, adapter);
  const out = v.output!;
  const tmp = `${out}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const json = (x: unknown) => JSON.stringify(x, null, 2);
  await writeFile(`${tmp}/config.json`, json(ck.config));
  if (ck.preprocessor) await writeFile(`${tmp}/preprocessor_config.json`, json(ck.preprocessor));
  await writeFile(`${tmp}/model.safetensors`, writeSafetensors(weightsToTensors(ck.spec, ck.weights), { format: 'pt' }));
  await rm(out, { recursive: true, force: true });
  await rename(tmp, out);
  process.stderr.write(`merged ${adapter.modules.length} LoRA modules into ${out}\n`);
}
