/**
 * Downloading a model from the Hugging Face hub (or a mirror with the same URL layout) into a
 * `ModelCache` (src/platform/model-cache.ts). Browser and Node 20 alike: only global `fetch`, streams,
 * AbortSignal and crypto.subtle (through the cache), no Node-only API.
 *
 *   hubUrl(endpoint, id, file, revision)  `${endpoint}/${id}/resolve/${revision}/${file}`
 *   downloadFile(cache, id, file, url)    one file: streamed, resumable, size- and sha256-checked
 *   ensureModel(id, cache, opts)          config.json, preprocessor_config.json (optional),
 *                                         model.safetensors, or, if that is 404,
 *                                         model.safetensors.index.json and every shard it lists,
 *                                         else pytorch_model.bin or pytorch_model.bin.index.json
 *                                         and its shards; returns a FileSource for loadCheckpoint.
 *                                         An id that is not on the hub (401 without a token, 404)
 *                                         and is close to a known one gets a did-you-mean
 *
 * Resume: the cache keeps the bytes received so far (`<file>.part` in Node, committed chunks in
 * IndexedDB). A new attempt sends `Range: bytes=N-` and appends on 206 (whose Content-Range must
 * start at N), or starts over on 200 (a server that ignores Range); 416 with a total equal to N
 * means the part is already whole. Network errors mid-transfer (and a transfer that stalls for
 * `stallTimeoutMs`) are retried `retries` times with exponential backoff, each retry resuming
 * from what was stored; an attempt that received bytes resets the count. 429 and 5xx answers are
 * retried the same way.
 *
 * Checks: the sizes a response announces (Content-Length of a 200 without Content-Encoding,
 * the Content-Range total of a 206, X-Linked-Size) must agree with each other and with those of
 * earlier attempts (kept in the manifest across calls), and the stored file must have exactly
 * that size. When the response carries an LFS sha256 (X-Linked-Etag, else ETag, when it is 64
 * hex digits; git blob ids of small files are 40 and are ignored) the finished file is hashed by
 * the cache: Node streams it through node:crypto; IndexedDB uses crypto.subtle.digest, which needs
 * the whole file in one buffer, so it is done up to the cache's `maxDigestBytes` and above that the
 * check is size only. Note that huggingface.co answers LFS files with a redirect to its CDN and
 * `fetch` follows it: the X-Linked-* headers are on the redirect, which fetch does not show, so
 * against the real hub the check is usually the CDN's Content-Length only. A refused file is
 * dropped (partial included) and the error names the file.
 *
 * Auth: `Authorization: Bearer <token>` when a token is given. 401/403 give a message saying the
 * repository is gated or private (DINOv3 repositories are gated) and what to do; 404 names the
 * repository and the file.
 */
import type { FileSource } from '../platform/file-source';
import { plainRelativePath } from '../util/paths';
import type { ManifestFile, ModelCache, ModelManifest } from '../platform/model-cache';
import { suggestModelId } from './known-models';
import { VembedError } from '../util/errors';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export type HubErrorKind = 'invalid-id' | 'auth' | 'not-found' | 'http' | 'network' | 'size' | 'checksum' | 'format';

export class HubError extends VembedError {
  override name = 'HubError';
  constructor(
    message: string,
    readonly kind: HubErrorKind,
    readonly info: { status?: number; url?: string; file?: string } = {},
  ) {
    super(message);
  }
}

/** One name of an `owner/name` id: the hub's characters, no leading/trailing `-`/`.`, no `--`/`..`. */
const ID_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** Throws a HubError unless `id` is a valid `owner/name` hub id; returns it. */
export function validateRepoId(id: string): string {
  const parts = typeof id === 'string' ? id.split('/') : [];
  const ok =
    parts.length === 2 &&
    parts.every((p) => p.length <= 96 && ID_PART.test(p) && !p.includes('--') && !p.includes('..'));
  if (!ok) {
    throw new HubError(
      `invalid model id ${JSON.stringify(id)}: expected "owner/name" made of letters, digits, "-", "_" ` +
        'and "." (no "--" or "..", at most 96 characters each), e.g. facebook/dinov3-vits16-pretrain-lvd1689m',
      'invalid-id',
    );
  }
  return id;
}

/** Throws unless `file` is a plain relative path inside a repository (no `..`, no `\`). */
export function validateFileName(file: string, where: string): string {
  if (!plainRelativePath(file))
    throw new HubError(`${where}: invalid file name ${JSON.stringify(file)}`, 'format', { file });
  return file;
}

/** `${endpoint}/${repoId}/resolve/${revision}/${file}`, path segments URL-encoded. */
export function hubUrl(endpoint: string, repoId: string, file: string, revision = 'main'): string {
  validateRepoId(repoId);
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${repoId}/resolve/${encodeURIComponent(revision)}/${path}`;
}

/** The sha256 in an (X-Linked-)ETag, when it is one: 64 hex digits, strong, maybe quoted. */
export function lfsSha256(etag: string | null): string | null {
  const m = etag ? /^"?([0-9a-fA-F]{64})"?$/.exec(etag.trim()) : null;
  return m ? m[1].toLowerCase() : null;
}

/** `bytes a-b/total`, `bytes a-b/*` or `bytes * /total` (416). */
export function parseContentRange(v: string | null): { start: number | null; total: number | null } | null {
  const m = v ? /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i.exec(v.trim()) : null;
  if (!m) return null;
  return { start: m[1] !== undefined ? Number(m[1]) : null, total: m[2] === '*' ? null : Number(m[2]) };
}

export interface Progress {
  file: string;
  /** Bytes of the file stored so far (resumed bytes included). */
  bytes: number;
  /** File size when known. */
  total: number | null;
  /** Transfer rate of the current attempt. */
  bytesPerSec: number;
  /** Seconds left at that rate, when the total is known. */
  etaSec: number | null;
}

export interface DownloadOptions {
  /** Hub access token, sent as `Authorization: Bearer <token>`. */
  token?: string | null;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Retries after network errors, stalls, 429 and 5xx (default 4); progress resets the count. */
  retries?: number;
  /** First backoff delay, doubled per retry, at most 30 s (default 1000 ms). */
  retryDelayMs?: number;
  /** An attempt that receives nothing for this long is dropped and retried (default 60 s). */
  stallTimeoutMs?: number;
}

/** What the hub announced about a file: the manifest entry, updated in place. */
export type Expected = Pick<ManifestFile, 'size' | 'sha256'>;

export interface DownloadResult {
  file: string;
  size: number;
  /** Which check the file passed. */
  verified: 'sha256' | 'size' | 'none';
  /** Bytes transferred by this call. */
  received: number;
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

function inNode(): boolean {
  return !!(globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
}

function httpError(
  status: number,
  statusText: string,
  id: string,
  file: string,
  url: string,
  token: boolean,
): HubError {
  const info = { status, url, file };
  if (status === 401 || status === 403) {
    const how = inNode() ? ' (--hf_token or the HF_TOKEN environment variable)' : '';
    return new HubError(
      `${id}: access denied (HTTP ${status}) for ${file}. The repository is gated or private: accept ` +
        `the licence on the model page (https://huggingface.co/${id}) and provide an access token${how}. ` +
        (token
          ? 'A token was sent and refused: check that it has read access to this repository.'
          : 'The hub also answers 401 for a repository that does not exist: check the id.'),
      'auth',
      info,
    );
  }
  if (status === 404) {
    return new HubError(
      `${id}: ${file} not found (HTTP 404 at ${url}): check the model id, the revision and the file name`,
      'not-found',
      info,
    );
  }
  return new HubError(`${id}: ${file}: HTTP ${status}${statusText ? ` ${statusText}` : ''} from ${url}`, 'http', info);
}

/** A not-found (or, without a token, 401) error for an id close to a known one, with a did-you-mean. */
function withSuggestion(err: unknown, id: string): unknown {
  if (!(err instanceof HubError) || (err.kind !== 'not-found' && err.kind !== 'auth')) return err;
  const guess = suggestModelId(id);
  if (!guess) return err;
  return new HubError(`${err.message} Did you mean "${guess}"?`, err.kind, err.info);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The download was aborted', 'AbortError');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((ok, fail) => {
    if (signal?.aborted) return fail(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      fail(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      ok();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function errText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message;
}

/**
 * Downloads `file` of `repoId` from `url` into `cache`, resuming a partial download, and commits
 * it once complete and verified. `expected` (the manifest entry) carries what earlier attempts
 * learned; it is updated in place and `onExpected` is called when it changes (to persist it).
 */
export async function downloadFile(
  cache: ModelCache,
  repoId: string,
  file: string,
  url: string,
  opts: DownloadOptions & { expected?: Expected; onExpected?: (e: Expected) => Promise<void> | void } = {},
): Promise<DownloadResult> {
  const { token, signal, onProgress } = opts;
  const retries = opts.retries ?? 4;
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const stallTimeoutMs = opts.stallTimeoutMs ?? 60_000;
  const expected: Expected = opts.expected ?? { size: null, sha256: null };
  let sizeWhat = 'an earlier response';
  let received = 0;
  let failures = 0;

  const fail = async (e: HubError): Promise<never> => {
    await cache.discardPartial(repoId, file);
    throw e;
  };
  const sizeError = (msg: string) =>
    new HubError(`${repoId}: ${file}: ${msg}; the file was refused (${url})`, 'size', { url, file });
  /** Records a size the server announced; all announcements must agree. */
  const announce = async (size: number | null, what: string): Promise<void> => {
    if (size === null || !Number.isFinite(size)) return;
    if (expected.size === null) {
      expected.size = size;
      sizeWhat = what;
      await opts.onExpected?.(expected);
    } else if (expected.size !== size) {
      await fail(sizeError(`the server announced ${expected.size} bytes (${sizeWhat}) and ${size} bytes (${what})`));
    }
  };
  /** A failed attempt: wait and go again, or give up. */
  const retryOrThrow = async (why: string, stored: number): Promise<void> => {
    failures++;
    if (failures > retries) {
      throw new HubError(
        `${repoId}: ${file}: ${why} (${url}), ${retries} ${retries === 1 ? 'retry' : 'retries'} used up; ` +
          `${stored} bytes are kept and the next download resumes from there`,
        'network',
        { url, file },
      );
    }
    await sleep(Math.min(30_000, retryDelayMs * 2 ** (failures - 1)), signal);
  };

  for (;;) {
    if (signal?.aborted) throw abortReason(signal);
    const offset = await cache.partialSize(repoId, file);
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (offset > 0) headers.Range = `bytes=${offset}-`;

    // One attempt: its own controller, aborted by the caller's signal or by a stall.
    const attempt = new AbortController();
    const onAbort = () => attempt.abort(abortReason(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    let stalled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        attempt.abort(new Error(`no data for ${stallTimeoutMs} ms`));
      }, stallTimeoutMs);
    };
    const disarm = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };

    let res: Response;
    try {
      arm();
      res = await fetch(url, { headers, signal: attempt.signal, cache: 'no-store' });
    } catch (e) {
      disarm();
      if (signal?.aborted) throw abortReason(signal);
      await retryOrThrow(stalled ? `no answer for ${stallTimeoutMs} ms` : `network error: ${errText(e)}`, offset);
      continue;
    }

    if (res.status === 416 && offset > 0) {
      disarm();
      await res.body?.cancel().catch(() => {});
      const total = parseContentRange(res.headers.get('content-range'))?.total ?? null;
      if (total === offset) {
        await announce(total, 'Content-Range of a 416');
        return finish(offset);
      }
      // What is stored is longer than the file (or the server cannot say): start over.
      await cache.discardPartial(repoId, file);
      await retryOrThrow(`HTTP 416 for a resume at byte ${offset}`, 0);
      continue;
    }
    if (!res.ok) {
      disarm();
      await res.body?.cancel().catch(() => {});
      if (RETRY_STATUS.has(res.status) && failures < retries) {
        await retryOrThrow(`HTTP ${res.status}`, offset);
        continue;
      }
      throw httpError(res.status, res.statusText, repoId, file, url, !!token);
    }

    // Where the body starts, and what the response says about the whole file.
    let start = 0;
    let total: number | null = null;
    let totalWhat = 'Content-Length';
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (!cr || cr.start !== offset) {
        disarm();
        await res.body?.cancel().catch(() => {});
        await cache.discardPartial(repoId, file);
        await retryOrThrow(`a 206 answer for byte ${offset} with Content-Range ${res.headers.get('content-range')}`, 0);
        continue;
      }
      start = offset;
      total = cr.total;
      totalWhat = 'Content-Range';
    } else {
      const enc = res.headers.get('content-encoding');
      const cl = res.headers.get('content-length');
      if (cl !== null && (!enc || enc === 'identity')) total = Number(cl);
    }
    const sha = lfsSha256(res.headers.get('x-linked-etag')) ?? lfsSha256(res.headers.get('etag'));
    try {
      if (sha && sha !== expected.sha256) {
        // A different sha256 than before means the file changed on the hub: forget its old size,
        // and drop a part that belongs to the old file.
        const changed = expected.sha256 !== null;
        expected.sha256 = sha;
        if (changed) expected.size = null;
        await opts.onExpected?.(expected);
        if (changed && start > 0) {
          disarm();
          await res.body?.cancel().catch(() => {});
          await cache.discardPartial(repoId, file);
          continue;
        }
      }
      const linked = res.headers.get('x-linked-size');
      await announce(linked !== null ? Number(linked) : null, 'X-Linked-Size');
      await announce(total, totalWhat);
    } catch (e) {
      disarm();
      await res.body?.cancel().catch(() => {});
      throw e;
    }

    // Stream the body into the cache.
    const writer = await cache.openPartial(repoId, file, start);
    let bytes = start;
    let got = 0;
    const t0 = performance.now();
    const report = () => {
      const sec = Math.max(1e-3, (performance.now() - t0) / 1000);
      const bytesPerSec = got / sec;
      onProgress?.({
        file,
        bytes,
        total: expected.size,
        bytesPerSec,
        etaSec: expected.size !== null && bytesPerSec > 0 ? (expected.size - bytes) / bytesPerSec : null,
      });
    };
    report();
    let streamError: unknown = null;
    const reader = res.body?.getReader();
    try {
      if (reader) {
        for (;;) {
          arm();
          const { done, value } = await reader.read();
          if (done) break;
          if (expected.size !== null && bytes + value.length > expected.size) {
            throw sizeError(`received more than the ${expected.size} bytes announced (${sizeWhat})`);
          }
          await writer.write(value);
          bytes += value.length;
          got += value.length;
          received += value.length;
          report();
        }
      }
    } catch (e) {
      streamError = e;
      await reader?.cancel().catch(() => {});
    } finally {
      disarm();
    }
    const stored = await writer.close();
    if (streamError !== null) {
      if (signal?.aborted) throw abortReason(signal);
      if (streamError instanceof HubError) await fail(streamError);
      if (got > 0) failures = 0;
      await retryOrThrow(
        stalled ? `the transfer stalled (no data for ${stallTimeoutMs} ms)` : `network error: ${errText(streamError)}`,
        stored,
      );
      continue;
    }
    return finish(stored);
  }

  async function finish(stored: number): Promise<DownloadResult> {
    if (expected.size !== null && stored !== expected.size) {
      await fail(sizeError(`received ${stored} bytes but the server announced ${expected.size} (${sizeWhat})`));
    }
    let verified: DownloadResult['verified'] = expected.size !== null ? 'size' : 'none';
    if (expected.sha256) {
      const got = await cache.partialSha256(repoId, file);
      if (got !== null) {
        if (got !== expected.sha256) {
          await fail(
            new HubError(
              `${repoId}: ${file}: sha256 ${got} differs from the ${expected.sha256} announced by the server; ` +
                `the file was refused (${url})`,
              'checksum',
              { url, file },
            ),
          );
        }
        verified = 'sha256';
      }
    }
    await cache.commit(repoId, file);
    return { file, size: stored, verified, received };
  }
}

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

  /** Fetches one file unless complete; false when an optional file is not on the hub. */
  const get = async (file: string, optional: boolean): Promise<boolean> => {
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
      const r = await downloadFile(cache, id, file, hubUrl(endpoint, id, file, revision), {
        ...opts,
        expected: e,
        onExpected: save,
      });
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

  try {
    await get('config.json', false);
  } catch (err) {
    throw withSuggestion(err, id);
  }
  await get('preprocessor_config.json', true);
  // The weights, in transformers' order of preference: safetensors, then PyTorch's .bin (many
  // fine-tunes ship only pytorch_model.bin), each whole or sharded behind an index.
  let found = false;
  for (const [whole, index] of [
    ['model.safetensors', 'model.safetensors.index.json'],
    ['pytorch_model.bin', 'pytorch_model.bin.index.json'],
  ]) {
    if (await get(whole, true)) {
      found = true;
      break;
    }
    if (await get(index, true)) {
      for (const shard of await shardNames(id, cache, index)) await get(shard, false);
      found = true;
      break;
    }
  }
  if (!found) {
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
