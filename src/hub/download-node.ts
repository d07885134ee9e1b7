/**
 * Node defaults for hub downloads: the endpoint from $HF_ENDPOINT, the token from $HF_TOKEN
 * (or $HUGGING_FACE_HUB_TOKEN) unless one is given (the CLI's --hf_token), and the cache in
 * $VEMBED_CACHE or ~/.cache/vembed/models (src/hub/cache-node.ts).
 */
import type { FileSource } from '../platform/file-source';
import { NodeModelCache } from './cache-node';
import { ensureModel, type EnsureOptions } from './download';
import { DEFAULT_ENDPOINT } from './hub-protocol';

export function hubEnv(env: NodeJS.ProcessEnv = process.env): { endpoint: string; token: string | null } {
  return {
    endpoint: env.HF_ENDPOINT || DEFAULT_ENDPOINT,
    token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || null,
  };
}

/** `ensureModel` with the Node defaults; options given win over the environment. */
export function ensureModelNode(id: string, opts: EnsureOptions & { cacheDir?: string } = {}): Promise<FileSource> {
  const env = hubEnv();
  return ensureModel(id, new NodeModelCache(opts.cacheDir), {
    ...opts,
    endpoint: opts.endpoint ?? env.endpoint,
    token: opts.token ?? env.token,
  });
}
