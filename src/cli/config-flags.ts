/**
 * `vembed train <config.yaml> --data_path X --image_root Y --use_lora` : config keys given as
 * command-line flags, as vembed-factory's run.py takes them (its leftover arguments go to
 * HfArgumentParser, after the YAML and --config_override, so they win). Each becomes a
 * `key=value` override appended after the --config_override entries:
 *   --key value          one value
 *   --flag               a boolean key (or a vembed-factory switch) alone: true
 *   --list a b c         lora_target_modules and the other list keys: every value up to the next --flag
 * Flags that are the command's own options (--config_override, --hf_token, --help) are left in place.
 */
import { FOREIGN_KEYS, KEY_ALIASES, TRAIN_CONFIG_KEYS, TrainConfig } from '../config';

const OWN = new Set(['config_override', 'hf_token', 'help', 'verbose']);
const canonical = (k: string) => KEY_ALIASES[k] ?? k;
const isConfigKey = (k: string) => (TRAIN_CONFIG_KEYS as string[]).includes(k) || k in KEY_ALIASES || k in FOREIGN_KEYS;
const field = (k: string) =>
  (TrainConfig.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>)[canonical(k)];
const takesBoolean = (k: string) => (field(k) ? field(k).safeParse(true).success : true);
const takesList = (k: string) => (field(k) ? field(k).safeParse(['a', 'b']).success : false);

export function configFlagsToOverrides(args: readonly string[]): { args: string[]; overrides: string[] } {
  const rest: string[] = [];
  const overrides: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const m = /^--([A-Za-z_][\w]*)(?:=(.*))?$/s.exec(a);
    if (!m || OWN.has(m[1]) || !isConfigKey(m[1])) {
      rest.push(a);
      continue;
    }
    const key = m[1];
    if (m[2] !== undefined) {
      overrides.push(`${key}=${m[2]}`);
      continue;
    }
    const values: string[] = [];
    while (i + 1 < args.length && !args[i + 1].startsWith('--') && (values.length === 0 || takesList(key)))
      values.push(args[++i]);
    if (values.length === 0) {
      if (!takesBoolean(key)) throw new Error(`--${key}: needs a value (--${key} <value>)`);
      overrides.push(`${key}=true`);
    } else if (takesList(key) && values.length > 1) {
      overrides.push(`${key}=[${values.join(',')}]`);
    } else overrides.push(`${key}=${values[0]}`);
  }
  return { args: rest, overrides };
}
