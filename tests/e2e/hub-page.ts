/**
 * Browser page (tests/e2e/hub.html): downloads a model from the local hub stand-in
 * (tests/hub/hub-server.ts) into the IndexedDB cache (src/hub/cache-browser.ts) with 16 KiB chunks,
 * and publishes `window.__hubReport` (`HubReport`) for tests/e2e/hub-browser.test.ts. Two phases,
 * one page load each, so the resume crosses a page reload:
 *   phase=interrupt  empties the cache for the id, then downloads with no retries; the server
 *                    stalls the weights transfer, and once `dropAt` bytes arrived the page has it
 *                    drop the connection (GET /__drop-stalled): expects the failure, lists the part
 *   phase=resume     lists, downloads again (the weights resume with Range), lists, loads the
 *                    model with loadCheckpoint from the IndexedDB FileSource and compares every
 *                    tensor and the weights file's bytes with the fixture (fetched from Vite),
 *                    calls ensureModel once more (all cached), deletes the model, lists nothing
 */
import type { CachedModel } from '../../src/platform/model-cache';
import { IdbModelCache } from '../../src/hub/cache-browser';
import { HubError, ensureModel } from '../../src/hub/download';
import { loadCheckpoint, type FileSource } from '../../src/model/load';

export interface HubReport {
  done: boolean;
  error: string | null;
  phase: string;
  /** phase=interrupt: the error of the interrupted download. */
  interruptError: { kind: string; message: string } | null;
  listBefore: CachedModel[] | null;
  listAfter: CachedModel[] | null;
  /** phase=resume: files the download call completed, with `cached` and `verified`. */
  files: { file: string; cached: boolean; verified: string | null }[];
  /** Files the second ensureModel call reported as cached. */
  secondCallCached: string[];
  tensorsCompared: number;
  tensorMismatches: string[];
  weightsIdentical: boolean | null;
  listAfterDelete: CachedModel[] | null;
}

const FIXTURE = '/tests/fixtures/models/dinov3-tiny';
const CHUNK_BYTES = 16 * 1024;

const report: HubReport = {
  done: false,
  error: null,
  phase: '',
  interruptError: null,
  listBefore: null,
  listAfter: null,
  files: [],
  secondCallCached: [],
  tensorsCompared: 0,
  tensorMismatches: [],
  weightsIdentical: null,
  listAfterDelete: null,
};
(window as unknown as { __hubReport: HubReport }).__hubReport = report;

const logEl = document.getElementById('log')!;
const log = (line: string) => (logEl.textContent += `\n${line}`);

/** The fixture, read through Vite. */
function urlSource(base: string): FileSource {
  return {
    where: base,
    exists: async (name) => (await fetch(`${base}/${name}`, { method: 'HEAD' })).ok,
    bytes: async (name) => new Uint8Array(await (await fetch(`${base}/${name}`)).arrayBuffer()),
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function main(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const id = q.get('id')!;
  const opts = { endpoint: q.get('endpoint')!, token: q.get('token'), retryDelayMs: 10 };
  report.phase = q.get('phase') ?? '';
  const cache = new IdbModelCache({ dbName: 'vembed-hub-test', chunkBytes: CHUNK_BYTES });

  if (report.phase === 'interrupt') {
    await cache.delete(id);
    const dropAt = Number(q.get('dropAt'));
    try {
      await ensureModel(id, cache, {
        ...opts,
        retries: 0,
        onProgress: (p) => {
          if (p.file === 'model.safetensors' && p.bytes === dropAt) void fetch(`${opts.endpoint}/__drop-stalled`);
        },
      });
    } catch (e) {
      report.interruptError = { kind: e instanceof HubError ? e.kind : 'other', message: String(e) };
      log(`interrupted: ${e}`);
    }
    report.listAfter = await cache.list();
    return;
  }

  report.listBefore = await cache.list();
  const src = await ensureModel(id, cache, {
    ...opts,
    onFile: (e) => report.files.push({ file: e.file, cached: e.cached, verified: e.verified }),
    onProgress: (p) => log(`${p.file}: ${p.bytes}/${p.total} (${Math.round(p.bytesPerSec)} B/s)`),
  });
  report.listAfter = await cache.list();

  const [got, want] = await Promise.all([loadCheckpoint(src), loadCheckpoint(urlSource(FIXTURE))]);
  for (const [name, w] of want.weights) {
    const g = got.weights.get(name);
    report.tensorsCompared++;
    if (
      !g ||
      !sameBytes(
        new Uint8Array(g.buffer, g.byteOffset, g.byteLength),
        new Uint8Array(w.buffer, w.byteOffset, w.byteLength),
      )
    )
      report.tensorMismatches.push(name);
  }
  if (got.weights.size !== want.weights.size) report.tensorMismatches.push(`${got.weights.size} tensors loaded`);
  report.weightsIdentical = sameBytes(
    await src.bytes('model.safetensors'),
    await urlSource(FIXTURE).bytes('model.safetensors'),
  );

  await ensureModel(id, cache, { ...opts, onFile: (e) => e.cached && report.secondCallCached.push(e.file) });
  await cache.delete(id);
  report.listAfterDelete = await cache.list();
}

main()
  .catch((e) => {
    report.error = `hub page failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    log(report.error);
  })
  .finally(() => {
    report.done = true;
    log('done');
  });
