/**
 * The README's promises about the command line and the set-up, checked against the code:
 *   - the two fresh-machine commands start with `apt-get update`, and `.ci/run` runs the test one
 *     character for character;
 *   - every `npx vembed ...` line of the README has a `--help` that lists each option the line uses;
 *   - examples/*.yaml parse cleanly: dinov3_i2i.yaml is the guide's config, the variants change only
 *     the model, and demo.yaml trains as the app's demo preset does;
 *   - start-up is quiet: a command's stderr has our one WebGPU line and none of Dawn's adapter-probing
 *     warnings, which --verbose shows again.
 * Run: npx vitest run tests/cli/readme.test.ts
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { parseTrainConfigYaml, TRAIN_CONFIG_KEYS, FOREIGN_KEYS, KEY_ALIASES } from '../../src/config';
import { evalCommand } from '../../src/cli/eval';
import { embedCommand } from '../../src/cli/embed';
import { forwardCommand } from '../../src/cli/forward';
import { mergeCommand } from '../../src/cli/merge';
import { prepareCommand } from '../../src/cli/prepare';
import { trainCommand } from '../../src/cli/train';
import { SafetensorsFile, writeSafetensors } from '../../src/io/safetensors';
import { CONFIG_PRESETS } from '../../src/run/presets';

const run = promisify(execFile);
const README = readFileSync('README.md', 'utf8');
const codeBlocks = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);

async function vembed(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    return { code: 0, ...(await run(process.execPath, ['bin/vembed.mjs', ...args], { maxBuffer: 1 << 24 })) };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** What a command prints for --help (in-process: the commands write it to stdout). */
async function help(argv: string[]): Promise<string> {
  const commands: Record<string, (a: string[]) => Promise<void>> = {
    embed: embedCommand,
    eval: (a) => evalCommand(a),
    forward: forwardCommand,
    merge: mergeCommand,
    prepare: prepareCommand,
    train: trainCommand,
  };
  let out = '';
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    await commands[argv[0]]([...argv.slice(1), '--help']);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

describe('set-up commands', () => {
  const [app, tests] = codeBlocks;
  test('both start with apt-get update and are single lines', () => {
    for (const c of [app, tests]) {
      expect(c.trim().split('\n')).toHaveLength(1);
      expect(c).toMatch(/^apt-get update && apt-get install -y /);
    }
    expect(app.trim()).toMatch(/&& npm ci && npm start$/);
    expect(tests.trim()).toMatch(/&& npm ci && npm run typecheck && npm run lint && npm run format:check && npm test$/);
  });

  test(".ci/run runs the README's test command, exactly", () => {
    const ci = readFileSync('.ci/run', 'utf8').split('\n');
    expect(ci).toContain(tests.trim());
    // and every package the suite needs is in it
    for (const p of ['chromium', 'libvulkan1', 'python3-numpy', 'dataset-fashion-mnist'])
      expect(tests).toContain(` ${p}`);
  });
});

describe('every README command line has a --help that names its options', () => {
  const lines = [
    ...codeBlocks.join('\n').split('\n'),
    ...[...README.matchAll(/`(npx vembed [^`]+)`/g)].map((m) => m[1]),
  ]
    .map((l) => l.trim())
    .filter((l) => l.startsWith('npx vembed ') && !/^npx vembed (<command>|help) /.test(l));
  const configFlags = new Set(
    [...TRAIN_CONFIG_KEYS, ...Object.keys(KEY_ALIASES), ...Object.keys(FOREIGN_KEYS)].map((k) => `--${k}`),
  );
  test('the README has command lines for every command', () => {
    const cmds = new Set(lines.map((l) => l.split(/\s+/)[2]));
    expect([...cmds].sort()).toEqual(['embed', 'eval', 'forward', 'merge', 'prepare', 'train']);
  });
  for (const line of [...new Set(lines)]) {
    test(line, async () => {
      const words = line.split(/\s+/).slice(2);
      const sub = ['eval', 'prepare'].includes(words[0]) ? words.slice(0, 2) : words.slice(0, 1);
      const text = await help(sub);
      expect(text).toMatch(new RegExp(`^usage: vembed ${sub.join(' ')} `));
      for (const flag of line.match(/--[a-z_]+/g) ?? []) {
        if (sub[0] === 'train' && configFlags.has(flag)) {
          expect(text).toContain('--<config key> value');
          continue;
        }
        expect(text, `${flag} in vembed ${sub.join(' ')} --help`).toContain(`  ${flag} `);
      }
    });
  }

  test('vembed help <command> is <command> --help; vembed --help lists every command', async () => {
    const a = await vembed('help', 'merge');
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(await help(['merge']));
    const b = await vembed('--help');
    expect(b.code).toBe(0);
    for (const c of ['embed', 'eval', 'forward', 'merge', 'prepare', 'train'])
      expect(b.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });
});

describe('examples/', () => {
  const parse = (f: string) => parseTrainConfigYaml(readFileSync(`examples/${f}`, 'utf8'), `examples/${f}`);
  test('every file parses, with no note (no ignored or unknown key)', () => {
    const files = readdirSync('examples')
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    expect(files).toEqual(['demo.yaml', 'dinov2_i2i.yaml', 'dinov3_i2i.yaml', 'dinov3_vits16_i2i.yaml']);
    for (const f of files) expect(parse(f).notes, f).toEqual([]);
  });

  test("dinov3_i2i.yaml is the guide's: SOP, ViT-B/16, LoRA, 20 epochs, batch 128, InfoNCE, lr 1e-4", () => {
    expect(parse('dinov3_i2i.yaml').config).toMatchObject({
      model_name: 'facebook/dinov3-vitb16-pretrain-lvd1689m',
      retrieval_mode: 'i2i',
      use_lora: true,
      data_path: 'data/stanford_online_products/train.jsonl',
      val_data_path: 'data/stanford_online_products/val.jsonl',
      image_root: 'data/stanford_online_products',
      output_dir: 'experiments/output_sop_dinov3_i2i',
      epochs: 20,
      batch_size: 128,
      loss_type: 'infonce',
      learning_rate: 1e-4,
      logging_steps: 10,
      save_steps: 500,
      report_to: 'none',
    });
  });

  test('the DINOv2-base and ViT-S/16 variants differ from it only in the model and the output folder', () => {
    const base = parse('dinov3_i2i.yaml').config;
    for (const [f, model] of [
      ['dinov2_i2i.yaml', 'facebook/dinov2-base'],
      ['dinov3_vits16_i2i.yaml', 'facebook/dinov3-vits16-pretrain-lvd1689m'],
    ]) {
      const c = parse(f).config;
      expect(c.model_name).toBe(model);
      expect({ ...c, model_name: null, output_dir: null }).toEqual({ ...base, model_name: null, output_dir: null });
    }
  });

  test("demo.yaml names the bundled model and dataset and trains as the app's demo preset", () => {
    const c = parse('demo.yaml').config;
    for (const p of [c.model_name!, c.data_path!, c.val_data_path!, c.image_root!]) expect(existsSync(p), p).toBe(true);
    const app = parseTrainConfigYaml(CONFIG_PRESETS.find((p) => p.id === 'demo')!.yaml, 'demo preset').config;
    const paths = { model_name: null, data_path: null, val_data_path: null, image_root: null, output_dir: null };
    expect({ ...c, ...paths }).toEqual({ ...app, ...paths });
  });
});

describe('quiet start-up', () => {
  const lavapipe = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'].some(
    (d) => existsSync(d) && readdirSync(d).some((n) => n.startsWith('lvp_icd')),
  );
  const dir = mkdtempSync(join(tmpdir(), 'vembed-quiet-'));
  const cases = SafetensorsFile.parse(readFileSync('tests/fixtures/models/dinov2-tiny/cases.safetensors'));
  const input = join(dir, 'in.safetensors');
  writeFileSync(
    input,
    writeSafetensors([{ name: 's1', shape: cases.info('s1.pixel_values').shape, data: cases.f32('s1.pixel_values') }]),
  );
  const args = [
    'forward',
    '--model',
    'tests/fixtures/models/dinov2-tiny',
    '--input',
    input,
    '--output',
    join(dir, 'out.safetensors'),
  ];

  test("a command's stderr has our WebGPU line and none of Dawn's adapter-probing warnings; --verbose shows them", async () => {
    const r = await vembed(...args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/^WebGPU: /gm)).toHaveLength(1);
    expect(r.stderr).not.toMatch(
      /shaderUniform|ArrayDynamicIndexing|InitializeImpl|While initializing adapter|Loader Message|vkEnumeratePhysicalDevices/,
    );
    if (!lavapipe) {
      console.log('quiet start-up: Mesa lavapipe is not installed here, so --verbose has no Dawn warning to show');
      return;
    }
    expect(r.stderr).toMatch(/Mesa's lavapipe skipped \(Dawn does not support it\)/);
    const v = await vembed(...args, '--verbose');
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).toMatch(/Warning: Vulkan shaderUniform\*ArrayDynamicIndexing required/);
  });
});
