/**
 * What a training run (./trainer.ts) reports as it goes: events to its caller (`TrainEvent`), and
 * in output_dir train_results.json (`TrainResults`, kept up to date) and checkpoints (`RunWriter`;
 * ./run-folder.ts reads them back). When train_results.json cannot be written (a full disk), the
 * steps since the last checkpoint are saved in one if possible, and the run stops with a
 * TrainError that says what was kept and how to resume.
 */
import { resolveLoraTargets } from '../config/lora';
import type { TrainConfig } from '../config';
import type { LoadedCheckpoint } from '../model/load';
import type { Vit } from '../model/vit';
import { saveCheckpoint, type CheckpointStore, type TrainerState } from './checkpoint';
import { TrainError } from './health';
import type { AdamW } from './optimizer';
import type { TrainResults } from './run-folder';

export type TrainEvent =
  | {
      kind: 'log';
      step: number;
      totalSteps: number;
      epoch: number;
      loss: number;
      lr: number;
      gradNorm: number;
      imagesPerSec: number;
      etaSec: number;
    }
  | {
      kind: 'step';
      step: number;
      totalSteps: number;
      epoch: number;
      loss: number;
      lr: number;
      imagesPerSec: number;
      etaSec: number;
    }
  | { kind: 'checkpoint'; name: string; step: number }
  | { kind: 'epoch'; epoch: number; meanLoss: number; validation: Record<string, number> | null }
  | { kind: 'skipped'; path: string; error: string }
  | { kind: 'info'; message: string };

export interface RunWriterOptions {
  /** output_dir. */
  store: CheckpointStore;
  config: TrainConfig;
  /** The base model (its config, preprocessor and the tensors training does not use go into full checkpoints). */
  checkpoint: LoadedCheckpoint;
  vit: Vit;
  opt: AdamW;
  emit: (e: TrainEvent) => void;
}

export class RunWriter {
  /** train_results.json as it stands (written by `writeResults`). */
  readonly results: TrainResults;
  private readonly o: RunWriterOptions;

  /** `unreadable`: images found unreadable before training, listed first in skipped_images. */
  constructor(o: RunWriterOptions, totalSteps: number, unreadable: { path: string; error: string }[] = []) {
    this.o = o;
    this.results = {
      model: o.config.model_name ?? '',
      steps: 0,
      total_steps: totalSteps,
      epochs_done: 0,
      stopped_early: false,
      log: [],
      epochs: [],
      skipped_images: [...unreadable],
      final: { loss: null, seconds: 0, checkpoint: null },
    };
  }

  /** Saves checkpoint `name` (weights or adapter, optimizer state, trainer_state.json = `state`). */
  async save(name: string, state: TrainerState): Promise<void> {
    const { o } = this,
      c = o.config;
    await saveCheckpoint({
      store: o.store,
      name,
      vit: o.vit,
      opt: o.opt,
      state,
      lora: c.use_lora
        ? {
            r: c.lora_r,
            alpha: c.lora_alpha,
            dropout: c.lora_dropout,
            rslora: c.use_rslora,
            targetModules: resolveLoraTargets(c, o.vit.spec.family).modules,
            baseModel: c.model_name ?? '',
          }
        : null,
      config: o.checkpoint.config,
      preprocessor: o.checkpoint.preprocessor,
      extra: o.checkpoint.weights,
    });
    this.results.final.checkpoint = name;
    o.emit({ kind: 'checkpoint', name, step: state.step });
  }

  async writeResults(): Promise<void> {
    await this.o.store.writeFile('train_results.json', new TextEncoder().encode(JSON.stringify(this.results, null, 2)));
  }

  /**
   * Results on disk; when that fails (a full disk), keep the steps since the last checkpoint if
   * possible (checkpoint-step-<step> with `state`), then stop.
   */
  async writeResultsOrStop(state: TrainerState): Promise<void> {
    try {
      await this.writeResults();
    } catch (e) {
      const before = this.results.final.checkpoint;
      let saved: string;
      try {
        await this.save(`checkpoint-step-${state.step}`, state);
        saved = `saved checkpoint-step-${state.step} before stopping`;
      } catch (e2) {
        saved =
          `could not save a checkpoint either (${(e2 as Error).message})` +
          (before ? '' : '; no checkpoint was saved in this run');
      }
      throw new TrainError(
        `${(e as Error).message}; ${saved}; training stopped at step ${state.step}: make room, then resume with resume_from_checkpoint: latest`,
      );
    }
  }
}
