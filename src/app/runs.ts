/**
 * Runs saved in this browser (OPFS): the table under Train (Resume, Use for Evaluate/Search/
 * Export, Delete), and after a reload the offer to resume the newest unfinished run. Restoring a
 * run reopens its dataset and model as they were chosen (the demo, a hub id from the cache, or a
 * folder handle after asking for permission again; a File-list folder must be chosen again) and
 * puts its config back in the editor.
 */
import type { SavedRun } from '../worker/protocol';
import type { App } from './app';
import type { ConfigSection } from './config';
import type { DataSection } from './data';
import type { ModelSection } from './model';
import type { TrainSection } from './train';
import { $, errorText, formatBytes, h, show } from './ui';

type PermissionHandle = FileSystemHandle & {
  requestPermission?: (o: { mode: 'read' | 'readwrite' }) => Promise<PermissionState>;
};

export interface RunsSection {
  refresh(): Promise<SavedRun[]>;
  exists: (run: string) => boolean;
  offerResume(): Promise<void>;
}

export function setupRuns(
  app: App,
  s: { data: DataSection; model: ModelSection; config: ConfigSection; train: TrainSection; storageChanged: () => void },
): RunsSection {
  const rows = $('runs-rows');
  let runs: SavedRun[] = [];

  async function restore(run: SavedRun): Promise<void> {
    const sess = run.session;
    const st = app.state;
    // Permission prompts need the click's user activation: ask before anything else is awaited.
    const handles = [sess?.dataset, sess?.model].filter(
      (x): x is { kind: 'handle'; handle: FileSystemDirectoryHandle; name: string } => x?.kind === 'handle',
    );
    for (const x of handles) {
      const ph = x.handle as PermissionHandle;
      if (ph.requestPermission && (await ph.requestPermission({ mode: 'read' })) !== 'granted') {
        throw new Error(
          `no permission to read ${x.name} again: choose it with "Choose dataset folder" / "Choose model folder"`,
        );
      }
    }
    if (sess) {
      const d = sess.dataset;
      const haveData =
        st.datasetSession &&
        st.dataset &&
        (d.kind === 'demo' ? st.datasetSession.kind === 'demo' : d.kind !== 'handle' && st.dataset.name === d.name);
      if (!haveData) {
        if (d.kind === 'demo') {
          if (!(await s.data.open({ kind: 'demo' }))) throw new Error('could not open the demo dataset');
        } else if (d.kind === 'handle') {
          if (!(await s.data.open({ kind: 'handle', handle: d.handle })))
            throw new Error(`could not open the dataset folder ${d.name}`);
        } else {
          throw new Error(`choose the dataset folder "${d.name}" again (Data), then resume`);
        }
      }
      const m = sess.model;
      const haveModel =
        st.model &&
        st.modelSession &&
        (m.kind === 'demo'
          ? st.modelSession.kind === 'demo'
          : m.kind === 'hub'
            ? st.model.name === m.id
            : m.kind !== 'handle' && st.model.name === m.name);
      if (!haveModel) {
        if (m.kind === 'demo') {
          if (!(await s.model.load({ kind: 'demo' }))) throw new Error('could not load the demo model');
        } else if (m.kind === 'hub') {
          if (!(await s.model.load({ kind: 'hub', id: m.id, endpoint: m.endpoint ?? null })))
            throw new Error(`could not load ${m.id} (see Model)`);
        } else if (m.kind === 'handle') {
          if (!(await s.model.load({ kind: 'handle', handle: m.handle })))
            throw new Error(`could not load the model folder ${m.name}`);
        } else {
          throw new Error(`choose the model folder "${m.name}" again (Model), then resume`);
        }
      }
      s.config.setText(sess.yaml);
    } else if (run.yaml) {
      if (!app.state.dataset || !app.state.model)
        throw new Error(`choose the dataset and load the model run ${run.run} was trained with, then resume`);
      s.config.setText(run.yaml);
    }
    await app.engine.useRun(run.run);
    app.set({ activeRun: run.run });
  }

  async function act(run: SavedRun, resume: boolean): Promise<void> {
    try {
      await restore(run);
      if (resume) await s.train.start(true);
      else s.train.log(`using run ${run.run} (${run.checkpoint}) for Evaluate, Search and Export`);
    } catch (e) {
      s.train.log(errorText(e), 'bad');
      const box = $('train-error');
      box.textContent = errorText(e);
      show(box, true);
    }
  }

  async function refresh(): Promise<SavedRun[]> {
    try {
      runs = await app.engine.savedRuns();
    } catch (e) {
      rows.replaceChildren(h('tr', {}, h('td', { colspan: 5, class: 'bad' }, `Cannot list runs: ${errorText(e)}`)));
      return [];
    }
    if (!runs.length) {
      rows.replaceChildren(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No saved runs yet.')));
      return runs;
    }
    const idle = app.state.train === 'idle';
    rows.replaceChildren(
      ...runs.map((r) =>
        h(
          'tr',
          {},
          h('td', {}, r.run, r.run === app.state.activeRun ? h('span', { class: 'muted' }, ' (in use)') : null),
          h('td', {}, r.checkpoint),
          h('td', { class: 'num' }, `${r.step}${r.totalSteps ? `/${r.totalSteps}` : ''}`),
          h('td', { class: 'num' }, formatBytes(r.bytes)),
          h(
            'td',
            {},
            !r.finished
              ? h(
                  'button',
                  {
                    type: 'button',
                    disabled: !idle,
                    'aria-label': `Resume run ${r.run}`,
                    onclick: () => void act(r, true),
                  },
                  'Resume',
                )
              : null,
            ' ',
            h(
              'button',
              { type: 'button', disabled: !idle, 'aria-label': `Use run ${r.run}`, onclick: () => void act(r, false) },
              'Use',
            ),
            ' ',
            h(
              'button',
              {
                type: 'button',
                disabled: !idle,
                'aria-label': `Delete run ${r.run}`,
                onclick: async () => {
                  if (!window.confirm(`Delete run "${r.run}" and its checkpoints from this browser?`)) return;
                  try {
                    await app.engine.deleteRun(r.run);
                    if (app.state.activeRun === r.run) app.set({ activeRun: null });
                  } catch (e) {
                    s.train.log(errorText(e), 'bad');
                  }
                  void refresh();
                  s.storageChanged();
                },
              },
              'Delete',
            ),
          ),
        ),
      ),
    );
    return runs;
  }

  async function offerResume(): Promise<void> {
    const list = await refresh();
    const run = list.find((r) => !r.finished);
    if (!run) return;
    const banner = $('resume-offer');
    const what = run.session
      ? `${run.session.dataset.kind === 'demo' ? 'the demo dataset' : run.session.dataset.name} with ${run.session.model.kind === 'demo' ? 'the demo model' : run.session.model.kind === 'hub' ? run.session.model.id : run.session.model.name}`
      : 'its dataset and model';
    $('resume-offer-text').replaceChildren(
      'Training run ',
      h('b', {}, run.run),
      ` stopped at step ${run.step}${run.totalSteps ? ` of ${run.totalSteps}` : ''} ` +
        `(${run.checkpoint}, ${formatBytes(run.bytes)} in this browser). Resume it on ${what}?`,
    );
    show(banner, true);
    const go = $<HTMLButtonElement>('resume-offer-go');
    go.onclick = () => {
      show(banner, false);
      void act(run, true);
    };
    $<HTMLButtonElement>('resume-offer-dismiss').onclick = () => show(banner, false);
  }

  app.onChange(() => {
    const idle = app.state.train === 'idle';
    for (const b of rows.querySelectorAll('button')) b.disabled = !idle;
    $<HTMLButtonElement>('resume-offer-go').disabled = !idle || app.state.busy !== null;
  });

  return { refresh, exists: (run) => runs.some((r) => r.run === run), offerResume };
}
