/**
 * `vembed embed` end to end: real image files (PNG/JPEG/WebP) from a folder, the tiny DINOv2
 * model, embeddings equal to decode -> preprocess -> forward in-process; broken images are
 * skipped and reported, never embedded.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, test } from 'vitest';
import { decodeImageFile } from '../../src/data/decode-node';
import { outputSize, preprocess, preprocessorFromConfig } from '../../src/data/preprocess';
import { SafetensorsFile } from '../../src/io/safetensors';
import { embedBatch } from '../../src/model/embed';
import { loadCheckpoint } from '../../src/model/load';
import { dirSource } from '../../src/platform/file-source-node';
import { Vit } from '../../src/model/vit';
import { expectClose } from '../helpers/check';
import { nodeGpu } from '../helpers/node-gpu';

const run = promisify(execFile);
const IMG = 'tests/fixtures/preprocess';
const MODEL = 'tests/fixtures/models/dinov2-tiny';

afterAll(async () => (await nodeGpu()).destroy());

test('embeds a folder of images, skipping and reporting broken ones', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vembed-embed-'));
  const imgs = join(dir, 'imgs');
  mkdirSync(join(imgs, 'sub'), { recursive: true });
  const good = ['collage_97x61.png', 'tall_41x129.jpg', 'photo_60x40.webp', 'gray_64x64.png', 'rgba_45x30.png'];
  copyFileSync(join(IMG, good[0]), join(imgs, good[0]));
  copyFileSync(join(IMG, good[1]), join(imgs, good[1]));
  for (const g of good.slice(2)) copyFileSync(join(IMG, g), join(imgs, 'sub', g));
  copyFileSync(join(IMG, 'truncated.png'), join(imgs, 'sub', 'truncated.png'));
  copyFileSync(join(IMG, 'corrupt.jpg'), join(imgs, 'corrupt.jpg'));
  const out = join(dir, 'emb.safetensors');
  const r = await run(process.execPath, [
    'bin/vembed.mjs',
    'embed',
    '--model',
    MODEL,
    '--images',
    imgs,
    '--output',
    out,
    '--batch_size',
    '2',
  ]).catch((e) => e);
  expect(r.code ?? 0).toBe(0);
  expect(r.stderr).toMatch(/embed 7\/7 \[#+\] 100%/);
  expect(r.stderr).toMatch(/skipped .*corrupt\.jpg: /);
  expect(r.stderr).toMatch(/skipped .*truncated\.png: /);
  expect(r.stderr).toMatch(/wrote 5 embeddings of dimension 32 .*\(2 images skipped\)/);
  const f = SafetensorsFile.parse(readFileSync(out), out);
  const paths = JSON.parse(f.metadata.paths) as string[];
  expect(paths.map((p) => p.split('/').pop()).sort()).toEqual([...good].sort());
  expect(JSON.parse(f.metadata.skipped).length).toBe(2);
  expect(f.info('embeddings').shape).toEqual([5, 32]);

  // The same images through the library in-process.
  const ck = await loadCheckpoint(dirSource(MODEL));
  const pp = preprocessorFromConfig(ck.preprocessor, 'dinov2');
  const vit = new Vit(await nodeGpu(), ck.spec, ck.weights);
  const emb = f.f32('embeddings');
  for (let i = 0; i < paths.length; i++) {
    const img = await decodeImageFile(paths[i]);
    const { height, width } = outputSize(pp, img.width, img.height);
    const e = await embedBatch(vit, preprocess(img, pp), 1, height, width);
    expectClose(emb.subarray(i * 32, (i + 1) * 32), e, { atol: 1e-5, rtol: 0 }, paths[i]);
  }
  vit.destroy();
});

test('a path that is neither a folder nor a hub id is refused', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'vembed-embed-')), 'x.safetensors');
  const r = await run(process.execPath, [
    'bin/vembed.mjs',
    'embed',
    '--model',
    'no/such/dir',
    '--images',
    IMG,
    '--output',
    out,
  ]).catch((e) => e);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/--model no\/such\/dir: no such folder, and not a hub id of the form owner\/name/);
});
