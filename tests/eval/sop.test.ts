/**
 * `vembed eval sop` / `vembed eval compare` end to end on a tiny Stanford Online Products folder
 * (PNG files written with sharp: 6 classes x 3 images, one single-image class, one unreadable
 * file) with the tiny DINOv2 model:
 * - sop_report.json has the right counts, and its Recall@K equals, exactly, an independent numpy
 *   computation (tools/recall_reference.py) on the saved embeddings;
 * - --embeddings reuses the saved file (no model) and gives the same numbers;
 * - a checkpoint folder with a PEFT adapter is merged into its base model;
 * - compare prints every recall key with deltas in points;
 * - bad inputs: no Ebay_test.txt, malformed or missing reports, an unreadable image (skipped and
 *   counted, not a crash).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { evalCommand, type SopReport } from '../../src/cli/eval';
import { decodeImageFile } from '../../src/data/decode-node';
import { outputSize, preprocess, preprocessorFromConfig } from '../../src/data/preprocess';
import { SafetensorsFile, writeSafetensors } from '../../src/io/safetensors';
import { embedBatch } from '../../src/model/embed';
import { loadCheckpoint } from '../../src/model/load';
import { loadAdapter, mergeAdapter } from '../../src/model/lora';
import { dirSource } from '../../src/platform/file-source-node';
import { Vit } from '../../src/model/vit';
import { Rng } from '../../src/util/random';
import { expectClose } from '../helpers/check';
import { nodeGpu } from '../helpers/node-gpu';

const run = promisify(execFile);
const MODEL = 'tests/fixtures/models/dinov2-tiny';
const ADAPTER = 'tests/fixtures/train/dinov2-tiny-adapter';
const TOPK = '1,2,4,18'; // K <= the 18 other readable images (a larger K is refused)

let dir = '';
let root = '';
const lines: string[] = [];

/** A 48x40 PNG: class colour + a class-specific stripe pattern + per-image noise. */
async function writeImage(path: string, cls: number, rng: Rng): Promise<void> {
  const W = 48,
    H = 40;
  const px = Buffer.alloc(W * H * 3);
  // A weak class colour under a strong per-image one, so that retrieval is far from perfect.
  const base = [(cls * 67) % 256, (cls * 131 + 40) % 256, (cls * 29 + 90) % 256].map(
    (c) => 0.35 * c + 0.65 * rng.uniform(0, 255),
  );
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const stripe = ((x + y * (cls % 3)) >> (1 + (cls % 2))) & 1 ? 50 : -50;
      for (let c = 0; c < 3; c++) {
        px[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, base[c] + stripe + Math.round(rng.uniform(-60, 60))));
      }
    }
  }
  await sharp(px, { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toFile(path);
}

async function capture(args: string[]): Promise<{ out: string; err: string }> {
  let out = '',
    err = '';
  await evalCommand(args, { gpu: await nodeGpu(), out: (t) => (out += t), err: (t) => (err += t) });
  return { out, err };
}

const readReport = (d: string) => JSON.parse(readFileSync(join(d, 'sop_report.json'), 'utf8')) as SopReport;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vembed-sop-'));
  root = join(dir, 'Stanford_Online_Products');
  const rng = new Rng(42);
  lines.push('image_id class_id super_class_id path');
  let id = 1;
  const add = (cls: number, rel: string) => lines.push(`${id++} ${cls} ${1 + (cls % 2)} ${rel}`);
  for (let cls = 11; cls <= 16; cls++) {
    mkdirSync(join(root, `class_${cls}`), { recursive: true });
    for (let i = 0; i < 3; i++) {
      await writeImage(join(root, `class_${cls}`, `${cls}_${i}.png`), cls, rng);
      add(cls, `class_${cls}/${cls}_${i}.png`);
    }
  }
  mkdirSync(join(root, 'class_17'));
  await writeImage(join(root, 'class_17', '17_0.png'), 17, rng); // single-image class
  add(17, 'class_17/17_0.png');
  writeFileSync(join(root, 'class_11', 'broken.png'), 'not an image'); // unreadable
  add(11, 'class_11/broken.png');
  writeFileSync(join(root, 'Ebay_test.txt'), lines.join('\n') + '\n');
});

afterAll(async () => (await nodeGpu()).destroy());

describe('vembed eval sop', () => {
  test('report counts and Recall@K equal the independent numpy computation', async () => {
    const out = join(dir, 'zero-shot');
    const emb = join(dir, 'emb.safetensors');
    const r = await capture([
      'sop',
      '--model_path',
      MODEL,
      '--sop_root',
      root,
      '--output_dir',
      out,
      '--save_embeddings',
      emb,
      '--batch_size',
      '4',
      '--topk',
      TOPK,
    ]);
    const rep = readReport(out);
    expect(rep.num_images).toBe(19);
    expect(rep.num_valid_queries).toBe(18); // class 17 has one image
    expect(rep.skipped_images).toBe(1);
    expect(rep.skipped[0].path).toMatch(/broken\.png$/);
    expect(r.err).toMatch(/skipped .*broken\.png: /);
    expect(rep.topk).toEqual([1, 2, 4, 18]);
    expect(rep.model).toBe(MODEL);
    expect(rep.decode_images_per_s).toBeGreaterThan(0);
    expect(rep.embed_images_per_s).toBeGreaterThan(0);
    expect(rep.time.seconds).toBeGreaterThan(0);
    expect(new Date(rep.time.date).toISOString()).toBe(rep.time.date);
    expect(rep.search.peak_gpu_bytes).toBeGreaterThan(0);
    expect(r.out).toMatch(/19 images, 18 valid queries, 1 skipped/);
    expect(r.out).toMatch(/recall@1 +\d+\.\d\d%/);

    const f = SafetensorsFile.parse(readFileSync(emb), emb);
    expect(f.info('embeddings').shape).toEqual([19, 32]);
    expect(Array.from(f.i64('labels'), Number)).toEqual(
      [...Array(6)].flatMap((_, c) => [11 + c, 11 + c, 11 + c]).concat([17]),
    );
    expect(JSON.parse(f.metadata.paths)).toHaveLength(19);

    const py = await run('/usr/bin/python3', ['tools/recall_reference.py', emb, '--topk', TOPK]);
    const ref = JSON.parse(py.stdout) as Record<string, number>;
    expect(ref.num_images).toBe(19);
    expect(ref.num_valid_queries).toBe(18);
    for (const k of ['recall@1', 'recall@2', 'recall@4', 'recall@18']) {
      expect(rep[k as `recall@${number}`], k).toBe(ref[k]);
    }
    expect(rep['recall@18']).toBe(1);
    console.log('tiny SOP zero-shot:', JSON.stringify(ref));

    // Reuse the embeddings: no model, same numbers.
    const out2 = join(dir, 'reuse');
    await capture(['sop', '--embeddings', emb, '--output_dir', out2, '--topk', TOPK]);
    const rep2 = readReport(out2);
    for (const k of ['recall@1', 'recall@2', 'recall@4', 'recall@18'])
      expect(rep2[k as `recall@${number}`]).toBe(rep[k as `recall@${number}`]);
    expect(rep2.num_valid_queries).toBe(18);
    expect(rep2.embeddings_file).toBe(emb);
    expect(rep2.model).toBe(MODEL);

    // A file without labels (as `vembed embed` writes): the classes come from the list.
    const bare = join(dir, 'bare.safetensors');
    writeFileSync(
      bare,
      writeSafetensors([{ name: 'embeddings', shape: [19, 32], data: f.f32('embeddings') }], {
        paths: f.metadata.paths,
        model: 'bare',
      }),
    );
    await expect(capture(['sop', '--embeddings', bare, '--output_dir', out2])).rejects.toThrow(
      /bare\.safetensors: no "labels" tensor; give --sop_root/,
    );
    await capture(['sop', '--embeddings', bare, '--sop_root', root, '--output_dir', out2, '--topk', TOPK]);
    expect(readReport(out2)['recall@4']).toBe(rep['recall@4']);
  });

  test('a checkpoint folder with a PEFT adapter is merged into its base; compare prints deltas', async () => {
    const out = join(dir, 'fine-tuned');
    const emb = join(dir, 'emb-adapter.safetensors');
    const r = await capture([
      'sop',
      '--model_path',
      ADAPTER,
      '--sop_root',
      root,
      '--output_dir',
      out,
      '--save_embeddings',
      emb,
      '--batch_size',
      '8',
      '--topk',
      TOPK,
    ]);
    expect(r.err).toMatch(/merged 4 LoRA modules/);
    const rep = readReport(out);
    expect(rep.model).toBe(ADAPTER);
    expect(rep.base_model).toBe(MODEL);
    expect(rep.num_images).toBe(19);

    // The saved embeddings are those of the merged model (first image, in-process).
    const ck = await loadCheckpoint(dirSource(MODEL));
    mergeAdapter(ck.spec, ck.weights, await loadAdapter(dirSource(ADAPTER)));
    const vit = new Vit(await nodeGpu(), ck.spec, ck.weights);
    const pp = preprocessorFromConfig(ck.preprocessor, 'dinov2');
    const f = SafetensorsFile.parse(readFileSync(emb), emb);
    const path0 = JSON.parse(f.metadata.paths)[0] as string;
    const img = await decodeImageFile(path0);
    const { height, width } = outputSize(pp, img.width, img.height);
    const e = await embedBatch(vit, preprocess(img, pp), 1, height, width);
    expectClose(f.f32('embeddings').subarray(0, 32), e, { atol: 1e-5, rtol: 0 }, path0);
    vit.destroy();
    const py = JSON.parse((await run('/usr/bin/python3', ['tools/recall_reference.py', emb, '--topk', TOPK])).stdout);
    expect(rep['recall@1']).toBe(py['recall@1']);
    console.log('tiny SOP with adapter:', JSON.stringify(py));

    // compare zero-shot (previous test) vs fine-tuned
    const before = readReport(join(dir, 'zero-shot'));
    const c = await capture(['compare', join(dir, 'zero-shot', 'sop_report.json'), join(out, 'sop_report.json')]);
    for (const k of ['recall@1', 'recall@2', 'recall@4', 'recall@18'] as const) {
      const b = before[k],
        a = rep[k];
      const d = `${a - b >= 0 ? '+' : ''}${((a - b) * 100).toFixed(2)} pts`;
      expect(c.out).toMatch(
        new RegExp(
          `${k} +${(b * 100).toFixed(2)}% +${(a * 100).toFixed(2)}% +\\${d.slice(0, 1)}${d.slice(1).replace('.', '\\.')}`,
        ),
      );
    }
    expect(c.out).toMatch(/zero-shot +fine-tuned +delta/);
    console.log(c.out);
  });

  test('bad inputs are refused with the file named', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await expect(capture(['sop', '--model_path', MODEL, '--sop_root', empty])).rejects.toThrow(
      new RegExp(`--sop_root ${empty}: no Ebay_test.txt in it or in its subfolders`),
    );
    await expect(capture(['sop', '--model_path', MODEL, '--sop_root', join(dir, 'nope')])).rejects.toThrow(
      /no such folder/,
    );
    const badList = join(dir, 'badlist');
    mkdirSync(badList);
    writeFileSync(join(badList, 'Ebay_test.txt'), 'image_id class_id super_class_id path\n1 x 1 a.png\n');
    await expect(capture(['sop', '--model_path', MODEL, '--sop_root', badList])).rejects.toThrow(
      /Ebay_test\.txt:2: class_id "x"/,
    );
    await expect(capture(['sop', '--sop_root', root])).rejects.toThrow(/missing --model_path/);
    await expect(capture(['sop', '--model_path', MODEL, '--sop_root', root, '--topk', '1,x'])).rejects.toThrow(
      /--topk 1,x: NaN is not a positive integer/,
    );
    await expect(capture(['sop', '--embeddings', join(dir, 'none.safetensors')])).rejects.toThrow(
      /none\.safetensors: cannot read/,
    );
    await expect(capture(['sop', '--model_path', 'no/such/dir', '--sop_root', root])).rejects.toThrow(
      /--model_path no\/such\/dir: no such folder/,
    );
    await expect(capture(['nope'])).rejects.toThrow(/unknown subcommand "nope"/);

    const good = join(dir, 'zero-shot', 'sop_report.json');
    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, '{"recall@1": 0.5,');
    await expect(capture(['compare', good, notJson])).rejects.toThrow(new RegExp(`${notJson}: not valid JSON`));
    const noRecall = join(dir, 'norecall.json');
    writeFileSync(noRecall, '{"num_images": 3}');
    await expect(capture(['compare', noRecall, good])).rejects.toThrow(new RegExp(`${noRecall}: no recall@K values`));
    const badValue = join(dir, 'badvalue.json');
    writeFileSync(badValue, '{"recall@1": "high"}');
    await expect(capture(['compare', good, badValue])).rejects.toThrow(new RegExp(`${badValue}: "recall@1" is "high"`));
    await expect(capture(['compare', good, join(dir, 'missing.json')])).rejects.toThrow(/missing\.json: no such file/);
    await expect(capture(['compare', good])).rejects.toThrow(/expected two reports/);
  });
});
