/** Node only: read a training config file from a path (everything else is in ./parse.ts). */
import { readFile } from 'node:fs/promises';
import { ConfigError, parseTrainConfigYaml, type ParsedConfig } from './parse';

export async function readTrainConfigFile(path: string, overrides: readonly string[] = []): Promise<ParsedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `${path}: cannot read the config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  return parseTrainConfigYaml(text, path, overrides);
}
