/**
 * Training config from YAML text (+ `--config_override key=value` entries) to a checked
 * TrainConfig, and back to YAML. Browser-safe (no Node APIs; ./file-node.ts reads files).
 *
 * YAML is read as PyYAML's safe_load reads it (YAML 1.1: yes/no/on/off are booleans, `<<` merge
 * keys, 017 is octal; a repeated key takes its last value), so vembed-factory files mean the same
 * here. Like vembed-factory's launcher (which re-parses every value from text), a number field
 * accepts a numeric string and a boolean field accepts yes/no/true/false/on/off/1/0.
 *
 * Pipeline: YAML -> raw key/value entries (with where each came from) -> overrides replace
 * entries -> validate: unknown keys (did-you-mean), aliases (lr, model_name_or_path), vembed-
 * factory keys that do not apply (noted or refused), refused values, zod. All problems are
 * collected and thrown together as one ConfigError, one line each.
 */
import {
  LineCounter,
  isMap,
  isScalar,
  parse as parseYaml,
  parseDocument,
  stringify,
  type DocumentOptions,
  type ParseOptions,
  type SchemaOptions,
} from 'yaml';
import { z } from 'zod';
import { TrainConfig, TRAIN_CONFIG_KEYS, type TrainConfigKey } from './schema';
import { FOREIGN_KEYS, KEY_ALIASES, REFUSED_VALUES, VALUE_ALIASES } from './compat';
import { ConfigError } from '../util/errors';
import { didYouMean } from '../util/suggest';

/** A config that cannot be used (src/util/errors.ts); `problems` has one line per problem (also the message). */
export { ConfigError };

export interface ParsedConfig {
  config: TrainConfig;
  /** One line per accepted-but-ignored key, reinterpreted value or repeated key. */
  notes: string[];
}

/** One key as given: its value and where it came from (`config.yaml:12`, `--config_override lr=1e-4`). */
interface Entry {
  value: unknown;
  where: string;
  fromOverride: boolean;
}
type Raw = Map<string, Entry>;

// ── YAML as PyYAML reads it ──────────────────────────────────────────────────────────────────
type Tags = NonNullable<Extract<SchemaOptions['customTags'], unknown[]>>;
const PYYAML_TRUE = /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const PYYAML_FALSE = /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/;
/** yaml's 1.1 schema, with PyYAML's booleans (y/n stay strings) and dates left as strings. */
const pyyamlTags = (tags: Tags): Tags =>
  tags
    .filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:timestamp')
    .map((t) => {
      if (typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:bool') return t;
      return { ...t, test: t.identify?.(true) ? PYYAML_TRUE : PYYAML_FALSE } as typeof t;
    });
const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  merge: true,
  uniqueKeys: false,
  customTags: pyyamlTags,
};

/** The first line of a yaml error message, without its position. */
const yamlMessage = (m: string) => m.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
const fmt = (v: unknown): string =>
  v === undefined ? 'undefined' : typeof v === 'number' ? String(v) : JSON.stringify(v);
const KNOWN_KEYS = [...TRAIN_CONFIG_KEYS, ...Object.keys(KEY_ALIASES), ...Object.keys(FOREIGN_KEYS)];
const isKnownKey = (k: string) => (TRAIN_CONFIG_KEYS as string[]).includes(k) || k in KEY_ALIASES || k in FOREIGN_KEYS;
const canonical = (k: string): TrainConfigKey | null =>
  KEY_ALIASES[k] ?? ((TRAIN_CONFIG_KEYS as string[]).includes(k) ? k : null);

/** Reads YAML text into raw entries; YAML errors and a non-mapping top level are ConfigErrors. */
function readYaml(text: string, file: string, notes: string[]): Raw {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { ...YAML_OPTIONS, lineCounter, prettyErrors: false });
  if (doc.errors.length) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
        return `${file}:${pos.line}:${pos.col}: YAML syntax error: ${yamlMessage(e.message)}`;
      }),
    );
  }
  const raw: Raw = new Map();
  if (doc.contents === null) return raw;
  if (!isMap(doc.contents)) {
    throw new ConfigError(`${file}:1:1: the config must be a mapping of "key: value" lines, got ${fmt(doc.toJS())}`);
  }
  // Values with merges and repeated keys resolved the PyYAML way; lines from the pairs.
  let values: Record<string, unknown>;
  try {
    values = (doc.toJS() ?? {}) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`${file}: YAML error: ${yamlMessage((e as Error).message)}`);
  }
  const seen = new Map<string, { line: number; value: string }>();
  for (const pair of doc.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (key === '<<') continue;
    const line = pair.key && isScalar(pair.key) && pair.key.range ? lineCounter.linePos(pair.key.range[0]).line : 0;
    const value = JSON.stringify((pair.value as { toJS?: (d: unknown) => unknown } | null)?.toJS?.(doc) ?? pair.value);
    const prev = seen.get(key);
    if (prev && prev.value !== value) {
      notes.push(
        `${file}:${line}: ${key} is given again (first on line ${prev.line}); the last value wins, as in PyYAML`,
      );
    }
    seen.set(key, { line, value });
  }
  for (const [key, value] of Object.entries(values)) {
    const line = seen.get(key)?.line;
    raw.set(key, { value, where: line ? `${file}:${line}` : file, fromOverride: false });
  }
  return raw;
}

// ── value coercion and descriptions, from the schema ─────────────────────────────────────────
const field = (key: TrainConfigKey) => TrainConfig.shape[key] as z.ZodType;
const accepts = (key: TrainConfigKey, v: unknown) => v !== undefined && field(key).safeParse(v).success;

/** The value, or the first reading of it the field accepts (what vembed-factory's re-parsing
 *  of values as text would give): numeric strings, boolean words, a lone name as a list. */
function coerce(key: TrainConfigKey, v: unknown): unknown {
  if (accepts(key, v)) return v;
  const candidates: unknown[] = [];
  if (typeof v === 'string') {
    const s = v.trim();
    if (s !== '' && Number.isFinite(Number(s))) candidates.push(Number(s));
    if (/^(?:true|yes|on|y|t|1)$/i.test(s)) candidates.push(true);
    if (/^(?:false|no|off|n|f|0)$/i.test(s)) candidates.push(false);
    candidates.push([v]);
  } else if (typeof v === 'number') {
    candidates.push(String(v));
    if (v === 1 || v === 0) candidates.push(v === 1);
  }
  return candidates.find((c) => accepts(key, c)) ?? v;
}

type Js = Record<string, unknown> & {
  anyOf?: Js[];
  enum?: unknown[];
  items?: Js;
  properties?: Record<string, Js>;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  exclusiveMaximum?: number;
};
const jsonSchemas = new Map<TrainConfigKey, Js>();
const jsonSchema = (key: TrainConfigKey): Js => {
  if (!jsonSchemas.has(key)) jsonSchemas.set(key, z.toJSONSchema(field(key), { io: 'input' }) as Js);
  return jsonSchemas.get(key)!;
};

function describe(s: Js): string {
  if (typeof s.allowed === 'string') return s.allowed;
  if (s.anyOf) return s.anyOf.map(describe).join(' or ');
  if ('const' in s) return fmt(s.const);
  if (s.enum) return s.enum.length === 1 ? fmt(s.enum[0]) : `one of ${s.enum.map(fmt).join(', ')}`;
  const range = () => {
    const lo = s.minimum ?? s.exclusiveMinimum,
      loX = s.minimum === undefined;
    const max = s.maximum === Number.MAX_SAFE_INTEGER ? undefined : s.maximum;
    const hi = max ?? s.exclusiveMaximum,
      hiX = max === undefined;
    if (lo !== undefined && hi !== undefined) return ` in ${loX ? '(' : '['}${lo}, ${hi}${hiX ? ')' : ']'}`;
    if (lo !== undefined) return ` ${loX ? '>' : '>='} ${lo}`;
    if (hi !== undefined) return ` ${hiX ? '<' : '<='} ${hi}`;
    return '';
  };
  switch (s.type) {
    case 'null':
      return 'null';
    case 'boolean':
      return 'true or false';
    case 'string':
      return s.minLength ? 'a non-empty string' : 'a string';
    case 'integer':
      return `an integer${range()}`;
    case 'number':
      return `a number${range()}`;
    case 'array':
      return `a list of ${s.items ? describe(s.items).replace(/^an? /, '') : 'values'}s`;
    case 'object':
      return `a mapping with keys among ${Object.keys(s.properties ?? {}).join(', ')}`;
    default:
      return JSON.stringify(s);
  }
}
/** What a key allows, e.g. `an integer >= 1`. */
export const allowedText = (key: TrainConfigKey): string => describe(jsonSchema(key));
const allowedWithDefault = (key: TrainConfigKey) => `${allowedText(key)} (default ${fmt(jsonSchema(key).default)})`;

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
/** Checks one TrainConfig key's value; returns the value to use, or a problem. */
function checkValue(
  key: TrainConfigKey,
  spelling: string,
  given: unknown,
  where: string,
  notes: string[],
): { value: unknown } | { problems: string[] } {
  let value = given;
  const schema = jsonSchema(key);
  if (value === '' && schema.anyOf?.some((s) => s.type === 'null')) return { value: null }; // "" = null, as in vembed-factory
  if (typeof given === 'string') {
    const alias = VALUE_ALIASES[key]?.[given];
    if (alias) {
      notes.push(`${where}: ${spelling}: ${fmt(given)} is ${alias.note}`);
      value = alias.to;
    }
    const refused = REFUSED_VALUES[key]?.[given];
    if (refused)
      return { problems: [`${where}: ${spelling}: ${fmt(given)} is ${refused} (allowed: ${allowedText(key)})`] };
  }
  const coerced = coerce(key, value);
  const result = field(key).safeParse(coerced);
  if (result.success) return { value: coerced };
  if (
    typeof coerced === 'number' &&
    Number.isInteger(coerced) &&
    !Number.isSafeInteger(coerced) &&
    schema.type === 'integer'
  ) {
    return {
      problems: [`${where}: ${spelling}: ${fmt(given)} is too large; expected ${allowedWithDefault(key)}, below 2^53`],
    };
  }
  const unknownKeys = result.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys : []));
  if (unknownKeys.length) {
    const names = Object.keys(schema.anyOf?.find((s) => s.type === 'object')?.properties ?? {});
    return {
      problems: unknownKeys.map((k) => {
        const guess = didYouMean(k, names);
        return `${where}: ${spelling}: unknown key ${fmt(k)}${guess ? ` (did you mean ${fmt(guess)}?)` : ''}; allowed keys: ${names.join(', ')}`;
      }),
    };
  }
  const options = schema.enum as string[] | undefined;
  const guess = typeof value === 'string' && options ? didYouMean(value, options) : null;
  return {
    problems: [
      `${where}: ${spelling}: ${fmt(given)} is not allowed; expected ${allowedWithDefault(key)}${guess ? `; did you mean ${fmt(guess)}?` : ''}`,
    ],
  };
}

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

/** A number PyYAML reads back as a float/int (it needs a `.` and a signed exponent). */
function yamlNumber(n: number): string {
  const s = String(n);
  if (!s.includes('e')) return s;
  let [m, e] = s.split('e');
  if (!m.includes('.')) m += '.0';
  if (!/^[-+]/.test(e)) e = `+${e}`;
  return `${m}e${e}`;
}

/** The fully merged config as YAML (for `train_config.yaml`), every key in schema order. Reads
 *  back to the same config here, and with PyYAML. */
export function toYaml(config: TrainConfig): string {
  const lines = ['# Training config with every option (defaults filled in), as used for this run.'];
  for (const key of TRAIN_CONFIG_KEYS) {
    const v = config[key];
    const text =
      typeof v === 'number'
        ? yamlNumber(v)
        : v === null
          ? 'null'
          : typeof v === 'string' && /[\n\r]/.test(v)
            ? JSON.stringify(v)
            : stringify(v, { ...YAML_OPTIONS, collectionStyle: 'flow', lineWidth: 0 }).trimEnd();
    lines.push(`${key}: ${text}`);
  }
  return lines.join('\n') + '\n';
}
