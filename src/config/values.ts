/**
 * One training-config key's value against its zod field (./schema.ts): the key's spellings
 * (canonical names, vembed-factory aliases, foreign keys), coercion of text values the way
 * vembed-factory's launcher re-parses them (numeric strings, yes/no/on/off, a lone name as a
 * list), what a key allows in words (from its JSON schema, e.g. `an integer >= 1`), and
 * checkValue, which gives the value to use or the problems, one line each. Used by ./parse.ts.
 */
import { z } from 'zod';
import { TrainConfig, TRAIN_CONFIG_KEYS, type TrainConfigKey } from './schema';
import { FOREIGN_KEYS, KEY_ALIASES, REFUSED_VALUES, VALUE_ALIASES } from './compat';
import { didYouMean } from '../util/suggest';

/** A value as messages quote it. */
export const fmt = (v: unknown): string =>
  v === undefined ? 'undefined' : typeof v === 'number' ? String(v) : JSON.stringify(v);
export const KNOWN_KEYS = [...TRAIN_CONFIG_KEYS, ...Object.keys(KEY_ALIASES), ...Object.keys(FOREIGN_KEYS)];
export const isKnownKey = (k: string) =>
  (TRAIN_CONFIG_KEYS as string[]).includes(k) || k in KEY_ALIASES || k in FOREIGN_KEYS;
export const canonical = (k: string): TrainConfigKey | null =>
  KEY_ALIASES[k] ?? ((TRAIN_CONFIG_KEYS as string[]).includes(k) ? k : null);

// ── coercion and descriptions, from the schema ───────────────────────────────────────────────
const field = (key: TrainConfigKey) => TrainConfig.shape[key] as z.ZodType;
export const accepts = (key: TrainConfigKey, v: unknown) => v !== undefined && field(key).safeParse(v).success;

/** The value, or the first reading of it the field accepts (what vembed-factory's re-parsing
 *  of values as text would give): numeric strings, boolean words, a lone name as a list. */
export function coerce(key: TrainConfigKey, v: unknown): unknown {
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

// ── checking one value ───────────────────────────────────────────────────────────────────────
/** Checks one TrainConfig key's value; returns the value to use, or a problem. */
export function checkValue(
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
