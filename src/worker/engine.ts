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
import { createStore, del, get, set } from 'idb-keyval';
import { checkReadyToTrain, ConfigError, parseTrainConfigYaml, type TrainConfig } from '../config';
import { loadPairDataset, requireRecords, validateImages } from '../data/datasets';
import { decodeImageBlob, decodeImageBytes } from '../data/decode-browser';
import { directorySource, fileListSource } from '../data/source-browser';
import { existingFiles, type DataSource } from '../data/source';
import { validateJsonl } from '../eval/jsonl';
import { NoWebGpuError, requestBrowserGpu } from '../gpu/browser';
import { autotune } from '../ops/autotune';
import type { Gpu } from '../gpu/device';
import { IdbModelCache } from '../hub/cache-idb';
import { ensureModel, HubError } from '../hub/download';
import { writeSafetensors } from '../io/safetensors';
import { loadCheckpoint, type FileSource, type LoadedCheckpoint } from '../model/load';
import { weightsToTensors } from '../model/weights';
import { latestCheckpoint, type CheckpointStore, type TrainerState } from '../train/checkpoint';
import { opfsDelete, opfsListRuns, opfsStore, StorageFullError } from '../train/store-opfs';
import type { TrainResults } from '../train/trainer';
import { checkConfigYaml, runName } from './config-check';
import { imageBlob, loadImage, openDataset, pageFilesSource, resolveInSource, type OpenDataset } from './data';
import { DecodePool } from './decode-pool';
import { buildIndex, embedOne, galleryIndex, measureRecall, preprocessorOf, searchIndex, type GalleryIndex, type Preparer } from './evaluate';
import { indexId, loadIndex, modelFingerprint, saveIndex } from './index-store';
import { checkpointModel, demoModelSource, describeModel } from './models';
import type {
  CachedModel, ConfigCheck, DatasetInfo, DatasetInput, DownloadProgress, EvalResult, ExportFile, ExportKind, GpuInfo, ImageCheck,
  InitResult, ModelInfo, ModelInput, PageFileReader, RecallSet, SavedRun, SearchResults, SessionInfo, StageProgress, TrainUpdate,
} from './protocol';
import { DEMO_MODEL_ID } from './presets';
import { TrainingSession } from './training';
import { fetchIndex, fileSourceOf, urlDataSource } from './url-source';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** An Error a page can show: the message, with the error's kind when it helps. */
function userError(e: unknown): Error {
  if (e instanceof ConfigError) return new Error(`config: ${e.problems.join('; ')}`);
  if (e instanceof Error) return e;
  return new Error(String(e));
}

/** The files with `webkitRelativePath` set from `paths` (lost when the files were posted here). */
function withPaths(files: File[], paths: string[]): File[] {
  return files.map((f, i) => {
    if (paths[i] && f.webkitRelativePath !== paths[i]) Object.defineProperty(f, 'webkitRelativePath', { value: paths[i], configurable: true });
    return f;
  });
}

interface FineTuned {
  ck: LoadedCheckpoint;
  name: string;
  key: string;
  lora: boolean;
  store: CheckpointStore;
  folder: string;
}

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
  private readonly sessions = createStore('vembed-app', 'sessions');
  private data: OpenDataset | null = null;
  private model: LoadedModel | null = null;
  private download: AbortController | null = null;
  private training: TrainingSession | null = null;
  /** A training run is being prepared (data read, checkpoint found) and not yet stepping. */
  private starting = false;
  /** The run Evaluate, Search and Export use (the last trained or the one picked after a reload). */
  private activeRun: string | null = null;
  private zeroShot = new Map<string, RecallSet>();
  private index: GalleryIndex | null = null;
  private busy: Promise<unknown> = Promise.resolve();
  private imageCheck: AbortController | null = null;
  private pool: DecodePool | null = null;

  /** Runs `fn` after the GPU work queued before it (one at a time). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.busy.then(fn, fn);
    this.busy = p.catch(() => {});
    return p;
  }

  async init(baseUrl: string): Promise<InitResult> {
    this.base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
    if (this.gpu) return { ok: true, gpu: this.gpuInfo(this.gpu) };
    try {
      this.gpu = await requestBrowserGpu();
      await autotune(this.gpu); // pick the kernel variants that are fastest on this adapter
      this.gpu.onLost((info) => {
        this.gpuError = `the GPU device was lost (${info.reason}: ${info.message}); reload the page`;
      });
      return { ok: true, gpu: this.gpuInfo(this.gpu) };
    } catch (e) {
      const msg = e instanceof NoWebGpuError ? e.message : `WebGPU failed to start: ${(e as Error).message}`;
      this.gpuError = msg;
      return { ok: false, error: msg };
    }
  }

  private gpuInfo(g: Gpu): GpuInfo {
    const r = g.report;
    return {
      description: g.describe(), vendor: r.vendor, architecture: r.architecture, isFallback: r.isFallback, features: r.features,
      limits: {
        maxBufferSize: r.limits.maxBufferSize, maxStorageBufferBindingSize: r.limits.maxStorageBufferBindingSize,
        maxComputeInvocationsPerWorkgroup: r.limits.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupStorageSize: r.limits.maxComputeWorkgroupStorageSize,
      },
    };
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
    if (this.starting || (this.training?.running && !this.training.isPaused)) throw new Error(`${what}: training is running; pause or stop it first`);
  }

  // ───────────────────────────────────────────────────────────────────────────── dataset

  /** `read`: how to read the page's files (kind 'pagefiles'); `onProgress`: what is being done. */
  async openDataset(input: DatasetInput, read?: PageFileReader | null, onProgress?: (p: StageProgress) => void): Promise<DatasetInfo> {
    if (this.training?.running) throw new Error('training is running: stop it before changing the dataset');
    let source: DataSource;
    let name: string;
    if (input.kind === 'demo') {
      const base = `${this.base}demo/dataset/`;
      source = urlDataSource(base, await fetchIndex(base), 'demo dataset');
      name = 'demo dataset (Fashion-MNIST products)';
    } else if (input.kind === 'handle') {
      source = directorySource(input.handle);
      name = input.handle.name;
    } else if (input.kind === 'pagefiles') {
      if (!input.paths.length) throw new Error('the folder has no files');
      if (!read) throw new Error('openDataset: a page folder needs its file reader');
      source = pageFilesSource(input.paths, read);
      name = source.where || 'picked files';
    } else {
      if (!input.files.length) throw new Error('the folder has no files');
      source = fileListSource(withPaths(input.files, input.paths));
      name = source.where || 'picked files';
    }
    this.imageCheck?.abort();
    try {
      this.data = await openDataset(source, name, input.kind, (message) => onProgress?.({ stage: 'dataset', message, done: 0, total: 0 }));
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
  async checkImages(onProgress?: (p: StageProgress) => void): Promise<ImageCheck> {
    const data = this.requireData();
    this.imageCheck?.abort();
    const ctl = new AbortController();
    this.imageCheck = ctl;
    const { paths } = data.gallery();
    const records = paths.map((p) => ({ query: p, positive: p, label: null }));
    const pool = this.decodePool();
    let last = 0;
    let checked = 0;
    const t0 = performance.now();
    try {
      const problems = await validateImages(data.source, records, (bytes, name) => pool.check(bytes, name), {
        concurrency: 4 * pool.size,
        signal: ctl.signal,
        onProgress: (done, total) => {
          checked = done;
          const now = performance.now();
          if (done === total || now - last > 100) {
            last = now;
            const rate = done / Math.max((now - t0) / 1000, 1e-3);
            onProgress?.({ stage: 'validate', message: `checking images ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} (${rate.toFixed(0)}/s)`, done, total });
          }
        },
      });
      return { checked, total: paths.length, unreadable: problems, cancelled: ctl.signal.aborted };
    } finally {
      if (this.imageCheck === ctl) this.imageCheck = null;
    }
  }

  cancelImageCheck(): void {
    this.imageCheck?.abort();
  }

  private decodePool(): DecodePool {
    this.pool ??= new DecodePool();
    return this.pool;
  }

  /** Images of `data` decoded and preprocessed in the decode pool. */
  private preparer(data: OpenDataset): Preparer {
    const pool = this.decodePool();
    return (pp) => async (path) => pool.prepare(await data.source.readBytes(path), path, pp);
  }

  // ───────────────────────────────────────────────────────────────────────────── model

  async loadModel(input: ModelInput, onProgress?: (p: DownloadProgress) => void): Promise<ModelInfo> {
    if (this.training?.running) throw new Error('training is running: stop it before changing the model');
    let src: FileSource;
    let name: string;
    if (input.kind === 'demo') {
      src = await demoModelSource(this.cache, `${this.base}demo/model/`);
      name = DEMO_MODEL_ID;
    } else if (input.kind === 'hub') {
      const id = input.id.trim();
      if (id === DEMO_MODEL_ID) return this.loadModel({ kind: 'demo' }, onProgress);
      this.download?.abort();
      const ctl = new AbortController();
      this.download = ctl;
      const sizes = new Map<string, { bytes: number; total: number | null }>();
      // At most one progress message per 100 ms, the latest always delivered (trailing edge).
      let last = 0;
      let pending: DownloadProgress | null = null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const flush = () => {
        timer = undefined;
        last = performance.now();
        if (pending) onProgress?.(pending);
        pending = null;
      };
      try {
        src = await ensureModel(id, this.cache, {
          token: input.token || null, signal: ctl.signal, endpoint: input.endpoint || undefined,
          onProgress: (p) => {
            sizes.set(p.file, { bytes: p.bytes, total: p.total });
            let allBytes = 0, allTotal: number | null = 0;
            for (const s of sizes.values()) {
              allBytes += s.bytes;
              allTotal = allTotal === null || s.total === null ? null : allTotal + s.total;
            }
            pending = { ...p, allBytes, allTotal };
            const wait = 100 - (performance.now() - last);
            if (wait <= 0) flush();
            else timer ??= setTimeout(flush, wait);
          },
        });
      } catch (e) {
        if (ctl.signal.aborted) throw new Error(`download of ${id} cancelled; what arrived is kept, and the next Load model resumes it`, { cause: e });
        if (e instanceof HubError) throw new Error(e.message, { cause: e });
        throw userError(e);
      } finally {
        clearTimeout(timer);
        if (this.download === ctl) this.download = null;
      }
      name = id;
    } else if (input.kind === 'handle') {
      src = fileSourceOf(directorySource(input.handle));
      name = input.handle.name;
    } else {
      const ds = fileListSource(withPaths(input.files, input.paths));
      src = fileSourceOf(ds);
      name = ds.where || 'local model';
    }
    let ck: LoadedCheckpoint;
    try {
      ck = await loadCheckpoint(src);
      preprocessorOf(ck, name);
    } catch (e) {
      throw userError(e);
    }
    this.model = { key: `model-${++loadedModels}`, ck, info: describeModel(name, input.kind, ck) };
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
  async startTraining(yaml: string, opts: { resume: boolean; session: SessionInfo | null }, onUpdate: (u: TrainUpdate) => void): Promise<void> {
    const send = (u: TrainUpdate) => {
      try {
        onUpdate(u);
      } catch {
        // the page went away
      }
    };
    if (this.training?.running || this.starting) throw new Error('a training run is already running');
    this.starting = true;
    try {
      const gpu = this.requireGpu();
      const data = this.requireData();
      const model = this.requireModel();
      const checked = checkConfigYaml(yaml);
      if (!checked.config) throw new ConfigError(checked.problems.map((p) => (p.line ? `line ${p.line}: ${p.message}` : p.message)));
      const config: TrainConfig = { ...checked.config };
      for (const n of checked.notes) send({ kind: 'info', message: n });
      if (config.model_name !== model.info.name) {
        if (config.model_name) send({ kind: 'info', message: `model_name ${config.model_name}: training the loaded model ${model.info.name} instead` });
        config.model_name = model.info.name;
      }
      config.data_path = await this.resolve(data, 'data_path', config.data_path ?? data.info.dataPath, false, send);
      if (config.image_root) config.image_root = await this.resolve(data, 'image_root', config.image_root, true, send);
      if (config.val_data_path) config.val_data_path = await this.resolve(data, 'val_data_path', config.val_data_path, false, send);
      checkReadyToTrain(config);

      const dataOpts = { imageRoot: config.image_root, columnMapping: config.column_mapping, seed: config.seed, allowOutsideRoot: config.allow_absolute_paths };
      const ds = await loadPairDataset(data.source, { dataPath: config.data_path, ...dataOpts });
      for (const p of ds.problems) send({ kind: 'info', message: `data: ${p}` });
      requireRecords(ds, config.data_path);
      let records = ds.records;
      const paths = [...new Set(records.flatMap((r) => [r.query, r.positive]))];
      const found = await existingFiles(data.source, paths);
      const missing = paths.filter((p) => !found.has(p));
      if (missing.length === paths.length) {
        throw new Error(`none of the ${paths.length} images named by ${config.data_path} exist in ${data.source.where} (first: ${missing[0]}); set image_root to the folder the paths start from`);
      }
      if (missing.length) {
        const miss = new Set(missing);
        records = records.filter((r) => !miss.has(r.query) && !miss.has(r.positive));
        send({ kind: 'info', message: `data: ${missing.length} missing images; ${ds.records.length - records.length} pairs dropped (first: ${missing[0]})` });
      }
      if (config.validate_data) {
        const problems = await validateImages(data.source, records, decodeImageBytes);
        const bad = new Set(problems.map((p) => p.path));
        records = records.filter((r) => !bad.has(r.query) && !bad.has(r.positive));
        send({ kind: 'info', message: `validate_data: ${problems.length} unreadable images; ${ds.records.length - records.length} pairs dropped` });
      }
      const load = (p: string) => loadImage(data.source, p);
      let validate = null;
      if (config.val_data_path) {
        const val = await loadPairDataset(data.source, { dataPath: config.val_data_path, ...dataOpts });
        requireRecords(val, config.val_data_path);
        validate = (vit: Parameters<typeof validateJsonl>[0], pp: Parameters<typeof validateJsonl>[1]) =>
          validateJsonl(vit, pp, val.records, load, { batchSize: config.eval_batch_size ?? config.batch_size });
      }

      const run = runName(config.output_dir);
      const resumeWanted = opts.resume || config.resume_from_checkpoint !== null;
      if (!resumeWanted && (await opfsListRuns()).some((r) => r.name === run)) {
        await opfsDelete(run);
        send({ kind: 'info', message: `started over: the earlier checkpoints of ${run} were deleted` });
      }
      const store = opfsStore(run);
      let resume: { store: CheckpointStore; folder: string } | null = null;
      if (resumeWanted) {
        const want = opts.resume ? 'latest' : config.resume_from_checkpoint!;
        const folder = want === 'latest' ? await latestCheckpoint(store) : want.split('/').pop()!;
        if (!folder) throw new Error(`nothing to resume: run ${run} has no checkpoint in this browser`);
        resume = { store, folder };
      }
      let history: { step: number; loss: number; lr: number }[] = [];
      if (resume && (await store.hasFile('', 'train_results.json'))) {
        try {
          const upTo = (JSON.parse(dec.decode(await resume.store.readFile(resume.folder, 'trainer_state.json'))) as TrainerState).step;
          const prev = JSON.parse(dec.decode(await store.readFile('', 'train_results.json'))) as TrainResults;
          history = prev.log.filter((r) => r.step <= upTo).map((r) => ({ step: r.step, loss: r.loss, lr: r.lr }));
        } catch {
          // no history for the charts; training itself does not need it
        }
      }
      if (opts.session) await set(run, opts.session, this.sessions);
      this.activeRun = run;
      this.dropIndex();
      const session = new TrainingSession({
        gpu, checkpoint: model.ck, config, records, load, store, run, resume, validate, history, onUpdate: send,
      });
      this.training = session;
      this.starting = false;
      await this.busy; // evaluation or search still on the GPU
      const r = await session.start();
      send({
        kind: 'done', stoppedEarly: r.stopped_early, steps: r.steps, totalSteps: r.total_steps, finalLoss: r.final.loss,
        seconds: r.final.seconds, checkpoint: r.final.checkpoint,
      });
    } catch (e) {
      if (e instanceof StorageFullError) send({ kind: 'error', message: e.message, storageFull: true });
      else if ((e as { name?: string })?.name === 'QuotaExceededError') {
        send({ kind: 'error', message: `browser storage is full (QuotaExceededError: ${(e as Error).message})`, storageFull: true });
      } else send({ kind: 'error', message: userError(e).message, storageFull: false });
    } finally {
      this.starting = false;
    }
  }

  /** A path of the config inside the dataset folder (leading folders dropped if needed). */
  private async resolve(data: OpenDataset, key: string, path: string, folder: boolean, send: (u: TrainUpdate) => void): Promise<string> {
    const p = await resolveInSource(data.source, path, folder);
    if (p === null) throw new ConfigError(`${key}: ${path} is not in the dataset folder ${data.source.where} (paths in the config are relative to the chosen folder)`);
    if (p !== path) send({ kind: 'info', message: `${key}: ${path} read as ${p} in ${data.source.where}` });
    return p;
  }

  pauseTraining(): void {
    this.training?.pause();
  }

  resumeTraining(): void {
    this.training?.resume();
  }

  stopTraining(): void {
    this.training?.stop();
  }

  /** Runs in OPFS with a checkpoint, newest first, with what a resume needs. */
  async savedRuns(): Promise<SavedRun[]> {
    const out: (SavedRun & { modified: number })[] = [];
    for (const r of await opfsListRuns()) {
      const store = opfsStore(r.name);
      const folder = await latestCheckpoint(store).catch(() => null);
      if (!folder) continue;
      const state = JSON.parse(dec.decode(await store.readFile(folder, 'trainer_state.json'))) as TrainerState;
      let total: number | null = null;
      if (await store.hasFile('', 'train_results.json')) {
        try {
          total = (JSON.parse(dec.decode(await store.readFile('', 'train_results.json'))) as TrainResults).total_steps;
        } catch {
          // damaged: unknown total
        }
      }
      const yaml = (await store.hasFile('', 'train_config.yaml')) ? dec.decode(await store.readFile('', 'train_config.yaml')) : null;
      const session = (await get<SessionInfo>(r.name, this.sessions)) ?? null;
      out.push({
        run: r.name, checkpoint: folder, step: state.step, totalSteps: total, finished: total !== null && state.step >= total,
        bytes: r.bytes, yaml, session, modified: r.lastModified,
      });
    }
    return out.sort((a, b) => b.modified - a.modified).map(({ modified: _, ...r }) => r);
  }

  async deleteRun(run: string): Promise<void> {
    if (this.training?.running && this.training.run === run) throw new Error(`run ${run} is training: stop it first`);
    await opfsDelete(run);
    await del(run, this.sessions);
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

  // ───────────────────────────────────────────────────────────────────────────── fine-tuned model

  /**
   * The active run's latest checkpoint merged into the loaded model; `why` says why there is none
   * (no run or checkpoint yet, or the run was trained on another model than the one loaded).
   */
  private async fineTuned(): Promise<{ ft: FineTuned | null; why: string }> {
    if (!this.model) return { ft: null, why: 'no model loaded' };
    if (!this.activeRun) return { ft: null, why: 'no fine-tuned checkpoint yet: train (or resume a saved run) to compare' };
    const run = this.activeRun;
    const store = opfsStore(run);
    const folder = await latestCheckpoint(store);
    if (!folder) return { ft: null, why: `run ${run} has no checkpoint yet` };
    if (await store.hasFile('', 'train_config.yaml')) {
      try {
        const trained = parseTrainConfigYaml(dec.decode(await store.readFile('', 'train_config.yaml')), 'train_config.yaml').config.model_name;
        if (trained && trained !== this.model.info.name) {
          return { ft: null, why: `run ${run} was trained on ${trained}, not on the loaded ${this.model.info.name}: load that model to use the run` };
        }
      } catch {
        // an unreadable train_config.yaml: trust the checkpoint's shapes (merging checks them)
      }
    }
    const m = await checkpointModel(this.model.ck, store, folder);
    const state = JSON.parse(dec.decode(await store.readFile(folder, 'trainer_state.json'))) as TrainerState;
    return { ft: { ...m, name: `${run}/${folder}`, key: `${this.model.key}|${run}|${folder}|${state.step}`, store, folder }, why: '' };
  }

  // ───────────────────────────────────────────────────────────────────────────── evaluate

  evaluate(onProgress?: (p: StageProgress) => void): Promise<EvalResult> {
    return this.exclusive(async () => {
      this.notTraining('Evaluate');
      const gpu = this.requireGpu();
      const data = this.requireData();
      const model = this.requireModel();
      const progress = (message: string, done: number, total: number) => onProgress?.({ stage: 'evaluate', message, done, total });
      const zKey = `${model.key}|${data.key}`;
      let zeroShot = this.zeroShot.get(zKey) ?? null;
      if (!zeroShot) {
        zeroShot = await measureRecall(gpu, model.ck, `${model.info.name} (zero-shot)`, data, progress, this.preparer(data));
        this.zeroShot.set(zKey, zeroShot);
      }
      const { ft, why } = await this.fineTuned();
      const fineTuned = ft ? await measureRecall(gpu, ft.ck, ft.name, data, progress, this.preparer(data)) : null;
      return { protocol: data.split.description, zeroShot, fineTuned, note: ft ? null : why };
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
   * embedded once per (dataset, model), kept on the GPU, and saved in OPFS (src/worker/
   * index-store.ts): after a reload the same dataset and model search at once.
   */
  search(query: { path: string } | { blob: Blob; name: string }, k: number, onProgress?: (p: StageProgress) => void): Promise<SearchResults> {
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
        const id = indexId(data.info.name, data.gallery().paths, modelFingerprint(ck));
        onProgress?.({ stage: 'index', message: 'looking for a saved index of this dataset and model', done: 0, total: 1 });
        const stored = await loadIndex(id).catch(() => null);
        if (stored) {
          this.index = galleryIndex(gpu, sessionKey, ck, name, stored);
          source = 'stored';
        } else {
          this.index = await buildIndex(gpu, sessionKey, ck, name, data, (message, done, total) => onProgress?.({ stage: 'index', message, done, total }), this.preparer(data));
          source = 'built';
          const ix = this.index;
          await saveIndex({ id, model: name, dataset: data.info.name, N: ix.paths.length, D: ix.D, paths: ix.paths, labels: ix.labels, emb: ix.emb })
            .catch((e) => console.warn(`search index not saved (${(e as Error).message}); it serves this session`));
        }
      }
      const index = this.index;
      onProgress?.({ stage: 'search', message: 'searching', done: 0, total: 1 });
      let q: Float32Array;
      let exclude: number | null = null;
      let qPath: string | null = null;
      if ('path' in query) {
        qPath = query.path;
        const row = index.paths.indexOf(query.path);
        if (row >= 0) {
          q = index.emb.slice(row * index.D, (row + 1) * index.D);
          exclude = row;
        } else {
          q = await embedOne(index, await loadImage(data.source, query.path));
        }
      } else {
        q = await embedOne(index, await decodeImageBlob(query.blob, query.name));
      }
      const tQ = performance.now();
      const hits = await searchIndex(index, q, k, exclude);
      const searchMs = performance.now() - tQ;
      return {
        model: index.model, gallery: index.paths.length, index: source, searchMs,
        query: { path: qPath, label: qPath ? data.labelOf(qPath) : null, blob: qPath ? await imageBlob(data.source, qPath) : null },
        hits: await Promise.all(hits.map(async (h) => ({
          path: index.paths[h.row], label: index.labels[h.row], score: h.score, blob: await imageBlob(data.source, index.paths[h.row]),
        }))),
        seconds: (performance.now() - t0) / 1000,
      };
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
      const { store, folder } = ft;
      const blob = (bytes: Uint8Array, type: string) => new Blob([bytes as Uint8Array<ArrayBuffer>], { type });
      const files: ExportFile[] = [];
      if (kind === 'adapter') {
        if (!ft.lora) throw new Error(`${this.activeRun} trained all weights (use_lora: false), so there is no adapter: export the merged model`);
        files.push({ name: 'adapter_config.json', blob: blob(await store.readFile(folder, 'adapter_config.json'), 'application/json') });
        files.push({ name: 'adapter_model.safetensors', blob: blob(await store.readFile(folder, 'adapter_model.safetensors'), 'application/octet-stream') });
      } else {
        const ck = ft.ck;
        files.push({ name: 'config.json', blob: blob(enc.encode(JSON.stringify(ck.config, null, 2)), 'application/json') });
        files.push({ name: 'model.safetensors', blob: blob(writeSafetensors(weightsToTensors(ck.spec, ck.weights), { format: 'pt' }), 'application/octet-stream') });
        if (ck.preprocessor) files.push({ name: 'preprocessor_config.json', blob: blob(enc.encode(JSON.stringify(ck.preprocessor, null, 2)), 'application/json') });
      }
      for (const [name, type] of [['train_config.yaml', 'text/yaml'], ['train_results.json', 'application/json']] as const) {
        if (await store.hasFile('', name)) files.push({ name, blob: blob(await store.readFile('', name), type) });
      }
      return files;
    });
  }
}

Comlink.expose(new Engine());
