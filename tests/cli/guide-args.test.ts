/**
 * The pieces behind the guide's command forms, without a GPU: checkpoint-<N> paths
 * (src/cli/checkpoint-path.ts), config keys as flags (src/cli/config-flags.ts), and learning_rate 0
 * (evaluate only on the command line; refused for training and in the app's config editor).
 * Run: npx vitest run tests/cli/guide-args.test.ts
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { resolveCheckpointPath } from '../../src/cli/checkpoint-path';
import { configFlagsToOverrides } from '../../src/cli/config-flags';
import { checkReadyToTrain, parseTrainConfigYaml } from '../../src/config';
import { checkConfigYaml } from '../../src/run/config-check';

describe('checkpoint paths', () => {
  const out = mkdtempSync(join(tmpdir(), 'vembed-ckpath-'));
  for (const d of ['checkpoint-step-500', 'checkpoint-step-1000', 'checkpoint-epoch-2', 'checkpoint-250'])
    mkdirSync(join(out, d));
  const logs: string[] = [];
  const resolve = (p: string) => resolveCheckpointPath(p, (l) => logs.push(l));

  test('an existing folder is used as it is (an HF Trainer checkpoint-<N> too)', async () => {
    expect(await resolve(join(out, 'checkpoint-epoch-2'))).toBe(join(out, 'checkpoint-epoch-2'));
    expect(await resolve(join(out, 'checkpoint-250'))).toBe(join(out, 'checkpoint-250'));
    expect(logs).toEqual([]);
  });

  test('checkpoint-<N> means checkpoint-step-<N>, and the other way round, saying so', async () => {
    expect(await resolve(join(out, 'checkpoint-1000'))).toBe(join(out, 'checkpoint-step-1000'));
    expect(await resolve(join(out, 'checkpoint-1000/'))).toBe(join(out, 'checkpoint-step-1000'));
    expect(await resolve(join(out, 'checkpoint-step-250'))).toBe(join(out, 'checkpoint-250'));
    expect(logs[0]).toBe(
      `${join(out, 'checkpoint-1000')}: using ${join(out, 'checkpoint-step-1000')} (this trainer names step checkpoints checkpoint-step-<N>)`,
    );
  });

  test('a missing checkpoint lists what is there; other paths and hub ids pass through', async () => {
    await expect(resolve(join(out, 'checkpoint-2000'))).rejects.toThrow(
      `${join(out, 'checkpoint-2000')}: no such checkpoint folder; ${out} has checkpoint-epoch-2, checkpoint-250, checkpoint-step-500, checkpoint-step-1000`,
    );
    await expect(resolve('/nonexistent/run/checkpoint-5')).rejects.toThrow(
      '/nonexistent/run/checkpoint-5: no such checkpoint folder; no folder /nonexistent/run',
    );
    expect(await resolve('facebook/dinov2-base')).toBe('facebook/dinov2-base');
    expect(await resolve(join(out, 'model'))).toBe(join(out, 'model'));
  });
});

describe('config keys as flags', () => {
  test('--key value, --key=value, a boolean alone, a list up to the next flag; own options untouched', () => {
    const r = configFlagsToOverrides([
      'cfg.yaml',
      '--data_path',
      'd.jsonl',
      '--use_lora',
      '--config_override',
      'epochs=2',
      '--lora_target_modules',
      'q_proj',
      'v_proj',
      '--image_root=img',
      '--hf_token',
      'T',
      '--lr',
      '1e-4',
      '--fp16',
    ]);
    expect(r.overrides).toEqual([
      'data_path=d.jsonl',
      'use_lora=true',
      'lora_target_modules=[q_proj,v_proj]',
      'image_root=img',
      'lr=1e-4',
      'fp16=true',
    ]);
    expect(r.args).toEqual(['cfg.yaml', '--config_override', 'epochs=2', '--hf_token', 'T']);
    expect(() => configFlagsToOverrides(['cfg.yaml', '--data_path'])).toThrow(
      '--data_path: needs a value (--data_path <value>)',
    );
    expect(configFlagsToOverrides(['--not_a_key', 'x']).args).toEqual(['--not_a_key', 'x']); // parseOptions names it
  });

  test('flags win over the YAML and --config_override, as in run.py', () => {
    const { args, overrides } = configFlagsToOverrides(['--config_override', 'epochs=2', '--epochs', '5']);
    const c = parseTrainConfigYaml('epochs: 1\n', 'c.yaml', [...args.slice(1), ...overrides]).config;
    expect(c.epochs).toBe(5);
  });
});

describe('learning_rate 0', () => {
  const lr0 = 'model_name: m\ndata_path: d.jsonl\nlearning_rate: 1.0e-4\n';
  test('parses (it means evaluate-only on the command line), the override replacing every spelling', () => {
    const c = parseTrainConfigYaml(lr0, 'c.yaml', ['lr=0', 'model_name_or_path=out/checkpoint-1000']).config;
    expect(c).toMatchObject({ learning_rate: 0, model_name: 'out/checkpoint-1000' });
    expect(() => parseTrainConfigYaml(lr0, 'c.yaml', ['lr=-1'])).toThrow(
      /lr: -1 is not allowed; expected a number >= 0/,
    );
  });
  test('is refused for training, and in the app with a line to mark', () => {
    const c = parseTrainConfigYaml(lr0, 'c.yaml', ['lr=0']).config;
    expect(() => checkReadyToTrain(c)).toThrow(/learning_rate is 0: nothing would train/);
    const check = checkConfigYaml(lr0.replace('1.0e-4', '0'));
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual([
      { line: 3, key: 'learning_rate', message: expect.stringMatching(/^learning_rate: 0 trains nothing/) },
    ]);
  });
});
