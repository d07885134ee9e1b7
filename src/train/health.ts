/**
 * Training health, step by step, from the two numbers each step already has on the host: the
 * loss and the global gradient norm (sqrt of AdamW's sum of squares, src/train/optimizer.ts).
 *
 *   observe(step, loss, gradNorm, B) throws a TrainError with a diagnosis when either is NaN/Inf
 *     (before the caller saves anything: a checkpoint of NaN weights is never written), and
 *     returns a warning, once per episode, when the gradient norm has been exactly 0 for
 *     STALL_STEPS steps in a row (the loss then sits still): nothing is learning, from identical
 *     embeddings (a collapsed or diverged model) or batches whose pairs all share one label.
 */
import type { TrainConfig } from '../config';
import { VembedError } from '../util/errors';

export class TrainError extends VembedError {
  override name = 'TrainError';
}

/** Steps in a row with a zero gradient norm before the warning. */
export const STALL_STEPS = 3;

export class TrainingHealth {
  private first = true;
  private prevLoss: number | null = null;
  private stall: { from: number; lo: number; hi: number; n: number } | null = null;
  private warned = false;

  constructor(
    private readonly c: Pick<TrainConfig, 'learning_rate' | 'max_grad_norm' | 'loss_type' | 'temperature'>,
    /** Name of the last checkpoint saved, for the error text. */
    private readonly lastSaved: () => string | null,
  ) {}

  private intact(): string {
    const s = this.lastSaved();
    return s
      ? `nothing from this step was saved; the last checkpoint, ${s}, is intact`
      : 'nothing from this step was saved';
  }

  /** Checks one step (1-based `step`); returns a warning line or null. */
  observe(step: number, loss: number, gradNorm: number, batch: number): string | null {
    const first = this.first;
    this.first = false;
    if (!Number.isFinite(loss)) {
      const why = first
        ? 'at the first step of this run, so the model or its input gives it before any update: check the ' +
          "model's weights and preprocessor_config.json (and the images)"
        : `after a finite loss of ${this.prevLoss?.toPrecision(5)}: training diverged; lower learning_rate ` +
          `(now ${this.c.learning_rate})${this.c.max_grad_norm > 0 ? '' : ', set max_grad_norm (now 0: no clipping)'} or warm up longer`;
      throw new TrainError(`loss is ${loss} at step ${step} ${why}; ${this.intact()}`);
    }
    if (!Number.isFinite(gradNorm)) {
      throw new TrainError(
        `gradient norm is ${gradNorm} at step ${step} while the loss (${loss.toPrecision(5)}) is finite: the backward pass ` +
          `overflowed or met a NaN, and this update made the weights NaN; lower learning_rate (now ${this.c.learning_rate}); ${this.intact()}`,
      );
    }
    this.prevLoss = loss;
    if (gradNorm !== 0) {
      this.stall = null;
      this.warned = false;
      return null;
    }
    this.stall ??= { from: step, lo: loss, hi: loss, n: 0 };
    const st = this.stall;
    st.n++;
    st.lo = Math.min(st.lo, loss);
    st.hi = Math.max(st.hi, loss);
    if (st.n < STALL_STEPS || this.warned) return null;
    this.warned = true;
    const l = loss;
    const uniform = Math.log(batch);
    let why: string;
    if (this.c.loss_type === 'infonce' && st.lo === st.hi && Math.abs(l - uniform) < 1e-3) {
      why =
        `${l.toFixed(4)} = ln(${batch}) is the InfoNCE loss of identical embeddings: the model maps every image to the same vector ` +
        `(collapsed, or diverged: lower learning_rate, now ${this.c.learning_rate})`;
    } else if (st.hi === 0) {
      why =
        'a loss of 0 with no gradient: every pair in these batches may share one label (in-batch negatives need other classes), ' +
        'or the loss has nothing left to push';
    } else {
      why =
        'the embeddings no longer change the loss (collapsed or saturated: lower learning_rate, ' +
        `now ${this.c.learning_rate})`;
    }
    const at =
      st.lo === st.hi
        ? `stayed at ${l.toPrecision(5)}`
        : `moved only with the batch (${st.lo.toPrecision(5)} to ${st.hi.toPrecision(5)})`;
    return `warning: steps ${st.from}-${step}: the gradient norm has been 0 and the loss has ${at}, so nothing is learning; ${why}`;
  }
}
