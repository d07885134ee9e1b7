/**
 * topk (src/ops/topk.ts: chunked cosine similarity matmul + running top-K merge) for a block of
 * Q = 64 queries against a gallery of G = 60,502 x D = 768 L2-normalized rows (the retrieval
 * eval's gallery size), K = 100: indices, scores [Q, K].
 * FLOPs: the similarity matmul, 2 Q G D (~5.9 GFLOP); `items` = Q, so the row reports queries/s.
 * Q is small so one iteration stays near a second on SwiftShader (~8 s with the older scalar
 * matmul kernel); a real eval runs Q = G in blocks of 4096 queries (see topkPlan). The gallery (186 MB) is generated in the page, seeded.
 * Peer: "cpu-bruteforce", plain TypeScript in the same page on one CPU thread: a 4-way unrolled
 * dot product per gallery row and a size-K min-heap per query (ties by lower gallery index), the
 * baseline any GPU path must beat. No warm-up for it (nothing to compile or upload).
 */
import { topkForward } from '../../src/ops/topk';
import type { BenchEntry } from '../types';
import { normalizeRows, randomF32 } from '../util';

const Q = 64;
const G = 60_502;
const D = 768;
const K = 100;

function data(): { queries: Float32Array; gallery: Float32Array } {
  return {
    queries: normalizeRows(randomF32(Q * D, 11), Q, D),
    gallery: normalizeRows(randomF32(G * D, 12), G, D),
  };
}

/** Top-K of one query by brute force: scores descending, ties by lower index. */
function bruteforce(query: Float32Array, gallery: Float32Array, outIdx: Int32Array, outScore: Float32Array): void {
  // Min-heap of the K best so far; the root is the worst (lowest score, then highest index).
  const hs = new Float64Array(K);
  const hi = new Int32Array(K);
  let size = 0;
  const worse = (a: number, b: number) => hs[a] < hs[b] || (hs[a] === hs[b] && hi[a] > hi[b]);
  const swap = (a: number, b: number) => {
    const s = hs[a];
    hs[a] = hs[b];
    hs[b] = s;
    const i = hi[a];
    hi[a] = hi[b];
    hi[b] = i;
  };
  const down = (n0: number) => {
    let n = n0;
    for (;;) {
      const l = 2 * n + 1,
        r = l + 1;
      let m = n;
      if (l < size && worse(l, m)) m = l;
      if (r < size && worse(r, m)) m = r;
      if (m === n) return;
      swap(n, m);
      n = m;
    }
  };
  for (let g = 0; g < G; g++) {
    const o = g * D;
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    for (let d = 0; d < D; d += 4) {
      s0 += query[d] * gallery[o + d];
      s1 += query[d + 1] * gallery[o + d + 1];
      s2 += query[d + 2] * gallery[o + d + 2];
      s3 += query[d + 3] * gallery[o + d + 3];
    }
    const s = s0 + s1 + s2 + s3;
    if (size < K) {
      hs[size] = s;
      hi[size] = g;
      let n = size++;
      while (n > 0) {
        const p = (n - 1) >> 1;
        if (!worse(n, p)) break;
        swap(n, p);
        n = p;
      }
    } else if (s > hs[0]) {
      hs[0] = s;
      hi[0] = g;
      down(0);
    }
  }
  // Pop worst-first into the output tail.
  for (let j = size - 1; j >= 0; j--) {
    outIdx[j] = hi[0];
    outScore[j] = hs[0];
    size--;
    hs[0] = hs[size];
    hi[0] = hi[size];
    down(0);
  }
}

export const entries: BenchEntry[] = [
  {
    op: 'topk',
    shape: `Q=${Q} queries x gallery G=${G} D=${D} K=${K}`,
    flops: 2 * Q * G * D,
    items: Q,
    quick: false,
    setup(gpu) {
      const { queries, gallery } = data();
      const qBuf = gpu.upload(queries, 'queries');
      const gBuf = gpu.upload(gallery, 'gallery');
      const indices = gpu.zeros(Q * K, 'indices');
      const scores = gpu.zeros(Q * K, 'scores');
      return {
        run: () => topkForward(gpu, indices, scores, qBuf, gBuf, Q, G, D, K),
        dispose() {
          for (const b of [qBuf, gBuf, indices, scores]) b.destroy();
        },
      };
    },
    customPeer: {
      name: 'cpu-bruteforce',
      noWarmup: true,
      setup() {
        let d: ReturnType<typeof data> | null = data();
        const idx = new Int32Array(Q * K);
        const sc = new Float32Array(Q * K);
        return {
          run() {
            const { queries, gallery } = d!;
            for (let q = 0; q < Q; q++) {
              bruteforce(queries.subarray(q * D, (q + 1) * D), gallery, idx.subarray(q * K), sc.subarray(q * K));
            }
          },
          dispose() {
            d = null;
          },
        };
      },
    },
  },
];
