/**
 * NaN / Inf checks at the boundaries (browser-safe): weights when a checkpoint or adapter is
 * loaded, pixel tensors given to `vembed forward`, embeddings before a search. One NaN in a
 * weight turns every embedding into NaN and every Recall@K into 0%, so these refuse early and
 * say where the bad value is.
 *
 *   nonFinite(a)                   { count, first, value } of the NaN/±Inf entries, or null
 *   nonFiniteText(a)               "2 NaN values (first at index 17)", or null
 *   firstNonFiniteRow(a, N, D)     the first row of [N, D] holding a NaN/Inf, or -1
 */

export interface NonFinite {
  count: number;
  /** Index of the first one. */
  first: number;
  /** Its value: NaN, Infinity or -Infinity. */
  value: number;
}

export function nonFinite(a: ArrayLike<number>): NonFinite | null {
  let count = 0,
    first = -1;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    // x - x is 0 for finite x, NaN for NaN and ±Inf: one comparison in the common case.
    if (x - x !== 0) {
      if (count++ === 0) first = i;
    }
  }
  return count ? { count, first, value: a[first] } : null;
}

/** E.g. `1 NaN value (at index 17)` or `3 NaN/Inf values (first: Infinity at index 0)`. */
export function nonFiniteText(a: ArrayLike<number>): string | null {
  const r = nonFinite(a);
  if (!r) return null;
  return r.count === 1
    ? `1 ${String(r.value)} value (at index ${r.first})`
    : `${r.count} NaN/Inf values (first: ${String(r.value)} at index ${r.first})`;
}

/** The first row of a row-major [N, D] array with a NaN/Inf, or -1. */
export function firstNonFiniteRow(a: ArrayLike<number>, N: number, D: number): number {
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) {
      const x = a[n * D + d];
      if (x - x !== 0) return n;
    }
  }
  return -1;
}
