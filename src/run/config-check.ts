/**
 * Checking the YAML of the config editor as the user types: parseTrainConfigYaml's ConfigError
 * lines ("config.yaml:12:3: key: message", "config.yaml:12: unknown key ...") become
 * {line, key, message} so the page can mark the offending line. A problem without a line (a
 * missing key, a key given through an alias) gets the line of its key when the text has one.
 */
import { ConfigError, parseTrainConfigYaml, type TrainConfig } from '../config';

export interface ConfigCheck {
  ok: boolean;
  /** The OPFS run folder output_dir maps to (when the config is valid). */
  run: string | null;
  /** One per problem: the 1-based line (0 when it has none), the key when known, the message. */
  problems: { line: number; key: string | null; message: string }[];
  notes: string[];
}

export const CONFIG_FILE = 'config.yaml';

/** OPFS folder name of a run from output_dir ("experiments/out" -> "experiments-out"). */
export function runName(outputDir: string): string {
  const n = outputDir.replace(/[/\\]+/g, '-').replace(/^[-.]+|-+$/g, '');
  return n || 'output';
}

/** Top-level key -> 1-based line in the YAML text (first occurrence). */
function keyLines(yaml: string): Map<string, number> {
  const out = new Map<string, number>();
  yaml.split(/\r?\n/).forEach((l, i) => {
    const m = /^([A-Za-z_][\w.-]*)[ \t]*:/.exec(l);
    if (m && !out.has(m[1])) out.set(m[1], i + 1);
  });
  return out;
}

export function splitProblem(p: string, lines: Map<string, number>): ConfigCheck['problems'][number] {
  const m = new RegExp(`^${CONFIG_FILE.replace('.', '\\.')}(?::(\\d+))?(?::(\\d+))?: (.*)$`, 's').exec(p);
  const message = m ? m[3] : p;
  const key =
    /^unknown key "([^"]+)"/.exec(message)?.[1] ?? /^([A-Za-z_]\w*)(?:\.[\w.]+)?: /.exec(message)?.[1] ?? null;
  const line = m?.[1] ? Number(m[1]) : key ? (lines.get(key) ?? 0) : 0;
  return { line, key, message };
}

/** lr=0 trains nothing; the command line reads it as evaluate-only, the app has an Evaluate step. */
function checkLearningRate(config: TrainConfig): void {
  if (config.learning_rate === 0) {
    throw new ConfigError(
      'learning_rate: 0 trains nothing (on the command line lr=0 means "evaluate only"); use the Evaluate step to evaluate a model',
    );
  }
}

/** Checks the text; `config` is the parsed config when it is valid. */
export function checkConfigYaml(yaml: string): Omit<ConfigCheck, 'run'> & { config: TrainConfig | null } {
  try {
    const { config, notes } = parseTrainConfigYaml(yaml, CONFIG_FILE);
    checkLearningRate(config);
    return { ok: true, problems: [], notes, config };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const lines = keyLines(yaml);
    return { ok: false, problems: e.problems.map((p) => splitProblem(p, lines)), notes: [], config: null };
  }
}
