/**
 * Models for the app (in the engine worker): from the hub into the IndexedDB cache (progress,
 * cancel, resume: src/hub/download.ts), from a local folder (config.json + model.safetensors),
 * or the bundled demo (public/demo/model), which is copied into the same cache so that it, like
 * a downloaded model, works offline after the first load. (A run's fine-tuned model:
 * src/run/model.ts.)
 */
import { outputSize, preprocessorFromConfig } from '../data/preprocess';
import type { ModelCache, ModelManifest } from '../hub/cache';
import type { FileSource, LoadedCheckpoint } from '../model/load';
import { DEMO_MODEL_ID } from '../run/presets';
import type { ModelInfo } from './protocol';
import { fetchBytes, fetchIndex } from './url-source';

const DEMO_FILES = ['config.json', 'preprocessor_config.json', 'model.safetensors'];

/** The demo model from the cache, copying it there from `base` (…/demo/model/) first if needed. */
export async function demoModelSource(cache: ModelCache, base: string): Promise<FileSource> {
  const id = DEMO_MODEL_ID;
  const m = await cache.readManifest(id);
  if (m?.complete) {
    const sizes = await Promise.all(m.files.map((f) => cache.completeSize(id, f.name)));
    if (sizes.every((s) => s !== null)) return cache.source(id);
  }
  const index = await fetchIndex(base);
  const files = index.files.filter((f) => DEMO_FILES.includes(f.path));
  const manifest: ModelManifest = {
    id, revision: 'main', endpoint: base.replace(/\/$/, ''),
    files: files.map((f) => ({ name: f.path, size: f.size, sha256: null })), missing: [], complete: false,
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

export function describeModel(name: string, kind: ModelInfo['kind'], ck: LoadedCheckpoint): ModelInfo {
  const s = ck.spec;
  let params = 0;
  for (const w of ck.weights.values()) params += w.length;
  let inputSize = `${s.imageSize}x${s.imageSize}`;
  if (ck.preprocessor) {
    try {
      const o = outputSize(preprocessorFromConfig(ck.preprocessor, s.family), 640, 480);
      inputSize = `${o.height}x${o.width}`;
    } catch {
      // the trainer reports a bad preprocessor_config.json when it matters
    }
  }
  return { name, kind, family: s.family, hidden: s.hidden, layers: s.layers, heads: s.heads, patch: s.patch, inputSize, params, bytes: params * 4 };
}
