/**
 * The engine: a module Web Worker that does everything heavy for the app, exposed with comlink
 * (the page holds a `Remote<Engine>`; callbacks cross as `Comlink.proxy`). The page only shows
 * and controls.
 *
 *   init        WebGPU adapter in this worker (or why there is none)
 *   dataset     open a picked/dropped folder, a File list or the demo; format, counts, samples,
 *               problems; a background check that every image decodes
 *   model       hub id (+ token) into the IndexedDB cache with progress, cancel and resume; the
 *               cached list and delete; a local model folder; the bundled demo
 *   config      YAML checked as the user types (problems with line numbers)
 *   train       start / pause / resume / stop, checkpoints in OPFS (runs/<output_dir>), saved
 *               runs listed after a reload so that the page can offer to resume them
 *   evaluate    Recall@1/10/100 zero-shot and fine-tuned (SOP or JSONL protocol)
 *   search      a gallery index of the dataset's images, then top-K for a photo or a dataset image
 *   export      PEFT adapter / merged model / train_config.yaml / train_results.json as Blobs
 * GPU work other than training (evaluate, index, search, export merge) runs one at a time and
 * not while a training run is stepping (it may while the run is paused).
 */
import * as Comlink from 'comlink';
import { NoWebGpuError, requestBrowserGpu } from '../gpu/device-browser';
import { autotune } from '../ops/autotune';
import type { Gpu } from '../gpu/device';
import { IdbModelCache } from '../hub/cache-browser';
import type { LoadedCheckpoint } from '../model/load';
import { openDataset, type OpenDataset } from '../run/dataset';
import { evaluateModels } from '../run/evaluate';
import { exportRun } from '../run/export';
import { describeGpu } from '../run/gpu-info';
import { describeModel } from '../run/model';
import type { GalleryIndex } from '../run/search-index';
import { checkConfigYaml, runName } from '../run/config-check';
import { datasetSource, DatasetImages } from './data';
import { openIndex, searchQuery } from './search';
import { loadModelInput } from './model-input';
import type {
  CachedModel,
  ConfigCheck,
  DatasetInfo,
  DatasetInput,
  DownloadProgress,
  EvalResult,
  ExportFile,
  ExportKind,
  ImageCheck,
  InitResult,
  ModelInfo,
  ModelInput,
  PageFileReader,
  RecallSet,
  SavedRun,
  SearchResults,
  SessionInfo,
  StageProgress,
  TrainUpdate,
} from './protocol';
import { DEMO_MODEL_ID } from '../run/presets';
import { OpfsRuns } from './runs';
import { userError } from './errors';
import { AppTraining } from './training';

interface LoadedModel {
  key: string;
  ck: LoadedCheckpoint;
  info: ModelInfo;
}

let loadedModels = 0;

export class Engine {
  private gpu: Gpu | null = null;
  private gpuError: string | null = null;
  private base = '/';
  private readonly cache = new IdbModelCache();
  private readonly runs = new OpfsRuns();
  private data: OpenDataset | null = null;
  private model: LoadedModel | null = null;
  private download: AbortController | null = null;
  private readonly training = new AppTraining(this.runs);
  /** The run Evaluate, Search and Export use (the last trained or the one picked after a reload). */
  private activeRun: string | null = null;
  private zeroShot = new Map<string, RecallSet>();
  private index: GalleryIndex | null = null;
  private busy: Promise<unknown> = Promise.resolve();
  private readonly images = new DatasetImages();

  /** Runs `fn` after the GPU work queued before it (one at a time). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.busy.then(fn, fn);
    this.busy = p.catch(() => {});
    return p;
  }

  async init(baseUrl: string): Promise<InitResult> {
    this.base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
    if (this.gpu) return { ok: true, gpu: describeGpu(this.gpu) };
    try {
      this.gpu = await requestBrowserGpu();
      await autotune(this.gpu); // pick the kernel variants that are fastest on this adapter
      this.gpu.onLost((info) => {
        this.gpuError = `the GPU device was lost (${info.reason}: ${info.message}); reload the page`;
      });
      return { ok: true, gpu: describeGpu(this.gpu) };
    } catch (e) {
      const msg = e instanceof NoWebGpuError ? e.message : `WebGPU failed to start: ${(e as Error).message}`;
      this.gpuError = msg;
      return { ok: false, error: msg };
    }
  }

  private requireGpu(): Gpu {
    if (!this.gpu) throw new Error(this.gpuError ?? 'WebGPU is not ready');
    if (this.gpuError) throw new Error(this.gpuError);
    return this.gpu;
  }

  private requireData(): OpenDataset {
    if (!this.data) throw new Error('no dataset: choose a dataset folder (or use the demo dataset) first');
    return this.data;
  }

  private requireModel(): LoadedModel {
    if (!this.model) throw new Error('no model: load a model first');
    return this.model;
  }

  private notTraining(what: string): void {
    if (this.training.stepping) throw new Error(`${what}: training is running; pause or stop it first`);
  }

  // ───────────────────────────────────────────────────────────────────────────── dataset

  /** `read`: how to read the page's files (kind 'pagefiles'); `onProgress`: what is being done. */
  async openDataset(
    input: DatasetInput,
    read?: PageFileReader | null,
    onProgress?: (p: StageProgress) => void,
  ): Promise<DatasetInfo> {
    if (this.training.running) throw new Error('training is running: stop it before changing the dataset');
    const { source, name } = await datasetSource(input, read ?? null, `${this.base}demo/dataset/`);
    this.images.cancel();
    try {
      this.data = await openDataset(source, name, input.kind, (message) =>
        onProgress?.({ stage: 'dataset', message, done: 0, total: 0 }),
      );
    } catch (e) {
      throw userError(e);
    }
    this.dropIndex();
    return this.data.info;
  }

  /**
   * Decodes every image of the dataset (in the decode pool, in the background: other calls go on
   * meanwhile) and lists those that cannot be read. cancelImageCheck() (or opening another
   * dataset, or a new check) stops it; it then reports what was checked.
   */
  checkImages(onProgress?: (p: StageProgress) => void): Promise<ImageCheck> {
    return this.images.check(this.requireData(), onProgress);
  }

  cancelImageCheck(): void {
    this.images.cancel();
  }

  // ───────────────────────────────────────────────────────────────────────────── model

  async loadModel(input: ModelInput, onProgress?: (p: DownloadProgress) => void): Promise<ModelInfo> {
    if (this.training.running) throw new Error('training is running: stop it before changing the model');
    if (input.kind === 'hub' && input.id.trim() === DEMO_MODEL_ID) input = { kind: 'demo' };
    let ctl: AbortController | null = null;
    if (input.kind === 'hub') {
      this.download?.abort();
      ctl = this.download = new AbortController();
    }
    let m: { ck: LoadedCheckpoint; name: string };
    try {
      const signal = (ctl ?? new AbortController()).signal;
      m = await loadModelInput(input, this.cache, `${this.base}demo/model/`, signal, onProgress);
    } catch (e) {
      throw userError(e);
    } finally {
      if (ctl && this.download === ctl) this.download = null;
    }
    this.model = { key: `model-${++loadedModels}`, ck: m.ck, info: describeModel(m.name, input.kind, m.ck) };
    this.dropIndex();
    return this.model.info;
  }

  cancelDownload(): void {
    this.download?.abort();
  }

  cachedModels(): Promise<CachedModel[]> {
    return this.cache.list();
  }

  async deleteCachedModel(id: string): Promise<void> {
    if (this.download) throw new Error('a download is running: cancel it first');
    await this.cache.delete(id);
  }

  // ───────────────────────────────────────────────────────────────────────────── config

  checkConfig(yaml: string): ConfigCheck {
    const { ok, problems, notes, config } = checkConfigYaml(yaml);
    return { ok, problems, notes, run: config ? runName(config.output_dir) : null };
  }

  // ───────────────────────────────────────────────────────────────────────────── training

  /**
   * Trains with the YAML config on the open dataset and model; `resume` continues the run's
   * latest checkpoint (also what `resume_from_checkpoint: latest` asks). Resolves when the run
   * ends (finished, stopped or failed: failures come as an 'error' update).
   */
  startTraining(
    yaml: string,
    opts: { resume: boolean; session: SessionInfo | null },
    onUpdate: (u: TrainUpdate) => void,
  ): Promise<void> {
    const inputs = () => {
      const gpu = this.requireGpu();
      const data = this.requireData();
      const model = this.requireModel();
      return { gpu, data, ck: model.ck, modelName: model.info.name };
    };
    const onRun = (run: string) => {
      this.activeRun = run;
      this.dropIndex();
    };
    return this.training.start(inputs, yaml, opts, onUpdate, { onRun, idle: () => this.busy });
  }

  pauseTraining(): void {
    this.training.pause();
  }

  resumeTraining(): void {
    this.training.resume();
  }

  stopTraining(): void {
    this.training.stop();
  }

  /** Runs in OPFS with a checkpoint, newest first, with what a resume needs. */
  savedRuns(): Promise<SavedRun[]> {
    return this.runs.list();
  }

  async deleteRun(run: string): Promise<void> {
    if (this.training.isTraining(run)) throw new Error(`run ${run} is training: stop it first`);
    await this.runs.delete(run);
    if (this.activeRun === run) {
      this.activeRun = null;
      this.dropIndex();
    }
  }

  /** Makes `run` the one Evaluate, Search and Export use. */
  useRun(run: string): void {
    if (this.activeRun !== run) this.dropIndex();
    this.activeRun = run;
  }

  /** The active run's latest checkpoint on the loaded model, or why there is none. */
  private fineTuned() {
    const m = this.model;
    return this.runs.fineTuned(m && { key: m.key, name: m.info.name, ck: m.ck }, this.activeRun);
  }

  // ───────────────────────────────────────────────────────────────────────────── evaluate

  evaluate(onProgress?: (p: StageProgress) => void): Promise<EvalResult> {
    return this.exclusive(async () => {
      this.notTraining('Evaluate');
      const gpu = this.requireGpu();
      const data = this.requireData();
      const model = this.requireModel();
      const progress = (message: string, done: number, total: number) =>
        onProgress?.({ stage: 'evaluate', message, done, total });
      const base = { ck: model.ck, name: model.info.name, key: `${model.key}|${data.key}` };
      const fineTuned = () => this.fineTuned();
      return evaluateModels(gpu, data.split, base, fineTuned, this.zeroShot, progress, this.images.preparer(data));
    });
  }

  // ───────────────────────────────────────────────────────────────────────────── search

  private dropIndex(): void {
    this.index?.destroy();
    this.index = null;
  }

  /**
   * Top-K of a photo (`blob`) or a dataset image (`path`, itself left out) among the dataset's
   * images, with the fine-tuned model when there is one, else the loaded model. The gallery is
   * embedded once per (dataset, model), kept on the GPU, and saved in OPFS
   * (src/platform/index-store-browser.ts): after a reload the same dataset and model search at once.
   */
  search(
    query: { path: string } | { blob: Blob; name: string },
    k: number,
    onProgress?: (p: StageProgress) => void,
  ): Promise<SearchResults> {
    return this.exclusive(async () => {
      this.notTraining('Search');
      const gpu = this.requireGpu();
      const data = this.requireData();
      const model = this.requireModel();
      const t0 = performance.now();
      const { ft } = await this.fineTuned();
      const ck = ft?.ck ?? model.ck;
      const name = ft?.name ?? model.info.name;
      const sessionKey = `${data.key}|${ft?.key ?? model.key}`;
      let source: SearchResults['index'] = 'memory';
      if (this.index?.key !== sessionKey) {
        this.dropIndex();
        ({ index: this.index, source } = await openIndex(
          gpu,
          sessionKey,
          ck,
          name,
          data,
          this.images.preparer(data),
          onProgress,
        ));
      }
      onProgress?.({ stage: 'search', message: 'searching', done: 0, total: 1 });
      const r = await searchQuery(this.index, data, query, k);
      return { ...r, index: source, seconds: (performance.now() - t0) / 1000 };
    });
  }

  // ───────────────────────────────────────────────────────────────────────────── export

  /**
   * Files of the active run's latest checkpoint: 'adapter' = adapter_config.json +
   * adapter_model.safetensors (PEFT), 'merged' = config.json + model.safetensors +
   * preprocessor_config.json (the adapter merged into the base, loadable with AutoModel); both
   * with train_config.yaml and train_results.json.
   */
  exportFiles(kind: ExportKind): Promise<ExportFile[]> {
    return this.exclusive(async () => {
      this.requireModel();
      if (!this.activeRun) throw new Error('nothing to export yet: train a model (or resume a saved run) first');
      const { ft, why } = await this.fineTuned();
      if (!ft) throw new Error(why);
      const files = await exportRun(kind, this.activeRun, ft.store, ft.folder, ft);
      return files.map((f): ExportFile => ({
        name: f.name,
        blob: new Blob([f.bytes as Uint8Array<ArrayBuffer>], { type: f.type }),
      }));
    });
  }
}

Comlink.expose(new Engine());
