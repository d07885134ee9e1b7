/**
 * The app's training runs in OPFS (runs/<name>, src/platform/checkpoint-store-browser.ts), each
 * read through src/run/saved-runs.ts: the saved runs a reload offers to resume (with the page's
 * SessionInfo kept in IndexedDB), deleting one, where a new or resumed run starts (a fresh start
 * deletes the earlier checkpoints), and a run's fine-tuned model.
 */
import { createStore, del, get, set } from 'idb-keyval';
import type { LoadedCheckpoint } from '../model/load';
import { opfsDelete, opfsListRuns, opfsStore } from '../platform/checkpoint-store-browser';
import { fineTunedModel, runStart, runSummary, type FineTuned, type RunStart } from '../run/saved-runs';
import type { SavedRun, SessionInfo } from './protocol';

export class OpfsRuns {
  private readonly sessions = createStore('vembed-app', 'sessions');

  /** Runs with a checkpoint, newest first, with what a resume needs. */
  async list(): Promise<SavedRun[]> {
    const out: (SavedRun & { modified: number })[] = [];
    for (const r of await opfsListRuns()) {
      const summary = await runSummary(opfsStore(r.name), r.name, r.bytes);
      if (!summary) continue;
      const session = (await get<SessionInfo>(r.name, this.sessions)) ?? null;
      out.push({ ...summary, session, modified: r.lastModified });
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
    const start = await runStart(opfsStore(run), run, want);
    if (session) await set(run, session, this.sessions);
    return start;
  }

  /** The latest checkpoint of `run` on the loaded `model`, or why there is none. */
  fineTuned(
    model: { key: string; name: string; ck: LoadedCheckpoint } | null,
    run: string | null,
  ): Promise<{ ft: FineTuned | null; why: string }> {
    return fineTunedModel(model, run, opfsStore);
  }
}
