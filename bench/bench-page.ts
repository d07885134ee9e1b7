/**
 * Browser page (bench/bench.html): times every entry of bench/ops/*.bench.ts on the page's
 * WebGPU adapter, ours (src/ops through `Gpu`) next to the peer (TensorFlow.js on its WebGPU
 * backend: the same adapter, its own device), and publishes `window.__bench` (bench/types.ts).
 *
 * Query: `quick=1` keeps the entries marked `quick`; by default entries marked `heavy` are left
 * out unless `all=1`; `filter=<substring>` keeps entries whose `op shape` contains it;
 * `peer=0` times ours only. Progress goes to console.log lines starting with `[bench]`.
 *
 * Timing (wall clock, both sides alike): one warm-up iteration (pipeline compilation, uploads),
 * one timed iteration, then, if that took less than MIN_MS, enough further iterations to fill
 * about MIN_MS (at most MAX_ITERS), all recorded back to back and timed together up to the point
 * where the GPU reports the work done: `gpu.sync()` for ours; for tfjs its pending command
 * encoder is submitted and `queue.onSubmittedWorkDone()` awaited.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { requestBrowserGpu } from '../src/gpu/browser';
import type { Gpu } from '../src/gpu/device';
import type { BenchEntry, BenchReport, BenchResult } from './types';

const MIN_MS = 1000;
const MAX_ITERS = 50;

const modules = import.meta.glob<{ entries: BenchEntry[] }>('./ops/*.bench.ts', { eager: true });

const report: BenchReport = {
  done: false,
  error: null,
  describe: null,
  adapter: null,
  total: null,
  results: [],
  failures: [],
};
(window as unknown as { __bench: BenchReport }).__bench = report;

const logEl = document.getElementById('log')!;
function log(line: string): void {
  logEl.textContent += `\n${line}`;
  console.log(`[bench] ${line}`);
}

/** Mean ms per iteration of `once` (see the file comment). */
async function timeIt(once: () => void, sync: () => Promise<void>): Promise<number> {
  once();
  await sync(); // warm-up
  let t0 = performance.now();
  once();
  await sync();
  const first = performance.now() - t0;
  if (first >= MIN_MS) return first;
  const n = Math.min(MAX_ITERS - 1, Math.max(1, Math.ceil((MIN_MS - first) / Math.max(first, 1e-3))));
  t0 = performance.now();
  for (let i = 0; i < n; i++) once();
  await sync();
  return (first + performance.now() - t0) / (n + 1);
}

/** The tfjs WebGPU backend's internals we need to wait for its work (4.x). */
interface TfWebGpuBackend {
  queue: GPUQueue;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

async function tfSync(): Promise<void> {
  const b = tf.backend() as unknown as TfWebGpuBackend;
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  b.submitQueue();
  await b.queue.onSubmittedWorkDone();
}

async function benchOurs(gpu: Gpu, e: BenchEntry): Promise<number> {
  const r = e.setup(gpu);
  try {
    return await timeIt(() => r.run(), () => gpu.sync());
  } finally {
    r.dispose();
    await gpu.sync();
  }
}

async function benchPeer(e: BenchEntry): Promise<number> {
  const r = e.peer!.setup(tf);
  try {
    return await timeIt(() => tf.dispose(tf.tidy(() => r.run())), tfSync);
  } finally {
    r.dispose();
  }
}

const gflops = (flops: number | null, ms: number | null) =>
  flops === null || ms === null ? null : flops / (ms * 1e6);

async function main(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const quick = q.get('quick') === '1';
  const filter = q.get('filter') ?? '';
  const all = q.get('all') === '1';
  const noPeer = q.get('peer') === '0';
  const entries = Object.keys(modules)
    .sort()
    .flatMap((k) => modules[k].entries)
    .filter((e) => (quick ? e.quick : all || !e.heavy))
    .filter((e) => `${e.op} ${e.shape}`.includes(filter));
  report.total = entries.length;

  const gpu = await requestBrowserGpu();
  report.adapter = gpu.report;
  report.describe = gpu.describe();
  if (!noPeer) {
    if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend failed to start');
    await tf.ready();
  }
  const mode = quick ? 'quick' : all ? 'all' : 'default';
  log(`adapter: ${report.describe}; ${entries.length} entries (${mode}${filter ? `, filter "${filter}"` : ''})`);

  for (const [i, e] of entries.entries()) {
    const label = `${e.op} ${e.shape}`;
    try {
      const ours = await benchOurs(gpu, e);
      const peerMs = e.peer && !noPeer ? await benchPeer(e) : null;
      const res: BenchResult = {
        op: e.op,
        shape: e.shape,
        ours_ms: ours,
        ours_gflops: gflops(e.flops, ours),
        peer: peerMs === null ? null : e.peer!.name,
        peer_ms: peerMs,
        peer_gflops: gflops(e.flops, peerMs),
        ratio: peerMs === null ? null : peerMs / ours,
      };
      report.results.push(res);
      log(
        `${i + 1}/${entries.length} ${label}: ours ${ours.toFixed(1)} ms` +
          (peerMs === null ? '' : `, ${res.peer} ${peerMs.toFixed(1)} ms, ratio ${res.ratio!.toFixed(2)}`),
      );
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      report.failures.push(`${label}: ${msg}`);
      log(`${i + 1}/${entries.length} ${label}: FAILED ${msg}`);
    }
  }
}

main()
  .catch((e) => {
    report.error = e instanceof Error ? (e.stack ?? e.message) : String(e);
  })
  .finally(() => {
    report.done = true;
  });
