/**
 * The app's training runs in OPFS (runs/<name>, src/platform/checkpoint-store-browser.ts), read through RunFolder
 * (src/train/run-folder.ts: zod-checked trainer_state.json, train_results.json): the saved runs a
 * reload offers to resume (with the page's SessionInfo kept in IndexedDB), deleting one, where a
 * new or resumed run starts, and a run's fine-tuned model (its latest checkpoint on the loaded
 * base model, src/run/model.ts).
 */
import { createStore, del, get, set } from 'idb-keyval';
import type { LoadedCheckpoint } from '../model/load';
import { runModel } from '../run/model';
import type { CheckpointStore } from '../train/checkpoint';
import { RunFolder } from '../train/run-folder';
import { opfsDelete, opfsListRuns, opfsStore } from '../platform/checkpoint-store-browser';
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
        run: r.name,
        checkpoint: folder,
        step,
        totalSteps: total,
        finished: total !== null && step >= total,
        bytes: r.bytes,
        yaml: await run.configYaml(),
        session,
        modified: r.lastModified,
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
  async start(
    run: string,
    want: string | null,
    session: SessionInfo | null,
    info: (message: string) => void,
  ): Promise<RunStart> {
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
      history = await folderRun.lossHistory(folder);
    }
    if (session) await set(run, session, this.sessions);
    return { store, resume, history };
  }

  /**
   * The latest checkpoint of `run` on the loaded `model`; `why` says why there is none (no run or
   * checkpoint yet, or the run was trained on another model than the one loaded).
   */
  async fineTuned(
    model: { key: string; name: string; ck: LoadedCheckpoint } | null,
    run: string | null,
  ): Promise<{ ft: FineTuned | null; why: string }> {
    if (!model) return { ft: null, why: 'no model loaded' };
    if (!run) return { ft: null, why: 'no fine-tuned checkpoint yet: train (or resume a saved run) to compare' };
    const store = opfsStore(run);
    const m = await runModel(model.ck, model.name, store, run);
    if ('why' in m) return { ft: null, why: m.why };
    const { folder, step } = m;
    return {
      ft: {
        ck: m.ck,
        lora: m.lora,
        name: `${run}/${folder}`,
        key: `${model.key}|${run}|${folder}|${step}`,
        store,
        folder,
      },
      why: '',
    };
  }
}
