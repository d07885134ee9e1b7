/**
 * One training step's forward + loss + backward, with gradient caching for large batches:
 *
 *   direct (chunk >= B): forward queries and positives with saved activations, loss, backward.
 *   cached (chunk <  B): 1) embed every image in chunks without keeping activations,
 *                        2) loss and its gradient with respect to all 2B embeddings,
 *                        3) per chunk: re-forward with saved activations and backward from that
 *                           chunk's embedding gradient.
 * Both give the same gradients (dropout masks are seeded per chunk, so with dropout > 0 they are
 * equally valid but not identical). Gradients are added into the Vit's LoRA / full gradients.
 */
import type { Gpu } from '../gpu/device';
import { Vit, type Acts } from '../model/vit';
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

/** A 32-bit mix of integers (for per-chunk dropout seeds). */
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

  constructor(
    readonly vit: Vit,
    readonly lossOpts: LossOpts,
    /** Images per forward/backward chunk (gradient_cache_chunk_size), or Infinity for direct. */
    readonly chunk: number,
  ) {}

  private buf(key: string, floats: number): GPUBuffer {
    let b = this.bufs.get(key);
    if (!b || b.size < floats * 4) {
      b?.destroy();
      b = this.vit.gpu.zeros(floats, key);
      this.bufs.set(key, b);
    }
    return b;
  }

  /** Activations for B images of H x W, kept per shape; `side` 1 gives the positives their own set. */
  private actsFor(B: number, H: number, W: number, perLayer: boolean, side = 0): Acts {
    const g = this.vit.grid(H, W);
    const key = `${B}:${g.Hp}x${g.Wp}:${perLayer}:${side}`;
    let a = this.acts.get(key);
    if (!a) {
      a = this.vit.allocActs(B, g, perLayer);
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
    const C = this.vit.spec.hidden;
    const img = 3 * H * W;
    const loss = this.buf('loss', 1);
    const labels = batch.labels ? this.buf('labels', B) : null;
    if (labels && batch.labels) gpu.write(labels, batch.labels);
    const pxQ = this.buf('pixels.q', B * img);
    const pxP = this.buf('pixels.p', B * img);
    gpu.write(pxQ, batch.query.subarray(0, B * img));
    gpu.write(pxP, batch.positive.subarray(0, B * img));
    const chunkSeed = (side: number, c: number) => (seed === null ? null : mixSeed(seed, side, c));

    if (this.chunk >= B) {
      const aQ = this.actsFor(B, H, W, true);
      const aP = this.actsFor(B, H, W, true, 1);
      this.vit.forwardInto(aQ, pxQ, H, W, chunkSeed(0, 0), ropeScale);
      this.vit.forwardInto(aP, pxP, H, W, chunkSeed(1, 0), ropeScale);
      const dQ = this.zeroed('dq', B * C), dP = this.zeroed('dp', B * C);
      const l = this.loss(B, aQ.emb, aP.emb, labels, loss);
      l.forward();
      l.backward(dQ, dP);
      this.vit.backward(aQ, dQ, pxQ, H, W, chunkSeed(0, 0), ropeScale);
      this.vit.backward(aP, dP, pxP, H, W, chunkSeed(1, 0), ropeScale);
      return loss;
    }

    // 1) embed everything in chunks, keeping no activations
    const Q = this.buf('emb.q', B * C), P = this.buf('emb.p', B * C);
    const sides = [{ px: pxQ, emb: Q }, { px: pxP, emb: P }];
    const chunks: [number, number][] = [];
    for (let s = 0; s < B; s += this.chunk) chunks.push([s, Math.min(B, s + this.chunk)]);
    const pxChunk = this.buf('pixels.chunk', this.chunk * img);
    sides.forEach((side, si) => {
      chunks.forEach(([s, e], ci) => {
        const n = e - s;
        const a = this.actsFor(n, H, W, false);
        gpu.copy(side.px, pxChunk, n * img * 4, s * img * 4, 0);
        this.vit.forwardInto(a, pxChunk, H, W, chunkSeed(si, ci), ropeScale);
        gpu.copy(a.emb, side.emb, n * C * 4, 0, s * C * 4);
      });
    });
    // 2) loss and embedding gradients
    const dQ = this.zeroed('dq', B * C), dP = this.zeroed('dp', B * C);
    const l = this.loss(B, Q, P, labels, loss);
    l.forward();
    l.backward(dQ, dP);
    // 3) re-forward each chunk with saved activations, backward from its embedding gradient
    const dChunk = this.buf('demb.chunk', this.chunk * C);
    [dQ, dP].forEach((dE, si) => {
      chunks.forEach(([s, e], ci) => {
        const n = e - s;
        const a = this.actsFor(n, H, W, true);
        gpu.copy(sides[si].px, pxChunk, n * img * 4, s * img * 4, 0);
        this.vit.forwardInto(a, pxChunk, H, W, chunkSeed(si, ci), ropeScale);
        gpu.copy(dE, dChunk, n * C * 4, s * C * 4, 0);
        this.vit.backward(a, dChunk, pxChunk, H, W, chunkSeed(si, ci), ropeScale);
      });
    });
    return loss;
  }

  private zeroed(key: string, floats: number): GPUBuffer {
    const b = this.buf(key, floats);
    this.vit.gpu.clear(b, 0, floats * 4);
    return b;
  }

  private lossCache = new Map<string, Loss>();
  private loss(B: number, q: GPUBuffer, p: GPUBuffer, labels: GPUBuffer | null, out: GPUBuffer): Loss {
    const key = `${B}:${q.label}:${p.label}:${labels ? 1 : 0}`;
    let l = this.lossCache.get(key);
    if (!l || l.q !== q || l.p !== p || l.loss !== out || l.labels !== labels) {
      l?.destroy();
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
