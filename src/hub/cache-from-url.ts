/**
 * A small model served over HTTP (a static folder with files.json, src/platform/data-source-http.ts)
 * copied into a model cache, so that it, like a downloaded model, works offline after the first
 * load: the app's bundled demo model (public/demo/model) goes into IndexedDB this way.
 */
import { fetchBytes, fetchIndex } from '../platform/data-source-http';
import type { FileSource } from '../platform/file-source';
import type { ModelCache, ModelManifest } from '../platform/model-cache';

/** The files of a model served this way. */
const MODEL_FILES = ['config.json', 'preprocessor_config.json', 'model.safetensors'];

/**
 * Model `id` from the cache, copying it there first (when missing or incomplete) from `base`
 * (a URL ending in '/', whose files.json lists the files; the app's demo model: …/demo/model/).
 */
export async function cachedFromUrl(cache: ModelCache, id: string, base: string): Promise<FileSource> {
  const m = await cache.readManifest(id);
  if (m?.complete) {
    const sizes = await Promise.all(m.files.map((f) => cache.completeSize(id, f.name)));
    if (sizes.every((s) => s !== null)) return cache.source(id);
  }
  const index = await fetchIndex(base);
  const files = index.files.filter((f) => MODEL_FILES.includes(f.path));
  const manifest: ModelManifest = {
    id,
    revision: 'main',
    endpoint: base.replace(/\/$/, ''),
    files: files.map((f) => ({ name: f.path, size: f.size, sha256: null })),
    missing: [],
    complete: false,
  };
  await cache.writeManifest(manifest);
  for (const f of files) {
    const bytes = await fetchBytes(base, f.path);
    if (bytes.length !== f.size) throw new Error(`${base}${f.path}: ${bytes.length} bytes, files.json says ${f.size}`);
    const w = await cache.openPartial(id, f.path, 0);
    await w.write(bytes);
    await w.close();
    await cache.commit(id, f.path);
  }
  manifest.complete = true;
  await cache.writeManifest(manifest);
  return cache.source(id);
}
