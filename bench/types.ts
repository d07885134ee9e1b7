/**
 * Benchmark registry types. Each `bench/ops/<op>.bench.ts` and `bench/model/<model>.bench.ts`
 * exports `entries: BenchEntry[]`; bench/bench-page.ts times them in the browser on the WebGPU
 * adapter, next to a peer implementation of the same math: TensorFlow.js on its WebGPU backend
 * (`peer`), or another engine or plain CPU code in the same page (`customPeer`: onnxruntime-web
 * WebGPU for the model, a CPU brute force for top-K). bench/run.ts adds rows measured outside the
 * browser (PyTorch on the CPU for the model rows).
 */
import type * as TfModule from '@tensorflow/tfjs-core';
import type { Gpu } from '../src/gpu/device';

export type Tf = typeof TfModule;

/**
 * One prepared problem: `run()` records one iteration; the harness syncs and times it. `run()`
 * may return a promise (ops that flush as they go, like topk); the harness awaits it before
 * syncing.
 */
export interface BenchRun {
  run(): void | Promise<void>;
  dispose(): void;
  /** Goes into the row's `note` (e.g. which kernel variant ran). */
  note?: string;
  /**
   * Optional sanity check of the last `run()`'s output (reads it back): null when it looks right,
   * else what is wrong (e.g. a non-finite loss). Harnesses that report numbers from hardware they
   * cannot watch (tools/gpu-bench) call it after the warm-up.
   */
  check?(): Promise<string | null>;
}

/**
 * The peer's version: `run()` enqueues one iteration and returns its output tensor(s); the
 * harness runs it inside `tf.tidy`, disposes the outputs and waits for the GPU to finish.
 */
export interface PeerRun {
  run(): TfModule.TensorContainer;
  dispose(): void;
}

/**
 * A peer that is not TensorFlow.js: plain CPU code in the page, or another engine with its own
 * device (onnxruntime-web). `run()` does one whole iteration: its promise resolves when the work
 * is finished (results on the CPU or the engine's own wait), so the harness needs no sync.
 */
export interface CustomPeerRun {
  run(): void | Promise<void>;
  dispose(): void | Promise<void>;
}

export interface CustomPeer {
  name: string;
  /** `gpu` is our device, for a peer that is another implementation on it (attention). */
  setup(gpu: Gpu): CustomPeerRun | Promise<CustomPeerRun>;
  /** Skip the warm-up iteration (plain CPU code: nothing to compile or upload). */
  noWarmup?: boolean;
}

export interface BenchEntry {
  /** Op name as in src/ops (`linear.fwd`, `linear.bwd.dW`, `softmax.fwd` ...). */
  op: string;
  /** Shape label, e.g. `ViT-S qkv N=1608 384->1152`. */
  shape: string;
  /** Floating-point operations of one iteration, or null where FLOP/s means little. */
  flops: number | null;
  /**
   * Bytes one iteration must at least read and write (memory-bound ops): gives `ours_gbps` /
   * `peer_gbps`. Absent where GB/s means little.
   */
  bytes?: number;
  /** Items one iteration processes (images for the model rows, queries for topk): gives
   * `ours_items_per_s` / `peer_items_per_s`. */
  items?: number;
  /** Part of the short run (`--quick`). */
  quick?: boolean;
  /** Too slow for the default run on a CPU adapter: runs only with `--all`. */
  heavy?: boolean;
  /** Exactly one of `setup` (timed by the harness) and `measure`. */
  setup?(gpu: Gpu): BenchRun | Promise<BenchRun>;
  /**
   * An entry that times itself (host-side costs the harness's wall clock around `gpu.sync()`
   * cannot isolate, such as dispatch overhead): ours and its peer, measured in one go.
   */
  measure?(gpu: Gpu): Promise<SelfTimed>;
  /** TensorFlow.js WebGPU peer. At most one of `peer` and `customPeer`. */
  peer?: { name: string; setup(tf: Tf): PeerRun };
  customPeer?: CustomPeer;
}

/** What a self-timing entry (`measure`) reports: ms per iteration of ours and of its peer. */
export interface SelfTimed {
  ours_ms: number;
  peer: string | null;
  peer_ms: number | null;
  note?: string;
}

/** One row of bench/results.json. */
export interface BenchResult {
  op: string;
  shape: string;
  /** null for rows that count something instead of timing it (see `ours_value`). */
  ours_ms: number | null;
  ours_gflops: number | null;
  peer: string | null;
  peer_ms: number | null;
  peer_gflops: number | null;
  /** peer_ms / ours_ms: above 1 means ours is faster. */
  ratio: number | null;
  /** Optional (entries with `bytes`): bytes / time, GB/s (1e9 bytes per second). */
  ours_gbps?: number;
  peer_gbps?: number | null;
  /**
   * Optional (entries with `items`): items per second, images/s for the model rows
   * (`vit-s16.embed`, `vit-b16.embed`: embeddings of batch-8 224x224 images through
   * `Vit.forward`), queries/s for topk.
   */
  ours_items_per_s?: number;
  peer_items_per_s?: number | null;
  /**
   * Optional, for rows that count rather than time (train.dispatches, train.memory): the value, its
   * unit, and the peer's (e.g. the same count before a change); ratio = peer_value / ours_value.
   */
  ours_value?: number;
  peer_value?: number | null;
  unit?: string;
  /** Optional: why the peer fields are null (peer missing or failed), or how it was measured. */
  note?: string;
}

/** `window.__bench`, set by bench/bench-page.ts and read by bench/run.ts. */
export interface BenchReport {
  done: boolean;
  error: string | null;
  /** `Gpu.describe()` and the adapter report of our device. */
  describe: string | null;
  adapter: import('../src/gpu/device').AdapterReport | null;
  /** Entries selected (after --quick / --filter). */
  total: number | null;
  results: BenchResult[];
  /** Entries that threw: `op shape: message`. */
  failures: string[];
}
