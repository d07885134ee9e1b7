/**
 * Training config from YAML text (+ `--config_override key=value` entries) to a checked
 * TrainConfig, and back to YAML (toYaml, re-exported from ./pyyaml.ts). Browser-safe (no Node
 * APIs; ./file-node.ts reads files).
 *
 * YAML is read as PyYAML's safe_load reads it (./pyyaml.ts: YAML 1.1, yes/no/on/off are booleans,
 * `<<` merge keys, 017 is octal; a repeated key takes its last value), so vembed-factory files
 * mean the same here. Like vembed-factory's launcher (which re-parses every value from text), a
 * number field accepts a numeric string and a boolean field accepts yes/no/true/false/on/off/1/0
 * (./values.ts).
 *
 * Pipeline: YAML -> raw key/value entries (with where each came from) -> overrides replace
 * entries -> validate: unknown keys (did-you-mean), aliases (lr, model_name_or_path), vembed-
 * factory keys that do not apply (noted or refused), refused values, zod (one value at a time:
 * ./values.ts checkValue). All problems are collected and thrown together as one ConfigError,
 * one line each.
 */
import { parse as parseYaml } from 'yaml';
import { readYaml, YAML_OPTIONS, yamlMessage, type Raw } from './pyyaml';
import { TrainConfig } from './schema';
import { FOREIGN_KEYS } from './compat';
import { accepts, canonical, checkValue, coerce, fmt, isKnownKey, KNOWN_KEYS } from './values';
import { ConfigError } from '../util/errors';
import { didYouMean } from '../util/suggest';

/** A config that cannot be used (src/util/errors.ts); `problems` has one line per problem (also the message). */
export { ConfigError };
export { toYaml } from './pyyaml';
export { allowedText } from './values';

export interface ParsedConfig {
  config: TrainConfig;
  /** One line per accepted-but-ignored key, reinterpreted value or repeated key. */
  notes: string[];
}

// ── overrides ────────────────────────────────────────────────────────────────────────────────
/** `key=value` typed by the schema: the value read as YAML (numbers, true/false, null, flow lists
 *  `[q_proj,v_proj]`, flow maps), or the plain text where that is what the key accepts. */
function overrideValue(key: string, text: string): unknown {
  let v: unknown;
  try {
    v = parseYaml(text, YAML_OPTIONS);
  } catch (e) {
    if (/^[[{]/.test(text))
      throw new Error(`not a YAML flow list or mapping (${yamlMessage((e as Error).message)})`, { cause: e });
    v = text;
  }
  const c = canonical(key);
  if (c === null || v === null || accepts(c, v) || !accepts(c, text)) return v;
  return text;
}

/** Applies `key=value` entries in order (a later entry wins; an override replaces what the file
 *  gave under any spelling of the key). */
function applyOverrideEntries(raw: Raw, overrides: readonly string[]): void {
  const problems: string[] = [];
  for (const entry of overrides) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? '' : entry.slice(0, eq).trim();
    if (!key) {
      problems.push(`--config_override ${fmt(entry)}: expected key=value, e.g. learning_rate=1e-4`);
      continue;
    }
    let text = entry.slice(eq + 1).trim();
    if (text.length >= 2 && text[0] === text[text.length - 1] && (text[0] === '"' || text[0] === "'"))
      text = text.slice(1, -1);
    if (!isKnownKey(key)) {
      const guess = didYouMean(key, KNOWN_KEYS);
      problems.push(
        `--config_override ${entry}: unknown key ${fmt(key)}${guess ? `; did you mean ${fmt(guess)}?` : ''}`,
      );
      continue;
    }
    const c = canonical(key);
    if (c !== null) {
      for (const [k, e] of raw) if (!e.fromOverride && canonical(k) === c) raw.delete(k);
    }
    let value: unknown;
    try {
      value = overrideValue(key, text);
    } catch (e) {
      problems.push(`--config_override ${entry}: ${key}: ${fmt(text)} is ${(e as Error).message}`);
      continue;
    }
    raw.delete(key); // re-insert at the end: overrides come after the file in messages
    raw.set(key, { value, where: `--config_override ${entry}`, fromOverride: true });
  }
  if (problems.length) throw new ConfigError(problems);
}

// ── validation ───────────────────────────────────────────────────────────────────────────────
/** Checks every entry (in the order given) and fills in defaults; throws all problems at once. */
function validate(raw: Raw, notes: string[]): ParsedConfig {
  const problems: string[] = [];
  const input: Record<string, unknown> = {};
  const done = new Set<string>();

  for (const [key, { value, where }] of raw) {
    if (done.has(key)) continue;
    done.add(key);
    if (!isKnownKey(key)) {
      const guess = didYouMean(key, KNOWN_KEYS);
      problems.push(
        `${where}: unknown key ${fmt(key)} (value ${fmt(value)})` +
          (guess
            ? `; did you mean ${fmt(guess)}?`
            : '; it is neither an option of this trainer nor a vembed-factory key'),
      );
      continue;
    }
    const foreign = FOREIGN_KEYS[key];
    if (foreign) {
      const refused = foreign.kind === 'ignored' && typeof value === 'string' ? foreign.refuse?.[value] : undefined;
      if (refused) {
        problems.push(`${where}: ${key}: ${fmt(value)} is not supported: ${refused}`);
      } else if (foreign.kind === 'ignored') {
        if (value !== null) notes.push(`${where}: ${key}: ${fmt(value)} is ignored here: ${foreign.why}`);
      } else if (!foreign.isOff(value)) {
        problems.push(`${where}: ${key}: ${fmt(value)} is not supported: ${foreign.why} (allowed: ${foreign.allowed})`);
      }
      continue;
    }
    // Every spelling of this key (learning_rate / lr) that is given (null = not given): they must agree.
    const c = canonical(key)!;
    const spellings = [...raw].filter(([k]) => canonical(k) === c);
    for (const [k] of spellings) done.add(k);
    const present = spellings.filter(([, e]) => e.value !== null);
    if (present.length === 0) continue;
    const [[k0, e0], ...rest] = present;
    const other = rest.find(([, e]) => fmt(coerce(c, e.value)) !== fmt(coerce(c, e0.value)));
    if (other) {
      problems.push(
        `${e0.where}: ${k0}: ${fmt(e0.value)} and ${other[0]}: ${fmt(other[1].value)} (${other[1].where}) disagree; ` +
          `give only one of them (${k0 === c ? other[0] : k0} is vembed-factory's alias of ${c})`,
      );
      continue;
    }
    const checked = checkValue(c, k0, e0.value, e0.where, notes);
    if ('problems' in checked) problems.push(...checked.problems);
    else input[c] = checked.value;
  }

  if (problems.length) throw new ConfigError(problems);
  const config = TrainConfig.parse(input);
  if (config.bf16) {
    notes.push(
      'bf16: true selects f16 storage (WGSL has no bf16 type): the frozen weights and the activations the ' +
        'GEMMs read are stored as f16, everything is computed in f32 (as fp16: true)',
    );
  }
  return { config, notes };
}

// ── API ──────────────────────────────────────────────────────────────────────────────────────
/**
 * Parses a training config file's text, applies `--config_override key=value` entries, checks
 * everything, and fills in defaults. Throws ConfigError with every problem found.
 */
export function parseTrainConfigYaml(
  text: string,
  file = 'config.yaml',
  overrides: readonly string[] = [],
): ParsedConfig {
  const notes: string[] = [];
  const raw = readYaml(text, file, notes);
  applyOverrideEntries(raw, overrides);
  return validate(raw, notes);
}

/** Checks a plain object (e.g. from a form or JSON) as parseTrainConfigYaml checks YAML. */
export function validateTrainConfig(
  obj: Record<string, unknown>,
  source = 'config',
  overrides: readonly string[] = [],
): ParsedConfig {
  const raw: Raw = new Map(Object.entries(obj).map(([k, value]) => [k, { value, where: source, fromOverride: false }]));
  applyOverrideEntries(raw, overrides);
  return validate(raw, []);
}

/** A checked config with `key=value` entries applied on top (same typing and errors). */
export function applyOverrides(config: TrainConfig, overrides: readonly string[]): ParsedConfig {
  return validateTrainConfig(config, 'config', overrides);
}

/** Throws unless the config names what training needs (model_name, data_path). */
export function checkReadyToTrain(config: TrainConfig): void {
  const missing = (['model_name', 'data_path'] as const).filter((k) => config[k] === null);
  if (missing.length) {
    throw new ConfigError(
      missing.map(
        (k) =>
          `${k} is not set; training needs ${k === 'model_name' ? 'a hub id or a local model folder (model_name or model_name_or_path)' : 'a JSONL file of training records'}`,
      ),
    );
  }
  if (config.learning_rate === 0) {
    throw new ConfigError(
      'learning_rate is 0: nothing would train (`vembed train` reads lr=0 as "evaluate model_name on val_data_path"; evaluate a run from its Evaluate step)',
    );
  }
}

/** Warmup length in optimizer steps: warmup_steps if > 0, else ceil(total * warmup_ratio)
 *  (vembed-factory's build_scheduler). */
export function warmupSteps(config: Pick<TrainConfig, 'warmup_steps' | 'warmup_ratio'>, totalSteps: number): number {
  return config.warmup_steps > 0 ? config.warmup_steps : Math.ceil(totalSteps * config.warmup_ratio);
}
