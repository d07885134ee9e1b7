/**
 * One training step's forward + loss + backward, with gradient caching for large batches. The 2B
 * images of a batch (B queries, then their B positives) are one list:
 *
 *   direct (chunk >= 2B): forward all 2B with saved activations, loss, backward.
 *   cached (chunk <  2B): 1) embed every image without keeping activations, `embedChunk` images
 *                           per forward (an inference forward needs one layer's activations, not
 *                           L layers': many more images fit in the memory the backward needs),
 *                        2) loss and its gradient with respect to all 2B embeddings,
 *                        3) per chunk of `chunk` images: re-forward with saved activations and
 *                           backward from that chunk's embedding gradient.
 * LoRA dropout masks depend on the step's seed and each image's place in the list, not on how it
 * is chunked, so both give the same gradients (up to f32 summation order). Gradients are added
 * into the Vit's LoRA / full gradients. Only the CLS rows go through the final LayerNorm.
 */
import type { Gpu } from '../gpu/device';
import { Vit, type Acts, type DropoutSeed } from '../model/vit';
import { Loss, type LossOpts } from './losses';

export interface Batch {
  /** Preprocessed pixels [B, 3, H, W] of the query images and of their positives. */
  query: Float32Array;
  positive: Float32Array;
  labels: Uint32Array | null;
  B: number;
  H: number;
  W: number;
}

/** A 32-bit mix of integers (for dropout seeds). */
export function mixSeed(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

export class TrainStep {
  private acts = new Map<string, Acts>();
  private bufs = new Map<string, GPUBuffer>();
  private embedChunks = new Map<string, number>();

  constructor(
    readonly vit: Vit,
    readonly lossOpts: LossOpts,
    /** Images per forward/backward chunk (gradient_cache_chunk_size), or Infinity for direct. */
    readonly chunk: number,
    /** Images per forward of the embedding pass (the gradient cache's step 1); default: see
     * `embedChunkFor`. */
    readonly embedChunk?: number,
  ) {}

  /**
   * Images per forward of the embedding pass for n H x W images: at most `embedChunk` (or
   * `embedChunkFor`), split as evenly as that allows (256 images, at most 72 per forward: 4
   * forwards of 64).
   */
  embedChunkAt(n: number, H: number, W: number): number {
    const key = `${H}x${W}`;
    let c = this.embedChunk ?? this.embedChunks.get(key);
    if (c === undefined) this.embedChunks.set(key, (c = embedChunkFor(this.vit, this.chunk, H, W)));
    return Math.ceil(n / Math.ceil(n / c));
  }

  private buf(key: string, floats: number): GPUBuffer {
    let b = this.bufs.get(key);
    if (!b || b.size < floats * 4) {
      b?.destroy();
      b = this.vit.gpu.zeros(floats, key);
      this.bufs.set(key, b);
    }
    return b;
  }

  /**
   * Activations for n images of H x W: one set per image size and kind, kept across steps. A
   * set without per-layer activations runs fewer images than it holds; a per-layer set must
   * match n, so a batch of another size (unreadable images skipped, a shorter last gradient-cache
   * chunk) replaces it: memory stays that of one set, however many batch sizes a run meets.
   */
  private actsFor(n: number, H: number, W: number, perLayer: boolean): Acts {
    const g = this.vit.grid(H, W);
    const key = `${g.Hp}x${g.Wp}:${perLayer}`;
    let a = this.acts.get(key);
    if (a && (perLayer ? a.B !== n : a.B < n)) {
      const old = a;
      this.vit.gpu.retire(() => Vit.freeActs(old)); // earlier chunks of this step may have recorded work on it
      a = undefined;
    }
    if (!a) {
      a = this.vit.allocActs(n, g, perLayer, 'cls');
      this.acts.set(key, a);
    }
    return a;
  }

  /**
   * Records forward, loss and backward for `batch`; returns the loss buffer (1 f32; read it when
   * needed). `seed` derives the LoRA dropout masks (null: no dropout, as in eval); `ropeScale`
   * is the DINOv3 train-time RoPE coordinate scale of this step (1 = none).
   */
  run(batch: Batch, seed: number | null, ropeScale = 1): GPUBuffer {
    const gpu: Gpu = this.vit.gpu;
    const { B, H, W } = batch;
    const C = this.vit.spec.hidden,
      T = this.vit.grid(H, W).T;
    const img = 3 * H * W,
      n2 = 2 * B;
    const loss = this.buf('loss', 1);
    const labels = batch.labels ? this.buf('labels', B) : null;
    if (labels && batch.labels) gpu.write(labels, batch.labels);
    // the pixels of images [i0, i0 + n) of the 2B list (queries, then positives) into `dst`:
    // uploaded chunk by chunk (twice with the gradient cache), so the whole batch never sits on
    // the GPU (ViT-B at 224: 154 MB for 128 pairs)
    const upload = (dst: GPUBuffer, i0: number, n: number) => {
      const nq = Math.max(0, Math.min(n, B - i0));
      if (nq > 0) gpu.write(dst, batch.query.subarray(i0 * img, (i0 + nq) * img));
      if (n > nq) gpu.write(dst, batch.positive.subarray((i0 + nq - B) * img, (i0 + n - B) * img), nq * img * 4);
    };
    const stepSeed = seed === null ? null : mixSeed(seed);
    const drop = (i0: number): DropoutSeed | null => (stepSeed === null ? null : { seed: stepSeed, rowOffset: i0 * T });
    const Q = this.buf('emb.q', B * C),
      P = this.buf('emb.p', B * C);
    const dQ = this.zeroed('dq', B * C),
      dP = this.zeroed('dp', B * C);
    // copies rows [i0, i0 + n) of the 2B list between a chunk buffer and the Q / P halves
    const toHalves = (src: GPUBuffer, i0: number, n: number, q: GPUBuffer, p: GPUBuffer) => {
      const nq = Math.max(0, Math.min(n, B - i0));
      if (nq > 0) gpu.copy(src, q, nq * C * 4, 0, i0 * C * 4);
      if (n > nq) gpu.copy(src, p, (n - nq) * C * 4, nq * C * 4, (i0 + nq - B) * C * 4);
    };
    const fromHalves = (dst: GPUBuffer, i0: number, n: number, q: GPUBuffer, p: GPUBuffer) => {
      const nq = Math.max(0, Math.min(n, B - i0));
      if (nq > 0) gpu.copy(q, dst, nq * C * 4, i0 * C * 4, 0);
      if (n > nq) gpu.copy(p, dst, (n - nq) * C * 4, (i0 + nq - B) * C * 4, nq * C * 4);
    };
    const chunks = (size: number): [number, number][] => {
      const out: [number, number][] = [];
      for (let s = 0; s < n2; s += size) out.push([s, Math.min(n2, s + size)]);
      return out;
    };

    if (this.chunk >= n2) {
      const a = this.actsFor(n2, H, W, true);
      const px = this.buf('pixels.chunk', n2 * img);
      upload(px, 0, n2);
      this.vit.forwardInto(a, px, H, W, drop(0), ropeScale, 'cls');
      toHalves(a.emb, 0, n2, Q, P);
      this.loss(B, Q, P, labels, loss).forward();
      this.loss(B, Q, P, labels, loss).backward(dQ, dP);
      const dE = this.buf('demb', n2 * C);
      fromHalves(dE, 0, n2, dQ, dP);
      this.vit.backward(a, dE, px, H, W, drop(0), ropeScale, 'cls');
      return loss;
    }

    // 1) embed everything, keeping no activations
    const embedChunk = this.embedChunkAt(n2, H, W);
    const pxChunk = this.buf('pixels.chunk', Math.max(embedChunk, this.chunk) * img);
    const ea = this.actsFor(embedChunk, H, W, false); // one set; a shorter last chunk uses its first rows
    for (const [s, e] of chunks(embedChunk)) {
      upload(pxChunk, s, e - s);
      this.vit.forwardInto(ea, pxChunk, H, W, drop(s), ropeScale, 'cls', e - s);
      toHalves(ea.emb, s, e - s, Q, P);
    }
    // 2) loss and embedding gradients
    const l = this.loss(B, Q, P, labels, loss);
    l.forward();
    l.backward(dQ, dP);
    // 3) re-forward each chunk with saved activations, backward from its embedding gradient
    const dChunk = this.buf('demb.chunk', this.chunk * C);
    for (const [s, e] of chunks(this.chunk)) {
      const a = this.actsFor(e - s, H, W, true);
      upload(pxChunk, s, e - s);
      this.vit.forwardInto(a, pxChunk, H, W, drop(s), ropeScale, 'cls');
      fromHalves(dChunk, s, e - s, dQ, dP);
      this.vit.backward(a, dChunk, pxChunk, H, W, drop(s), ropeScale, 'cls');
    }
    return loss;
  }

  private zeroed(key: string, floats: number): GPUBuffer {
    const b = this.buf(key, floats);
    this.vit.gpu.clear(b, 0, floats * 4);
    return b;
  }

  private lossCache = new Map<string, Loss>();
  private loss(B: number, q: GPUBuffer, p: GPUBuffer, labels: GPUBuffer | null, out: GPUBuffer): Loss {
    const key = labels ? 'labels' : 'pairs'; // one per kind: a batch of another size replaces it
    let l = this.lossCache.get(key);
    if (!l || l.B !== B || l.q !== q || l.p !== p || l.loss !== out || l.labels !== labels) {
      const old = l;
      if (old) this.vit.gpu.retire(() => old.destroy()); // the recorded work may use its scratch
      l = new Loss(this.vit.gpu, this.lossOpts, B, this.vit.spec.hidden, out, q, p, labels);
      this.lossCache.set(key, l);
    }
    return l;
  }

  destroy(): void {
    for (const a of this.acts.values()) Vit.freeActs(a);
    for (const b of this.bufs.values()) b.destroy();
    for (const l of this.lossCache.values()) l.destroy();
    this.acts.clear();
    this.bufs.clear();
    this.lossCache.clear();
  }
}

/**
 * Images per forward of the embedding pass: the largest multiple of `chunk` whose inference
 * activations take at most 40% of the memory of one chunk's saved (per-layer) activations, so
 * the pass adds at most that to the step's peak (ViT-B/16 at 224, chunk 8: 64 images). Fewer,
 * larger forwards: fewer dispatches and better GPU occupancy.
 */
export function embedChunkFor(vit: Vit, chunk: number, H: number, W: number): number {
  if (!Number.isFinite(chunk)) return chunk;
  const g = vit.grid(H, W);
  const budget = 0.4 * vit.actsBytes(chunk, g, true, 'cls');
  let k = 1;
  while (k < 64 && vit.actsBytes(chunk * (k + 1), g, false, 'cls') <= budget) k++;
  return chunk * k;
}
