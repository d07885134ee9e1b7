/**
 * Every error class in src/ derives from VembedError and carries its own name (src/util/errors.ts):
 * imports each module of src/ that defines one, constructs every exported subclass and checks
 * `name` (also what `String(e)` and stack traces start with). One class per kind: the model's
 * config.json and the training config throw the same ConfigError, both decoders the same
 * ImageDecodeError. Plain imports, no GPU:   npx vitest run tests/util/errors.test.ts
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ConfigError as TrainConfigError, parseTrainConfigYaml } from '../../src/config';
import { ImageDecodeError as NodeImageDecodeError } from '../../src/data/decode-node';
import { ImageDecodeError as BrowserImageDecodeError } from '../../src/data/decode-browser';
import { ImageDecodeError } from '../../src/data/image';
import { ConfigError as ModelConfigError, parseModelConfig } from '../../src/model/config';
import { ConfigError, VembedError } from '../../src/util/errors';

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const files = tsFiles('src');

describe('error classes', () => {
  test('no class in src/ extends Error directly except VembedError', () => {
    const direct = files.flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/class (\w+) extends Error\b/g)].map((m) => `${f}: ${m[1]}`),
    );
    expect(direct).toEqual(['src/util/errors.ts: VembedError']);
  });

  test('every exported VembedError subclass sets its own name', async () => {
    const defining = files.filter((f) => /class \w+ extends VembedError\b/.test(readFileSync(f, 'utf8')));
    expect(defining.length).toBeGreaterThanOrEqual(15);
    const seen: string[] = [];
    for (const f of defining) {
      const mod = (await import(/* @vite-ignore */ `../../${f}`)) as Record<string, unknown>;
      for (const [exported, value] of Object.entries(mod)) {
        if (typeof value !== 'function' || !(value.prototype instanceof VembedError)) continue;
        const e = new (value as new (m: string) => Error)('what went wrong');
        expect(e, `${f}: ${exported}`).toBeInstanceOf(Error);
        expect(e.name, `${f}: ${exported}`).toBe(exported);
        expect(String(e)).toBe(`${exported}: what went wrong`);
        expect(e.stack?.split('\n')[0]).toBe(`${exported}: what went wrong`);
        seen.push(exported);
      }
    }
    expect(new Set(seen)).toEqual(
      new Set([
        'AdapterError',
        'CheckpointError',
        'ConfigError',
        'DataFormatError',
        'HubError',
        'ImageDecodeError',
        'ModelLoadError',
        'NoWebGpuError',
        'OutputError',
        'PickleError',
        'PreprocessorConfigError',
        'RunFileError',
        'SafetensorsError',
        'StorageFullError',
        'TorchBinError',
        'TrainError',
        'UsageError',
        'ZipError',
      ]),
    );
  });

  test('one ConfigError: the training config and a model config.json throw the same class', () => {
    expect(TrainConfigError).toBe(ConfigError);
    expect(ModelConfigError).toBe(ConfigError);
    let fromYaml: unknown, fromModel: unknown;
    try {
      parseTrainConfigYaml('learning_rat: 1e-4\n', 'train.yaml');
    } catch (e) {
      fromYaml = e;
    }
    try {
      parseModelConfig({ model_type: 'dinov2', hidden_act: 'gelu_new' }, 'm/config.json');
    } catch (e) {
      fromModel = e;
    }
    expect(fromYaml).toBeInstanceOf(ConfigError);
    expect(fromModel).toBeInstanceOf(ConfigError);
    expect((fromModel as ConfigError).problems).toEqual([
      'm/config.json: "hidden_act" is "gelu_new"; only "gelu" (exact erf GELU) is supported',
    ]);
    expect((fromModel as ConfigError).message).toBe((fromModel as ConfigError).problems.join('\n'));
  });

  test('one ImageDecodeError for both decoders', () => {
    expect(NodeImageDecodeError).toBe(ImageDecodeError);
    expect(BrowserImageDecodeError).toBe(ImageDecodeError);
  });
});
