/**
 * vembed merge --model <base dir | hub id> --adapter <PEFT adapter dir> --output <dir> [--overwrite_output_dir]
 * Writes a merged checkpoint (W + s * B A under the original Hugging Face names, as PEFT's
 * merge_and_unload + save_pretrained): config.json, preprocessor_config.json, model.safetensors.
 * It loads as a plain model, in this tool and in transformers.
 *
 * The output folder is checked before anything is loaded: it may be missing, empty, or an earlier
 * merge (only the files above), which is replaced as a whole (the new folder is written beside it
 * and swapped in). Anything else, a training run's output for instance, is refused; with
 * --overwrite_output_dir the three files are written into it (each replaced atomically) and its
 * other files are left alone. Nothing is ever deleted but an earlier merge's own files.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCheckpoint } from '../model/load';
import { loadAdapter, mergeAdapter } from '../model/lora';
import { dirSource } from '../platform/file-source-node';
import { mergedModelFiles } from '../run/export';
import { checkOutputFolder, OutputError, writeFileAtomic, writeFolderAtomic } from '../util/output-node';
import { parseOptions } from './args';
import { resolveCheckpointPath } from './checkpoint-path';
import { resolveModel } from './model-arg';

/** What a merge writes: a folder holding only these (or nothing) is a merge output. */
export const MERGE_FILES = ['config.json', 'model.safetensors', 'preprocessor_config.json'];

/** 'new' (missing or empty), 'merge' (an earlier merge), or the visible entries of another folder. */
async function outputKind(out: string): Promise<'new' | 'merge' | string[]> {
  const names = (await readdir(out).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
  if (names.length === 0) return 'new';
  return names.every((n) => MERGE_FILES.includes(n)) ? 'merge' : names.sort();
}

export async function mergeCommand(args: string[]): Promise<void> {
  const o = parseOptions(
    'merge',
    args,
    {
      model: { type: 'string', help: 'base model folder or hub id', required: true },
      adapter: {
        type: 'string',
        help: 'PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors or .bin; checkpoint-<N> accepted)',
        required: true,
      },
      output: {
        type: 'string',
        help: 'folder to write the merged model into (missing, empty or an earlier merge)',
        required: true,
      },
      overwrite_output_dir: { type: 'boolean', help: 'write into a folder holding other files (they are kept)' },
      hf_token: { type: 'string', help: 'Hugging Face access token for gated models (or $HF_TOKEN)' },
    },
    '--model <dir|hub id> --adapter <dir> --output <dir> [--overwrite_output_dir]',
  );
  if (!o) return;
  const v = o.values as Record<string, string | undefined>;
  const out = v.output!;
  await checkOutputFolder(out, '--output');
  const kind = await outputKind(out);
  if (Array.isArray(kind) && !o.values.overwrite_output_dir) {
    throw new OutputError(
      `--output ${out}: the folder holds other files (${kind.slice(0, 6).join(', ')}${kind.length > 6 ? ', ...' : ''}), not an earlier merge; ` +
        'nothing was written. Choose a new folder, or add --overwrite_output_dir to write the merged model into it (its other files are kept)',
    );
  }

  const ck = await loadCheckpoint(await resolveModel(v.model!, v.hf_token));
  const adapter = await loadAdapter(
    dirSource(await resolveCheckpointPath(v.adapter!, (l) => process.stderr.write(`${l}\n`))),
  );
  mergeAdapter(ck.spec, ck.weights, adapter);
  const files = mergedModelFiles(ck);
  if (Array.isArray(kind)) {
    for (const [name, data] of files) await writeFileAtomic(join(out, name), data);
  } else {
    // A new folder, or an earlier merge replaced as a whole (the store's atomic folder swap).
    await writeFolderAtomic(out, files, undefined, 'merged model');
  }
  process.stderr.write(`merged ${adapter.modules.length} LoRA modules into ${out}\n`);
}
