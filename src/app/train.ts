/**
 * Train section: start / pause / resume / stop, the progress bar (epoch, step, ETA, images/s),
 * live loss and learning-rate charts, and a short log. Worker updates only store numbers; the
 * text is rewritten once per animation frame and the charts at most 4 times a second, so the
 * main thread stays idle while the GPU trains in the worker.
 */
import type { GpuInfo, SessionInfo, TrainUpdate } from '../worker/protocol';
import { proxy, type App } from './app';
import { LineChart } from './charts';
import type { ConfigSection } from './config';
import { $, formatBytes, formatDuration, frameThrottle, h, showError } from './ui';

const CHART_INTERVAL_MS = 250;
const MAX_LOG = 200;

export interface TrainSection {
  start(resume: boolean): Promise<void>;
  log(line: string, cls?: string): void;
  setGpu(g: GpuInfo): void;
}

export function setupTrain(
  app: App,
  config: ConfigSection,
  hooks: { runsChanged: () => void; runExists: (run: string) => boolean },
): TrainSection {
  const startBtn = $<HTMLButtonElement>('train-start');
  const pauseBtn = $<HTMLButtonElement>('train-pause');
  const resumeBtn = $<HTMLButtonElement>('train-resume');
  const stopBtn = $<HTMLButtonElement>('train-stop');
  const bar = $<HTMLProgressElement>('train-bar');
  const text = $('train-text');
  const error = $('train-error');
  const logEl = $('train-log');
  const loss = new LineChart($<HTMLCanvasElement>('chart-loss'), '--accent');
  const lr = new LineChart($<HTMLCanvasElement>('chart-lr'), '--ok');
  let last: Extract<TrainUpdate, { kind: 'step' }> | null = null;
  let note = '';
  let lastChart = 0;
  let chartTimer: ReturnType<typeof setTimeout> | undefined;

  function log(line: string, cls = ''): void {
    logEl.append(h('li', { class: cls }, line));
    while (logEl.childElementCount > MAX_LOG) logEl.firstElementChild!.remove();
    logEl.scrollTop = logEl.scrollHeight;
  }

  const drawCharts = () => {
    lastChart = performance.now();
    chartTimer = undefined;
    loss.draw();
    lr.draw();
  };
  const render = frameThrottle(() => {
    if (last) {
      const s = last;
      bar.value = s.step / s.totalSteps;
      text.textContent =
        `Epoch ${Math.min(s.epoch + 1, s.epochs)}/${s.epochs} · step ${s.step}/${s.totalSteps} (${Math.floor((100 * s.step) / s.totalSteps)}%) · ` +
        `loss ${Number.isFinite(s.loss) ? s.loss.toFixed(4) : '–'} · lr ${s.lr.toExponential(2)} · ${s.imagesPerSec.toFixed(1)} images/s · ` +
        `ETA ${formatDuration(s.etaSec)}${note ? ` · ${note}` : ''}`;
    } else if (note) {
      text.textContent = note;
    }
    const wait = CHART_INTERVAL_MS - (performance.now() - lastChart);
    if (wait <= 0) drawCharts();
    else chartTimer ??= setTimeout(drawCharts, wait);
  });

  function onUpdate(u: TrainUpdate): void {
    switch (u.kind) {
      case 'start':
        app.set({ train: 'running', activeRun: u.run });
        if (u.resumedFrom) {
          loss.clear();
          lr.clear();
          for (const r of u.history) {
            loss.add(r.step, r.loss);
            lr.add(r.step, r.lr);
          }
        }
        note = '';
        log(
          `run ${u.run}: ${u.pairs} pairs, ${u.epochs} epoch${u.epochs === 1 ? '' : 's'} of ${u.stepsPerEpoch} steps` +
            (u.resumedFrom ? `, resuming from ${u.resumedFrom}` : ''),
        );
        break;
      case 'step':
        last = u;
        loss.add(u.step, u.loss);
        lr.add(u.step, u.lr);
        break;
      case 'checkpoint':
        log(`saved ${u.name} (step ${u.step})`);
        hooks.runsChanged();
        break;
      case 'epoch':
        log(`epoch ${u.epoch} done: mean loss ${u.meanLoss.toFixed(4)}`);
        break;
      case 'paused':
        app.set({ train: 'paused' });
        note = `paused after step ${u.step}`;
        log(`paused after step ${u.step} (state kept in memory)`);
        break;
      case 'resumed':
        app.set({ train: 'running' });
        note = '';
        log(`resumed at step ${u.step}`);
        break;
      case 'info':
        log(u.message, 'muted');
        break;
      case 'skipped':
        log(`skipped ${u.path}: ${u.error}`, 'warn');
        break;
      case 'done':
        note = u.stoppedEarly
          ? `stopped at step ${u.steps}/${u.totalSteps}, saved ${u.checkpoint ?? 'no checkpoint'} (resume it under "Runs saved in this browser")`
          : `finished ${u.steps} steps in ${formatDuration(u.seconds)}, final loss ${u.finalLoss?.toFixed(4) ?? '–'}`;
        log(note, 'ok');
        if (!u.stoppedEarly) bar.value = 1;
        break;
      case 'error':
        note = 'stopped by an error (see above)';
        showError(
          error,
          u.storageFull
            ? `${u.message}\nFree space under "Runs saved in this browser" (delete old runs) or "Models cached in this browser", then start again.`
            : u.message,
        );
        log(`error: ${u.message}`, 'bad');
        break;
    }
    render();
  }

  async function start(resume: boolean): Promise<void> {
    const s = app.state;
    showError(error, null);
    if (!s.dataset || !s.model || !s.datasetSession || !s.modelSession) {
      showError(error, 'Choose a dataset and load a model first.');
      return;
    }
    if (
      !resume &&
      s.configRun &&
      hooks.runExists(s.configRun) &&
      !window.confirm(
        `Run "${s.configRun}" already has checkpoints in this browser. Start over and delete them?\n(Cancel, then change output_dir to keep them.)`,
      )
    ) {
      return;
    }
    const yaml = config.text();
    const session: SessionInfo = { dataset: s.datasetSession, model: s.modelSession, yaml };
    if (!resume) {
      loss.clear();
      lr.clear();
      bar.value = 0;
    }
    last = null;
    note = resume ? 'resuming from the last checkpoint…' : 'preparing the data…';
    render();
    app.set({ train: 'starting' });
    try {
      await app.engine.startTraining(yaml, { resume, session }, proxy(onUpdate));
    } catch (e) {
      showError(error, e);
    } finally {
      app.set({ train: 'idle' });
      clearTimeout(chartTimer);
      drawCharts();
      hooks.runsChanged();
    }
  }

  startBtn.addEventListener('click', () => void start(false));
  pauseBtn.addEventListener('click', () => {
    app.set({ train: 'pausing' });
    note = 'pausing after the current step…';
    render();
    void app.engine.pauseTraining();
  });
  resumeBtn.addEventListener('click', () => void app.engine.resumeTraining());
  stopBtn.addEventListener('click', () => {
    app.set({ train: 'stopping' });
    note = 'stopping after the current step and saving a checkpoint…';
    render();
    void app.engine.stopTraining();
  });

  app.onChange((s) => {
    startBtn.disabled = s.train !== 'idle' || !s.dataset || !s.model || !s.configOk || s.busy !== null;
    startBtn.title = !s.dataset
      ? 'Choose a dataset first'
      : !s.model
        ? 'Load a model first'
        : !s.configOk
          ? 'Fix the config first'
          : '';
    pauseBtn.disabled = s.train !== 'running';
    resumeBtn.disabled = s.train !== 'paused';
    stopBtn.disabled = !['running', 'pausing', 'paused'].includes(s.train);
  });
  loss.draw();
  lr.draw();

  return {
    start,
    log,
    setGpu(g) {
      const l = g.limits;
      $('train-gpu').textContent =
        `GPU: ${g.description}${g.isFallback ? ' — a software fallback: training works, but slowly' : ''} · max buffer ${formatBytes(l.maxBufferSize)} · ` +
        `max storage binding ${formatBytes(l.maxStorageBufferBindingSize)} · ${l.maxComputeInvocationsPerWorkgroup} invocations/workgroup · ` +
        `${formatBytes(l.maxComputeWorkgroupStorageSize)} workgroup memory` +
        (g.features.length ? ` · ${g.features.join(', ')}` : '');
    },
  };
}
