/**
 * The training losses behind one interface (src/ops/infonce.ts, triplet.ts, cosent.ts), on
 * L2-normalized embeddings q, p [B, D] with optional labels [B]:
 *   forward(loss[1], q, p) then backward(dq, dp) adds d loss / d q and d loss / d p.
 */
import type { Gpu } from '../gpu/device';
import { cosentBackward, cosentForward, cosentScratch } from '../ops/cosent';
import { infonceBackward, infonceForward, infonceScratch } from '../ops/infonce';
import { tripletBackward, tripletForward, tripletScratch } from '../ops/triplet';

export type LossType = 'infonce' | 'triplet' | 'cosent';

export interface LossOpts {
  type: LossType;
  temperature: number;
  bidirectional: boolean;
  tripletMargin: number;
  cosentScale: number;
}

export class Loss {
  private scratch: { destroy(): void; forward(): void; backward(dq: GPUBuffer, dp: GPUBuffer): void };

  constructor(
    readonly gpu: Gpu,
    readonly opts: LossOpts,
    readonly B: number,
    readonly D: number,
    readonly loss: GPUBuffer,
    readonly q: GPUBuffer,
    readonly p: GPUBuffer,
    readonly labels: GPUBuffer | null,
  ) {
    const { type } = opts;
    if (type === 'infonce') {
      const s = infonceScratch(gpu, B);
      const o = { tau: opts.temperature, bidirectional: opts.bidirectional };
      this.scratch = {
        destroy: () => (Object.values(s) as GPUBuffer[]).forEach((b) => b.destroy()),
        forward: () => infonceForward(gpu, loss, s, q, p, labels, B, D, o),
        backward: (dq, dp) => infonceBackward(gpu, dq, dp, s, q, p, labels, B, D, o),
      };
    } else if (type === 'triplet') {
      const s = tripletScratch(gpu, B);
      const o = { margin: opts.tripletMargin };
      this.scratch = {
        destroy: () => (Object.values(s) as GPUBuffer[]).forEach((b) => b.destroy()),
        forward: () => tripletForward(gpu, loss, s, q, p, labels, B, D, o),
        backward: (dq, dp) => tripletBackward(gpu, dq, dp, s, q, p, labels, B, D, o),
      };
    } else if (type === 'cosent') {
      const s = cosentScratch(gpu, B);
      const o = { scale: opts.cosentScale };
      this.scratch = {
        destroy: () => (Object.values(s) as GPUBuffer[]).forEach((b) => b.destroy()),
        forward: () => cosentForward(gpu, loss, s, q, p, labels, B, D, o),
        backward: (dq, dp) => cosentBackward(gpu, dq, dp, s, q, p, labels, B, D, o),
      };
    } else {
      throw new Error(`unknown loss_type "${type as string}" (infonce, triplet, cosent)`);
    }
  }

  forward(): void {
    this.scratch.forward();
  }

  backward(dq: GPUBuffer, dp: GPUBuffer): void {
    this.scratch.backward(dq, dp);
  }

  destroy(): void {
    this.scratch.destroy();
  }
}
