/**
 * Browser page (bench/bench.html): times every entry of bench/ops/*.bench.ts, then of
 * bench/model/*.bench.ts and bench/gpu/*.bench.ts, on the page's WebGPU adapter, ours (src/ops
 * through `Gpu`) next to the peer: TensorFlow.js on its WebGPU backend (the same adapter, its
 * own device), or a custom peer (onnxruntime-web WebGPU for the model rows, a CPU brute force for
 * topk; see bench/types.ts), and publishes `window.__bench` (bench/types.ts).
 *
 * Query: `quick=1` keeps the entries marked `quick`; by default entries marked `heavy` are left
 * out unless `all=1`; `filter=<substring>` keeps entries whose `op shape` contains it;
 * `peer=0` times ours only. Progress goes to console.log lines starting with `[bench]`.
 *
 * Timing (wall clock, both sides alike): one warm-up iteration (pipeline compilation, uploads),
 * one timed iteration, then, if that took less than MIN_MS, enough further iterations to fill
 * about MIN_MS (at most MAX_ITERS), all recorded back to back and timed together up to the point
 * where the GPU reports the work done: `gpu.sync()` for ours; for tfjs its pending command
 * encoder is submitted and `queue.onSubmittedWorkDone()` awaited; a custom peer's `run()`
 * resolves when its work is done (onnxruntime-web: outputs read back). A peer that fails leaves
 * its row with null peer fields and a `note` (ours is still reported). Entries with `measure`
 * (bench/gpu/dispatch.bench.ts: host-side dispatch cost) time themselves and their peer.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { requestBrowserGpu } from '../src/gpu/device-browser';
import type { Gpu } from '../src/gpu/device';
import type { BenchEntry, BenchReport, BenchResult } from './types';

const MIN_MS = 1000;
const MAX_ITERS = 50;

const opModules = import.meta.glob<{ entries: BenchEntry[] }>('./ops/*.bench.ts', { eager: true });
const modelModules = import.meta.glob<{ entries: BenchEntry[] }>('./model/*.bench.ts', { eager: true });
const gpuModules = import.meta.glob<{ entries: BenchEntry[] }>('./gpu/*.bench.ts', { eager: true });

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

/** Mean ms per iteration of `once` (see the file comment); `warmup: false` skips the warm-up. */
async function timeIt(once: () => void | Promise<void>, sync: () => Promise<void>, warmup = true): Promise<number> {
  if (warmup) {
    await once();
    await sync();
  }
  let t0 = performance.now();
  await once();
  await sync();
  const first = performance.now() - t0;
  if (first >= MIN_MS) return first;
  const n = Math.min(MAX_ITERS - 1, Math.max(1, Math.ceil((MIN_MS - first) / Math.max(first, 1e-3))));
  t0 = performance.now();
  for (let i = 0; i < n; i++) await once();
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

async function benchOurs(gpu: Gpu, e: BenchEntry): Promise<{ ms: number; note?: string }> {
  if (!e.setup) throw new Error(`${e.op}: the entry has neither setup nor measure`);
  const r = await e.setup(gpu);
  try {
    return {
      ms: await timeIt(
        () => r.run(),
        () => gpu.sync(),
      ),
      note: r.note,
    };
  } finally {
    r.dispose();
    await gpu.sync();
  }
}

/** The peer's ms per iteration (tfjs or custom), or null when the entry has none. */
async function benchPeer(e: BenchEntry, gpu: Gpu): Promise<number | null> {
  if (e.peer) {
    const r = e.peer.setup(tf);
    try {
      return await timeIt(() => tf.dispose(tf.tidy(() => r.run())), tfSync);
    } finally {
      r.dispose();
    }
  }
  if (e.customPeer) {
    const r = await e.customPeer.setup(gpu);
    try {
      return await timeIt(
        () => r.run(),
        async () => {},
        !e.customPeer.noWarmup,
      );
    } finally {
      await r.dispose();
    }
  }
  return null;
}

const peerName = (e: BenchEntry) => e.peer?.name ?? e.customPeer?.name ?? null;

const gflops = (flops: number | null, ms: number | null) => (flops === null || ms === null ? null : flops / (ms * 1e6));

async function main(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const quick = q.get('quick') === '1';
  const filter = q.get('filter') ?? '';
  const all = q.get('all') === '1';
  const noPeer = q.get('peer') === '0';
  const entries = [opModules, modelModules, gpuModules]
    .flatMap((m) =>
      Object.keys(m)
        .sort()
        .flatMap((k) => m[k].entries),
    )
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
      const self = e.measure ? await e.measure(gpu) : null;
      const mine = self ? null : await benchOurs(gpu, e);
      const ours = self ? self.ours_ms : mine!.ms;
      let peerMs: number | null = self?.peer_ms ?? null;
      let note: string | undefined = self?.note ?? mine?.note;
      const name = self ? self.peer : peerName(e);
      if (!self && name !== null && !noPeer) {
        try {
          peerMs = await benchPeer(e, gpu);
        } catch (err) {
          note = [note, `peer ${name} failed: ${err instanceof Error ? err.message : String(err)}`]
            .filter(Boolean)
            .join('; ');
        }
      }
      const res: BenchResult = {
        op: e.op,
        shape: e.shape,
        ours_ms: ours,
        ours_gflops: gflops(e.flops, ours),
        peer: peerMs === null ? null : name,
        peer_ms: peerMs,
        peer_gflops: gflops(e.flops, peerMs),
        ratio: peerMs === null ? null : peerMs / ours,
      };
      if (e.bytes !== undefined) {
        res.ours_gbps = e.bytes / (ours * 1e6);
        res.peer_gbps = peerMs === null ? null : e.bytes / (peerMs * 1e6);
      }
      if (e.items !== undefined) {
        res.ours_items_per_s = e.items / (ours / 1000);
        res.peer_items_per_s = peerMs === null ? null : e.items / (peerMs / 1000);
      }
      if (note) res.note = note;
      report.results.push(res);
      const rate = res.ours_items_per_s === undefined ? '' : ` (${res.ours_items_per_s.toPrecision(3)}/s)`;
      log(
        `${i + 1}/${entries.length} ${label}: ours ${ours.toFixed(1)} ms${rate}` +
          (peerMs === null ? '' : `, ${res.peer} ${peerMs.toFixed(1)} ms, ratio ${res.ratio!.toFixed(2)}`) +
          (note ? ` [${note}]` : ''),
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
