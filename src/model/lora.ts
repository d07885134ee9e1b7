/**
 * PEFT LoRA adapters on disk (spec §7): adapter_config.json + adapter_model.safetensors (or
 * adapter_model.bin, PyTorch's format, which vembed-factory and older PEFT versions write).
 * Reading: keys `base_model.model.<module path>.lora_A.weight` [r, in] / `.lora_B.weight` [out, r]
 * (a wrapper prefix such as `dinov2.` and an adapter name are tolerated), scale
 * s = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora, with rank_pattern / alpha_pattern.
 * Merging: W <- W + s * B A (and b <- b + s * lora_B.bias with lora_bias) under the original names.
 */
import { parseTensorFile } from '../io/tensor-file';
import type { VitSpec } from './config';
import type { FileSource } from './load';
import { linearModulePath } from './weights';

export class AdapterError extends Error {}

export interface AdapterModule {
  /** HF module path, e.g. `layer.0.attention.q_proj`. */
  path: string;
  r: number;
  scale: number;
  A: Float32Array; // [r, in]
  B: Float32Array; // [out, r]
  bias: Float32Array | null; // lora_B.bias [out]
  inF: number;
  outF: number;
}

export interface Adapter {
  config: Record<string, unknown>;
  modules: AdapterModule[];
}

const ROLES = ['q', 'k', 'v', 'o', 'fc1', 'fc2'] as const;
export type LinearRole = (typeof ROLES)[number];

/** Maps each HF linear module path of the model to (layer, role). */
export function modulePaths(spec: VitSpec): Map<string, { layer: number; role: LinearRole }> {
  const m = new Map<string, { layer: number; role: LinearRole }>();
  for (let l = 0; l < spec.layers; l++) for (const role of ROLES) m.set(linearModulePath(spec, l, role), { layer: l, role });
  return m;
}

/** PEFT's get_pattern_key: a pattern key matches a module name as `(.*\.)?(key)$`. */
function patternValue(patterns: unknown, path: string): number | undefined {
  if (!patterns || typeof patterns !== 'object') return undefined;
  for (const [k, v] of Object.entries(patterns as Record<string, number>)) {
    if (new RegExp(`(.*\\.)?(${k})$`).test(path)) return v;
  }
  return undefined;
}

export async function loadAdapter(src: FileSource): Promise<Adapter> {
  const cfgName = `${src.where}/adapter_config.json`;
  if (!(await src.exists('adapter_config.json'))) throw new AdapterError(`${cfgName}: not found (a PEFT adapter folder is expected)`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(new TextDecoder().decode(await src.bytes('adapter_config.json')));
  } catch (e) {
    throw new AdapterError(`${cfgName}: not valid JSON (${(e as Error).message})`);
  }
  if (config.peft_type !== 'LORA') throw new AdapterError(`${cfgName}: "peft_type" is ${JSON.stringify(config.peft_type)}; only "LORA" is supported`);
  if (config.use_dora) throw new AdapterError(`${cfgName}: "use_dora": true (DoRA) is not supported`);
  if (config.fan_in_fan_out) throw new AdapterError(`${cfgName}: "fan_in_fan_out": true is not supported (it is for GPT-2 style Conv1D layers)`);
  const mts = config.modules_to_save;
  if (Array.isArray(mts) && mts.length > 0) {
    throw new AdapterError(`${cfgName}: "modules_to_save" ${JSON.stringify(mts)} is not supported (an embedding model has no head)`);
  }
  const wname = (await src.exists('adapter_model.safetensors')) ? 'adapter_model.safetensors' : 'adapter_model.bin';
  if (!(await src.exists(wname))) throw new AdapterError(`${src.where}/adapter_model.safetensors: not found (nor adapter_model.bin)`);
  const file = parseTensorFile(await src.bytes(wname), wname, `${src.where}/${wname}`);
  const alpha = Number(config.lora_alpha ?? 8);
  const rslora = Boolean(config.use_rslora);
  const byPath = new Map<string, { A?: string; B?: string; bias?: string }>();
  for (const key of file.tensors.keys()) {
    const m = /^(?:base_model\.model\.)?(?:dinov2\.|dinov3_vit\.)?(.+?)\.lora_([AB])(?:\.[^.]+)?\.(weight|bias)$/.exec(key);
    if (!m) throw new AdapterError(`${file.file}: tensor "${key}" is not a LoRA weight (expected ...lora_A.weight / lora_B.weight)`);
    const [, path, ab, kind] = m;
    const e = byPath.get(path) ?? {};
    if (kind === 'bias') {
      if (ab !== 'B') throw new AdapterError(`${file.file}: tensor "${key}": only lora_B has a bias`);
      e.bias = key;
    } else e[ab as 'A' | 'B'] = key;
    byPath.set(path, e);
  }
  const modules: AdapterModule[] = [];
  for (const [path, e] of byPath) {
    if (!e.A || !e.B) throw new AdapterError(`${file.file}: module "${path}" has lora_${e.A ? 'A' : 'B'} but no lora_${e.A ? 'B' : 'A'}`);
    const [r, inF] = file.info(e.A).shape;
    const [outF, rB] = file.info(e.B).shape;
    if (file.info(e.A).shape.length !== 2 || file.info(e.B).shape.length !== 2 || rB !== r) {
      throw new AdapterError(`${file.file}: module "${path}": lora_A [${file.info(e.A).shape}] and lora_B [${file.info(e.B).shape}] do not fit ([r,in] and [out,r])`);
    }
    const rr = patternValue(config.rank_pattern, path) ?? r;
    const a = patternValue(config.alpha_pattern, path) ?? alpha;
    const scale = rslora ? a / Math.sqrt(rr) : a / rr;
    modules.push({ path, r, scale, A: file.f32(e.A), B: file.f32(e.B), bias: e.bias ? file.f32(e.bias) : null, inF, outF });
  }
  if (modules.length === 0) throw new AdapterError(`${file.file}: no LoRA tensors`);
  return { config, modules };
}

/** Merges an adapter into the weights in place: W += s * B A (f32 result, float64 sums). */
export function mergeAdapter(spec: VitSpec, weights: Map<string, Float32Array>, adapter: Adapter): void {
  const paths = modulePaths(spec);
  for (const m of adapter.modules) {
    const where = paths.get(m.path);
    if (!where) {
      throw new AdapterError(
        `adapter module "${m.path}" is not a linear layer of this ${spec.family} model (e.g. "${linearModulePath(spec, 0, 'q')}")`,
      );
    }
    const wRole = `layer.${where.layer}.${where.role}.w`;
    const W = weights.get(wRole)!;
    const outF = W.length / m.inF;
    if (!Number.isInteger(outF) || outF !== m.outF) {
      throw new AdapterError(`adapter module "${m.path}": LoRA shapes [${m.outF}, ${m.inF}] do not match the weight (${W.length} values)`);
    }
    const row = new Float64Array(m.inF);
    for (let o = 0; o < m.outF; o++) {
      row.fill(0);
      for (let k = 0; k < m.r; k++) {
        const b = m.B[o * m.r + k];
        if (b === 0) continue;
        for (let i = 0; i < m.inF; i++) row[i] += b * m.A[k * m.inF + i];
      }
      for (let i = 0; i < m.inF; i++) W[o * m.inF + i] += m.scale * row[i];
    }
    if (m.bias) {
      const bRole = `layer.${where.layer}.${where.role}.b`;
      const b = weights.get(bRole);
      if (!b) throw new AdapterError(`adapter module "${m.path}" has lora_B.bias but the layer has no bias`);
      for (let o = 0; o < m.outF; o++) b[o] += m.scale * m.bias[o];
    }
  }
}
