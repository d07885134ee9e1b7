/**
 * The app's training run in the engine worker (./engine.ts delegates Start, Pause, Resume and
 * Stop here): the session of src/run/app-training.ts (the editor's YAML on the open dataset) in
 * the run's OPFS folder (./runs.ts), one at a time, its updates sent to the page. Failures come
 * as an 'error' update (a full browser storage said as such).
 */
import { decodeImageBytes } from '../data/decode-browser';
import type { Gpu } from '../gpu/device';
import type { LoadedCheckpoint } from '../model/load';
import { StorageFullError } from '../platform/checkpoint-store-browser';
import { appTrainingSession } from '../run/app-training';
import type { OpenDataset } from '../run/dataset';
import { doneUpdate, type TrainingSession } from '../run/training-session';
import { userError } from './errors';
import type { SessionInfo, TrainUpdate } from './protocol';
import type { OpfsRuns } from './runs';

/** What a run trains: the GPU, the open dataset and the loaded model (asked for once it starts). */
export interface TrainingInputs {
  gpu: Gpu;
  data: OpenDataset;
  ck: LoadedCheckpoint;
  modelName: string;
}

/** The 'error' update of a failed run. */
function failure(e: unknown): TrainUpdate {
  if (e instanceof StorageFullError) return { kind: 'error', message: e.message, storageFull: true };
  if ((e as { name?: string })?.name === 'QuotaExceededError')
    return {
      kind: 'error',
      message: `browser storage is full (QuotaExceededError: ${(e as Error).message})`,
      storageFull: true,
    };
  return { kind: 'error', message: userError(e).message, storageFull: false };
}

export class AppTraining {
  private session: TrainingSession | null = null;
  /** A training run is being prepared (data read, checkpoint found) and not yet stepping. */
  private starting = false;

  constructor(private readonly runs: OpfsRuns) {}

  /** A run is training (stepping or paused). */
  get running(): boolean {
    return this.session?.running ?? false;
  }

  /** A run is being prepared or is stepping (not paused): other GPU work waits. */
  get stepping(): boolean {
    return this.starting || (this.running && !this.session!.isPaused);
  }

  /** `run` is the run training. */
  isTraining(run: string): boolean {
    return this.running && this.session!.run === run;
  }

  /**
   * Trains with the YAML config on `inputs()`; `resume` continues the run's latest checkpoint.
   * `onRun` is told the run's name once its folder is ready; the steps wait for `idle()` (the GPU
   * work queued before). Resolves when the run ends (failures come as an 'error' update).
   */
  async start(
    inputs: () => TrainingInputs,
    yaml: string,
    opts: { resume: boolean; session: SessionInfo | null },
    onUpdate: (u: TrainUpdate) => void,
    hooks: { onRun: (run: string) => void; idle: () => Promise<unknown> },
  ): Promise<void> {
    const send = (u: TrainUpdate) => {
      try {
        onUpdate(u);
      } catch {
        // the page went away
      }
    };
    if (this.running || this.starting) throw new Error('a training run is already running');
    this.starting = true;
    try {
      const session = await appTrainingSession({
        ...inputs(),
        yaml,
        resume: opts.resume,
        decode: decodeImageBytes,
        openRun: (run, want, info) => this.runs.start(run, want, opts.session, info),
        onUpdate: send,
      });
      hooks.onRun(session.run);
      this.session = session;
      this.starting = false;
      await hooks.idle(); // evaluation or search still on the GPU
      send(doneUpdate(await session.start()));
    } catch (e) {
      send(failure(e));
    } finally {
      this.starting = false;
    }
  }

  pause(): void {
    this.session?.pause();
  }

  resume(): void {
    this.session?.resume();
  }

  stop(): void {
    this.session?.stop();
  }
}
