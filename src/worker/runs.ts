/**
 * The app's training runs in OPFS (runs/<name>, src/train/store-opfs.ts), read through RunFolder
 * (src/train/run-folder.ts: zod-checked trainer_state.json, train_results.json): the saved runs a
 * reload offers to resume (with the page's SessionInfo kept in IndexedDB), deleting one, where a
 * new or resumed run starts, and a run's fine-tuned model (its latest checkpoint on the loaded
 * base model, src/run/model.ts).
 */
import { createStore, del, get, set } from 'idb-keyval';
import { parseTrainConfigYaml } from '../config';
import type { LoadedCheckpoint } from '../model/load';
import { checkpointModel, storeFolderSource } from '../run/model';
import type { CheckpointStore } from '../train/checkpoint';
import { RunFolder } from '../train/run-folder';
import { opfsDelete, opfsListRuns, opfsStore } from '../train/store-opfs';
import type { SavedRun, SessionInfo } from './protocol';

/** A run's latest checkpoint as a model. */
export interface FineTuned {
  ck: LoadedCheckpoint;
  /** "<run>/<checkpoint>". */
  name: string;
  /** Changes when the base model, the run or its checkpoint does (cache keys). */
  key: string;
  lora: boolean;
  store: CheckpointStore;
  folder: string;
}

/** Where a training run writes, what it resumes, and the loss history for the charts. */
export interface RunStart {
  store: CheckpointStore;
  resume: { store: CheckpointStore; folder: string } | null;
  history: { step: number; loss: number; lr: number }[];
}

export class OpfsRuns {
  private readonly sessions = createStore('vembed-app', 'sessions');

  /** Runs with a checkpoint, newest first, with what a resume needs. */
  async list(): Promise<SavedRun[]> {
    const out: (SavedRun & { modified: number })[] = [];
    for (const r of await opfsListRuns()) {
      const run = new RunFolder(opfsStore(r.name));
      const folder = await run.latestCheckpoint().catch(() => null);
      if (!folder) continue;
      const step = await run.checkpointStep(folder);
      const total = (await run.resultsIfReadable())?.total_steps ?? null;
      const session = (await get<SessionInfo>(r.name, this.sessions)) ?? null;
      out.push({
        run: r.name, checkpoint: folder, step, totalSteps: total, finished: total !== null && step >= total,
        bytes: r.bytes, yaml: await run.configYaml(), session, modified: r.lastModified,
      });
    }
    return out.sort((a, b) => b.modified - a.modified).map(({ modified: _, ...r }) => r);
  }

  async delete(run: string): Promise<void> {
    await opfsDelete(run);
    await del(run, this.sessions);
  }

  /**
   * Where `run` trains: a fresh start deletes its earlier checkpoints (said through `info`); a
   * resume (`want`: 'latest' or a checkpoint path) finds its checkpoint and the logged steps up
   * to it. `session` is kept so that a reload can offer to resume.
   */
  async start(run: string, want: string | null, session: SessionInfo | null, info: (message: string) => void): Promise<RunStart> {
    if (!want && (await opfsListRuns()).some((r) => r.name === run)) {
      await opfsDelete(run);
      info(`started over: the earlier checkpoints of ${run} were deleted`);
    }
    const store = opfsStore(run);
    const folderRun = new RunFolder(store);
    let resume: RunStart['resume'] = null;
    let history: RunStart['history'] = [];
    if (want) {
      const folder = want === 'latest' ? await folderRun.latestCheckpoint() : want.split('/').pop()!;
      if (!folder) throw new Error(`nothing to resume: run ${run} has no checkpoint in this browser`);
      resume = { store, folder };
      try {
        const upTo = await folderRun.checkpointStep(folder);
        const prev = await folderRun.results();
        if (prev) history = prev.log.filter((r) => r.step <= upTo).map((r) => ({ step: r.step, loss: r.loss, lr: r.lr }));
      } catch {
        // no history for the charts; training itself does not need it
      }
    }
    if (session) await set(run, session, this.sessions);
    return { store, resume, history };
  }

  /**
   * The latest checkpoint of `run` on the loaded `model`; `why` says why there is none (no run or
   * checkpoint yet, or the run was trained on another model than the one loaded).
   */
  async fineTuned(model: { key: string; name: string; ck: LoadedCheckpoint } | null, run: string | null): Promise<{ ft: FineTuned | null; why: string }> {
    if (!model) return { ft: null, why: 'no model loaded' };
    if (!run) return { ft: null, why: 'no fine-tuned checkpoint yet: train (or resume a saved run) to compare' };
    const store = opfsStore(run);
    const folderRun = new RunFolder(store);
    const folder = await folderRun.latestCheckpoint();
    if (!folder) return { ft: null, why: `run ${run} has no checkpoint yet` };
    const yaml = await folderRun.configYaml();
    if (yaml !== null) {
      try {
        const trained = parseTrainConfigYaml(yaml, 'train_config.yaml').config.model_name;
        if (trained && trained !== model.name) {
          return { ft: null, why: `run ${run} was trained on ${trained}, not on the loaded ${model.name}: load that model to use the run` };
        }
      } catch {
        // an unreadable train_config.yaml: trust the checkpoint's shapes (merging checks them)
      }
    }
    const m = await checkpointModel(model.ck, storeFolderSource(store, folder));
    const step = await folderRun.checkpointStep(folder);
    return { ft: { ...m, name: `${run}/${folder}`, key: `${model.key}|${run}|${folder}|${step}`, store, folder }, why: '' };
  }
}
