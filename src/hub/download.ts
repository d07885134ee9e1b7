/**
 * Downloading a model from the Hugging Face hub (or a mirror with the same URL layout) into a
 * `ModelCache` (src/platform/model-cache.ts): the files a model needs, each fetched by
 * `downloadFile` (src/hub/download-file.ts: streamed, resumable, size- and sha256-checked) from
 * `hubUrl` (src/hub/hub-protocol.ts). Browser and Node alike; src/hub/download-node.ts adds the
 * Node defaults (HF_ENDPOINT, HF_TOKEN, the cache folder).
 *
 *   ensureModel(id, cache, opts)  config.json, preprocessor_config.json (optional),
 *                                 model.safetensors, or, if that is 404,
 *                                 model.safetensors.index.json and every shard it lists,
 *                                 else pytorch_model.bin or pytorch_model.bin.index.json
 *                                 and its shards; returns a FileSource for loadCheckpoint.
 *                                 An id that is not on the hub (401 without a token, 404)
 *                                 and is close to a known one gets a did-you-mean
 *
 * The cache's manifest records the files, what the hub announced about each (size, sha256: kept
 * across calls so a resumed download is checked against the first answer), the optional files
 * the hub does not have, and whether the model is complete; a complete model is served without
 * a request. `HubError` (every failure here) is re-exported for callers of ensureModel.
 */
import type { FileSource } from '../platform/file-source';
import type { ModelCache, ModelManifest } from '../platform/model-cache';
import { downloadFile, type DownloadOptions, type DownloadResult } from './download-file';
import { DEFAULT_ENDPOINT, HubError, hubUrl, validateFileName, validateRepoId } from './hub-protocol';
import { suggestModelId } from './known-models';

export { HubError } from './hub-protocol';

export interface EnsureOptions extends DownloadOptions {
  /** Hub endpoint (default https://huggingface.co; in Node, src/hub/download-node.ts reads HF_ENDPOINT). */
  endpoint?: string;
  /** Branch, tag or commit (default main). A cache holds one revision of a model. */
  revision?: string;
  /** Called for each file after it is complete (downloaded, or already in the cache). */
  onFile?: (e: { file: string; size: number; cached: boolean; verified: DownloadResult['verified'] | null }) => void;
}

/**
 * Makes sure `cache` holds model `id` (downloading only what is missing) and returns a FileSource
 * over it. With a complete manifest and every file present it makes no request at all.
 */
export async function ensureModel(id: string, cache: ModelCache, opts: EnsureOptions = {}): Promise<FileSource> {
  validateRepoId(id);
  const endpoint = (opts.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const revision = opts.revision ?? 'main';
  let old = await cache.readManifest(id);
  if (old && old.revision !== revision) {
    await cache.delete(id);
    old = null;
  }
  if (old?.complete) {
    const sizes = await Promise.all(old.files.map((f) => cache.completeSize(id, f.name)));
    if (sizes.every((s) => s !== null)) {
      old.files.forEach((f, i) => opts.onFile?.({ file: f.name, size: sizes[i], cached: true, verified: null }));
      return cache.source(id);
    }
  }
  const m: ModelManifest = old ?? { id, revision, endpoint, files: [], missing: [], complete: false };
  m.complete = false;
  m.endpoint = endpoint;
  const save = () => cache.writeManifest(m);
  const get = fileGetter(id, cache, m, (file) => hubUrl(endpoint, id, file, revision), opts);

  try {
    await get('config.json', false);
  } catch (err) {
    throw withSuggestion(err, id);
  }
  await get('preprocessor_config.json', true);
  if (!(await getWeights(get, id, cache))) {
    throw new HubError(
      `${id}: no weights at ${endpoint}/${id} (revision ${revision}): none of model.safetensors, ` +
        'model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json',
      'not-found',
    );
  }
  m.complete = true;
  await save();
  return cache.source(id);
}

/** Fetches one file unless complete; false when an optional file is not on the hub. */
type GetFile = (file: string, optional: boolean) => Promise<boolean>;

/** The GetFile of model `id`: downloads from `urlOf(file)`, keeping manifest `m` up to date. */
function fileGetter(
  id: string,
  cache: ModelCache,
  m: ModelManifest,
  urlOf: (file: string) => string,
  opts: EnsureOptions,
): GetFile {
  const save = () => cache.writeManifest(m);
  return async (file, optional) => {
    if (m.missing.includes(file)) return false;
    let entry = m.files.find((f) => f.name === file);
    if (!entry) {
      entry = { name: file, size: null, sha256: null };
      m.files.push(entry);
      await save();
    }
    const have = await cache.completeSize(id, file);
    if (have !== null) {
      opts.onFile?.({ file, size: have, cached: true, verified: null });
      return true;
    }
    const e = entry;
    try {
      const r = await downloadFile(cache, id, file, urlOf(file), { ...opts, expected: e, onExpected: save });
      opts.onFile?.({ file, size: r.size, cached: false, verified: r.verified });
      return true;
    } catch (err) {
      if (err instanceof HubError && err.kind === 'not-found' && optional) {
        m.files = m.files.filter((f) => f !== e);
        m.missing.push(file);
        await save();
        return false;
      }
      if (err instanceof HubError && (err.kind === 'size' || err.kind === 'checksum')) {
        // The part is gone; let the next call learn the sizes afresh.
        e.size = null;
        e.sha256 = null;
        await save();
      }
      throw err;
    }
  };
}

/**
 * The weights, in transformers' order of preference: safetensors, then PyTorch's .bin (many
 * fine-tunes ship only pytorch_model.bin), each whole or sharded behind an index. False when the
 * hub has none of them.
 */
async function getWeights(get: GetFile, id: string, cache: ModelCache): Promise<boolean> {
  for (const [whole, index] of [
    ['model.safetensors', 'model.safetensors.index.json'],
    ['pytorch_model.bin', 'pytorch_model.bin.index.json'],
  ]) {
    if (await get(whole, true)) return true;
    if (await get(index, true)) {
      for (const shard of await shardNames(id, cache, index)) await get(shard, false);
      return true;
    }
  }
  return false;
}

/** Shard file names listed by a cached model.safetensors.index.json (or pytorch_model.bin.index.json). */
async function shardNames(id: string, cache: ModelCache, index = 'model.safetensors.index.json'): Promise<string[]> {
  const where = `${id}/${index}`;
  let idx: { weight_map?: unknown };
  try {
    idx = JSON.parse(new TextDecoder().decode(await cache.source(id).bytes(index))) as { weight_map?: unknown };
  } catch (e) {
    throw new HubError(`${where}: not valid JSON (${(e as Error).message})`, 'format');
  }
  const map = idx?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) {
    throw new HubError(`${where}: no "weight_map" object`, 'format');
  }
  const names = [...new Set(Object.values(map as Record<string, unknown>))];
  if (!names.length) throw new HubError(`${where}: "weight_map" lists no shards`, 'format');
  return names.map((n) => validateFileName(String(n), where)).sort();
}

/** A not-found (or, without a token, 401) error for an id close to a known one, with a did-you-mean. */
function withSuggestion(err: unknown, id: string): unknown {
  if (!(err instanceof HubError) || (err.kind !== 'not-found' && err.kind !== 'auth')) return err;
  const guess = suggestModelId(id);
  if (!guess) return err;
  return new HubError(`${err.message} Did you mean "${guess}"?`, err.kind, err.info);
}
