/**
 * Hub download against a local stand-in for the hub (tests/hub/hub-server.ts) serving the
 * dinov3-tiny fixture in the hub's URL layout, plus a sharded variant built at test time, into a
 * Node cache in a temporary directory: full download + loadCheckpoint, resume after an
 * interrupted transfer (within one call and across calls), a server that ignores Range, size and
 * sha256 mismatches, 401/403/404 messages, the Bearer token, the sharded fallback, the cache
 * serving a second call without a request, cancellation leaving a resumable .part, stalls and
 * 5xx retries. Run: npx vitest run tests/hub/download.test.ts
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { NodeModelCache, defaultCacheRoot } from '../../src/hub/cache-node';
import { ensureModelNode } from '../../src/hub/download-node';
import { ensureModel, type EnsureOptions } from '../../src/hub/download';
import type { Progress } from '../../src/hub/download-file';
import { HubError, hubUrl, lfsSha256, parseContentRange, validateRepoId } from '../../src/hub/hub-protocol';
import { loadCheckpoint, type LoadedCheckpoint } from '../../src/model/load';
import { dirSource } from '../../src/platform/file-source-node';
import { FIXTURE_DIR, HubServer, fixtureFiles, shardedFiles } from './hub-server';

const ID = 'test-org/dinov3-tiny';
const SHARDED = 'test-org/dinov3-tiny-sharded';
const NO_PRE = 'test-org/dinov3-tiny-nopre';
const WEIGHTS = 'model.safetensors';

const server = new HubServer();
const files = fixtureFiles();
const sharded = shardedFiles();
let fixture: LoadedCheckpoint;
let root = '';
let cache: NodeModelCache;

/** Fast retries for tests. */
const ensure = (id: string, opts: EnsureOptions = {}) =>
  ensureModel(id, cache, { endpoint: server.url, retryDelayMs: 5, ...opts });

/** The error an ensureModel call rejects with. */
async function failure(p: Promise<unknown>): Promise<HubError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(e instanceof HubError)) throw new Error(`expected a HubError, got ${e === null ? 'success' : String(e)}`);
  return e;
}

function expectSameWeights(a: LoadedCheckpoint, b: LoadedCheckpoint): void {
  expect([...a.weights.keys()].sort()).toEqual([...b.weights.keys()].sort());
  for (const [name, w] of a.weights) {
    const v = b.weights.get(name)!;
    expect(
      Buffer.compare(
        Buffer.from(w.buffer, w.byteOffset, w.byteLength),
        Buffer.from(v.buffer, v.byteOffset, v.byteLength),
      ),
      name,
    ).toBe(0);
  }
  expect(a.spec).toEqual(b.spec);
}

/** onProgress that interrupts stalled transfers once the weights reached one of `marks` bytes. */
const dropAt =
  (...marks: number[]) =>
  (p: Progress) => {
    if (p.file === WEIGHTS && marks.includes(p.bytes)) server.dropStalled();
  };

const cached = (id: string, file: string) => join(cache.dir(id), file);
const expectIdentical = (id: string, file: string, want: Uint8Array) =>
  expect(Buffer.compare(readFileSync(cached(id, file)), want), file).toBe(0);

beforeAll(async () => {
  server.addRepo(ID, files);
  server.addRepo(SHARDED, sharded);
  const { 'preprocessor_config.json': _, ...noPre } = files;
  server.addRepo(NO_PRE, noPre);
  await server.start();
  fixture = await loadCheckpoint(dirSource(FIXTURE_DIR));
});
afterAll(() => server.close());
beforeEach(() => {
  server.reset();
  root = mkdtempSync(join(tmpdir(), 'vembed-hub-'));
  cache = new NodeModelCache(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('urls and ids', () => {
  test('hubUrl', () => {
    expect(hubUrl('https://huggingface.co', 'facebook/dinov3-vits16-pretrain-lvd1689m', 'config.json')).toBe(
      'https://huggingface.co/facebook/dinov3-vits16-pretrain-lvd1689m/resolve/main/config.json',
    );
    expect(hubUrl('http://127.0.0.1:8080/', 'a/b', 'sub/x y.json', 'refs/pr/1')).toBe(
      'http://127.0.0.1:8080/a/b/resolve/refs%2Fpr%2F1/sub/x%20y.json',
    );
  });
  test('repo ids are validated with a clear message', () => {
    expect(validateRepoId('facebook/dinov3-vits16-pretrain-lvd1689m')).toBe('facebook/dinov3-vits16-pretrain-lvd1689m');
    expect(validateRepoId('a/b.c_d-1')).toBe('a/b.c_d-1');
    for (const bad of [
      'dinov3',
      'a/b/c',
      '../x',
      'a--b/c',
      'a/b c',
      'a/-b',
      '/b',
      'a/',
      'a/b..c',
      `a/${'x'.repeat(97)}`,
    ]) {
      expect(() => validateRepoId(bad), bad).toThrow(/invalid model id .*expected "owner\/name"/);
    }
    expect(() => hubUrl('https://huggingface.co', 'nope', 'config.json')).toThrow(HubError);
  });
  test('etags and content ranges', () => {
    const sha = 'a'.repeat(64);
    expect(lfsSha256(`"${sha}"`)).toBe(sha);
    expect(lfsSha256(sha.toUpperCase())).toBe(sha);
    expect(lfsSha256(`W/"${sha}"`)).toBeNull();
    expect(lfsSha256(`"${'a'.repeat(40)}"`)).toBeNull();
    expect(parseContentRange('bytes 10-99/100')).toEqual({ start: 10, total: 100 });
    expect(parseContentRange('bytes */100')).toEqual({ start: null, total: 100 });
    expect(parseContentRange('bytes 0-9/*')).toEqual({ start: 0, total: null });
    expect(parseContentRange('junk')).toBeNull();
  });
});

describe('download', () => {
  test('full download, then loadCheckpoint', async () => {
    const done: Record<string, string | null> = {};
    let progress = 0;
    const src = await ensure(ID, {
      onFile: (e) => (done[e.file] = e.verified),
      onProgress: (p) => {
        progress++;
        expect(p.bytes).toBeLessThanOrEqual(p.total!);
      },
    });
    expect(done).toEqual({
      'config.json': 'size',
      'preprocessor_config.json': 'size',
      [WEIGHTS]: 'sha256',
    });
    expect(progress).toBeGreaterThan(3);
    for (const [name, bytes] of Object.entries(files)) expectIdentical(ID, name, bytes);
    expect(existsSync(`${cached(ID, WEIGHTS)}.part`)).toBe(false);
    expectSameWeights(await loadCheckpoint(src), fixture);
    expect(server.log.every((r) => r.auth === null)).toBe(true);

    const list = await cache.list();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: ID, complete: true, revision: 'main' });
    expect(list[0].bytes).toBe(Object.values(files).reduce((a, b) => a + b.length, 0));
    expect(list[0].files.find((f) => f.name === WEIGHTS)).toEqual({
      name: WEIGHTS,
      bytes: files[WEIGHTS].length,
      size: files[WEIGHTS].length,
      complete: true,
    });
  });

  test('a second ensureModel is served from the cache without a request', async () => {
    await ensure(ID);
    const n = server.log.length;
    expect(n).toBe(3);
    const cachedFiles: string[] = [];
    const src = await ensure(ID, { onFile: (e) => e.cached && cachedFiles.push(e.file) });
    expect(server.log.length).toBe(n);
    expect(cachedFiles.sort()).toEqual(Object.keys(files).sort());
    expectSameWeights(await loadCheckpoint(src), fixture);
  });

  test('an interrupted transfer resumes with Range on the next call, byte-identical', async () => {
    server.rules = [{ file: WEIGHTS, times: 1, stallAfter: 30_000 }];
    const e = await failure(ensure(ID, { retries: 0, onProgress: dropAt(30_000) }));
    expect(e.kind).toBe('network');
    expect(e.message).toContain(`${ID}: ${WEIGHTS}`);
    expect(e.message).toMatch(/30000 bytes are kept and the next download resumes/);
    expect(statSync(`${cached(ID, WEIGHTS)}.part`).size).toBe(30_000);
    expect((await cache.list())[0]).toMatchObject({ complete: false });

    await ensure(ID);
    const reqs = server.requests(WEIGHTS);
    expect(reqs.map((r) => [r.range, r.status])).toEqual([
      [null, 200],
      ['bytes=30000-', 206],
    ]);
    expect(server.requests('config.json')).toHaveLength(1); // not fetched again
    expectIdentical(ID, WEIGHTS, files[WEIGHTS]);
    expect(existsSync(`${cached(ID, WEIGHTS)}.part`)).toBe(false);
  });

  test('a dropped connection is retried within one call, resuming from what was received', async () => {
    server.rules = [{ file: WEIGHTS, times: 2, stallAfter: 25_000 }];
    await ensure(ID, { onProgress: dropAt(25_000, 50_000) });
    expect(server.requests(WEIGHTS).map((r) => r.range)).toEqual([null, 'bytes=25000-', 'bytes=50000-']);
    expectIdentical(ID, WEIGHTS, files[WEIGHTS]);
  });

  test('a server that ignores Range (200) still yields a correct file', async () => {
    server.rules = [
      { file: WEIGHTS, times: 1, stallAfter: 30_000 },
      { file: WEIGHTS, ignoreRange: true },
    ];
    await failure(ensure(ID, { retries: 0, onProgress: dropAt(30_000) }));
    await ensure(ID);
    expect(server.requests(WEIGHTS).map((r) => [r.range, r.status])).toEqual([
      [null, 200],
      ['bytes=30000-', 200],
    ]);
    expectIdentical(ID, WEIGHTS, files[WEIGHTS]);
  });

  test('a part of a file that changed on the hub (new sha256) is dropped, not resumed', async () => {
    server.rules = [{ file: WEIGHTS, times: 1, stallAfter: 30_000 }];
    await failure(ensure(ID, { retries: 0, onProgress: dropAt(30_000) }));
    const other = sharded['model-00001-of-00002.safetensors'];
    server.addRepo(ID, { ...files, [WEIGHTS]: other });
    try {
      await ensure(ID);
    } finally {
      server.addRepo(ID, files);
    }
    expect(server.requests(WEIGHTS).map((r) => [r.range, r.status])).toEqual([
      [null, 200],
      ['bytes=30000-', 206],
      [null, 200],
    ]);
    expectIdentical(ID, WEIGHTS, other);
    expect((await cache.readManifest(ID))!.files.find((f) => f.name === WEIGHTS)!.size).toBe(other.length);
  });

  test('a size that disagrees with X-Linked-Size is refused, naming the file', async () => {
    const n = files[WEIGHTS].length;
    server.rules = [{ file: WEIGHTS, times: 1, linkedSize: n + 10 }];
    const e = await failure(ensure(ID));
    expect(e.kind).toBe('size');
    expect(e.message).toContain(
      `${ID}: ${WEIGHTS}: the server announced ${n + 10} bytes (X-Linked-Size) and ${n} bytes (Content-Length)`,
    );
    expect(existsSync(cached(ID, WEIGHTS))).toBe(false);
    expect(existsSync(`${cached(ID, WEIGHTS)}.part`)).toBe(false);
    await ensure(ID); // an honest server then works
    expectIdentical(ID, WEIGHTS, files[WEIGHTS]);
  });

  test('a truncated file (short body, honest Content-Length) is refused', async () => {
    const n = files[WEIGHTS].length;
    server.rules = [{ file: WEIGHTS, times: 1, body: files[WEIGHTS].subarray(0, n - 100) }];
    const e = await failure(ensure(ID));
    expect(e.kind).toBe('size');
    expect(e.message).toContain(`${WEIGHTS}: the server announced ${n} bytes (X-Linked-Size) and ${n - 100}`);
    expect(existsSync(cached(ID, WEIGHTS))).toBe(false);
  });

  test('a Content-Length larger than the file is refused once the resume shows the true size', async () => {
    const n = files['config.json'].length;
    server.rules = [{ file: 'config.json', times: 1, contentLength: n + 100, stallAfter: n }];
    const e = await failure(
      ensure(ID, {
        onProgress: (p) => p.file === 'config.json' && p.bytes === n && server.dropStalled(),
      }),
    );
    expect(e.kind).toBe('size');
    expect(e.message).toContain(
      `${ID}: config.json: the server announced ${n + 100} bytes (Content-Length) and ${n} bytes`,
    );
    expect(server.requests('config.json').map((r) => [r.range, r.status])).toEqual([
      [null, 200],
      [`bytes=${n}-`, 416],
    ]);
    expect(existsSync(cached(ID, 'config.json'))).toBe(false);
  });

  test('a sha256 mismatch is refused, naming the file', async () => {
    server.rules = [{ file: WEIGHTS, times: 1, linkedEtag: '0'.repeat(64) }];
    const e = await failure(ensure(ID));
    expect(e.kind).toBe('checksum');
    expect(e.message).toContain(`${ID}: ${WEIGHTS}: sha256 `);
    expect(e.message).toContain(`differs from the ${'0'.repeat(64)} announced`);
    expect(existsSync(cached(ID, WEIGHTS))).toBe(false);
    expect(existsSync(`${cached(ID, WEIGHTS)}.part`)).toBe(false);
  });

  test('401 and 403 say the repository is gated and what to do', async () => {
    server.token = 'hf_secret';
    const e401 = await failure(ensure(ID));
    expect(e401.kind).toBe('auth');
    expect(e401.info.status).toBe(401);
    expect(e401.message).toContain(`${ID}: access denied (HTTP 401) for config.json`);
    expect(e401.message).toContain('gated or private');
    expect(e401.message).toContain(`accept the licence on the model page (https://huggingface.co/${ID})`);
    expect(e401.message).toContain('access token (--hf_token or the HF_TOKEN environment variable)');
    const e403 = await failure(ensure(ID, { token: 'hf_wrong' }));
    expect(e403.info.status).toBe(403);
    expect(e403.message).toContain('gated or private');
    expect(e403.message).toContain('A token was sent and refused');
  });

  test('a token is sent as a Bearer header on every request', async () => {
    server.token = 'hf_secret';
    const src = await ensure(ID, { token: 'hf_secret' });
    expect(server.log.length).toBe(3);
    expect(server.log.every((r) => r.auth === 'Bearer hf_secret' && r.status === 200)).toBe(true);
    expectSameWeights(await loadCheckpoint(src), fixture);
  });

  test('404 for model.safetensors falls back to the sharded index', async () => {
    const src = await ensure(SHARDED);
    expect(server.log.map((r) => [r.file, r.status])).toEqual([
      ['config.json', 200],
      ['preprocessor_config.json', 200],
      [WEIGHTS, 404],
      ['model.safetensors.index.json', 200],
      ['model-00001-of-00002.safetensors', 200],
      ['model-00002-of-00002.safetensors', 200],
    ]);
    for (const [name, bytes] of Object.entries(sharded)) expectIdentical(SHARDED, name, bytes);
    expectSameWeights(await loadCheckpoint(src), fixture);
    // The 404 is remembered: a second call asks nothing.
    server.log.length = 0;
    await ensure(SHARDED);
    expect(server.log).toEqual([]);
  });

  test('a missing preprocessor_config.json is tolerated', async () => {
    const src = await ensure(NO_PRE);
    expect((await loadCheckpoint(src)).preprocessor).toBeNull();
    expect((await cache.readManifest(NO_PRE))!.missing).toEqual(['preprocessor_config.json']);
    server.log.length = 0;
    await ensure(NO_PRE);
    expect(server.log).toEqual([]);
  });

  test('404 for config.json names the repository and the file', async () => {
    const e = await failure(ensure('test-org/no-such-model'));
    expect(e.kind).toBe('not-found');
    expect(e.message).toContain('test-org/no-such-model: config.json not found (HTTP 404 at ');
    expect(e.message).toContain('/test-org/no-such-model/resolve/main/config.json');
  });

  test('other HTTP errors name the status and the URL; 503 is retried', async () => {
    server.rules = [{ file: 'config.json', times: 1, status: 503 }];
    await ensure(ID);
    expect(server.requests('config.json').map((r) => r.status)).toEqual([503, 200]);
    server.rules = [{ file: WEIGHTS, status: 418 }];
    await cache.delete(ID);
    const e = await failure(ensure(ID));
    expect(e.kind).toBe('http');
    expect(e.message).toBe(`${ID}: ${WEIGHTS}: HTTP 418 I'm a Teapot from ${server.url}/${ID}/resolve/main/${WEIGHTS}`);
  });

  test('cancellation leaves a resumable .part', async () => {
    server.rules = [{ file: WEIGHTS, times: 1, stallAfter: 20_000 }];
    const ac = new AbortController();
    const e = await ensure(ID, {
      signal: ac.signal,
      onProgress: (p) => p.file === WEIGHTS && p.bytes >= 20_000 && ac.abort(),
    }).then(
      () => null,
      (err: unknown) => err,
    );
    expect((e as Error).name).toBe('AbortError');
    expect(statSync(`${cached(ID, WEIGHTS)}.part`).size).toBe(20_000);
    await ensure(ID);
    expect(server.requests(WEIGHTS).map((r) => r.range)).toEqual([null, 'bytes=20000-']);
    expectIdentical(ID, WEIGHTS, files[WEIGHTS]);
  });

  test('a stalled transfer is dropped and resumed', async () => {
    server.rules = [{ file: WEIGHTS, times: 1, stallAfter: 10_000 }];
    await ensure(ID, { stallTimeoutMs: 1000 });
    expect(server.requests(WEIGHTS).map((r) => r.range)).toEqual([null, 'bytes=10000-']);
    expectIdentical(ID, WEIGHTS, files[WEIGHTS]);
  });

  test('list and delete', async () => {
    await ensure(ID);
    await ensure(SHARDED);
    expect((await cache.list()).map((m) => [m.id, m.complete, m.files.length])).toEqual([
      [ID, true, 3],
      [SHARDED, true, 5],
    ]);
    await cache.delete(ID);
    expect((await cache.list()).map((m) => m.id)).toEqual([SHARDED]);
    expect(existsSync(cache.dir(ID))).toBe(false);
    expect(cache.dir(SHARDED)).toBe(join(root, 'test-org--dinov3-tiny-sharded'));
  });
});

test('Node defaults: HF_ENDPOINT, HF_TOKEN and VEMBED_CACHE', async () => {
  const keep = { ...process.env };
  try {
    Object.assign(process.env, { HF_ENDPOINT: server.url, HF_TOKEN: 'hf_env', VEMBED_CACHE: root });
    server.token = 'hf_env';
    expect(defaultCacheRoot()).toBe(root);
    expectSameWeights(await loadCheckpoint(await ensureModelNode(ID)), fixture);
    expect(existsSync(join(root, 'test-org--dinov3-tiny', WEIGHTS))).toBe(true);
    expect(server.log.every((r) => r.auth === 'Bearer hf_env')).toBe(true);
  } finally {
    for (const k of ['HF_ENDPOINT', 'HF_TOKEN', 'VEMBED_CACHE']) {
      if (keep[k] === undefined) delete process.env[k];
      else process.env[k] = keep[k];
    }
  }
});
