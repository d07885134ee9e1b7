/**
 * Checkpoints in output_dir, in formats Python reads unchanged:
 *   LoRA:  adapter_config.json + adapter_model.safetensors (PEFT: keys
 *          base_model.model.<module path>.lora_A.weight [r, in] / .lora_B.weight [out, r],
 *          metadata {"format": "pt"}), loadable with peft.PeftModel.from_pretrained;
 *   full:  config.json + model.safetensors under the original Hugging Face names
 *          (+ preprocessor_config.json), loadable with AutoModel.from_pretrained;
 * plus our training state: optimizer.safetensors (AdamW moments m.<param>, v.<param>) and
 * trainer_state.json (optimizer step, epoch, position in the epoch's data order, seed).
 * Every checkpoint is written into a temporary folder and renamed into place, so a crash or a
 * full disk mid-save never damages the last good checkpoint.
 */
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../io/safetensors';
import type { VitSpec } from '../model/config';
import type { Vit } from '../model/vit';
import { expectedTensors, linearModulePath } from '../model/weights';
import type { CheckpointStore } from '../platform/checkpoint-store';
import type { AdamW } from './optimizer';

export type { CheckpointStore };
import { RunFolder, type TrainerState } from './run-folder';

export type { TrainerState } from './run-folder';

const enc = new TextEncoder();
const json = (o: unknown, indent = 2) => enc.encode(JSON.stringify(o, null, indent));

/** PEFT's adapter_config.json (sorted keys, indent 2), for the LoRA modules of `vit`. */
export function adapterConfig(opts: {
  r: number;
  alpha: number;
  dropout: number;
  rslora: boolean;
  targetModules: string[];
  baseModel: string;
}): Record<string, unknown> {
  const c: Record<string, unknown> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: opts.baseModel,
    bias: 'none',
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: opts.alpha,
    lora_bias: false,
    lora_dropout: opts.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: opts.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...opts.targetModules].sort(),
    task_type: 'FEATURE_EXTRACTION',
    use_dora: false,
    use_rslora: opts.rslora,
  };
  return Object.fromEntries(
    Object.keys(c)
      .sort()
      .map((k) => [k, c[k]]),
  );
}

/** The LoRA weights of `vit` under PEFT keys. */
export async function adapterTensors(vit: Vit): Promise<TensorToWrite[]> {
  const out: TensorToWrite[] = [];
  for (const m of vit.lora.values()) {
    const path = `base_model.model.${linearModulePath(vit.spec, m.layer, m.role)}`;
    const { A, B } = await vit.loras.read(m);
    out.push({ name: `${path}.lora_A.weight`, shape: [m.r, m.inF], data: A });
    out.push({ name: `${path}.lora_B.weight`, shape: [m.outF, m.r], data: B });
  }
  return out;
}

/** All base weights of `vit` under their Hugging Face names (full fine-tuning checkpoints). */
export async function modelTensors(vit: Vit, extra: Map<string, Float32Array>): Promise<TensorToWrite[]> {
  const spec: VitSpec = vit.spec;
  const C = spec.hidden;
  const prefix = await vit.gpu.read(vit.w.get('prefix')!);
  const out: TensorToWrite[] = [];
  for (const t of expectedTensors(spec)) {
    let data: Float32Array | undefined;
    if (t.role === 'cls') data = prefix.slice(0, C);
    else if (t.role === 'reg') data = prefix.slice(C, C * (1 + spec.registers));
    else data = (await vit.readWeight(t.role)) ?? extra.get(t.role); // extra: e.g. mask_token, unused by training but kept
    if (data) out.push({ name: t.key, shape: t.shape, data });
  }
  return out;
}

export async function optimizerTensors(opt: AdamW): Promise<TensorToWrite[]> {
  const out: TensorToWrite[] = [];
  for (let i = 0; i < opt.params.length; i++) {
    const p = opt.params[i];
    out.push({ name: `m.${p.name}`, shape: [p.n], data: await opt.gpu.read(opt.m[i], p.n) });
    out.push({ name: `v.${p.name}`, shape: [p.n], data: await opt.gpu.read(opt.v[i], p.n) });
  }
  return out;
}

export interface SaveArgs {
  store: CheckpointStore;
  name: string;
  vit: Vit;
  opt: AdamW;
  state: TrainerState;
  lora: Parameters<typeof adapterConfig>[0] | null;
  /** Full fine-tuning: the original config.json / preprocessor_config.json and unused tensors. */
  config: Record<string, unknown>;
  preprocessor: Record<string, unknown> | null;
  extra: Map<string, Float32Array>;
}

export async function saveCheckpoint(a: SaveArgs): Promise<void> {
  const files = new Map<string, Uint8Array>();
  if (a.lora) {
    files.set('adapter_config.json', json(adapterConfig(a.lora)));
    files.set('adapter_model.safetensors', writeSafetensors(await adapterTensors(a.vit), { format: 'pt' }));
  } else {
    files.set('config.json', json(a.config));
    files.set('model.safetensors', writeSafetensors(await modelTensors(a.vit, a.extra), { format: 'pt' }));
  }
  if (a.preprocessor) files.set('preprocessor_config.json', json(a.preprocessor));
  files.set('optimizer.safetensors', writeSafetensors(await optimizerTensors(a.opt), { format: 'vembed-adamw' }));
  files.set('trainer_state.json', json(a.state));
  await a.store.writeFolder(a.name, files);
}

/** Loads the optimizer moments and the trainer state of a checkpoint into `opt`. */
export async function loadTrainingState(store: CheckpointStore, folder: string, opt: AdamW): Promise<TrainerState> {
  const where = `${store.where}/${folder}`;
  for (const f of ['trainer_state.json', 'optimizer.safetensors']) {
    if (!(await store.hasFile(folder, f))) throw new Error(`${where}: no ${f}; not a checkpoint this trainer wrote`);
  }
  const state = await new RunFolder(store).trainerState(folder);
  const st = SafetensorsFile.parse(
    await store.readFile(folder, 'optimizer.safetensors'),
    `${where}/optimizer.safetensors`,
  );
  opt.params.forEach((p, i) => {
    for (const [kind, buf] of [
      ['m', opt.m[i]],
      ['v', opt.v[i]],
    ] as const) {
      const key = `${kind}.${p.name}`;
      if (!st.has(key))
        throw new Error(
          `${where}/optimizer.safetensors: no "${key}"; the checkpoint was trained with other parameters`,
        );
      const data = st.f32(key);
      if (data.length !== p.n)
        throw new Error(`${where}/optimizer.safetensors: "${key}" has ${data.length} values, expected ${p.n}`);
      opt.gpu.write(buf, data);
    }
  });
  opt.step = state.step;
  return state;
}

/** The newest checkpoint folder (highest step) in the store, or null. */
export function latestCheckpoint(store: CheckpointStore): Promise<string | null> {
  return new RunFolder(store).latestCheckpoint();
}
