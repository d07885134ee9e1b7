/**
 * A local stand-in for the Hugging Face hub (node:http on 127.0.0.1, a free port) for the hub
 * download tests (tests/hub/download.test.ts, tests/e2e/hub-browser.test.ts): serves
 * `/<owner>/<name>/resolve/<revision>/<file>` from files held in memory, with
 *   - Range requests (`bytes=N-` and `bytes=N-M`: 206 + Content-Range; 416 past the end),
 *   - for *.safetensors the LFS headers X-Linked-Size and X-Linked-Etag (the sha256), for other
 *     files a git-style ETag (sha1, 40 hex, which the client must not take for a sha256),
 *   - CORS (any origin; Range and Authorization allowed; Content-Length, Content-Range, ETag and
 *     X-Linked-* exposed) and OPTIONS preflights,
 *   - an optional required token (401 without a Bearer header, 403 with a wrong one),
 *   - `rules` that misbehave for one file a number of times: stall after N bytes, ignore Range,
 *     answer a status, lie about sizes or the sha256;
 *   - `dropStalled()` (or GET /__drop-stalled, for pages) destroys the connections of stalled
 *     transfers: an interrupted transfer. The client calls it from its progress callback once it
 *     has the N bytes, so what it stored before the drop is deterministic (a client that is still
 *     reading when the socket closes may lose data it had buffered but not yet read).
 * Every request is logged (file, Range, Authorization, status) for the tests to inspect.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../../src/io/safetensors';

export interface Rule {
  file: string;
  /** How many requests for the file it applies to (default: all). */
  times?: number;
  /** Sends this many body bytes, then nothing more until the client gives up or dropStalled(). */
  stallAfter?: number;
  /** Answers 200 with the whole file even when a Range was asked for. */
  ignoreRange?: boolean;
  /** Answers this status (and a short text body). */
  status?: number;
  /** X-Linked-Size to announce instead of the true size. */
  linkedSize?: number;
  /** X-Linked-Etag to announce instead of the true sha256. */
  linkedEtag?: string;
  /** Content-Length to announce instead of the true one (a smaller one cuts the body). */
  contentLength?: number;
  /** Serves these bytes instead of the file, with the true file's LFS headers. */
  body?: Uint8Array;
}

export interface LoggedRequest {
  method: string;
  repo: string;
  file: string;
  range: string | null;
  auth: string | null;
  status: number;
}

export class HubServer {
  url = '';
  /** repo id -> file name -> bytes. */
  readonly repos = new Map<string, Map<string, Uint8Array>>();
  readonly log: LoggedRequest[] = [];
  rules: Rule[] = [];
  /** When set, requests need `Authorization: Bearer <token>`. */
  token: string | null = null;
  private server: Server | null = null;
  /** Stalled transfers: the response and the moment its bytes were handed to the socket. */
  private stalled = new Set<{ res: ServerResponse; flushed: Promise<void> }>();

  addRepo(id: string, files: Record<string, Uint8Array>): void {
    this.repos.set(id, new Map(Object.entries(files)));
  }

  /** Requests for a file (GETs only). */
  requests(file: string, repo?: string): LoggedRequest[] {
    return this.log.filter((r) => r.method === 'GET' && r.file === file && (!repo || r.repo === repo));
  }

  /** Destroys the connection of every stalled transfer (once its bytes are written). */
  dropStalled(): void {
    for (const { res, flushed } of this.stalled) void flushed.then(() => res.destroy());
    this.stalled.clear();
  }

  reset(): void {
    this.log.length = 0;
    this.rules = [];
    this.token = null;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', ok));
    const addr = this.server.address();
    this.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader(
      'Access-Control-Expose-Headers',
      'Content-Length, Content-Range, ETag, X-Linked-Size, X-Linked-Etag, Accept-Ranges',
    );
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec((req.url ?? '').split('?')[0]);
    const repo = m ? m[1] : '';
    const file = m ? decodeURIComponent(m[3]) : '';
    const entry: LoggedRequest = {
      method: req.method ?? '',
      repo,
      file,
      range: req.headers.range ?? null,
      auth: req.headers.authorization ?? null,
      status: 0,
    };
    if (req.url === '/__drop-stalled') {
      this.dropStalled();
      res.writeHead(204);
      res.end();
      return;
    }
    this.log.push(entry);
    const finish = (status: number, text: string, headers: Record<string, string> = {}) => {
      entry.status = status;
      res.writeHead(status, { 'Content-Type': 'text/plain', ...headers });
      res.end(text);
    };
    if (req.method === 'OPTIONS') {
      entry.status = 204;
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
        'Access-Control-Allow-Headers': 'Range, Authorization',
        'Access-Control-Max-Age': '600',
      });
      res.end();
      return;
    }
    if (this.token !== null) {
      if (!req.headers.authorization) return finish(401, 'Access to this model is restricted');
      if (req.headers.authorization !== `Bearer ${this.token}`) return finish(403, 'Forbidden');
    }
    const data = this.repos.get(repo)?.get(file);
    const k = this.rules.findIndex((r) => r.file === file && (r.times ?? Infinity) > 0);
    const rule = k >= 0 ? this.rules[k] : null;
    if (rule && rule.times !== undefined) rule.times--;
    if (rule?.status) return finish(rule.status, `status ${rule.status}`);
    if (!m || !data) return finish(404, 'Entry not found');

    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
    };
    if (file.endsWith('.safetensors')) {
      headers['X-Linked-Size'] = String(rule?.linkedSize ?? data.length);
      headers['X-Linked-Etag'] = `"${rule?.linkedEtag ?? createHash('sha256').update(data).digest('hex')}"`;
    } else {
      headers.ETag = `"${createHash('sha1').update(data).digest('hex')}"`;
    }
    const served = rule?.body ?? data;
    let start = 0;
    let end = served.length; // exclusive
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range && !rule?.ignoreRange) {
      start = Number(range[1]);
      if (start >= served.length) return finish(416, '', { 'Content-Range': `bytes */${served.length}` });
      if (range[2]) end = Math.min(end, Number(range[2]) + 1);
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end - 1}/${served.length}`;
    }
    const body = served.subarray(start, end);
    headers['Content-Length'] = String(rule?.contentLength ?? body.length);
    entry.status = status;
    res.writeHead(status, headers);
    if (rule?.stallAfter !== undefined) {
      const flushed = new Promise<void>((ok) => res.write(body.subarray(0, rule.stallAfter), () => ok()));
      this.stalled.add({ res, flushed });
      return;
    }
    res.end(body.subarray(0, rule?.contentLength ?? body.length));
  }
}

export const FIXTURE_DIR = 'tests/fixtures/models/dinov3-tiny';

/** The fixture model's files (config, preprocessor, model.safetensors). */
export function fixtureFiles(dir = FIXTURE_DIR): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const name of readdirSync(dir)) {
    if (name === 'cases.safetensors') continue;
    const b = readFileSync(join(dir, name));
    out[name] = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  return out;
}

/**
 * The fixture split into two shards (model-00001-of-00002.safetensors, ...-00002-...) and a
 * model.safetensors.index.json, as transformers writes a sharded checkpoint.
 */
export function shardedFiles(dir = FIXTURE_DIR): Record<string, Uint8Array> {
  const files = fixtureFiles(dir);
  const st = SafetensorsFile.parse(files['model.safetensors'], 'model.safetensors');
  const names = [...st.tensors.keys()].sort();
  const half = Math.ceil(names.length / 2);
  const shardName = (i: number) => `model-0000${i + 1}-of-00002.safetensors`;
  const out: Record<string, Uint8Array> = {
    'config.json': files['config.json'],
    'preprocessor_config.json': files['preprocessor_config.json'],
  };
  const weightMap: Record<string, string> = {};
  let total = 0;
  [names.slice(0, half), names.slice(half)].forEach((part, i) => {
    out[shardName(i)] = writeSafetensors(
      part.map((n) => {
        const t = st.info(n);
        if (t.dtype !== 'F32') throw new Error(`fixture tensor ${n} is ${t.dtype}, expected F32`);
        weightMap[n] = shardName(i);
        total += t.end - t.begin;
        return { name: n, shape: t.shape, data: st.f32(n) };
      }),
      { format: 'pt' },
    );
  });
  out['model.safetensors.index.json'] = new TextEncoder().encode(
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2),
  );
  return out;
}
