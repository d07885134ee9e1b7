/**
 * One training run that can be paused: src/train/trainer.ts with the data prepared by
 * ./training-data.ts, any CheckpointStore (the app's OPFS run), and pause / resume / stop, its
 * events as TrainUpdates (what the app's engine worker forwards to the page).
 *
 * Pause keeps everything in memory (weights, AdamW moments, position): the trainer decodes batch
 * b+1 while step b runs, and the images of b+1 are handed over only after step b's event and
 * only while not paused, so a pause takes effect after the step in flight and the trainer waits
 * for its next batch; resume lets the batch through. Stop aborts through the trainer's signal:
 * it finishes the current step, saves a checkpoint and returns (a later Start with resume
 * continues from it, also after a page reload).
 *
 * Rates: images/s and the ETA are measured over the last steps, leaving paused time out (the
 * trainer's own figures average over the whole run, pauses included).
 */
import type { TrainConfig } from '../config';
import type { RgbImage } from '../data/image';
import type { Gpu } from '../gpu/device';
import type { LoadedCheckpoint } from '../model/load';
import type { CheckpointStore } from '../train/checkpoint';
import { Trainer, trainingLength, type PairData, type PairRecord, type TrainResults } from '../train/trainer';

/** Events of a training run, forwarded to the page (already throttled to at most one per step). */
export type TrainUpdate =
  | {
      kind: 'start';
      run: string;
      totalSteps: number;
      stepsPerEpoch: number;
      epochs: number;
      resumedFrom: string | null;
      pairs: number;
      /** Resuming: the logged steps before the checkpoint (train_results.json), for the charts. */
      history: { step: number; loss: number; lr: number }[];
    }
  | {
      kind: 'step';
      step: number;
      totalSteps: number;
      epoch: number;
      epochs: number;
      loss: number;
      lr: number;
      imagesPerSec: number;
      etaSec: number;
    }
  | { kind: 'checkpoint'; name: string; step: number }
  | { kind: 'epoch'; epoch: number; meanLoss: number }
  | { kind: 'paused'; step: number }
  | { kind: 'resumed'; step: number }
  | { kind: 'info'; message: string }
  | { kind: 'skipped'; path: string; error: string }
  | {
      kind: 'done';
      stoppedEarly: boolean;
      steps: number;
      totalSteps: number;
      finalLoss: number | null;
      seconds: number;
      checkpoint: string | null;
    }
  | { kind: 'error'; message: string; storageFull: boolean };

/** The 'done' update of a run's results. */
export function doneUpdate(r: TrainResults): TrainUpdate {
  return {
    kind: 'done',
    stoppedEarly: r.stopped_early,
    steps: r.steps,
    totalSteps: r.total_steps,
    finalLoss: r.final.loss,
    seconds: r.final.seconds,
    checkpoint: r.final.checkpoint,
  };
}

export interface TrainingOptions {
  gpu: Gpu;
  checkpoint: LoadedCheckpoint;
  config: TrainConfig;
  records: PairRecord[];
  load: (path: string) => Promise<RgbImage>;
  store: CheckpointStore;
  run: string;
  resume: { store: CheckpointStore; folder: string } | null;
  validate?: ConstructorParameters<typeof Trainer>[0]['validate'];
  /** Images validate_data found unreadable (listed in train_results.json). */
  unreadable?: { path: string; error: string }[];
  /** Resuming: logged steps before the checkpoint, passed on in the 'start' update. */
  history?: { step: number; loss: number; lr: number }[];
  onUpdate: (u: TrainUpdate) => void;
}

const RATE_WINDOW = 8;

export class TrainingSession {
  readonly run: string;
  private readonly ctl = new AbortController();
  private paused = false;
  private pauseWaiters: (() => void)[] = [];
  /** A batch was handed to the trainer and its step event has not come yet. */
  private inFlight = false;
  private stepWaiters: (() => void)[] = [];
  private pausedAt = 0;
  private pausedMs = 0;
  private lastStep = 0;
  private times: { t: number; step: number; images: number }[] = [];
  /** The pause was reported (once the trainer actually waits). */
  private announced = false;
  running = false;

  constructor(private readonly o: TrainingOptions) {
    this.run = o.run;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  pause(): void {
    if (this.paused || !this.running) return;
    this.paused = true;
    this.pausedAt = performance.now();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.pausedMs += performance.now() - this.pausedAt;
    if (this.announced) this.o.onUpdate({ kind: 'resumed', step: this.lastStep });
    this.announced = false;
    this.pauseWaiters.splice(0).forEach((f) => f());
  }

  stop(): void {
    this.ctl.abort();
    this.resume();
  }

  /** The data loader handed to the trainer: decodes at once, hands over as described above. */
  private gatedLoad = async (path: string): Promise<RgbImage> => {
    const afterStep = this.inFlight ? new Promise<void>((r) => this.stepWaiters.push(r)) : null;
    try {
      return await this.o.load(path);
    } finally {
      if (afterStep) await afterStep;
      if (this.paused && !this.ctl.signal.aborted) {
        if (!this.announced) {
          this.announced = true;
          this.o.onUpdate({ kind: 'paused', step: this.lastStep });
        }
        await new Promise<void>((r) => this.pauseWaiters.push(r));
      }
      this.inFlight = true;
    }
  };

  private onStep(step: number, batchImages: number): void {
    this.lastStep = step;
    this.inFlight = false;
    const now = performance.now() - this.pausedMs;
    this.times.push({ t: now, step, images: batchImages });
    if (this.times.length > RATE_WINDOW + 1) this.times.shift();
    this.stepWaiters.splice(0).forEach((f) => f());
  }

  /** images/s and seconds per step over the window (null before two steps). */
  private rates(): { ips: number; secPerStep: number } | null {
    if (this.times.length < 2) return null;
    const a = this.times[0],
      b = this.times[this.times.length - 1];
    const sec = (b.t - a.t) / 1000;
    if (sec <= 0) return null;
    const images = this.times.slice(1).reduce((s, x) => s + x.images, 0);
    return { ips: images / sec, secPerStep: sec / (b.step - a.step) };
  }

  async start(): Promise<TrainResults> {
    const { o } = this;
    const c = o.config;
    const N = o.records.length;
    const B = Math.min(c.batch_size, N);
    const { stepsPerEpoch, total, epochs } = trainingLength(c, N);
    const train: PairData = { records: o.records, load: this.gatedLoad };
    this.running = true;
    const trainer = new Trainer({
      gpu: o.gpu,
      checkpoint: o.checkpoint,
      config: c,
      train,
      validate: o.validate ?? null,
      store: o.store,
      resume: o.resume,
      signal: this.ctl.signal,
      unreadable: o.unreadable,
      onEvent: (e) => {
        switch (e.kind) {
          case 'step': {
            const inEpoch = e.step - e.epoch * stepsPerEpoch;
            const images = 2 * (inEpoch === stepsPerEpoch ? N - (stepsPerEpoch - 1) * B : B);
            this.onStep(e.step, images);
            const r = this.rates();
            o.onUpdate({
              kind: 'step',
              step: e.step,
              totalSteps: e.totalSteps,
              epoch: e.epoch,
              epochs,
              loss: e.loss,
              lr: e.lr,
              imagesPerSec: r ? r.ips : e.imagesPerSec,
              etaSec: r ? r.secPerStep * (e.totalSteps - e.step) : e.etaSec,
            });
            break;
          }
          case 'checkpoint':
            o.onUpdate({ kind: 'checkpoint', name: e.name, step: e.step });
            break;
          case 'epoch':
            o.onUpdate({ kind: 'epoch', epoch: e.epoch, meanLoss: e.meanLoss });
            break;
          case 'skipped':
            o.onUpdate({ kind: 'skipped', path: e.path, error: e.error });
            break;
          case 'info':
            o.onUpdate({ kind: 'info', message: e.message });
            break;
          case 'log':
            break;
        }
      },
    });
    o.onUpdate({
      kind: 'start',
      run: this.run,
      totalSteps: total,
      stepsPerEpoch,
      epochs,
      resumedFrom: o.resume ? o.resume.folder : null,
      pairs: N,
      history: o.history ?? [],
    });
    try {
      return await trainer.run();
    } finally {
      this.running = false;
      this.paused = false;
      trainer.destroy();
    }
  }
}
