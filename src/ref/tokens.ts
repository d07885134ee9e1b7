/** CPU references for src/ops/tokens.ts (same names and argument order, float64). */
export function tokensPrefix(X: Float64Array, src: Float64Array, B: number, T: number, C: number, R: number): void {
  for (let b = 0; b < B; b++) for (let j = 0; j < R * C; j++) X[b * T * C + j] = src[j];
}

export function tokensAddPos(X: Float64Array, pos: Float64Array, B: number, T: number, C: number): void {
  for (let b = 0; b < B; b++) for (let j = 0; j < T * C; j++) X[b * T * C + j] += pos[j];
}

export function tokensGather(out: Float64Array, X: Float64Array, B: number, T: number, C: number, row = 0): void {
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) out[b * C + c] = X[(b * T + row) * C + c];
}

export function tokensScatter(X: Float64Array, src: Float64Array, B: number, T: number, C: number, row = 0): void {
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) X[(b * T + row) * C + c] = src[b * C + c];
}
