/** `vembed train` errors a user meets before any GPU work: config problems and missing images. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { trainCommand } from '../../src/cli/train';

const dir = mkdtempSync(join(tmpdir(), 'vembed-train-cli-'));
const write = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

test('an unknown key gets a did-you-mean, naming the file and line', async () => {
  const cfg = write('typo.yaml', 'model_name: x\ndata_path: d.jsonl\nlearnig_rate: 1e-4\n');
  await expect(trainCommand([cfg])).rejects.toThrow(/typo\.yaml:3.*learnig_rate.*did you mean "learning_rate"/);
});

test('a bad override names the key, the value and what is allowed', async () => {
  const cfg = write('ok.yaml', 'model_name: x\ndata_path: d.jsonl\n');
  await expect(trainCommand([cfg, '--config_override', 'epochs=0'])).rejects.toThrow(
    /epochs.*0.*expected an integer in \[1, 1000000\]/,
  );
  await expect(trainCommand([cfg, '--config_override', 'epochs'])).rejects.toThrow(
    /--config_override epochs: expected key=value/,
  );
});

test('images that do not exist are found before training, with a hint about image_root', async () => {
  const data = write(
    'train.jsonl',
    '{"query_image": "a.jpg", "positive": "b.jpg", "label": 1}\n{"query_image": "c.jpg", "positive": "d.jpg", "label": 2}\n',
  );
  const cfg = write('miss.yaml', `model_name: tests/fixtures/models/dinov3-tiny\ndata_path: ${data}\n`);
  await expect(trainCommand([cfg])).rejects.toThrow(
    /none of the 4 images named by .*train\.jsonl exist \(first: a\.jpg, relative to the current folder .*\); set image_root/,
  );
});
