/**
 * SOP at scale in Node, on folders from tools/make_sop_synthetic.ts (the full-size runs are
 * bench/scale material; these are CI sizes):
 * - the generator: SOP's exact counts (class sizes 2..12 summing to 59,551 / 60,502), its
 *   layout, the 10% variant's counts, byte-identical output for the same seed;
 * - `vembed eval sop` on a 2% folder with 50 unreadable and 10 missing images: every one skipped
 *   and counted, the first 20 named on the console and all of them in sop_report.json, the run
 *   not aborted; Recall@K equal to the independent NumPy computation (tools/recall_reference.py)
 *   on the saved embeddings;
 * - a malformed line in Ebay_test.txt stops the run with its line number.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { evalCommand, type SopReport } from '../../src/cli/eval';
import { Rng } from '../../src/util/random';
import {
  classSizes,
  makeSyntheticSop,
  makeTinyModel,
  SOP_COUNTS,
  SOP_SUPER_CLASSES,
} from '../../tools/make_sop_synthetic';
import { nodeGpu } from '../helpers/node-gpu';

const run = promisify(execFile);
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vembed-sopscale-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  (await nodeGpu()).destroy();
});

async function capture(args: string[]): Promise<{ out: string; err: string }> {
  let out = '',
    err = '';
  await evalCommand(args, { gpu: await nodeGpu(), out: (t) => (out += t), err: (t) => (err += t) });
  return { out, err };
}

describe('tools/make_sop_synthetic.ts', () => {
  test("SOP's counts: class sizes 2..12 with the exact totals; the 10% variant rounds each count", () => {
    for (const split of ['train', 'test'] as const) {
      const { images, classes } = SOP_COUNTS[split];
      for (const scale of [1, 0.1]) {
        const s = classSizes(Math.round(images * scale), Math.round(classes * scale), new Rng(1));
        expect(s.length).toBe(Math.round(classes * scale));
        expect(s.reduce((a, b) => a + b, 0)).toBe(Math.round(images * scale));
        expect(Math.min(...s)).toBeGreaterThanOrEqual(2);
        expect(Math.max(...s)).toBeLessThanOrEqual(12);
      }
    }
    expect([
      SOP_COUNTS.train.images + SOP_COUNTS.test.images,
      SOP_COUNTS.train.classes + SOP_COUNTS.test.classes,
    ]).toEqual([120_053, 22_634]);
    expect(() => classSizes(10, 6, new Rng(1))).toThrow(/10 images cannot fill 6 classes/);
  });

  test('layout and determinism: 12 super-class folders, lists with SOP headers, same seed same bytes', async () => {
    const a = join(dir, 'a'),
      b = join(dir, 'b');
    const ra = await makeSyntheticSop({ out: a, scale: 0.005, corrupt: 4, missing: 2, seed: 9 });
    await makeSyntheticSop({ out: b, scale: 0.005, corrupt: 4, missing: 2, seed: 9 });
    expect((await readdir(a)).sort()).toEqual(
      [
        'Ebay_info.txt',
        'Ebay_test.txt',
        'Ebay_train.txt',
        'README.txt',
        ...SOP_SUPER_CLASSES.map((s) => `${s}_final`),
      ].sort(),
    );
    const test = (await readFile(join(a, 'Ebay_test.txt'), 'utf8')).trim().split('\n');
    expect(test[0]).toBe('image_id class_id super_class_id path');
    expect(test.length - 1).toBe(ra.test.images);
    expect(test[1]).toMatch(new RegExp(`^1 ${ra.train.classes + 1} 1 bicycle_final/\\d{12}_0\\.JPG$`));
    for (const f of ['Ebay_train.txt', 'Ebay_test.txt', 'Ebay_info.txt', test[1].split(' ')[3], ra.corrupt[0]]) {
      expect((await readFile(join(a, f))).equals(await readFile(join(b, f))), f).toBe(true);
    }
    await expect(readFile(join(a, ra.missing[0]))).rejects.toThrow(/ENOENT/);
  });
});

describe('vembed eval sop at scale', () => {
  test(
    'a 2% folder with 50 unreadable and 10 missing images: all skipped, the first 20 named, all in the report; Recall@K = NumPy',
    { timeout: 300_000 },
    async () => {
      const root = join(dir, 'sop2'),
        model = join(dir, 'hidden16');
      const made = await makeSyntheticSop({ out: root, scale: 0.02, corrupt: 50, missing: 10, seed: 5 });
      await makeTinyModel(model, { hidden: 16, layers: 1, patch: 8, heads: 1, image: 32 });
      const out = join(dir, 'out2'),
        emb = join(dir, 'emb2.safetensors');
      const { out: table, err } = await capture([
        'sop',
        '--model_path',
        model,
        '--sop_root',
        root,
        '--output_dir',
        out,
        '--save_embeddings',
        emb,
      ]);
      const report = JSON.parse(await readFile(join(out, 'sop_report.json'), 'utf8')) as SopReport;
      const testList = (await readFile(join(root, 'Ebay_test.txt'), 'utf8'))
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(' ')[3]);
      const bad = testList.filter((p) => made.corrupt.includes(p) || made.missing.includes(p));
      expect(bad.length).toBe(30); // half of each kind lands in the test split
      expect(report.skipped_images).toBe(bad.length);
      expect(report.skipped.map((s) => s.path)).toEqual(bad.map((p) => join(root, p)));
      expect(report.num_images).toBe(made.test.images - bad.length);
      const named = err.split('\n').filter((l) => l.startsWith('skipped '));
      expect(named.length).toBe(20);
      expect(named[0]).toContain(bad[0]);
      expect(err).toContain(`... and 10 more (all 30 in ${join(out, 'sop_report.json')})`);
      expect(table).toContain(', 30 skipped,');
      const py = JSON.parse(
        (await run('/usr/bin/python3', ['tools/recall_reference.py', emb, '--topk', '1,10,100'])).stdout,
      );
      expect(py.num_images).toBe(report.num_images);
      for (const k of [1, 10, 100]) expect(report[`recall@${k}`], `recall@${k}`).toBe(py[`recall@${k}`]);

      // A malformed line stops the run before any work, naming the line.
      const text = await readFile(join(root, 'Ebay_test.txt'), 'utf8');
      const lines = text.split('\n');
      lines[778] = lines[778].split(' ').slice(0, 3).join(' ');
      await writeFile(join(root, 'Ebay_test.txt'), lines.join('\n'));
      await expect(
        capture(['sop', '--model_path', model, '--sop_root', root, '--output_dir', join(dir, 'out3')]),
      ).rejects.toThrow(
        `${join(root, 'Ebay_test.txt')}:779: expected 4 fields (image_id class_id super_class_id path), got 3`,
      );
    },
  );
});
