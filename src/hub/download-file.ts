/**
 * Downloading one file of a hub repository into a `ModelCache` (src/platform/model-cache.ts):
 * streamed, resumable, size- and sha256-checked. Browser and Node 20 alike: only global `fetch`,
 * streams, AbortSignal and crypto.subtle (through the cache), no Node-only API.
 *
 *   downloadFile(cache, id, file, url, opts)   the retry loop around `FileDownload.attempt`
 *   FileDownload.attempt                       one request: headers (resume) -> stream -> an Outcome
 *   FileDownload.finish                        size and sha256 checks, then commit
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
 * Auth: `Authorization: Bearer <token>` when a token is given; the messages for 401/403/404 are
 * those of `httpError` (src/hub/hub-protocol.ts).
 */
import type { ManifestFile, ModelCache } from '../platform/model-cache';
import { AttemptGuard, abortReason, sleep } from './attempt-guard';
import { HubError, bodyRange, httpError, lfsSha256, parseContentRange } from './hub-protocol';

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

type FileOptions = DownloadOptions & { expected?: Expected; onExpected?: (e: Expected) => Promise<void> | void };

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/**
 * How one attempt ended, short of an error it throws (a refused file, a refused request, an abort):
 * 'done': the cache holds `stored` bytes, the whole file, to be checked and committed;
 * 'retry': a transient failure, worth another attempt after a backoff (`progressed`: bytes arrived);
 * 'restart': the file changed on the hub and its old part was dropped; go again at once.
 */
type Outcome =
  | { kind: 'done'; stored: number }
  | { kind: 'retry'; why: string; stored: number; progressed: boolean }
  | { kind: 'restart' };

const retry = (why: string, stored: number, progressed = false): Outcome => ({
  kind: 'retry',
  why,
  stored,
  progressed,
});

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
  opts: FileOptions = {},
): Promise<DownloadResult> {
  const { signal } = opts;
  const retries = opts.retries ?? 4;
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const d = new FileDownload(cache, repoId, file, url, opts);
  let failures = 0;
  for (;;) {
    if (signal?.aborted) throw abortReason(signal);
    const r = await d.attempt(failures < retries);
    if (r.kind === 'done') return d.finish(r.stored);
    if (r.kind === 'restart') continue;
    if (r.progressed) failures = 0;
    failures++;
    if (failures > retries) {
      throw new HubError(
        `${repoId}: ${file}: ${r.why} (${url}), ${retries} ${retries === 1 ? 'retry' : 'retries'} used up; ` +
          `${r.stored} bytes are kept and the next download resumes from there`,
        'network',
        { url, file },
      );
    }
    await sleep(Math.min(30_000, retryDelayMs * 2 ** (failures - 1)), signal);
  }
}

/** One downloadFile call: what it learned about the file across attempts, and the attempt's steps. */
class FileDownload {
  readonly expected: Expected;
  readonly stallTimeoutMs: number;
  /** Which response announced `expected.size` (for messages). */
  sizeWhat = 'an earlier response';
  /** Bytes transferred by this call, all attempts. */
  received = 0;

  constructor(
    readonly cache: ModelCache,
    readonly repoId: string,
    readonly file: string,
    readonly url: string,
    readonly opts: FileOptions,
  ) {
    this.expected = opts.expected ?? { size: null, sha256: null };
    this.stallTimeoutMs = opts.stallTimeoutMs ?? 60_000;
  }

  /** One request: resume from what the cache holds, check the answer, stream its body. */
  async attempt(canRetry: boolean): Promise<Outcome> {
    const { cache, repoId, file, opts } = this;
    const offset = await cache.partialSize(repoId, file);
    const headers: Record<string, string> = {};
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    if (offset > 0) headers.Range = `bytes=${offset}-`;

    const guard = new AttemptGuard(opts.signal, this.stallTimeoutMs);
    let res: Response;
    try {
      guard.arm();
      res = await fetch(this.url, { headers, signal: guard.signal, cache: 'no-store' });
    } catch (e) {
      guard.disarm();
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      return retry(guard.stalled ? `no answer for ${this.stallTimeoutMs} ms` : `network error: ${errText(e)}`, offset);
    }
    const accepted = await this.checkResponse(res, offset, canRetry, guard);
    if ('kind' in accepted) return accepted;
    return this.stream(res, accepted.start, guard);
  }

  /**
   * The status and headers of an answer: an Outcome when there is no body to take (the answer is
   * dropped), else where the body starts in the file. Throws on a refused request or size.
   */
  private async checkResponse(
    res: Response,
    offset: number,
    canRetry: boolean,
    guard: AttemptGuard,
  ): Promise<Outcome | { start: number }> {
    const { cache, repoId, file } = this;
    const drop = async () => {
      guard.disarm();
      await res.body?.cancel().catch(() => {});
    };
    if (res.status === 416 && offset > 0) {
      await drop();
      const total = parseContentRange(res.headers.get('content-range'))?.total ?? null;
      if (total === offset) {
        await this.announce(total, 'Content-Range of a 416');
        return { kind: 'done', stored: offset };
      }
      // What is stored is longer than the file (or the server cannot say): start over.
      await cache.discardPartial(repoId, file);
      return retry(`HTTP 416 for a resume at byte ${offset}`, 0);
    }
    if (!res.ok) {
      await drop();
      if (RETRY_STATUS.has(res.status) && canRetry) return retry(`HTTP ${res.status}`, offset);
      throw httpError(res.status, res.statusText, repoId, file, this.url, !!this.opts.token);
    }

    // Where the body starts, and what the response says about the whole file.
    const range = bodyRange(res, offset);
    if (range === null) {
      await drop();
      await cache.discardPartial(repoId, file);
      return retry(`a 206 answer for byte ${offset} with Content-Range ${res.headers.get('content-range')}`, 0);
    }
    try {
      if (await this.learnSha256(res, range.start)) {
        await drop();
        await cache.discardPartial(repoId, file);
        return { kind: 'restart' };
      }
      const linked = res.headers.get('x-linked-size');
      await this.announce(linked !== null ? Number(linked) : null, 'X-Linked-Size');
      await this.announce(range.total, range.totalWhat);
    } catch (e) {
      await drop();
      throw e;
    }
    return { start: range.start };
  }

  /**
   * Records the LFS sha256 of the answer. A different sha256 than before means the file changed on
   * the hub: its old size is forgotten, and true is returned when the body resumes a part of the
   * old file (which must be dropped).
   */
  private async learnSha256(res: Response, start: number): Promise<boolean> {
    const { expected } = this;
    const sha = lfsSha256(res.headers.get('x-linked-etag')) ?? lfsSha256(res.headers.get('etag'));
    if (!sha || sha === expected.sha256) return false;
    const changed = expected.sha256 !== null;
    expected.sha256 = sha;
    if (changed) expected.size = null;
    await this.opts.onExpected?.(expected);
    return changed && start > 0;
  }

  /** Records a size the server announced; all announcements must agree. */
  private async announce(size: number | null, what: string): Promise<void> {
    const { expected } = this;
    if (size === null || !Number.isFinite(size)) return;
    if (expected.size === null) {
      expected.size = size;
      this.sizeWhat = what;
      await this.opts.onExpected?.(expected);
    } else if (expected.size !== size) {
      await this.fail(
        this.sizeError(`the server announced ${expected.size} bytes (${this.sizeWhat}) and ${size} bytes (${what})`),
      );
    }
  }

  /** Streams the body into the cache from byte `start`, with progress. */
  private async stream(res: Response, start: number, guard: AttemptGuard): Promise<Outcome> {
    const { cache, repoId, file, expected, opts } = this;
    const writer = await cache.openPartial(repoId, file, start);
    let bytes = start;
    let got = 0;
    const t0 = performance.now();
    const report = () => {
      const sec = Math.max(1e-3, (performance.now() - t0) / 1000);
      const bytesPerSec = got / sec;
      opts.onProgress?.({
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
          guard.arm();
          const { done, value } = await reader.read();
          if (done) break;
          if (expected.size !== null && bytes + value.length > expected.size) {
            throw this.sizeError(`received more than the ${expected.size} bytes announced (${this.sizeWhat})`);
          }
          await writer.write(value);
          bytes += value.length;
          got += value.length;
          this.received += value.length;
          report();
        }
      }
    } catch (e) {
      streamError = e;
      await reader?.cancel().catch(() => {});
    } finally {
      guard.disarm();
    }
    const stored = await writer.close();
    if (streamError === null) return { kind: 'done', stored };
    if (opts.signal?.aborted) throw abortReason(opts.signal);
    if (streamError instanceof HubError) await this.fail(streamError);
    const why = guard.stalled
      ? `the transfer stalled (no data for ${this.stallTimeoutMs} ms)`
      : `network error: ${errText(streamError)}`;
    return retry(why, stored, got > 0);
  }

  /** Checks the whole stored file against the announced size and sha256, then commits it. */
  async finish(stored: number): Promise<DownloadResult> {
    const { cache, repoId, file, expected } = this;
    if (expected.size !== null && stored !== expected.size) {
      await this.fail(
        this.sizeError(`received ${stored} bytes but the server announced ${expected.size} (${this.sizeWhat})`),
      );
    }
    let verified: DownloadResult['verified'] = expected.size !== null ? 'size' : 'none';
    if (expected.sha256) {
      const got = await cache.partialSha256(repoId, file);
      if (got !== null) {
        if (got !== expected.sha256) {
          await this.fail(
            new HubError(
              `${repoId}: ${file}: sha256 ${got} differs from the ${expected.sha256} announced by the server; ` +
                `the file was refused (${this.url})`,
              'checksum',
              { url: this.url, file },
            ),
          );
        }
        verified = 'sha256';
      }
    }
    await cache.commit(repoId, file);
    return { file, size: stored, verified, received: this.received };
  }

  /** Drops the partial file and throws `e`. */
  private async fail(e: HubError): Promise<never> {
    await this.cache.discardPartial(this.repoId, this.file);
    throw e;
  }

  private sizeError(msg: string): HubError {
    const { url, file } = this;
    return new HubError(`${this.repoId}: ${file}: ${msg}; the file was refused (${url})`, 'size', { url, file });
  }
}

function errText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message;
}
