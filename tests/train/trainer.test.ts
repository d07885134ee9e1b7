/**
 * The training loop: exact resume (losses after resuming equal an uninterrupted run with the same
 * seed, LoRA dropout and the RoPE train-time rescale on), checkpoint contents in PEFT / Hugging Face formats, results files,
 * full fine-tuning checkpoints that load as plain models, and atomic checkpoint writes; fp16 on
 * the GPU path (`gpu.defaults` 'gpu', here on SwiftShader), where a run tunes the kernel of the
 * packed-f16 GEMMs at the model's shapes.
 */
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { defaultTrainConfig, parseTrainConfigYaml, type TrainConfig } from '../../src/config';
import type { RgbImage } from '../../src/data/image';
import { loadCheckpoint } from '../../src/model/load';
import { loadAdapter } from '../../src/model/lora';
import { dirSource } from '../../src/platform/file-source-node';
import { nodeStore } from '../../src/platform/checkpoint-store-node';
import { Trainer, type PairData, type TrainEvent } from '../../src/train/trainer';
import { Rng } from '../../src/util/random';
import { nodeGpu } from '../helpers/node-gpu';
import { withDefaults } from '../helpers/cases';

afterAll(async () => (await nodeGpu()).destroy());

/** 12 pairs of small random images (8 classes), decoded from memory. */
function syntheticData(): PairData {
  const images = new Map<string, RgbImage>();
  const records = [];
  for (let i = 0; i < 12; i++) {
    for (const side of ['q', 'p']) {
      const rng = new Rng(i * 2 + (side === 'q' ? 0 : 1));
      const data = Uint8Array.from({ length: 40 * 36 * 3 }, () => rng.int(256));
      images.set(`${side}${i}.png`, { width: 40, height: 36, data });
    }
    records.push({ query: `q${i}.png`, positive: `p${i}.png`, label: i % 8 });
  }
  return { records, load: async (p) => images.get(p)! };
}

function config(over: Partial<TrainConfig>): TrainConfig {
  return {
    ...defaultTrainConfig(),
    model_name: 'tests/fixtures/models/dinov3-tiny',
    data_path: 'mem',
    epochs: 2,
    batch_size: 4,
    learning_rate: 1e-3,
    logging_steps: 1,
    use_gradient_cache: false,
    ...over,
  };
}

async function train(cfg: TrainConfig, out: string, opts: { stopAfter?: number; model?: string } = {}) {
  const ck = await loadCheckpoint(dirSource(opts.model ?? 'tests/fixtures/models/dinov3-tiny'));
  const ctl = new AbortController();
  const losses: number[] = [];
  const events: TrainEvent[] = [];
  const store = nodeStore(out);
  const t = new Trainer({
    gpu: await nodeGpu(),
    checkpoint: ck,
    config: cfg,
    train: syntheticData(),
    store,
    resume: cfg.resume_from_checkpoint ? { store, folder: cfg.resume_from_checkpoint } : null,
    signal: ctl.signal,
    onEvent: (e) => {
      events.push(e);
      if (e.kind === 'step') {
        losses.push(e.loss);
        if (opts.stopAfter && e.step === opts.stopAfter) ctl.abort();
      }
    },
  });
  const r = await t.run();
  t.destroy();
  return { r, losses, events };
}

describe('trainer', () => {
  test('max_steps: that many steps over as many epochs as needed, the schedule over them, the cut epoch checkpointed', async () => {
    const out = mkdtempSync(join(tmpdir(), 'vembed-maxsteps-'));
    // 3 steps per epoch: 7 steps = 2 whole epochs + 1 step of the third; epochs: 1 is overridden.
    const { r, events } = await train(
      config({ epochs: 1, max_steps: 7, warmup_steps: 2, scheduler_type: 'linear' }),
      out,
    );
    expect([r.steps, r.total_steps, r.epochs_done]).toEqual([7, 7, 2]);
    expect(
      readdirSync(out)
        .filter((f) => f.startsWith('checkpoint-'))
        .sort(),
    ).toEqual(['checkpoint-epoch-1', 'checkpoint-epoch-2', 'checkpoint-step-7']);
    const lrs = events.flatMap((e) => (e.kind === 'step' ? [e.lr] : []));
    expect(lrs.length).toBe(7);
    // linear: warmup to the peak at step 2, then down towards 0 at step 7
    expect(lrs[2]).toBeCloseTo(1e-3 * (1 - 0 / 5), 12);
    expect(lrs[6]).toBeCloseTo(1e-3 * (1 - 4 / 5), 12);
    // max_steps within the first epoch
    const short = await train(config({ max_steps: 2 }), mkdtempSync(join(tmpdir(), 'vembed-maxsteps-')));
    expect([short.r.steps, short.r.epochs_done, short.r.final.checkpoint]).toEqual([2, 0, 'checkpoint-step-2']);
    expect(() => parseTrainConfigYaml('max_steps: 0\n', 'c.yaml')).toThrow(
      'c.yaml:1: max_steps: 0 is not allowed; expected a positive number of steps, or -1 (train for `epochs`)',
    );
  });

  test('resuming from a checkpoint continues with the same losses as an uninterrupted run', async () => {
    const cfg = config({
      use_lora: true,
      lora_r: 4,
      lora_alpha: 8,
      lora_dropout: 0.1,
      seed: 7,
      use_gradient_cache: true,
      gradient_cache_chunk_size: 3,
      rope_rescale_in_training: true,
    });
    const full = await train(cfg, mkdtempSync(join(tmpdir(), 'vembed-full-')));
    expect(full.losses.length).toBe(6); // 12 pairs / 4 = 3 steps per epoch, 2 epochs
    const out = mkdtempSync(join(tmpdir(), 'vembed-resume-'));
    const first = await train(cfg, out, { stopAfter: 2 });
    expect(first.r.stopped_early).toBe(true);
    expect(readdirSync(out)).toContain('checkpoint-step-2');
    const second = await train({ ...cfg, resume_from_checkpoint: 'latest' }, out);
    expect([...first.losses, ...second.losses]).toEqual(full.losses);
    expect(
      second.events.some((e) => e.kind === 'info' && /resumed from checkpoint-step-2 at step 2/.test(e.message)),
    ).toBe(true);
    const results = JSON.parse(readFileSync(join(out, 'train_results.json'), 'utf8'));
    expect(results.log.map((x: { step: number }) => x.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(results.epochs.length).toBe(2);
  });

  test("fp16 on the GPU path: the first loss as on the software path; the packed-f16 GEMMs' kernel measured once per device, at the model's shapes", async () => {
    const gpu = await nodeGpu();
    const fp16 = config({ fp16: true, use_lora: true, max_steps: 1, save_steps: 0 });
    const tuned = (events: TrainEvent[]) =>
      events.flatMap((e) => (e.kind === 'info' && /^fp16 GEMM kernel/.test(e.message) ? [e.message] : []));
    // software defaults (this machine): one kernel choice for every call, nothing measured
    const soft = await train(fp16, mkdtempSync(join(tmpdir(), 'vembed-fp16-')));
    expect(tuned(soft.events)).toEqual([]);
    await withDefaults(gpu, 'gpu', async () => {
      try {
        const first = await train(fp16, mkdtempSync(join(tmpdir(), 'vembed-fp16-')));
        const [msg] = tuned(first.events);
        expect(msg).toMatch(/^fp16 GEMM kernel: \S+ \(measured on this adapter at this model's shapes in \d+ ms\)$/);
        expect(gpu.variants.get('matmul-f16')).toBe(/kernel: (\S+)/.exec(msg)![1]);
        // the GPU path trains with fp16 as the software path does (same seed, same batch)
        expect(first.losses).toHaveLength(1);
        console.log(`fp16 first loss: software path ${soft.losses[0]}, GPU path ${first.losses[0]}`);
        expect(Math.abs(first.losses[0] - soft.losses[0])).toBeLessThanOrEqual(1e-3 + 1e-3 * Math.abs(soft.losses[0]));
        const again = await train(fp16, mkdtempSync(join(tmpdir(), 'vembed-fp16-')));
        expect(tuned(again.events)).toEqual([]); // kept for the device
        expect(again.losses).toEqual(first.losses);
      } finally {
        gpu.variants.delete('matmul-f16');
      }
    });
  });

  test('LoRA checkpoints are PEFT adapters; results and the merged config are written', async () => {
    const out = mkdtempSync(join(tmpdir(), 'vembed-ckpt-'));
    const cfg = config({
      use_lora: true,
      lora_r: 2,
      lora_alpha: 4,
      epochs: 1,
      save_steps: 2,
      lora_target_modules: ['q_proj', 'v_proj', 'up_proj'],
    });
    await train(cfg, out);
    expect(readdirSync(out).sort()).toEqual([
      'checkpoint-epoch-1',
      'checkpoint-step-2',
      'train_config.yaml',
      'train_results.json',
    ]);
    const ckpt = join(out, 'checkpoint-epoch-1');
    expect(readdirSync(ckpt).sort()).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
      'optimizer.safetensors',
      'preprocessor_config.json',
      'trainer_state.json',
    ]);
    const adapter = await loadAdapter(dirSource(ckpt));
    expect(adapter.modules.length).toBe(2 * 3);
    expect(adapter.config.target_modules).toEqual(['q_proj', 'up_proj', 'v_proj']);
    expect(adapter.config.r).toBe(2);
    const back = parseTrainConfigYaml(readFileSync(join(out, 'train_config.yaml'), 'utf8'));
    expect(back.config.lora_target_modules).toEqual(['q_proj', 'v_proj', 'up_proj']);
    const results = JSON.parse(readFileSync(join(out, 'train_results.json'), 'utf8'));
    expect(results.log.length).toBe(3);
    expect(results.log[0]).toMatchObject({ step: 1, epoch: 1 });
  });

  test('full fine-tuning checkpoints load as plain models and differ from the base', async () => {
    const out = mkdtempSync(join(tmpdir(), 'vembed-fullft-'));
    await train(config({ use_lora: false, epochs: 1 }), out, { model: 'tests/fixtures/models/dinov2-tiny' });
    const ck = await loadCheckpoint(dirSource(join(out, 'checkpoint-epoch-1')));
    const base = await loadCheckpoint(dirSource('tests/fixtures/models/dinov2-tiny'));
    expect(ck.spec).toEqual(base.spec);
    const a = ck.weights.get('layer.0.q.w')!,
      b = base.weights.get('layer.0.q.w')!;
    expect(a.some((v, i) => v !== b[i])).toBe(true);
    expect(ck.weights.get('pos')!.some((v, i) => v !== base.weights.get('pos')![i])).toBe(true);
  });

  test('a failed checkpoint write leaves the previous checkpoint intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vembed-atomic-'));
    const store = nodeStore(dir);
    await store.writeFolder('checkpoint-step-1', new Map([['a.json', new TextEncoder().encode('{"ok":1}')]]));
    await expect(
      store.writeFolder('checkpoint-step-1', new Map([['no/such/dir.json', new Uint8Array(3)]])),
    ).rejects.toThrow(/could not write checkpoint .*checkpoint-step-1: .*the previous checkpoints are intact/);
    expect(readFileSync(join(dir, 'checkpoint-step-1', 'a.json'), 'utf8')).toBe('{"ok":1}');
    expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  test('when no image can be read, training stops with the first error instead of training on nothing', async () => {
    const data = syntheticData();
    data.load = async (p) => {
      throw Object.assign(new Error('corrupt or truncated image file'), { path: p });
    };
    const t = new Trainer({
      gpu: await nodeGpu(),
      checkpoint: await loadCheckpoint(dirSource('tests/fixtures/models/dinov3-tiny')),
      config: config({ use_lora: true }),
      train: data,
      store: nodeStore(mkdtempSync(join(tmpdir(), 'vembed-bad-'))),
    });
    await expect(t.run()).rejects.toThrow(
      /epoch 1: no batch had 2 readable pairs, so nothing was trained \(first unreadable: q\d+\.png: corrupt or truncated image file\)/,
    );
    t.destroy();
  });

  test('unsupported settings are refused with the key and the reason', async () => {
    const ck = await loadCheckpoint(dirSource('tests/fixtures/models/dinov3-tiny'));
    const mk = (c: Partial<TrainConfig>) => () =>
      new Trainer({
        gpu: null as never,
        checkpoint: ck,
        config: config(c),
        train: syntheticData(),
        store: nodeStore('/tmp'),
      });
    expect(mk({ gradient_accumulation_steps: 2 })).toThrow(
      /gradient_accumulation_steps: 2 is not supported; raise batch_size/,
    );
    const ck2 = await loadCheckpoint(dirSource('tests/fixtures/models/dinov2-tiny'));
    expect(
      () =>
        new Trainer({
          gpu: null as never,
          checkpoint: ck2,
          config: config({ rope_rescale_in_training: true }),
          train: syntheticData(),
          store: nodeStore('/tmp'),
        }),
    ).toThrow(/rope_rescale_in_training: true applies to DINOv3 RoPE; this DINOv2 model has a learned position table/);
  });
});
