/**
 * Evaluate section: Recall@1/10/100 of the loaded model (zero-shot) and of the active run's
 * latest checkpoint (fine-tuned) on the dataset's evaluation split, as a table with the change in
 * points and a grouped bar chart.
 */
import type { EvalResult, StageProgress } from '../worker/protocol';
import { proxy, type App } from './app';
import { BarChart } from './charts';
import { $, formatDuration, h, pct, showError } from './ui';

export function setupEvaluate(app: App): void {
  const btn = $<HTMLButtonElement>('eval-run');
  const status = $('eval-status');
  const error = $('eval-error');
  const chart = new BarChart($<HTMLCanvasElement>('chart-recall'), ['--zero', '--tuned']);
  chart.set([]);

  function render(r: EvalResult): void {
    $('eval-protocol').textContent = r.protocol;
    const keys = Object.keys(r.zeroShot?.recall ?? r.fineTuned?.recall ?? {});
    const rows = keys.map((k) => {
      const z = r.zeroShot?.recall[k];
      const f = r.fineTuned?.recall[k];
      const d = z !== undefined && f !== undefined ? (f - z) * 100 : null;
      return h(
        'tr',
        {},
        h('th', { scope: 'row' }, k.replace('recall@', 'Recall@')),
        h('td', { class: 'num' }, z !== undefined ? pct(z) : '–'),
        h('td', { class: 'num' }, f !== undefined ? pct(f) : '–'),
        h(
          'td',
          { class: `num ${d === null ? '' : d > 0 ? 'ok' : d < 0 ? 'bad' : ''}` },
          d === null ? '–' : `${d >= 0 ? '+' : ''}${d.toFixed(1)} pts`,
        ),
      );
    });
    const foot = [r.zeroShot, r.fineTuned]
      .filter((x) => x !== null)
      .map((x) =>
        h(
          'tr',
          {},
          h(
            'td',
            { colspan: 4, class: 'small muted' },
            `${x.model}: ${x.queries.toLocaleString('en-US')} queries over ` +
              `${x.images.toLocaleString('en-US')} images, ${formatDuration(x.seconds)} (embedding ${x.imagesPerSec.toFixed(0)} images/s, ` +
              `search ${formatDuration(x.searchSeconds)})` +
              (x.skipped
                ? `; ${x.skipped.toLocaleString('en-US')} unreadable images left out, first: ` +
                  x.skippedFirst
                    .slice(0, 3)
                    .map((u) => u.path)
                    .join(', ')
                : ''),
          ),
        ),
      );
    if (r.note) foot.push(h('tr', {}, h('td', { colspan: 4, class: 'small muted' }, r.note)));
    $('eval-rows').replaceChildren(...rows, ...foot);
    chart.set(
      keys.map((k) => ({
        label: k.replace('recall@', 'R@'),
        values: [r.zeroShot?.recall[k] ?? null, r.fineTuned?.recall[k] ?? null],
      })),
    );
  }

  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the handler catches and shows its own errors
  btn.addEventListener('click', async () => {
    showError(error, null);
    status.textContent = 'Evaluating…';
    try {
      const r = await app.busyWith('evaluate', () =>
        app.engine.evaluate(proxy((p: StageProgress) => (status.textContent = p.message))),
      );
      render(r);
      status.textContent = `Done${r.fineTuned ? '' : ' (zero-shot only)'}.`;
    } catch (e) {
      status.textContent = '';
      showError(error, e);
    }
  });

  app.onChange((s) => {
    btn.disabled = !s.dataset || !s.model || s.busy !== null || !['idle', 'paused'].includes(s.train);
  });
}
