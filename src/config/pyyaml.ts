/**
 * YAML as PyYAML's safe_load reads it (YAML 1.1: yes/no/on/off are booleans, `<<` merge keys, 017
 * is octal, dates stay strings; a repeated key takes its last value, with a note), so vembed-
 * factory files mean the same here; and a TrainConfig written back as YAML that PyYAML reads to
 * the same values. readYaml turns a config file's text into raw key/value entries (with the line
 * each came from) for ./parse.ts to override and check. Browser-safe.
 */
import {
  LineCounter,
  isMap,
  isScalar,
  parseDocument,
  stringify,
  type DocumentOptions,
  type ParseOptions,
  type SchemaOptions,
} from 'yaml';
import { TRAIN_CONFIG_KEYS, type TrainConfig } from './schema';
import { fmt } from './values';
import { ConfigError } from '../util/errors';

/** One key as given: its value and where it came from (`config.yaml:12`, `--config_override lr=1e-4`). */
export interface Entry {
  value: unknown;
  where: string;
  fromOverride: boolean;
}
export type Raw = Map<string, Entry>;

// ── reading ──────────────────────────────────────────────────────────────────────────────────
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
export const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  merge: true,
  uniqueKeys: false,
  customTags: pyyamlTags,
};

/** The first line of a yaml error message, without its position. */
export const yamlMessage = (m: string) => m.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');

/** Reads YAML text into raw entries; YAML errors and a non-mapping top level are ConfigErrors. */
export function readYaml(text: string, file: string, notes: string[]): Raw {
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

// ── writing ──────────────────────────────────────────────────────────────────────────────────
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
