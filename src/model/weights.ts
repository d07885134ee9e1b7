/**
 * Checkpoint tensors of a ViT: the expected names and shapes for each family (docs/model.md#checkpoint),
 * validated against config.json, and looked up by name (never by position). A known wrapper
 * prefix (`dinov2.`) is stripped. A NaN or Inf value is refused. Errors name the file and the tensor.
 *
 * Internally both families use one set of role names per layer:
 *   norm1.{w,b} q.{w,b} k.{w,b} v.{w,b} o.{w,b} ls1 norm2.{w,b} fc1.{w,b} fc2.{w,b} ls2
 * and globally: patch.{w,b} cls reg pos norm.{w,b}.
 */
import type { VitSpec } from './config';
import type { TensorFile } from '../io/tensor-file';
import { nonFiniteText } from '../util/finite';
import { VembedError } from '../util/errors';

export class CheckpointError extends VembedError {
  override name = 'CheckpointError';
}

/** HF module path of each LoRA-able linear, per family (also the PEFT module names). */
export function linearModulePath(spec: VitSpec, layer: number, role: 'q' | 'k' | 'v' | 'o' | 'fc1' | 'fc2'): string {
  if (spec.family === 'dinov3') {
    const m = {
      q: 'attention.q_proj',
      k: 'attention.k_proj',
      v: 'attention.v_proj',
      o: 'attention.o_proj',
      fc1: 'mlp.up_proj',
      fc2: 'mlp.down_proj',
    }[role];
    return `layer.${layer}.${m}`;
  }
  const m = {
    q: 'attention.attention.query',
    k: 'attention.attention.key',
    v: 'attention.attention.value',
    o: 'attention.output.dense',
    fc1: 'mlp.fc1',
    fc2: 'mlp.fc2',
  }[role];
  return `encoder.layer.${layer}.${m}`;
}

export interface ExpectedTensor {
  /** Internal role name, e.g. `layer.3.q.w` or `patch.w`. */
  role: string;
  /** Checkpoint key (HF name). */
  key: string;
  shape: number[];
  /** Absent from some checkpoints and not needed (e.g. mask_token). */
  optional?: boolean;
}

/** Every tensor the model needs (plus optional ones we tolerate), with HF keys and shapes. */
export function expectedTensors(spec: VitSpec): ExpectedTensor[] {
  const H = spec.hidden,
    I = spec.intermediate,
    p = spec.patch;
  const out: ExpectedTensor[] = [];
  const add = (role: string, key: string, shape: number[], optional = false) =>
    out.push({ role, key, shape, optional });
  if (spec.family === 'dinov3') {
    add('cls', 'embeddings.cls_token', [1, 1, H]);
    add('mask', 'embeddings.mask_token', [1, 1, H], true);
    if (spec.registers > 0) add('reg', 'embeddings.register_tokens', [1, spec.registers, H]);
    add('patch.w', 'embeddings.patch_embeddings.weight', [H, spec.channels, p, p]);
    add('patch.b', 'embeddings.patch_embeddings.bias', [H]);
  } else {
    const G = spec.posGrid!;
    add('cls', 'embeddings.cls_token', [1, 1, H]);
    add('mask', 'embeddings.mask_token', [1, H], true);
    add('pos', 'embeddings.position_embeddings', [1, 1 + G * G, H]);
    add('patch.w', 'embeddings.patch_embeddings.projection.weight', [H, spec.channels, p, p]);
    add('patch.b', 'embeddings.patch_embeddings.projection.bias', [H]);
  }
  const lp = spec.family === 'dinov3' ? 'layer' : 'encoder.layer';
  for (let l = 0; l < spec.layers; l++) {
    const r = (s: string) => `layer.${l}.${s}`;
    add(r('norm1.w'), `${lp}.${l}.norm1.weight`, [H]);
    add(r('norm1.b'), `${lp}.${l}.norm1.bias`, [H]);
    const lin = (role: 'q' | 'k' | 'v' | 'o' | 'fc1' | 'fc2', outF: number, inF: number, bias: boolean) => {
      const path = linearModulePath(spec, l, role);
      add(r(`${role}.w`), `${path}.weight`, [outF, inF]);
      if (bias) add(r(`${role}.b`), `${path}.bias`, [outF]);
    };
    lin('q', H, H, spec.qBias);
    lin('k', H, H, spec.kBias);
    lin('v', H, H, spec.vBias);
    lin('o', H, H, spec.oBias);
    add(r('ls1'), `${lp}.${l}.layer_scale1.lambda1`, [H]);
    add(r('norm2.w'), `${lp}.${l}.norm2.weight`, [H]);
    add(r('norm2.b'), `${lp}.${l}.norm2.bias`, [H]);
    lin('fc1', I, H, spec.mlpBias);
    lin('fc2', H, I, spec.mlpBias);
    add(r('ls2'), `${lp}.${l}.layer_scale2.lambda1`, [H]);
  }
  const fn = spec.family === 'dinov3' ? 'norm' : 'layernorm';
  add('norm.w', `${fn}.weight`, [H]);
  add('norm.b', `${fn}.bias`, [H]);
  return out;
}

/** Known wrapper prefixes stripped from checkpoint keys. */
const WRAPPER_PREFIXES = ['dinov2.', 'dinov3_vit.', 'model.'];

/**
 * Collects the model's tensors as f32 arrays from one or more tensor files (sharded
 * checkpoints pass every shard). Checks presence and shapes; extra tensors are ignored, except
 * that a checkpoint with no expected key at all is refused as the wrong model.
 */
export function collectWeights(spec: VitSpec, files: TensorFile[]): Map<string, Float32Array> {
  const where = new Map<string, { file: TensorFile; key: string }>();
  for (const f of files) {
    for (const key of f.tensors.keys()) {
      let k = key;
      for (const pre of WRAPPER_PREFIXES) {
        if (k.startsWith(pre)) {
          k = k.slice(pre.length);
          break;
        }
      }
      where.set(k, { file: f, key });
    }
  }
  const names = files.map((f) => f.file).join(', ');
  const out = new Map<string, Float32Array>();
  for (const t of expectedTensors(spec)) {
    const loc = where.get(t.key);
    if (!loc) {
      if (t.optional) continue;
      throw new CheckpointError(
        `${names}: missing tensor "${t.key}" (shape [${t.shape.join(', ')}]) required by config.json ` +
          `(${spec.family}, hidden ${spec.hidden}, ${spec.layers} layers)`,
      );
    }
    const info = loc.file.info(loc.key);
    if (info.shape.join(',') !== t.shape.join(',')) {
      throw new CheckpointError(
        `${loc.file.file}: tensor "${loc.key}" has shape [${info.shape.join(', ')}], but config.json implies [${t.shape.join(', ')}]`,
      );
    }
    const data = loc.file.f32(loc.key);
    const bad = t.optional ? null : nonFiniteText(data); // optional ones (mask_token) are never used
    if (bad) {
      throw new CheckpointError(
        `${loc.file.file}: tensor "${loc.key}" has ${bad}; a damaged checkpoint (or one saved from a diverged run): every embedding would be NaN`,
      );
    }
    out.set(t.role, data);
  }
  return out;
}

/** The model's tensors (as collected by collectWeights) under their Hugging Face names. */
export function weightsToTensors(
  spec: VitSpec,
  weights: Map<string, Float32Array>,
): { name: string; shape: number[]; data: Float32Array }[] {
  const out: { name: string; shape: number[]; data: Float32Array }[] = [];
  for (const t of expectedTensors(spec)) {
    const data = weights.get(t.role);
    if (data) out.push({ name: t.key, shape: t.shape, data });
  }
  return out;
}
