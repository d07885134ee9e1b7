/**
 * What the Hugging Face hub (or a mirror with the same URL layout) looks like from the downloader:
 * repository ids and file names, the URL of a file, the response headers it reads, and `HubError`,
 * which every failure of src/hub throws. Browser and Node alike; no I/O here.
 *
 *   validateRepoId(id)                     `owner/name` in the hub's characters, else HubError 'invalid-id'
 *   validateFileName(file, where)          a plain relative path inside a repository, else HubError 'format'
 *   hubUrl(endpoint, id, file, revision)   `${endpoint}/${id}/resolve/${revision}/${file}`
 *   lfsSha256(etag)                        the sha256 of an LFS file from (X-Linked-)ETag, or null
 *   parseContentRange(header)              `bytes a-b/total`, `bytes a-b/*`, `bytes * /total`
 *   bodyRange(res, offset)                 where a 200/206 body starts in the file, and the size it states
 *   httpError(status, ...)                 the HubError for a refused request
 *
 * Auth: 401/403 give a message saying the repository is gated or private (DINOv3 repositories are
 * gated) and what to do; 404 names the repository and the file.
 */
import { plainRelativePath } from '../util/paths';
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

/**
 * Where the body of a 2xx answer starts in the file, and the file size the answer states: a 206
 * whose Content-Range starts at `offset` (null for any other start), else a 200 from byte 0 with
 * its Content-Length (unless the body is encoded).
 */
export function bodyRange(
  res: Response,
  offset: number,
): { start: number; total: number | null; totalWhat: string } | null {
  if (res.status === 206) {
    const cr = parseContentRange(res.headers.get('content-range'));
    if (!cr || cr.start !== offset) return null;
    return { start: offset, total: cr.total, totalWhat: 'Content-Range' };
  }
  const enc = res.headers.get('content-encoding');
  const cl = res.headers.get('content-length');
  const total = cl !== null && (!enc || enc === 'identity') ? Number(cl) : null;
  return { start: 0, total, totalWhat: 'Content-Length' };
}

/** `bytes a-b/total`, `bytes a-b/*` or `bytes * /total` (416). */
export function parseContentRange(v: string | null): { start: number | null; total: number | null } | null {
  const m = v ? /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i.exec(v.trim()) : null;
  if (!m) return null;
  return { start: m[1] !== undefined ? Number(m[1]) : null, total: m[2] === '*' ? null : Number(m[2]) };
}

function inNode(): boolean {
  return !!(globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
}

/** The error for an answer that is not ok: 'auth' (401/403), 'not-found' (404), else 'http'. */
export function httpError(
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
