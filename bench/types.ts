/**
 * Benchmark registry types. Each `bench/ops/<op>.bench.ts` exports `entries: BenchEntry[]`;
 * bench/bench-page.ts times them in the browser on the WebGPU adapter, next to a peer
 * implementation of the same math (TensorFlow.js on its WebGPU backend, same adapter, same page).
 */
import type * as TfModule from '@tensorflow/tfjs-core';
import type { Gpu } from '../src/gpu/device';

export type Tf = typeof TfModule;

/** One prepared problem: `run()` records one iteration; the harness syncs and times it. */
export interface BenchRun {
  run(): void;
  dispose(): void;
}

/**
 * The peer's version: `run()` enqueues one iteration and returns its output tensor(s); the
 * harness runs it inside `tf.tidy`, disposes the outputs and waits for the GPU to finish.
 */
export interface PeerRun {
  run(): TfModule.TensorContainer;
  dispose(): void;
}

export interface BenchEntry {
  /** Op name as in src/ops (`linear.fwd`, `linear.bwd.dW`, `softmax.fwd` ...). */
  op: string;
  /** Shape label, e.g. `ViT-S qkv N=1608 384->1152`. */
  shape: string;
  /** Floating-point operations of one iteration, or null where FLOP/s means little. */
  flops: number | null;
  /** Part of the short run (`--quick`). */
  quick?: boolean;
  /** Too slow for the default run on a CPU adapter: runs only with `--all`. */
  heavy?: boolean;
  setup(gpu: Gpu): BenchRun;
  peer?: { name: string; setup(tf: Tf): PeerRun };
}

/** One row of bench/results.json. */
export interface BenchResult {
  op: string;
  shape: string;
  ours_ms: number;
  ours_gflops: number | null;
  peer: string | null;
  peer_ms: number | null;
  peer_gflops: number | null;
  /** peer_ms / ours_ms: above 1 means ours is faster. */
  ratio: number | null;
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
