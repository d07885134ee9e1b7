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
 * The parts: ./batches.ts (data order, loading a batch), ./resume.ts (restoring a checkpoint),
 * ./run-writer.ts (events, train_results.json and checkpoints as the run goes), ./step.ts.
 */
import { toYaml, type TrainConfig } from '../config';
import { resolveLoraTargets } from '../config/lora';
import { outputSize, type Preprocessor } from '../data/preprocess';
import type { Gpu } from '../gpu/device';
import { checkpointPreprocessor, type LoadedCheckpoint } from '../model/load';
import { LINEAR_ROLES, Vit } from '../model/vit';
import { autotuneF16, linearShapes } from '../ops/autotune';
import { Rng } from '../util/random';
import { loadBatch, permutation, trainingLength, type PairData } from './batches';
import type { CheckpointStore, TrainerState } from './checkpoint';
import { TrainError, TrainingHealth } from './health';
import { AdamW, trainableParams } from './optimizer';
import { resumeRun } from './resume';
import type { TrainResults } from './run-folder';
import { RunWriter, type TrainEvent } from './run-writer';
import { lrMultiplier, warmupFor } from './schedule';
import { mixSeed, TrainStep, type Batch } from './step';

export type { PairRecord } from '../data/datasets';
export type { LogRow, TrainResults } from './run-folder';
export { permutation, trainingLength, TrainError, type PairData, type TrainEvent };

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

export class Trainer {
  readonly vit: Vit;
  readonly pp: Preprocessor;
  private readonly o: TrainerOptions;
  private readonly c: TrainConfig;
  private opt!: AdamW;
  private step!: TrainStep;
  private out!: RunWriter;
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

  private loadBatch(ids: number[]): Promise<Batch | null> {
    return loadBatch(this.o.train, ids, this.pp, this.H, this.W, (path, error) => {
      this.out.results.skipped_images.push({ path, error });
      this.emit({ kind: 'skipped', path, error });
    });
  }

  /**
   * fp16: the GEMMs on packed-f16 operands get a kernel choice of their own (GPU defaults; once per
   * device), measured at this model's q|k|v products over one chunk of images (at most 8).
   */
  private async tuneF16(B: number): Promise<void> {
    if (!this.vit.f16Acts) return;
    const c = this.c;
    const images = Math.min(8, 2 * B, c.use_gradient_cache ? c.gradient_cache_chunk_size : Infinity);
    const C = this.vit.spec.hidden;
    const f16 = await autotuneF16(this.o.gpu, {
      shapes: linearShapes(images * this.vit.grid(this.H, this.W).T, C, 3 * C),
    });
    if (f16?.totalMs)
      this.emit({
        kind: 'info',
        message: `fp16 GEMM kernel: ${f16.choice} (measured on this adapter at this model's shapes in ${f16.totalMs.toFixed(0)} ms)`,
      });
  }

  async run(): Promise<TrainResults> {
    const c = this.c,
      o = this.o,
      gpu = o.gpu;
    const t0 = performance.now();
    this.setupParams();
    const N = o.train.records.length;
    const B = Math.min(c.batch_size, N);
    await this.tuneF16(B);
    const { stepsPerEpoch, total, epochs } = trainingLength(c, N);
    const warm = warmupFor(c.warmup_steps, c.warmup_ratio, total);
    this.out = new RunWriter(
      { store: o.store, config: c, checkpoint: o.checkpoint, vit: this.vit, opt: this.opt, emit: (e) => this.emit(e) },
      total,
      o.unreadable ?? [],
    );
    let state: TrainerState = { step: 0, epoch: 0, batchInEpoch: 0, seed: c.seed, stepsPerEpoch, numRecords: N };
    if (o.resume) {
      state = await resumeRun({
        vit: this.vit,
        opt: this.opt,
        config: c,
        resume: o.resume,
        store: o.store,
        numRecords: N,
        stepsPerEpoch,
        total,
        results: this.out.results,
        emit: (e) => this.emit(e),
      });
    }
    // Written only once the resume checks passed: a refused resume changes nothing in output_dir.
    await o.store.writeFile('train_config.yaml', new TextEncoder().encode(toYaml(c)));

    const now = (): TrainerState => ({ ...state, seed: c.seed, stepsPerEpoch, numRecords: N }); // trainer_state.json
    const save = (name: string) => this.out.save(name, now());
    const writeResultsOrStop = () => this.out.writeResultsOrStop(now());
    const results = this.out.results;

    const health = new TrainingHealth(c, () => results.final.checkpoint);
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
          results.log.push(row);
          results.steps = state.step;
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
        const first = results.skipped_images[0];
        throw new TrainError(
          `epoch ${epoch + 1}: no batch had 2 readable pairs, so nothing was trained` +
            (first ? ` (first unreadable: ${first.path}: ${first.error})` : ''),
        );
      }
      if (state.batchInEpoch === stepsPerEpoch) {
        state = { ...state, epoch: epoch + 1, batchInEpoch: 0 };
        const validation = o.validate ? await o.validate(this.vit, this.pp) : null;
        const meanLoss = epochSteps ? epochLoss / epochSteps : NaN;
        results.epochs.push({ epoch: epoch + 1, mean_loss: meanLoss, validation });
        results.epochs_done = epoch + 1;
        this.emit({ kind: 'epoch', epoch: epoch + 1, meanLoss, validation });
        await save(`checkpoint-epoch-${epoch + 1}`);
        await writeResultsOrStop();
      }
    }
    results.steps = state.step;
    results.stopped_early = stopped;
    results.final.loss = lastLoss;
    results.final.seconds = (performance.now() - t0) / 1000;
    await this.out.writeResults();
    return results;
  }

  destroy(): void {
    this.step?.destroy();
    this.opt?.destroy();
    this.vit.destroy();
  }
}
