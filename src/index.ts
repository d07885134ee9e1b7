/**
 * `vembed-web` as a library, for browser bundles (and any platform: nothing here imports Node).
 * Node programs import `vembed-web/node` (src/index-node.ts), which has all of this plus the
 * Node versions of loadModel / embed (folders, hub cache on disk, sharp) and train / evaluate.
 *
 *   const model = await loadModel('facebook/dinov2-small');     // hub id -> IndexedDB cache, or a FileSource
 *   const r = await embed(model, files);                         // Blob/File[] -> r.emb [r.kept.length, r.D]
 *   const { indices, scores } = await searchTopK(model.gpu, q, r.emb, Q, G, r.D, 10);
 *   model.destroy();
 *
 * The conveniences below are thin: each is the few calls the app and the CLI make themselves.
 * Everything else is a re-export of the modules that do the work (see docs/ARCHITECTURE.md).
 */
import { decodeImageBlob } from './data/decode-browser';
import { preprocessorFromConfig, type Preprocessor } from './data/preprocess';
import { embedImages, type EmbedImagesOptions, type EmbedImagesResult } from './eval/embed';
import { requestBrowserGpu } from './gpu/device-browser';
import type { Gpu } from './gpu/device';
import { IdbModelCache } from './hub/cache-browser';
import { ensureModel, type EnsureOptions } from './hub/download';
import { embeddingDim } from './model/embed';
import { loadCheckpoint, type FileSource, type LoadedCheckpoint } from './model/load';
import { Vit } from './model/vit';
import { autotune } from './ops/autotune';

/** A model on a GPU, ready to embed images: its ViT, its preprocessing and where it came from. */
export interface Model {
  readonly gpu: Gpu;
  readonly vit: Vit;
  readonly pp: Preprocessor;
  readonly checkpoint: LoadedCheckpoint;
  /** The folder, hub id or checkpoint it was loaded from (for messages). */
  readonly where: string;
  /** Embedding dimension (CLS pooling). */
  readonly dim: number;
  /** Frees the weights on the GPU, and the GPU itself when loadModel created it. */
  destroy(): void;
}

/** Embedding options: batchSize defaults to 8. */
export type EmbedOptions = Partial<EmbedImagesOptions>;

/** A Model from a loaded checkpoint. `ownGpu`: destroy() also destroys `gpu`. */
export function modelFromCheckpoint(gpu: Gpu, checkpoint: LoadedCheckpoint, where: string, ownGpu = false): Model {
  if (!checkpoint.preprocessor)
    throw new Error(`${where}: no preprocessor_config.json; cannot know how to resize images`);
  const pp = preprocessorFromConfig(
    checkpoint.preprocessor,
    checkpoint.spec.family,
    `${where}/preprocessor_config.json`,
  );
  const vit = new Vit(gpu, checkpoint.spec, checkpoint.weights);
  return {
    gpu,
    vit,
    pp,
    checkpoint,
    where,
    dim: embeddingDim(vit, 'cls'),
    destroy() {
      vit.destroy();
      if (ownGpu) gpu.destroy();
    },
  };
}

/** A GPU as the CLI and the app get one: the adapter's device, matmul kernels tuned on it. */
export async function tunedGpu(request: () => Promise<Gpu>): Promise<Gpu> {
  const gpu = await request();
  await autotune(gpu);
  return gpu;
}

/**
 * Browser: a hub id (downloaded with resume into IndexedDB, then read from there) or any
 * FileSource (e.g. over a folder the user picked). `gpu`: use this one (not destroyed by
 * model.destroy()); default navigator.gpu.
 */
export async function loadModel(model: string | FileSource, opts: EnsureOptions & { gpu?: Gpu } = {}): Promise<Model> {
  const src = typeof model === 'string' ? await ensureModel(model, new IdbModelCache(), opts) : model;
  const ck = await loadCheckpoint(src);
  const gpu = opts.gpu ?? (await tunedGpu(requestBrowserGpu));
  try {
    return modelFromCheckpoint(gpu, ck, src.where, !opts.gpu);
  } catch (e) {
    if (!opts.gpu) gpu.destroy();
    throw e;
  }
}

/**
 * Browser: embeds images (Blobs or Files) into L2-normalized rows. Unreadable images are skipped
 * and listed (`skipped`, named `<file name> (#<index>)`); `kept` holds the index of each row.
 */
export async function embed(
  model: Model,
  images: readonly Blob[],
  opts: EmbedOptions = {},
): Promise<EmbedImagesResult> {
  const names = images.map((b, i) => `${(b as File).name || 'image'} (#${i})`);
  const byName = new Map(names.map((n, i) => [n, images[i]]));
  return embedImages(model.vit, model.pp, names, (n) => decodeImageBlob(byName.get(n)!, n), { batchSize: 8, ...opts });
}

// The modules underneath, for what the conveniences do not cover.
export { Gpu } from './gpu/device';
export { requestBrowserGpu, NoWebGpuError } from './gpu/device-browser';
export { loadCheckpoint, ModelLoadError, type FileSource, type LoadedCheckpoint } from './model/load';
export { parseModelConfig, type VitSpec } from './model/config';
export { Vit } from './model/vit';
export { loadAdapter, mergeAdapter } from './model/lora';
export { embedBatch, embeddingDim, type Pooling } from './model/embed';
export { ensureModel, HubError, type EnsureOptions } from './hub/download';
export { IdbModelCache } from './hub/cache-browser';
export { HUB_PRESETS, KNOWN_MODEL_IDS } from './hub/known-models';
export { preprocess, preprocessorFromConfig, type Preprocessor } from './data/preprocess';
export type { RgbImage } from './data/image';
export { decodeImageBlob, decodeImageBytes as decodeImageBytesBrowser } from './data/decode-browser';
export { loadPairDataset, type PairDataset } from './data/datasets';
export { directorySource, fileListSource } from './platform/data-source-browser';
export type { DataSource } from './platform/data-source';
export { embedImages, type EmbedImagesOptions, type EmbedImagesResult } from './eval/embed';
export { searchTopK, ResidentGallery, type SearchOpts, type SearchResult } from './eval/search';
export { recallAtK, bruteForceTopK, type RecallResult } from './eval/recall';
export { labelRecallAtK, validateJsonl, validationSet } from './eval/jsonl';
export {
  ConfigError,
  defaultTrainConfig,
  parseTrainConfigYaml,
  toYaml,
  validateTrainConfig,
  type TrainConfig,
} from './config';
export { Trainer, type TrainEvent, type TrainResults, type PairData } from './train/trainer';
export type { CheckpointStore } from './train/checkpoint';
export { opfsStore } from './platform/checkpoint-store-browser';
export { SafetensorsFile, writeSafetensors } from './io/safetensors';
