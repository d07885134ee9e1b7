/** Helpers for bench entries: fast seeded f32 data (benchmarks need no float64 references). */
import { Rng } from '../src/util/random';

/** n values uniform in [-1, 1) from a seeded generator. */
export function randomF32(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform();
  return a;
}
