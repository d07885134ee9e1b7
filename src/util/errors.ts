/**
 * The base of every error class the code throws, and the kinds thrown from more than one layer.
 *
 * VembedError: each subclass states its own `name` as a string (`override name = 'HubError'`), so
 * `${e.name}: ${e.message}`, stack traces and errors passed through comlink say which kind it is,
 * also in the minified app bundle (where class names are mangled, so `new.target.name` would not
 * do). One class per kind, defined next to the code that throws it (HubError in src/hub,
 * ImageDecodeError in src/data/image.ts, ...); tests/util/errors.test.ts checks every one.
 *
 * ConfigError: a config that cannot be used, the training config (src/config: YAML keys and
 * values) or a model's config.json (src/model/config.ts); `problems` has one line per problem,
 * and the message is those lines joined by newlines.
 */
export class VembedError extends Error {
  override name = 'VembedError';
}

export class ConfigError extends VembedError {
  override name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[] | string) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('\n'));
    this.problems = list;
  }
}
