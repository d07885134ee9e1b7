/**
 * lora_target_modules -> which linear layers of each ViT block get LoRA adapters, per family.
 * Names are PEFT's: an entry matches a module whose path equals it or ends with `.<entry>`
 * (so `q_proj`, `attention.q_proj` and `output.dense` all work). The module paths mirror
 * linearModulePath in src/model/weights.ts.
 *
 * Default (null): the attention query and value projections. Note: vembed-factory's own fallback
 * list is [q_proj, v_proj, query, value, key, dense], which on DINOv3 gives q_proj and v_proj too,
 * but on DINOv2 also adapts key and the attention output dense; write that list out to match it.
 */
import type { TrainConfig } from './schema';
import { ConfigError } from './parse';

export type ModelFamily = 'dinov3' | 'dinov2';
/** A linear layer of a ViT block (the role names of src/model/lora.ts). */
export type LinearRole = 'q' | 'k' | 'v' | 'o' | 'fc1' | 'fc2';
export const LINEAR_ROLES: readonly LinearRole[] = ['q', 'k', 'v', 'o', 'fc1', 'fc2'];

/** Path of each linear layer inside one block (`layer.<i>.` / `encoder.layer.<i>.` in front). */
export const BLOCK_LINEAR_PATHS: Record<ModelFamily, Record<LinearRole, string>> = {
  dinov3: {
    q: 'attention.q_proj',
    k: 'attention.k_proj',
    v: 'attention.v_proj',
    o: 'attention.o_proj',
    fc1: 'mlp.up_proj',
    fc2: 'mlp.down_proj',
  },
  dinov2: {
    q: 'attention.attention.query',
    k: 'attention.attention.key',
    v: 'attention.attention.value',
    o: 'attention.output.dense',
    fc1: 'mlp.fc1',
    fc2: 'mlp.fc2',
  },
};

export interface LoraTargets {
  /** Layers that get adapters, in block order. */
  roles: LinearRole[];
  /** Their PEFT module names (last path component), for adapter_config.json `target_modules`. */
  modules: string[];
  /** Entries of the list that match nothing in this family (PEFT tolerates these as long as one
   *  entry matches; worth a warning). */
  unmatched: string[];
}

/** Resolves lora_target_modules for a model family; throws ConfigError if nothing matches. */
export function resolveLoraTargets(config: Pick<TrainConfig, 'lora_target_modules'>, family: ModelFamily): LoraTargets {
  const paths = BLOCK_LINEAR_PATHS[family];
  const lastName = (r: LinearRole) => paths[r].split('.').pop()!;
  const pick = (roles: LinearRole[], unmatched: string[] = []): LoraTargets => ({
    roles,
    modules: roles.map(lastName),
    unmatched,
  });
  const t = config.lora_target_modules;
  if (t === null) return pick(['q', 'v']);
  if (t === 'all-linear') return pick([...LINEAR_ROLES]);
  const matches = (entry: string, r: LinearRole) => paths[r] === entry || paths[r].endsWith(`.${entry}`);
  const roles = LINEAR_ROLES.filter((r) => t.some((e) => matches(e, r)));
  const unmatched = t.filter((e) => !LINEAR_ROLES.some((r) => matches(e, r)));
  if (roles.length === 0) {
    throw new ConfigError(
      `lora_target_modules: ${JSON.stringify(t)} matches no linear layer of a ${family} model; ` +
        `its linear layers are ${LINEAR_ROLES.map(lastName).join(', ')} (or use "all-linear", or null for ${lastName('q')} and ${lastName('v')})`,
    );
  }
  return pick(roles, unmatched);
}
