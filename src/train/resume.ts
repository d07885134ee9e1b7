/**
 * Resuming a training run (./trainer.ts, `resume_from_checkpoint`) from a checkpoint folder this
 * trainer wrote: the weights (the LoRA adapter, or the whole model for full fine-tuning; a
 * non-finite value refuses the checkpoint), the AdamW moments and trainer_state.json (the step
 * and the position in the epoch's data order), and the log of train_results.json up to that step.
 * A resume that does not fit (other data, batch_size or seed, other LoRA targets or lora_r, a
 * finished run) is refused with a TrainError before anything in output_dir is written.
 */
import type { TrainConfig } from '../config';
import { SafetensorsFile } from '../io/safetensors';
import type { Vit } from '../model/vit';
import { expectedTensors, linearModulePath } from '../model/weights';
import { nonFiniteText } from '../util/finite';
import { latestCheckpoint, loadTrainingState, type CheckpointStore, type TrainerState } from './checkpoint';
import { TrainError } from './health';
import type { AdamW } from './optimizer';
import { RunFolder, type TrainResults } from './run-folder';
import type { TrainEvent } from './run-writer';

/** Loads weights and optimizer state of a checkpoint folder written by this trainer. */
export async function restoreCheckpoint(
  vit: Vit,
  opt: AdamW,
  useLora: boolean,
  store: CheckpointStore,
  folder: string,
): Promise<TrainerState> {
  const where = `${store.where}/${folder}`;
  const finite = (file: SafetensorsFile, key: string) => {
    const data = file.f32(key);
    const bad = nonFiniteText(data);
    if (bad)
      throw new TrainError(
        `${file.file}: tensor "${key}" has ${bad}; this checkpoint cannot be resumed (resume from an earlier one)`,
      );
    return data;
  };
  if (useLora) {
    if (!(await store.hasFile(folder, 'adapter_model.safetensors')))
      throw new TrainError(`${where}: no adapter_model.safetensors (use_lora is true)`);
    const f = SafetensorsFile.parse(
      await store.readFile(folder, 'adapter_model.safetensors'),
      `${where}/adapter_model.safetensors`,
    );
    for (const g of vit.loras.groups) {
      const values = new Map(
        g.modules.map((m) => {
          const k = `base_model.model.${linearModulePath(vit.spec, m.layer, m.role)}`;
          if (!f.has(`${k}.lora_A.weight`))
            throw new TrainError(
              `${where}/adapter_model.safetensors: no "${k}.lora_A.weight"; the checkpoint has other LoRA targets`,
            );
          const r = f.info(`${k}.lora_A.weight`).shape[0];
          if (r !== m.r) {
            throw new TrainError(
              `resume_from_checkpoint ${where}: it was trained with lora_r ${r}, the config says lora_r ${m.r}; ` +
                'resuming needs the LoRA settings it was saved with (set lora_r back, or start a new run in another output_dir)',
            );
          }
          return [m.role, { A: finite(f, `${k}.lora_A.weight`), B: finite(f, `${k}.lora_B.weight`) }];
        }),
      );
      vit.loras.writeGroup(g, values);
    }
  } else {
    if (!(await store.hasFile(folder, 'model.safetensors')))
      throw new TrainError(`${where}: no model.safetensors (use_lora is false)`);
    const f = SafetensorsFile.parse(await store.readFile(folder, 'model.safetensors'), `${where}/model.safetensors`);
    const C = vit.spec.hidden;
    const prefix = new Float32Array((1 + vit.spec.registers) * C);
    for (const t of expectedTensors(vit.spec)) {
      if (!f.has(t.key)) continue;
      const data = finite(f, t.key);
      if (t.role === 'cls') prefix.set(data, 0);
      else if (t.role === 'reg') prefix.set(data, C);
      else vit.writeWeight(t.role, data);
    }
    vit.gpu.write(vit.w.get('prefix')!, prefix);
  }
  return loadTrainingState(store, folder, opt);
}

export interface ResumeArgs {
  vit: Vit;
  opt: AdamW;
  config: TrainConfig;
  /** The checkpoint to resume from ('latest': the newest in `resume.store`). */
  resume: { store: CheckpointStore; folder: string };
  /** output_dir (its train_results.json gives the log up to the checkpoint). */
  store: CheckpointStore;
  /** The run as configured now: pairs, batches per epoch and total steps. */
  numRecords: number;
  stepsPerEpoch: number;
  total: number;
  /** The new run's results: the log, epochs and skipped images up to the checkpoint go in. */
  results: TrainResults;
  emit: (e: TrainEvent) => void;
}

/** Restores the checkpoint of `a.resume` after checking that it fits this run; returns the state to continue from. */
export async function resumeRun(a: ResumeArgs): Promise<TrainerState> {
  const c = a.config,
    N = a.numRecords,
    { stepsPerEpoch, total, results } = a;
  const folder = a.resume.folder === 'latest' ? await latestCheckpoint(a.resume.store) : a.resume.folder;
  if (!folder) throw new TrainError(`resume_from_checkpoint: latest: no checkpoint in ${a.resume.store.where}`);
  const state = await restoreCheckpoint(a.vit, a.opt, c.use_lora, a.resume.store, folder);
  if (state.numRecords !== N || state.stepsPerEpoch !== stepsPerEpoch || state.seed !== c.seed) {
    throw new TrainError(
      `resume_from_checkpoint ${a.resume.store.where}/${folder}: it was saved with ${state.numRecords} pairs, ` +
        `${state.stepsPerEpoch} steps per epoch and seed ${state.seed}; now ${N}, ${stepsPerEpoch} and ${c.seed}: ` +
        'resuming needs the same data, batch_size and seed',
    );
  }
  const prev = await a.store.hasFile('', 'train_results.json').catch(() => false);
  if (prev) {
    try {
      const r = (await new RunFolder(a.store).results())!;
      results.log = r.log.filter((x) => x.step <= state.step);
      results.epochs = r.epochs.filter((x) => x.epoch < state.epoch);
      results.skipped_images = r.skipped_images;
    } catch {
      /* a damaged results file is rewritten from here on */
    }
  }
  if (state.step >= total) {
    throw new TrainError(
      `resume_from_checkpoint ${a.resume.store.where}/${folder}: that run is complete (step ${state.step} of ${total}); nothing was changed. ` +
        `To train longer, raise ${c.max_steps > 0 ? `max_steps (now ${c.max_steps})` : `epochs (now ${c.epochs})`}; to train again from the start, use another output_dir`,
    );
  }
  results.final.checkpoint = folder;
  a.emit({
    kind: 'info',
    message: `resumed from ${folder} at step ${state.step} (epoch ${state.epoch + 1}, batch ${state.batchInEpoch})`,
  });
  return state;
}
