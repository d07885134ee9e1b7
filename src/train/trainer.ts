/**
 * The training loop, the same in Node (vembed train) and in the browser (a Web Worker):
 *   data order per epoch from (seed, epoch) -> batches decoded and preprocessed one ahead of the
 *   GPU -> TrainStep (forward, loss, backward; gradient-cached when the batch is larger than
 *   gradient_cache_chunk_size) -> AdamW with clipping at the scheduled learning rate ->
 *   logs every logging_steps, checkpoints every save_steps and at each epoch end,
 *   train_results.json and train_config.yaml kept up to date in output_dir. With max_steps > 0
 *   the run is that many steps (epochs as needed, the last one cut short and checkpointed).
 * Every step's loss and gradient norm go through TrainingHealth (./health.ts): NaN/Inf stops the run
 * before anything of that step is saved; a stall (a zero gradient norm, step after step) is warned about.
 * A results file that cannot be written (a full disk) saves a checkpoint if it can, then stops.
 * Resuming restores weights, AdamW moments, the step and the position in the epoch's data order,
 * so the losses after resuming equal those of an uninterrupted run with the same seed; a resume
 * that does not fit (other data, seed, lora_r, a finished run) is refused before anything is written.
 */
import { toYaml, type TrainConfig } from '../config';
import { resolveLoraTargets } from '../config/lora';
import type { RgbImage } from '../data/image';
import type { PairRecord } from '../data/datasets';
import { outputSize, preprocess, type Preprocessor } from '../data/preprocess';
import type { Gpu } from '../gpu/device';
import { SafetensorsFile } from '../io/safetensors';
import { checkpointPreprocessor, type LoadedCheckpoint } from '../model/load';
import { LINEAR_ROLES, Vit } from '../model/vit';
import { expectedTensors, linearModulePath } from '../model/weights';
import { nonFiniteText } from '../util/finite';
import { Rng } from '../util/random';
import {
  latestCheckpoint,
  loadTrainingState,
  saveCheckpoint,
  type CheckpointStore,
  type TrainerState,
} from './checkpoint';
import { TrainError, TrainingHealth } from './health';
import { RunFolder, type TrainResults } from './run-folder';
import { AdamW, trainableParams } from './optimizer';
import { lrMultiplier, warmupFor } from './schedule';
import { mixSeed, TrainStep, type Batch } from './step';

export type { PairRecord };

export interface PairData {
  records: PairRecord[];
  /** Decodes an image of a record (throws for unreadable files). */
  load: (path: string) => Promise<RgbImage>;
}

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

export interface TrainerOptions {
  gpu: Gpu;
  checkpoint: LoadedCheckpoint;
  config: TrainConfig;
  train: PairData;
  /** Per-epoch validation: returns metrics (e.g. recall@1) for the current weights. */
  validate?: ((vit: Vit, pp: Preprocessor) => Promise<Record<string, number>>) | null;
  /** output_dir. */
  store: CheckpointStore;
  /** Checkpoint to resume from (resolved by the caller), or null. */
  resume?: { store: CheckpointStore; folder: string } | null;
  onEvent?: (e: TrainEvent) => void;
  /** Aborting stops after the current step, saves a checkpoint and returns. */
  signal?: AbortSignal;
  /** Images found unreadable before training (their pairs dropped): listed first in skipped_images. */
  unreadable?: { path: string; error: string }[];
}

export type { LogRow, TrainResults } from './run-folder';

export { TrainError };

/** Steps per epoch, total steps (max_steps when positive) and epochs begun, for N records. */
export function trainingLength(
  c: Pick<TrainConfig, 'batch_size' | 'epochs' | 'max_steps'>,
  N: number,
): { stepsPerEpoch: number; total: number; epochs: number } {
  const stepsPerEpoch = Math.ceil(N / Math.min(c.batch_size, N));
  const total = c.max_steps > 0 ? c.max_steps : c.epochs * stepsPerEpoch;
  return { stepsPerEpoch, total, epochs: Math.ceil(total / stepsPerEpoch) };
}

/** Seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  const p = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

export class Trainer {
  readonly vit: Vit;
  readonly pp: Preprocessor;
  private readonly o: TrainerOptions;
  private readonly c: TrainConfig;
  private opt!: AdamW;
  private step!: TrainStep;
  private results!: TrainResults;
  private H = 0;
  private W = 0;

  constructor(o: TrainerOptions) {
    this.o = o;
    this.c = o.config;
    const c = o.config;
    const spec = o.checkpoint.spec;
    if (c.retrieval_mode !== 'i2i')
      throw new TrainError(
        `retrieval_mode "${c.retrieval_mode}" is not supported: this trainer does image-to-image retrieval (i2i)`,
      );
    if (c.gradient_accumulation_steps !== 1) {
      throw new TrainError(
        `gradient_accumulation_steps: ${c.gradient_accumulation_steps} is not supported; raise batch_size instead (large batches run in bounded memory with use_gradient_cache)`,
      );
    }
    if (c.rope_rescale_in_training && spec.ropeTheta === null) {
      throw new TrainError(
        'rope_rescale_in_training: true applies to DINOv3 RoPE; this DINOv2 model has a learned position table instead',
      );
    }
    if (c.pooling_method !== 'cls')
      throw new TrainError(`pooling_method "${c.pooling_method}" is not supported in training yet; use cls`);
    this.pp = checkpointPreprocessor(o.checkpoint, c.model_name ?? 'the model');
    const a = outputSize(this.pp, 640, 480),
      b = outputSize(this.pp, 333, 517);
    if (a.height !== b.height || a.width !== b.width) {
      throw new TrainError(
        'preprocessor_config.json gives images of varying size (no crop and no fixed size); training needs one fixed input size',
      );
    }
    this.H = a.height;
    this.W = a.width;
    if (o.train.records.length < 2)
      throw new TrainError(
        `the training data has ${o.train.records.length} pairs; at least 2 are needed for in-batch negatives`,
      );
    // fp16 / bf16: packed-f16 storage (src/model/vit.ts); LoRA keeps the frozen weights in f16 too
    const f16 = c.fp16 || c.bf16 ? (c.use_lora ? 'weights+acts' : 'acts') : undefined;
    this.vit = new Vit(o.gpu, spec, o.checkpoint.weights, { f16 });
  }

  private emit(e: TrainEvent): void {
    this.o.onEvent?.(e);
  }

  private setupParams(): void {
    const c = this.c,
      vit = this.vit;
    if (c.use_lora) {
      const t = resolveLoraTargets(c, vit.spec.family);
      if (t.unmatched.length)
        this.emit({
          kind: 'info',
          message: `lora_target_modules: ${t.unmatched.join(', ')} match no layer of this model (ignored)`,
        });
      const scale = c.use_rslora ? c.lora_alpha / Math.sqrt(c.lora_r) : c.lora_alpha / c.lora_r;
      for (let l = 0; l < vit.spec.layers; l++) {
        for (const role of t.roles) {
          const inF = role === 'fc2' ? vit.spec.intermediate : vit.spec.hidden;
          const outF = role === 'fc1' ? vit.spec.intermediate : vit.spec.hidden;
          // PEFT init: A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0
          const rng = new Rng(mixSeed(c.seed, 0x10a, l, LINEAR_ROLES.indexOf(role)));
          const bound = 1 / Math.sqrt(inF);
          const A = Float32Array.from({ length: c.lora_r * inF }, () => rng.uniform(-bound, bound));
          vit.addLora(l, role, c.lora_r, scale, c.lora_dropout, A, new Float32Array(outF * c.lora_r), true);
        }
      }
    } else {
      vit.enableFullGrads();
    }
    this.opt = new AdamW(vit.gpu, trainableParams(vit), { weightDecay: c.weight_decay, maxGradNorm: c.max_grad_norm });
    const chunk = c.use_gradient_cache ? c.gradient_cache_chunk_size : Infinity;
    this.step = new TrainStep(
      vit,
      {
        type: c.loss_type,
        temperature: c.temperature,
        bidirectional: c.loss_bidirectional,
        tripletMargin: c.triplet_margin,
        cosentScale: c.cosent_scale,
      },
      chunk,
    );
  }

  /** Loads weights and optimizer state of a checkpoint folder written by this trainer. */
  private async restore(store: CheckpointStore, folder: string): Promise<TrainerState> {
    const vit = this.vit,
      where = `${store.where}/${folder}`;
    const finite = (file: SafetensorsFile, key: string) => {
      const data = file.f32(key);
      const bad = nonFiniteText(data);
      if (bad)
        throw new TrainError(
          `${file.file}: tensor "${key}" has ${bad}; this checkpoint cannot be resumed (resume from an earlier one)`,
        );
      return data;
    };
    if (this.c.use_lora) {
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
    return loadTrainingState(store, folder, this.opt);
  }

  private async loadBatch(ids: number[]): Promise<Batch | null> {
    const { records, load } = this.o.train;
    const img = 3 * this.H * this.W;
    const pairs = await Promise.all(
      ids.map(async (i) => {
        const r = records[i];
        try {
          const [q, p] = await Promise.all([load(r.query), load(r.positive)]);
          return { q: preprocess(q, this.pp), p: preprocess(p, this.pp), label: r.label };
        } catch (e) {
          const path = (e as { path?: string }).path ?? `${r.query} / ${r.positive}`;
          this.results.skipped_images.push({ path, error: (e as Error).message });
          this.emit({ kind: 'skipped', path, error: (e as Error).message });
          return null;
        }
      }),
    );
    const ok = pairs.filter((x): x is NonNullable<typeof x> => x !== null);
    if (ok.length < 2) return null;
    const B = ok.length;
    const query = new Float32Array(B * img),
      positive = new Float32Array(B * img);
    ok.forEach((x, k) => {
      query.set(x.q, k * img);
      positive.set(x.p, k * img);
    });
    const labels = ok.every((x) => x.label !== null) ? Uint32Array.from(ok, (x) => x.label!) : null;
    return { query, positive, labels, B, H: this.H, W: this.W };
  }

  private async writeResults(): Promise<void> {
    await this.o.store.writeFile('train_results.json', new TextEncoder().encode(JSON.stringify(this.results, null, 2)));
  }

  async run(): Promise<TrainResults> {
    const c = this.c,
      o = this.o,
      gpu = o.gpu;
    const t0 = performance.now();
    this.setupParams();
    const N = o.train.records.length;
    const B = Math.min(c.batch_size, N);
    const { stepsPerEpoch, total, epochs } = trainingLength(c, N);
    const warm = warmupFor(c.warmup_steps, c.warmup_ratio, total);
    this.results = {
      model: c.model_name ?? '',
      steps: 0,
      total_steps: total,
      epochs_done: 0,
      stopped_early: false,
      log: [],
      epochs: [],
      skipped_images: [...(o.unreadable ?? [])],
      final: { loss: null, seconds: 0, checkpoint: null },
    };

    let state: TrainerState = { step: 0, epoch: 0, batchInEpoch: 0, seed: c.seed, stepsPerEpoch, numRecords: N };
    if (o.resume) {
      const folder = o.resume.folder === 'latest' ? await latestCheckpoint(o.resume.store) : o.resume.folder;
      if (!folder) throw new TrainError(`resume_from_checkpoint: latest: no checkpoint in ${o.resume.store.where}`);
      state = await this.restore(o.resume.store, folder);
      if (state.numRecords !== N || state.stepsPerEpoch !== stepsPerEpoch || state.seed !== c.seed) {
        throw new TrainError(
          `resume_from_checkpoint ${o.resume.store.where}/${folder}: it was saved with ${state.numRecords} pairs, ` +
            `${state.stepsPerEpoch} steps per epoch and seed ${state.seed}; now ${N}, ${stepsPerEpoch} and ${c.seed}: ` +
            'resuming needs the same data, batch_size and seed',
        );
      }
      const prev = await o.store.hasFile('', 'train_results.json').catch(() => false);
      if (prev) {
        try {
          const r = (await new RunFolder(o.store).results())!;
          this.results.log = r.log.filter((x) => x.step <= state.step);
          this.results.epochs = r.epochs.filter((x) => x.epoch < state.epoch);
          this.results.skipped_images = r.skipped_images;
        } catch {
          /* a damaged results file is rewritten from here on */
        }
      }
      if (state.step >= total) {
        throw new TrainError(
          `resume_from_checkpoint ${o.resume.store.where}/${folder}: that run is complete (step ${state.step} of ${total}); nothing was changed. ` +
            `To train longer, raise ${c.max_steps > 0 ? `max_steps (now ${c.max_steps})` : `epochs (now ${c.epochs})`}; to train again from the start, use another output_dir`,
        );
      }
      this.results.final.checkpoint = folder;
      this.emit({
        kind: 'info',
        message: `resumed from ${folder} at step ${state.step} (epoch ${state.epoch + 1}, batch ${state.batchInEpoch})`,
      });
    }
    // Written only once the resume checks passed: a refused resume changes nothing in output_dir.
    await o.store.writeFile('train_config.yaml', new TextEncoder().encode(toYaml(c)));

    const save = async (name: string) => {
      const s: TrainerState = { ...state, seed: c.seed, stepsPerEpoch, numRecords: N };
      await saveCheckpoint({
        store: o.store,
        name,
        vit: this.vit,
        opt: this.opt,
        state: s,
        lora: c.use_lora
          ? {
              r: c.lora_r,
              alpha: c.lora_alpha,
              dropout: c.lora_dropout,
              rslora: c.use_rslora,
              targetModules: resolveLoraTargets(c, this.vit.spec.family).modules,
              baseModel: c.model_name ?? '',
            }
          : null,
        config: o.checkpoint.config,
        preprocessor: o.checkpoint.preprocessor,
        extra: o.checkpoint.weights,
      });
      this.results.final.checkpoint = name;
      this.emit({ kind: 'checkpoint', name, step: state.step });
    };

    /** Results on disk; when that fails (a full disk), keep the steps since the last checkpoint if possible, then stop. */
    const writeResultsOrStop = async () => {
      try {
        await this.writeResults();
      } catch (e) {
        const before = this.results.final.checkpoint;
        let saved: string;
        try {
          await save(`checkpoint-step-${state.step}`);
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
    };

    const health = new TrainingHealth(c, () => this.results.final.checkpoint);
    let gradNorm = 0;
    let imagesDone = 0;
    const tRun = performance.now();
    const startStep = state.step;
    let lastLoss: number | null = null;
    let stopped = false;
    for (let epoch = state.epoch; epoch < epochs && state.step < total && !stopped; epoch++) {
      const order = permutation(N, mixSeed(c.seed, 0xe90c, epoch));
      const batchIds = (b: number) => order.slice(b * B, Math.min(N, (b + 1) * B));
      let next: Promise<Batch | null> | null = this.loadBatch(batchIds(state.batchInEpoch));
      let epochLoss = 0,
        epochSteps = 0;
      const lastBatch = Math.min(stepsPerEpoch, state.batchInEpoch + total - state.step); // max_steps
      for (let b = state.batchInEpoch; b < lastBatch; b++) {
        const batch = await next!;
        next = b + 1 < lastBatch ? this.loadBatch(batchIds(b + 1)) : null; // decode ahead
        const lr = c.learning_rate * lrMultiplier(c.scheduler_type, state.step, warm, total);
        if (batch) {
          this.vit.zeroGrads();
          const dropSeed = c.use_lora && c.lora_dropout > 0 ? mixSeed(c.seed, 0xd40, state.step) : null;
          // HF's train-time RoPE rescale: one s = exp(U(-ln R, ln R)) per step (R = pos_embed_rescale)
          let ropeScale = 1;
          const R = this.vit.spec.posEmbedRescale;
          if (c.rope_rescale_in_training && R)
            ropeScale = Math.exp(new Rng(mixSeed(c.seed, 0x509e, state.step)).uniform(-Math.log(R), Math.log(R)));
          const lossBuf = this.step.run(batch, dropSeed, ropeScale);
          this.opt.update(lr);
          const [loss] = await gpu.read(lossBuf, 1);
          gradNorm = Math.sqrt((await gpu.read(this.opt.sumSq, 1))[0]);
          const warning = health.observe(state.step + 1, loss, gradNorm, batch.B);
          if (warning) this.emit({ kind: 'info', message: warning });
          lastLoss = loss;
          epochLoss += loss;
          epochSteps++;
          imagesDone += 2 * batch.B;
        } else if (batchIds(b).length < 2) {
          this.emit({
            kind: 'info',
            message: `step ${state.step + 1}: the last batch of epoch ${epoch + 1} has 1 pair (${N} pairs in batches of ${B}); skipped, as in-batch negatives need 2`,
          });
        } else {
          this.emit({
            kind: 'info',
            message: `step ${state.step + 1}: fewer than 2 readable pairs in the batch; skipped`,
          });
        }
        state = { ...state, step: state.step + 1, epoch, batchInEpoch: b + 1 };
        const el = (performance.now() - tRun) / 1000;
        const ips = imagesDone / Math.max(el, 1e-9);
        const stepsLeft = total - state.step;
        const eta = (el / Math.max(1, state.step - startStep)) * stepsLeft;
        this.emit({
          kind: 'step',
          step: state.step,
          totalSteps: total,
          epoch,
          loss: lastLoss ?? NaN,
          lr,
          imagesPerSec: ips,
          etaSec: eta,
        });
        if (state.step % c.logging_steps === 0 || state.step === total) {
          const row = {
            step: state.step,
            epoch: epoch + 1,
            loss: lastLoss ?? NaN,
            lr,
            grad_norm: gradNorm,
            images_per_s: ips,
          };
          this.results.log.push(row);
          this.results.steps = state.step;
          this.emit({
            kind: 'log',
            step: state.step,
            totalSteps: total,
            epoch,
            loss: row.loss,
            lr,
            gradNorm,
            imagesPerSec: ips,
            etaSec: eta,
          });
          await writeResultsOrStop();
        }
        if (c.save_steps > 0 && state.step % c.save_steps === 0) await save(`checkpoint-step-${state.step}`);
        if (o.signal?.aborted) {
          stopped = true;
          if (b + 1 < stepsPerEpoch) await save(`checkpoint-step-${state.step}`);
          break;
        }
      }
      if (!stopped && state.step === total && state.batchInEpoch < stepsPerEpoch) {
        // max_steps ended the run inside an epoch: its last checkpoint (unless save_steps just wrote it)
        if (!(c.save_steps > 0 && state.step % c.save_steps === 0)) await save(`checkpoint-step-${state.step}`);
      }
      if (epochSteps === 0 && state.batchInEpoch === stepsPerEpoch && !o.resume) {
        const first = this.results.skipped_images[0];
        throw new TrainError(
          `epoch ${epoch + 1}: no batch had 2 readable pairs, so nothing was trained` +
            (first ? ` (first unreadable: ${first.path}: ${first.error})` : ''),
        );
      }
      if (state.batchInEpoch === stepsPerEpoch) {
        state = { ...state, epoch: epoch + 1, batchInEpoch: 0 };
        const validation = o.validate ? await o.validate(this.vit, this.pp) : null;
        const meanLoss = epochSteps ? epochLoss / epochSteps : NaN;
        this.results.epochs.push({ epoch: epoch + 1, mean_loss: meanLoss, validation });
        this.results.epochs_done = epoch + 1;
        this.emit({ kind: 'epoch', epoch: epoch + 1, meanLoss, validation });
        await save(`checkpoint-epoch-${epoch + 1}`);
        await writeResultsOrStop();
      }
    }
    this.results.steps = state.step;
    this.results.stopped_early = stopped;
    this.results.final.loss = lastLoss;
    this.results.final.seconds = (performance.now() - t0) / 1000;
    await this.writeResults();
    return this.results;
  }

  destroy(): void {
    this.step?.destroy();
    this.opt?.destroy();
    this.vit.destroy();
  }
}
