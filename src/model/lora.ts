/**
 * PEFT LoRA adapters on disk (docs/model.md#peft-format): adapter_config.json +
 * adapter_model.safetensors (or adapter_model.bin, PyTorch's format, which vembed-factory and
 * older PEFT versions write).
 * Reading: keys `base_model.model.<module path>.lora_A.weight` [r, in] / `.lora_B.weight` [out, r]
 * (a wrapper prefix such as `dinov2.` and an adapter name are tolerated), scale
 * s = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora, with rank_pattern / alpha_pattern.
 * Merging: W <- W + s * B A (and b <- b + s * lora_B.bias with lora_bias) under the original names.
 * The config values used are checked by a schema (AdapterConfig: a non-numeric lora_alpha, a bad
 * rank_pattern regex are errors naming the key), and NaN/Inf tensor values are refused.
 */
import { z } from 'zod';
import { parseTensorFile } from '../io/tensor-file';
import { nonFiniteText } from '../util/finite';
import type { VitSpec } from './config';
import type { FileSource } from './load';
import { linearModulePath } from './weights';
import { VembedError } from '../util/errors';

export class AdapterError extends VembedError {
  override name = 'AdapterError';
}

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
  for (let l = 0; l < spec.layers; l++)
    for (const role of ROLES) m.set(linearModulePath(spec, l, role), { layer: l, role });
  return m;
}

/** A key of rank_pattern / alpha_pattern: a regular expression (PEFT matches it with re). */
const patternKey = (k: string) => {
  try {
    new RegExp(`(.*\\.)?(${k})$`);
    return true;
  } catch {
    return false;
  }
};
const Patterns = <T extends z.ZodType>(value: T) =>
  z.record(z.string().refine(patternKey, { message: 'is not a valid regular expression' }), value).nullish();

/** The adapter_config.json values this reader uses (the others are PEFT's and ignored). */
const AdapterConfig = z.looseObject({
  peft_type: z.literal('LORA', { message: 'only "LORA" is supported' }),
  r: z.number().int().positive().nullish(),
  lora_alpha: z.number().nullish(),
  use_rslora: z.boolean().nullish(),
  use_dora: z.literal(false, { message: '"use_dora": true (DoRA) is not supported' }).nullish(),
  fan_in_fan_out: z
    .literal(false, { message: '"fan_in_fan_out": true is not supported (it is for GPT-2 style Conv1D layers)' })
    .nullish(),
  rank_pattern: Patterns(z.number().int().positive()),
  alpha_pattern: Patterns(z.number()),
});

/** Checks adapter_config.json against AdapterConfig; the error names the file, the key and the value. */
function checkAdapterConfig(config: Record<string, unknown>, cfgName: string): z.infer<typeof AdapterConfig> {
  const r = AdapterConfig.safeParse(config);
  if (r.success) return r.data;
  throw new AdapterError(
    r.error.issues
      .map((i) => {
        const key = i.path.map(String).join('.');
        let v: unknown = config;
        for (const p of i.path) v = (v as Record<PropertyKey, unknown> | null)?.[p];
        if (i.message.startsWith(`"${key}": `)) return `${cfgName}: ${i.message}`; // a refused feature, said whole
        const custom = i.code === 'custom' || (i.code === 'invalid_value' && i.message.includes('supported'));
        if (i.code === 'invalid_key') {
          return `${cfgName}: "${i.path.slice(0, -1).join('.')}" key ${JSON.stringify(String(i.path.at(-1)))} is not a valid regular expression (PEFT matches it with re)`;
        }
        return (
          `${cfgName}: "${key}" is ${JSON.stringify(v)}; ` + (custom ? i.message : `expected ${describeExpected(key)}`)
        );
      })
      .join('\n'),
  );
}

function describeExpected(key: string): string {
  if (key === 'r' || key.startsWith('rank_pattern')) return 'a positive integer (the LoRA rank)';
  if (key === 'lora_alpha' || key.startsWith('alpha_pattern')) return 'a number (the LoRA alpha; scale = alpha / r)';
  if (key === 'use_rslora') return 'true or false';
  if (key === 'rank_pattern' || key === 'alpha_pattern') return 'a mapping of module-name patterns to numbers';
  return 'another value';
}

/** PEFT's get_pattern_key: a pattern key matches a module name as `(.*\.)?(key)$`. */
function patternValue(patterns: Record<string, number> | null | undefined, path: string): number | undefined {
  for (const [k, v] of Object.entries(patterns ?? {})) {
    if (new RegExp(`(.*\\.)?(${k})$`).test(path)) return v;
  }
  return undefined;
}

export async function loadAdapter(src: FileSource): Promise<Adapter> {
  const cfgName = `${src.where}/adapter_config.json`;
  if (!(await src.exists('adapter_config.json')))
    throw new AdapterError(`${cfgName}: not found (a PEFT adapter folder is expected)`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(new TextDecoder().decode(await src.bytes('adapter_config.json'))) as Record<string, unknown>;
  } catch (e) {
    throw new AdapterError(`${cfgName}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    throw new AdapterError(`${cfgName}: expected a JSON object`);
  const cfg = checkAdapterConfig(config, cfgName);
  const mts = config.modules_to_save;
  if (Array.isArray(mts) && mts.length > 0) {
    throw new AdapterError(
      `${cfgName}: "modules_to_save" ${JSON.stringify(mts)} is not supported (an embedding model has no head)`,
    );
  }
  const wname = (await src.exists('adapter_model.safetensors')) ? 'adapter_model.safetensors' : 'adapter_model.bin';
  if (!(await src.exists(wname)))
    throw new AdapterError(`${src.where}/adapter_model.safetensors: not found (nor adapter_model.bin)`);
  const file = parseTensorFile(await src.bytes(wname), wname, `${src.where}/${wname}`);
  const alpha = cfg.lora_alpha ?? 8;
  const rslora = cfg.use_rslora ?? false;
  const byPath = new Map<string, { A?: string; B?: string; bias?: string }>();
  for (const key of file.tensors.keys()) {
    const m = /^(?:base_model\.model\.)?(?:dinov2\.|dinov3_vit\.)?(.+?)\.lora_([AB])(?:\.[^.]+)?\.(weight|bias)$/.exec(
      key,
    );
    if (!m)
      throw new AdapterError(
        `${file.file}: tensor "${key}" is not a LoRA weight (expected ...lora_A.weight / lora_B.weight)`,
      );
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
    if (!e.A || !e.B)
      throw new AdapterError(
        `${file.file}: module "${path}" has lora_${e.A ? 'A' : 'B'} but no lora_${e.A ? 'B' : 'A'}`,
      );
    const [r, inF] = file.info(e.A).shape;
    const [outF, rB] = file.info(e.B).shape;
    if (file.info(e.A).shape.length !== 2 || file.info(e.B).shape.length !== 2 || rB !== r) {
      throw new AdapterError(
        `${file.file}: module "${path}": lora_A [${file.info(e.A).shape.join(',')}] and lora_B [${file.info(e.B).shape.join(',')}] do not fit ([r,in] and [out,r])`,
      );
    }
    const rr = patternValue(cfg.rank_pattern, path) ?? r;
    const a = patternValue(cfg.alpha_pattern, path) ?? alpha;
    const scale = rslora ? a / Math.sqrt(rr) : a / rr;
    const t = (key: string) => {
      const data = file.f32(key);
      const bad = nonFiniteText(data);
      if (bad)
        throw new AdapterError(
          `${file.file}: tensor "${key}" has ${bad}; a damaged adapter (or one saved from a diverged run)`,
        );
      return data;
    };
    modules.push({ path, r, scale, A: t(e.A), B: t(e.B), bias: e.bias ? t(e.bias) : null, inF, outF });
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
      throw new AdapterError(
        `adapter module "${m.path}": LoRA shapes [${m.outF}, ${m.inF}] do not match the weight (${W.length} values)`,
      );
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
