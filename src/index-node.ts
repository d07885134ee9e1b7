/**
 * `vembed-web/node`: the library in Node (Dawn through npm `webgpu`, sharp, the file system).
 * Everything of `vembed-web` (src/index.ts), with loadModel / embed in their Node versions, and
 * train / evaluate / runCli as the `vembed` command runs them:
 *
 *   import { loadModel, embed, train, evaluate, searchTopK } from 'vembed-web/node';
 *   const model = await loadModel('facebook/dinov2-small');     // hub id, model folder or checkpoint
 *   const r = await embed(model, ['a.jpg', 'photos/']);         // r.emb [r.kept.length, r.D]
 *   const metrics = await evaluate(model, 'data/val.jsonl');     // {'recall@1': ..., ...}
 *   model.destroy();
 *   await train({ model_name: '...', data_path: 'train.jsonl', output_dir: 'out', epochs: 1 });
 *
 * Thin: each function is the calls the `vembed` command makes (src/cli/), without its flags.
 */
import { validateTrainConfig } from './config';
import { loadPairDataset } from './data/datasets';
import { decodeImageBytes, decodeImageFile } from './data/decode-node';
import { nodeSource } from './platform/data-source-node';
import { type EmbedImagesResult, embedImages } from './eval/embed';
import { validateJsonl, type ValidateOptions } from './eval/jsonl';
import type { Gpu } from './gpu/device';
import { requestNodeGpu } from './gpu/device-node';
import { type EmbedOptions, type Model, modelFromCheckpoint, tunedGpu } from './index';
import { listImages } from './cli/embed';
import { loadEvalModel } from './cli/eval-model';
import { trainFromConfig } from './cli/train';

export * from './index';

/**
 * Node: a model folder (config.json + weights), a Hugging Face hub id (downloaded once into
 * $VEMBED_CACHE or ~/.cache/vembed/models; $HF_TOKEN or `token` for gated repos), or a training
 * checkpoint with a PEFT adapter (merged into its base). `gpu`: use this one (not destroyed by
 * model.destroy()); default Dawn's best adapter, else SwiftShader. `log` gets the adapter line
 * and download notes (default: quiet).
 */
export async function loadModel(
  model: string,
  opts: { gpu?: Gpu; token?: string; log?: (line: string) => void } = {},
): Promise<Model> {
  const log = opts.log ?? (() => {});
  const { ck } = await loadEvalModel(model, undefined, opts.token, log);
  const gpu = opts.gpu ?? (await tunedGpu(() => requestNodeGpu({ log })));
  try {
    return modelFromCheckpoint(gpu, ck, model, !opts.gpu);
  } catch (e) {
    if (!opts.gpu) gpu.destroy();
    throw e;
  }
}

/**
 * Node: embeds image files (folders: their images, recursively, sorted) into L2-normalized rows.
 * `paths` are the images listed; `kept` holds the index into `paths` of each row; unreadable
 * images are skipped and listed, never embedded.
 */
export async function embed(
  model: Model,
  images: readonly string[],
  opts: EmbedOptions = {},
): Promise<EmbedImagesResult & { paths: string[] }> {
  const paths = await listImages([...images]);
  return { ...(await embedImages(model.vit, model.pp, paths, decodeImageFile, { batchSize: 8, ...opts })), paths };
}

/**
 * Node: trains as `vembed train` does, from a config object with vembed-factory's keys
 * (validated as the YAML is; `overrides` as --config_override key=value). Progress goes to
 * stderr; checkpoints and train_results.json to output_dir. Returns train_results.json's content.
 */
export async function train(config: Record<string, unknown>, opts: { overrides?: string[]; token?: string } = {}) {
  const parsed = validateTrainConfig(config, 'config', opts.overrides ?? []);
  for (const n of parsed.notes) process.stderr.write(`note: ${n}\n`);
  return trainFromConfig(parsed.config, { token: opts.token });
}

/**
 * Node: Recall@K of `model` on a dataset (a .jsonl of {query_image, positive, label}, an SOP
 * folder or one folder per class; relative to the current folder), as the trainer's validation:
 * queries against the gallery of positives, by label. Returns {'recall@1': ..., num_queries, ...}.
 */
export async function evaluate(
  model: Model,
  dataPath: string,
  opts: ValidateOptions & { imageRoot?: string } = {},
): Promise<Record<string, number>> {
  const src = nodeSource(process.cwd());
  const ds = await loadPairDataset(src, { dataPath, imageRoot: opts.imageRoot });
  return validateJsonl(model.vit, model.pp, ds.records, async (p) => decodeImageBytes(await src.readBytes(p), p), opts);
}

// Node adapters and the command line.
export { runCli } from './cli/commands';
export { requestNodeGpu, type NodeGpuOptions } from './gpu/device-node';
export { dirSource } from './platform/file-source-node';
export { ensureModelNode } from './hub/download-node';
export { NodeModelCache, defaultCacheRoot } from './hub/cache-node';
export { nodeSource } from './platform/data-source-node';
export { decodeImageBytes, decodeImageFile, ImageDecodeError } from './data/decode-node';
export { nodeStore } from './platform/checkpoint-store-node';
export { readTrainConfigFile } from './config/file-node';
export { listImages } from './cli/embed';
export { trainFromConfig } from './cli/train';
