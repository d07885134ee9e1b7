/** Helpers for bench entries: fast seeded f32 data (benchmarks need no float64 references). */
import { Rng } from '../src/util/random';

/** n values uniform in [-1, 1) from a seeded generator. */
export function randomF32(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform();
  return a;
}

/** Scales each of the `rows` rows of length D of `a` (in place) to unit L2 norm; returns `a`. */
export function normalizeRows(a: Float32Array, rows: number, D: number): Float32Array {
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    let s = 0;
    for (let d = 0; d < D; d++) s += a[o + d] * a[o + d];
    const inv = 1 / Math.sqrt(s || 1);
    for (let d = 0; d < D; d++) a[o + d] *= inv;
  }
  return a;
}

/** null when each of the `rows` rows of length D of `a` is finite with L2 norm 1 (1e-3), else why not. */
export function unitRows(a: Float32Array, rows: number, D: number): string | null {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += a[r * D + d] * a[r * D + d];
    if (!(Math.abs(Math.sqrt(s) - 1) < 1e-3)) return `embedding row ${r} has norm ${Math.sqrt(s)} (want 1)`;
  }
  return null;
}

/** Tokens per image of DINOv3 at 224 px, patch 16: 1 CLS + 4 registers + 14 x 14 patches. */
export const VIT_T = 201;

/** The two ViT shapes the op entries run at (hidden C, heads H, MLP width I). */
export const VIT_SHAPES = [
  { model: 'ViT-S', C: 384, H: 6, I: 1536 },
  { model: 'ViT-B', C: 768, H: 12, I: 3072 },
] as const;

export const BATCHES = [8, 32] as const;
