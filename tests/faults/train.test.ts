/**
 * Fault injection into real training runs (the tiny DINOv3, LoRA, Dawn in-process):
 *   - NaN injected into a gradient (after the backward, before AdamW) and into a weight mid-run:
 *     the run stops at that step with a diagnosis, and no checkpoint holding NaN is ever written;
 *   - a collapsed model (final LayerNorm weight zeroed: every embedding identical): the constant
 *     loss with a zero gradient norm is warned about;
 *   - resume refusals (a changed lora_r, a finished run): refused before anything in output_dir
 *     changes (train_config.yaml and train_results.json included);
 *   - a full disk at train_results.json mid-run: the steps since the last checkpoint are saved
 *     in a new checkpoint if the checkpoint fits, then the run stops naming the file;
 *   - ENOSPC and a kill at one write of every kind a run does (config, results, each file of a
 *     checkpoint, its rename into place): the error names the file, and after a later process's
 *     recovery every checkpoint in sight is complete, loadable and finite, and resuming works;
 *   - the GPU device lost in the middle of a step (the batched dispatch path: the loss surfaces at
 *     the step's flush): the run stops naming it, and the last checkpoint resumes on a new device.
 * Run: npx vitest run tests/faults/train.test.ts
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import type { TrainConfig } from '../../src/config';
import { SafetensorsFile } from '../../src/io/safetensors';
import { loadCheckpoint, type LoadedCheckpoint } from '../../src/model/load';
import { loadAdapter } from '../../src/model/lora';
import { dirSource } from '../../src/platform/file-source-node';
import { latestCheckpoint } from '../../src/train/checkpoint';
import { TrainStep } from '../../src/train/step';
import { nodeStore } from '../../src/platform/checkpoint-store-node';
import { Trainer, type TrainEvent } from '../../src/train/trainer';
import type { OutputFs } from '../../src/util/output-node';
import type { Gpu } from '../../src/gpu/device';
import { requestNodeGpu } from '../../src/gpu/device-node';
import { nodeGpu } from '../helpers/node-gpu';
import { FaultyFs, hiddenEntries, syntheticData, TINY, trainConfig, visibleTree, type FaultMode } from './helpers';

const roots: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'vembed-faults-train-'));
  roots.push(d);
  return d;
};
afterAll(async () => {
  roots.forEach((d) => rmSync(d, { recursive: true, force: true }));
  (await nodeGpu()).destroy();
});
afterEach(() => {
  vi.restoreAllMocks();
});

interface RunOpts {
  fs?: OutputFs;
  gpu?: Gpu;
  stopAfter?: number;
  ck?: LoadedCheckpoint;
  onCheckpoint?: (name: string) => void;
}

async function train(cfg: TrainConfig, out: string, o: RunOpts = {}) {
  const ck = o.ck ?? (await loadCheckpoint(dirSource(TINY)));
  const ctl = new AbortController();
  const events: TrainEvent[] = [];
  const store = nodeStore(out, o.fs);
  const t = new Trainer({
    gpu: o.gpu ?? (await nodeGpu()),
    checkpoint: ck,
    config: cfg,
    train: syntheticData(),
    store,
    signal: ctl.signal,
    resume: cfg.resume_from_checkpoint ? { store, folder: cfg.resume_from_checkpoint } : null,
    onEvent: (e) => {
      events.push(e);
      if (e.kind === 'step' && e.step === o.stopAfter) ctl.abort();
      if (e.kind === 'checkpoint') o.onCheckpoint?.(e.name);
    },
  });
  try {
    return { r: await t.run(), events, error: null as Error | null };
  } catch (e) {
    return { r: null, events, error: e as Error };
  } finally {
    t.destroy();
  }
}

/** Every checkpoint folder of `out` is complete, loads as a PEFT adapter, and holds no NaN. */
async function expectCheckpointsSound(out: string, why: string): Promise<string[]> {
  let names: string[] = [];
  try {
    names = readdirSync(out)
      .filter((n) => n.startsWith('checkpoint-'))
      .sort();
  } catch {
    return names; // the failure came before output_dir existed
  }
  for (const n of names) {
    const d = join(out, n);
    expect(readdirSync(d).sort(), `${why}: ${n}`).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
      'optimizer.safetensors',
      'preprocessor_config.json',
      'trainer_state.json',
    ]);
    await loadAdapter(dirSource(d)); // refuses NaN/Inf tensors
    const opt = SafetensorsFile.parse(readFileSync(join(d, 'optimizer.safetensors')), n);
    for (const k of opt.tensors.keys()) expect(opt.f32(k).every(Number.isFinite), `${why}: ${n}/${k}`).toBe(true);
    expect(JSON.parse(readFileSync(join(d, 'trainer_state.json'), 'utf8')).step, `${why}: ${n}`).toBeGreaterThan(0);
  }
  return names;
}

describe('NaN during training', () => {
  test('a NaN gradient stops the run at that step, before anything of it is saved', async () => {
    const out = fresh();
    let calls = 0;
    const run = TrainStep.prototype.run;
    vi.spyOn(TrainStep.prototype, 'run').mockImplementation(function (
      this: TrainStep,
      ...args: Parameters<TrainStep['run']>
    ) {
      const loss = run.apply(this, args);
      if (++calls === 2) {
        const m = [...this.vit.lora.values()][0];
        const at = (m.group.offB + m.col0 * m.group.R + m.r0) * 4; // the adapter's first lora_B gradient
        this.vit.gpu.write(this.vit.loras.dP!, new Float32Array([NaN]), at); // in stream order: after the backward
      }
      return loss;
    });
    let step1: Record<string, string> = {};
    const { error, events } = await train(trainConfig({ save_steps: 1 }), out, {
      onCheckpoint: (n) => n === 'checkpoint-step-1' && (step1 = visibleTree(join(out, n))),
    });
    expect(error?.message).toMatch(
      /^gradient norm is NaN at step 2 while the loss \([\d.]+\) is finite: .*lower learning_rate \(now 0\.001\); nothing from this step was saved; the last checkpoint, checkpoint-step-1, is intact$/,
    );
    expect(events.filter((e) => e.kind === 'checkpoint').map((e) => (e as { name: string }).name)).toEqual([
      'checkpoint-step-1',
    ]);
    expect(await expectCheckpointsSound(out, 'NaN gradient')).toEqual(['checkpoint-step-1']);
    expect(visibleTree(join(out, 'checkpoint-step-1'))).toEqual(step1);
  });

  test('a NaN weight mid-run: the NaN loss is diagnosed as divergence, the last checkpoint stays finite', async () => {
    const out = fresh();
    let calls = 0;
    const run = TrainStep.prototype.run;
    vi.spyOn(TrainStep.prototype, 'run').mockImplementation(function (
      this: TrainStep,
      ...args: Parameters<TrainStep['run']>
    ) {
      if (++calls === 3) this.vit.gpu.write(this.vit.w.get('layer.0.fc1.w')!, new Float32Array([NaN]));
      return run.apply(this, args);
    });
    const { error } = await train(trainConfig({ save_steps: 1 }), out);
    expect(error?.message).toMatch(
      /^loss is NaN at step 3 after a finite loss of [\d.]+: training diverged; lower learning_rate \(now 0\.001\) or warm up longer; nothing from this step was saved; the last checkpoint, checkpoint-step-2, is intact$/,
    );
    expect(await expectCheckpointsSound(out, 'NaN weight')).toEqual(['checkpoint-step-1', 'checkpoint-step-2']);
  });

  test('a collapsed model (constant loss, zero gradient norm) gets a warning naming the steps', async () => {
    const ck = await loadCheckpoint(dirSource(TINY));
    ck.weights.get('norm.w')!.fill(0); // every embedding = normalize(norm.b): identical
    const { error, events } = await train(trainConfig({ epochs: 2 }), fresh(), { ck });
    expect(error).toBeNull();
    const warnings = events
      .filter((e) => e.kind === 'info' && e.message.startsWith('warning:'))
      .map((e) => (e as { message: string }).message);
    expect(warnings).toHaveLength(1); // once per episode, not every step
    expect(warnings[0]).toMatch(
      /^warning: steps 1-3: the gradient norm has been 0 and the loss has (stayed at|moved only with the batch) .*, so nothing is learning; /,
    );
  });
});

describe('resume refusals change nothing in output_dir', () => {
  test('a changed lora_r names both values', async () => {
    const out = fresh();
    await train(trainConfig({ lora_r: 2 }), out, { stopAfter: 2 });
    const before = visibleTree(out);
    const { error } = await train(trainConfig({ lora_r: 4, resume_from_checkpoint: 'latest' }), out);
    expect(error?.message).toMatch(
      /resume_from_checkpoint .*checkpoint-step-2: it was trained with lora_r 2, the config says lora_r 4; resuming needs the LoRA settings it was saved with/,
    );
    expect(visibleTree(out)).toEqual(before);
  });

  test('resuming a finished run is refused (it would rewrite its results)', async () => {
    const out = fresh();
    const first = await train(trainConfig({ epochs: 1 }), out);
    expect(first.error).toBeNull();
    const before = visibleTree(out);
    const { error } = await train(trainConfig({ epochs: 1, resume_from_checkpoint: 'latest' }), out);
    expect(error?.message).toMatch(
      /resume_from_checkpoint .*checkpoint-epoch-1: that run is complete \(step 3 of 3\); nothing was changed\. To train longer, raise epochs \(now 1\)/,
    );
    expect(visibleTree(out)).toEqual(before);
  });
});

describe('device loss', () => {
  test('a device lost in the middle of a step stops the run naming it; the last checkpoint resumes on a new device', async () => {
    const out = fresh();
    const gpu = await requestNodeGpu(); // its own device: this one is lost
    let calls = 0;
    const run = TrainStep.prototype.run;
    vi.spyOn(TrainStep.prototype, 'run').mockImplementation(function (
      this: TrainStep,
      ...args: Parameters<TrainStep['run']>
    ) {
      const loss = run.apply(this, args); // recorded, not yet submitted
      if (++calls === 3) this.vit.gpu.device.destroy(); // the driver resets under step 3
      return loss;
    });
    const { error } = await train(trainConfig({ save_steps: 1 }), out, { gpu });
    expect(error?.message).toMatch(/GPU device lost/);
    expect(await expectCheckpointsSound(out, 'device loss')).toEqual(['checkpoint-step-1', 'checkpoint-step-2']);
    vi.restoreAllMocks();
    const rest = await train(trainConfig({ save_steps: 1, resume_from_checkpoint: 'latest' }), out);
    expect(rest.error).toBeNull();
    expect(rest.r!.steps).toBe(3);
  });
});

describe('a full disk or a kill during the run', () => {
  test('train_results.json cannot be written mid-run: a checkpoint keeps the steps, the error names the file', async () => {
    const out = fresh();
    // Only train_results.json writes fail, from the second one on (the disk keeps room for checkpoints).
    const fs = new FaultyFs(1, 'enospc', (p) => p.includes('train_results.json') && !p.includes(' -> '));
    const { error } = await train(trainConfig({ save_steps: 0 }), out, { fs });
    expect(error?.message).toMatch(
      new RegExp(
        `^could not write ${out}/train_results\\.json: ENOSPC: no space left on device.*; the previous train_results\\.json is intact; saved checkpoint-step-2 before stopping; training stopped at step 2: make room, then resume with resume_from_checkpoint: latest$`,
      ),
    );
    expect(await expectCheckpointsSound(out, 'results ENOSPC')).toEqual(['checkpoint-step-2']);
    // and the run continues from there
    const rest = await train(trainConfig({ resume_from_checkpoint: 'latest' }), out);
    expect(rest.error).toBeNull();
    expect(rest.r!.steps).toBe(3);
  });

  test('ENOSPC and a kill at one write of every kind: named errors, sound checkpoints, resumable', async () => {
    const cfg = trainConfig({ save_steps: 1 });
    // The run's writes, without faults.
    const counter = new FaultyFs();
    expect((await train(cfg, join(fresh(), 'run'), { fs: counter })).error).toBeNull();
    const at = (op: string, re: RegExp) => {
      const i = counter.ops.findIndex((o) => o.op === op && re.test(o.path));
      expect(i, `${op} ${re}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    const kinds: [FaultMode, string, number][] = [
      ['enospc', 'the output folder', at('mkdir', /\/run$/)],
      ['enospc', 'train_config.yaml', at('write', /\.train_config\.yaml\.tmp-\d+$/)],
      ['enospc', 'train_results.json', at('write', /\.train_results\.json\.tmp-\d+$/)],
      ['enospc', 'a checkpoint file', at('write', /\.checkpoint-step-2\.tmp-\d+-\d+\/optimizer\.safetensors$/)],
      ['enospc', 'a checkpoint rename', at('rename', /\.checkpoint-step-1\.tmp-\d+-\d+ -> /)],
      ['crash', 'a checkpoint file', at('write', /\.checkpoint-epoch-1\.tmp-\d+-\d+\/adapter_model\.safetensors$/)],
      ['crash', 'a results rename', at('rename', /\.train_results\.json\.tmp-\d+ -> /)],
    ];
    for (const [mode, what, k] of kinds) {
      const out = join(fresh(), 'run');
      const fs = new FaultyFs(k, mode);
      const { error } = await train(cfg, out, { fs });
      const why = `${mode} at ${what} (call ${k}: ${counter.ops[k].op} ${counter.ops[k].path})`;
      expect(error, why).not.toBeNull();
      if (mode === 'enospc')
        expect(error!.message, why).toMatch(
          /could not write (checkpoint )?\S+: ENOSPC: no space left on device.*(intact|nothing was written there)/,
        );
      // A later process: recovery, then only complete checkpoints are in sight.
      const store = nodeStore(out);
      await store.recovered();
      expect(hiddenEntries(out), why).toEqual([]);
      const names = await expectCheckpointsSound(out, why);
      const latest = await latestCheckpoint(store);
      if (names.length) expect(names, why).toContain(latest);
      else expect(latest, why).toBeNull();
    }
    // One full resume after a kill as checkpoint-step-2 is renamed into place.
    const out = fresh();
    const k = counter.ops.findIndex((o) => o.op === 'rename' && /\.checkpoint-step-2\.tmp-\d+-\d+ -> /.test(o.path));
    expect(k).toBeGreaterThan(0);
    await train(cfg, out, { fs: new FaultyFs(k, 'crash') });
    expect(readdirSync(out).filter((n) => n.startsWith('checkpoint-'))).toEqual(['checkpoint-step-1']);
    const rest = await train({ ...cfg, resume_from_checkpoint: 'latest' }, out);
    expect(rest.error).toBeNull();
    expect(rest.r!.steps).toBe(3);
  });
});
