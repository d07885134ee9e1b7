/**
 * `vembed forward` end to end as a user runs it (a child process through bin/vembed.mjs):
 * pixel tensors in, last_hidden_state / pooler_output out, matching the PyTorch fixtures; and the
 * errors a user meets, each naming the file or option.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { SafetensorsFile, writeSafetensors } from '../../src/io/safetensors';
import { expectClose } from '../helpers/check';

const run = promisify(execFile);
const FIX = 'tests/fixtures/models';
const dir = mkdtempSync(join(tmpdir(), 'vembed-forward-'));

async function vembed(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['bin/vembed.mjs', ...args], { maxBuffer: 1 << 24 });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('vembed forward', () => {
  test('writes X.last_hidden_state and X.pooler_output matching PyTorch (atol 1e-4)', async () => {
    const cases = SafetensorsFile.parse(readFileSync(`${FIX}/dinov2-tiny/cases.safetensors`));
    const ids = ['s1', 's2'];
    const input = join(dir, 'in.safetensors');
    writeFileSync(
      input,
      writeSafetensors(
        ids.map((id) => ({
          name: id,
          shape: cases.info(`${id}.pixel_values`).shape,
          data: cases.f32(`${id}.pixel_values`),
        })),
      ),
    );
    const output = join(dir, 'out.safetensors');
    const r = await vembed('forward', '--model', `${FIX}/dinov2-tiny`, '--input', input, '--output', output);
    expect(r.stderr).toMatch(/WebGPU: /);
    // On the SwiftShader fallback (CI) the line says so, followed once by how to get the GPU used.
    if (/software fallback/.test(r.stderr)) {
      expect(r.stderr).toMatch(/slow CPU fallback \(SwiftShader\)[^\n]*\n {2}To use the GPU instead: /);
      expect(r.stderr.match(/To use the GPU instead/g)).toHaveLength(1);
      expect(r.stderr).toMatch(/vulkaninfo --summary/);
    }
    expect(r.code).toBe(0);
    const out = SafetensorsFile.parse(readFileSync(output), output);
    expect(out.metadata).toEqual({ format: 'pt' });
    for (const id of ids) {
      expect(out.info(`${id}.last_hidden_state`).shape).toEqual(cases.info(`${id}.last_hidden_state`).shape);
      expectClose(
        out.f32(`${id}.last_hidden_state`),
        cases.f32(`${id}.last_hidden_state`),
        { atol: 1e-4, rtol: 0 },
        id,
      );
      expectClose(out.f32(`${id}.pooler_output`), cases.f32(`${id}.pooler_output`), { atol: 1e-4, rtol: 0 }, id);
    }
  });

  test('errors name the option or the file and tensor', async () => {
    let r = await vembed('forward', '--input', 'x');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/missing --model/);
    r = await vembed(
      'forward',
      '--model',
      `${FIX}/dinov3-tiny`,
      '--input',
      `${FIX}/dinov3-tiny/cases.safetensors`,
      '--output',
      join(dir, 'x'),
    );
    expect(r.stderr).toMatch(/cases\.safetensors: tensor "rope\.cos" has shape \[35, 16\]; expected \[B, 3, H, W\]/);
    r = await vembed('forward', '--model', dir, '--input', join(dir, 'in.safetensors'), '--output', join(dir, 'y'));
    expect(r.stderr).toMatch(/no config\.json \(a Hugging Face model folder is expected\)/);
    r = await vembed('frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
  });
});
