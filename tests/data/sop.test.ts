/**
 * Stanford Online Products preparation (src/data/sop.ts, `vembed prepare sop` in src/cli/prepare.ts)
 * and the Fashion-MNIST SOP-layout builder (tools/make_sop_fashion_mnist.ts):
 *   list parsing    every malformed line is an error naming file:line (messages pinned)
 *   pairing         seeded and reproducible, never an image with itself, positives from the same
 *                   class, single-image classes skipped and counted, classes independent
 *   --val_from_train whole classes held out, never the test split
 *   prepare sop     through prepareCommand (stdout captured) on tests/fixtures/data/sop-mini: a
 *                   missing file listed and skipped, atomic writes (no temp files left)
 *   builder         a tiny folder from tests/fixtures/data/fashion-mnist-mini that prepare sop reads
 *
 * Run: npx vitest run tests/data/sop.test.ts
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { prepareCommand } from '../../src/cli/prepare';
import { loadPairDataset } from '../../src/data/datasets';
import { decodeImageFile } from '../../src/data/decode-node';
import { holdOutClasses, makePairs, prepareSop, readEbayList, type EbayRecord } from '../../src/data/sop';
import { nodeSource } from '../../src/platform/data-source-node';
import { makeSopFashionMnist } from '../../tools/make_sop_fashion_mnist';

const SOP_MINI = 'tests/fixtures/data/sop-mini';
const FMNIST_MINI = 'tests/fixtures/data/fashion-mnist-mini';
const HEADER = 'image_id class_id super_class_id path\n';

const tmp: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'vembed-sop-'));
  tmp.push(d);
  return d;
}
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of sop-mini in a temp folder (prepare writes beside the lists). */
function sopCopy(): string {
  const d = tempDir();
  cpSync(SOP_MINI, d, { recursive: true });
  return d;
}

/** The error message of a failing call, temp folders replaced by <root>. */
async function errorOf(f: () => unknown, root = ''): Promise<string> {
  try {
    await f();
  } catch (e) {
    const m = (e as Error).message;
    return root ? m.split(root).join('<root>') : m;
  }
  throw new Error('expected an error');
}

/** Runs prepareCommand, returning what it printed on stdout. */
async function prepare(args: string[]): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  try {
    await prepareCommand(args);
  } finally {
    spy.mockRestore();
  }
  return out;
}

const readJsonl = (p: string) =>
  readFileSync(p, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { query_image: string; positive: string; label: number });

describe('readEbayList', () => {
  test('parses the four columns; blank lines and CRLF are fine', () => {
    const recs = readEbayList(
      `${HEADER}1 11 1 bicycle_final/a_0.JPG\r\n\n2  11\t1 bicycle_final/a_1.JPG\n`,
      'Ebay_train.txt',
    );
    expect(recs).toEqual([
      { imageId: 1, classId: 11, superClassId: 1, path: 'bicycle_final/a_0.JPG' },
      { imageId: 2, classId: 11, superClassId: 1, path: 'bicycle_final/a_1.JPG' },
    ]);
  });

  test('malformed lines name file:line', async () => {
    const bad = (text: string) => errorOf(() => readEbayList(text, 'sop/Ebay_train.txt'));
    expect(await bad(`${HEADER}1 1 1 a.JPG\n2 1 b.JPG\n`)).toMatchInlineSnapshot(
      `"sop/Ebay_train.txt:3: expected 4 fields (image_id class_id super_class_id path), got 3: "2 1 b.JPG""`,
    );
    expect(await bad(`${HEADER}1 1 1 a.JPG b.JPG\n`)).toMatchInlineSnapshot(
      `"sop/Ebay_train.txt:2: expected 4 fields (image_id class_id super_class_id path), got 5: "1 1 1 a.JPG b.JPG""`,
    );
    expect(await bad(`${HEADER}1 x7 1 a.JPG\n`)).toMatchInlineSnapshot(
      `"sop/Ebay_train.txt:2: class_id "x7" is not a non-negative integer"`,
    );
    expect(await bad(`${HEADER}1 7 1.5 a.JPG\n`)).toMatchInlineSnapshot(
      `"sop/Ebay_train.txt:2: super_class_id "1.5" is not a non-negative integer"`,
    );
    expect(await bad(`${HEADER}\n\n-1 7 1 a.JPG\n`)).toMatchInlineSnapshot(
      `"sop/Ebay_train.txt:4: image_id "-1" is not a non-negative integer"`,
    );
  });

  test('a missing header is an error', async () => {
    expect(await errorOf(() => readEbayList('1 1 1 a.JPG\n', 'Ebay_test.txt'))).toMatchInlineSnapshot(
      `"Ebay_test.txt:1: expected the header line "image_id class_id super_class_id path", got "1 1 1 a.JPG""`,
    );
    expect(await errorOf(() => readEbayList('', 'Ebay_test.txt'))).toMatchInlineSnapshot(
      `"Ebay_test.txt:1: expected the header line "image_id class_id super_class_id path", got an empty file"`,
    );
  });
});

describe('makePairs', () => {
  // 40 classes of 1..6 images, ids not in order, images of a class not contiguous.
  const recs: EbayRecord[] = [];
  for (let k = 0; k < 6; k++)
    for (let c = 0; c < 40; c++)
      if (k < 1 + (c % 6))
        recs.push({ imageId: recs.length + 1, classId: 1000 - 7 * c, superClassId: 1, path: `s/${c}_${k}.JPG` });

  test('reproducible, never an image with itself, positive from the same class, records in list order', () => {
    const a = makePairs(recs, 42);
    expect(makePairs(recs, 42)).toEqual(a);
    const classOf = new Map(recs.map((r) => [r.path, r.classId]));
    const single = recs.filter(
      (r) => r.path.startsWith('s/') && recs.filter((q) => q.classId === r.classId).length === 1,
    );
    expect(a.pairs.length).toBe(recs.length - single.length);
    expect(a.singleImageClasses.sort()).toEqual(single.map((r) => r.classId).sort());
    expect(a.pairs.map((p) => p.query)).toEqual(recs.filter((r) => !single.includes(r)).map((r) => r.path));
    for (const p of a.pairs) {
      expect(p.positive).not.toBe(p.query);
      expect(classOf.get(p.positive)).toBe(p.label);
      expect(classOf.get(p.query)).toBe(p.label);
    }
    expect(a).toMatchObject({ images: recs.length, classes: 40, pairedClasses: 40 - single.length, duplicates: [] });
  });

  test('the seed matters, and a class draws its positives independently of the others', () => {
    const a = makePairs(recs, 42);
    expect(makePairs(recs, 43).pairs).not.toEqual(a.pairs);
    const dropped = recs.filter((r) => r.classId !== recs[0].classId);
    const b = makePairs(dropped, 42);
    expect(b.pairs).toEqual(a.pairs.filter((p) => p.label !== recs[0].classId));
  });

  test('two-image classes pair with each other; a path listed twice is dropped, not paired with itself', () => {
    const s = makePairs(
      [
        { classId: 5, path: 'x' },
        { classId: 5, path: 'y' },
        { classId: 6, path: 'z' },
        { classId: 6, path: 'z' },
      ],
      1,
    );
    expect(s.pairs).toEqual([
      { query: 'x', positive: 'y', label: 5 },
      { query: 'y', positive: 'x', label: 5 },
    ]);
    expect(s.singleImageClasses).toEqual([6]);
    expect(s.duplicates).toEqual(['z']);
  });
});

describe('holdOutClasses', () => {
  const recs = Array.from({ length: 100 }, (_, i) => ({ classId: i % 20, path: `${i}` }));
  test('holds out whole classes, round(fraction * classes) of them, reproducibly', () => {
    const a = holdOutClasses(recs, 0.25, 7);
    expect(a.valClasses.length).toBe(5);
    expect(holdOutClasses(recs, 0.25, 7)).toEqual(a);
    expect(holdOutClasses(recs, 0.25, 8).valClasses).not.toEqual(a.valClasses);
    const trainClasses = new Set(a.train.map((r) => r.classId));
    for (const r of a.val) expect(trainClasses.has(r.classId)).toBe(false);
    expect(a.val.length).toBe(25);
    expect(a.train.length + a.val.length).toBe(100);
  });
  test('at least one class each side; bad fractions refused', async () => {
    expect(holdOutClasses(recs, 0.001, 1).valClasses.length).toBe(1);
    expect(holdOutClasses(recs, 0.999, 1).valClasses.length).toBe(19);
    expect(await errorOf(() => holdOutClasses(recs, 1, 1))).toMatchInlineSnapshot(
      `"val_from_train 1: expected a fraction between 0 and 1 (exclusive)"`,
    );
    expect(await errorOf(() => holdOutClasses(recs.slice(0, 1), 0.5, 1))).toMatchInlineSnapshot(
      `"val_from_train: need at least 2 classes to hold some out, got 1"`,
    );
  });
});

describe('prepare sop', () => {
  test('prepareSop: a missing file is listed and skipped, single-image classes counted', async () => {
    const { train, val } = await prepareSop(nodeSource(SOP_MINI), { seed: 42 });
    expect(train.missing).toEqual(['chair_final/4_1.JPG']);
    expect(train.singleImageClasses).toEqual([3, 4]);
    expect(train.pairs.length).toBe(5);
    expect(val?.pairs.length).toBe(4);
    expect(val?.missing).toEqual([]);
  });

  test('vembed prepare sop writes train.jsonl and val.jsonl and prints a summary', async () => {
    const root = sopCopy();
    const out = await prepare(['sop', '--root', root, '--seed', '3']);
    expect(out.split(root).join('<root>')).toMatchInlineSnapshot(`
      "train.jsonl: 5 records in 2 classes from Ebay_train.txt (8 images in 4 classes listed); skipped: 2 single-image classes, 1 missing file
        missing: chair_final/4_1.JPG
      val.jsonl: 4 records in 2 classes from Ebay_test.txt (4 images in 2 classes listed); skipped: 0 single-image classes, 0 missing files
      wrote <root>/train.jsonl and <root>/val.jsonl (seed 3)
      "
    `);
    const train = readJsonl(join(root, 'train.jsonl'));
    expect(train.map((r) => r.query_image)).toEqual([
      'bicycle_final/1_0.JPG',
      'bicycle_final/1_1.JPG',
      'bicycle_final/1_2.JPG',
      'bicycle_final/2_0.JPG',
      'bicycle_final/2_1.JPG',
    ]);
    expect(train.map((r) => r.label)).toEqual([1, 1, 1, 2, 2]);
    expect(train[3].positive).toBe('bicycle_final/2_1.JPG');
    for (const r of train) {
      expect(r.positive).not.toBe(r.query_image);
      expect(r.positive.split('/')[1].split('_')[0]).toBe(String(r.label));
      expect(Object.keys(r)).toEqual(['query_image', 'positive', 'label']);
    }
    expect(readJsonl(join(root, 'val.jsonl')).map((r) => r.label)).toEqual([5, 5, 6, 6]);
    expect(readdirSync(root).filter((n) => n.includes('.tmp'))).toEqual([]);
    // The SOP format of the dataset loader pairs exactly as prepare does; train.jsonl reads back.
    const onTheFly = await loadPairDataset(nodeSource(root), { dataPath: '.', seed: 3 });
    const readBack = await loadPairDataset(nodeSource(root), { dataPath: 'train.jsonl' });
    expect(onTheFly.format).toBe('sop');
    expect(readBack.records).toEqual(onTheFly.records);
    // Same seed, same files.
    const first = readFileSync(join(root, 'train.jsonl'), 'utf8');
    await prepare(['sop', '--root', root, '--seed', '3']);
    expect(readFileSync(join(root, 'train.jsonl'), 'utf8')).toBe(first);
  });

  test('--val_from_train holds out whole training classes and never reads the test split', async () => {
    const root = sopCopy();
    rmSync(join(root, 'Ebay_test.txt'));
    const out = await prepare(['sop', '--root', root, '--val_from_train', '0.5']);
    expect(out.split(root).join('<root>')).toMatchInlineSnapshot(`
      "train.jsonl: 2 records in 1 class from Ebay_train.txt (remaining classes) (3 images in 2 classes listed); skipped: 1 single-image class, 0 missing files
      val.jsonl: 3 records in 1 class from Ebay_train.txt (held-out classes) (5 images in 2 classes listed); skipped: 1 single-image class, 1 missing file
        missing: chair_final/4_1.JPG
      wrote <root>/train.jsonl and <root>/val.jsonl (seed 42)
      "
    `);
    const train = readJsonl(join(root, 'train.jsonl'));
    const val = readJsonl(join(root, 'val.jsonl'));
    const trainLabels = new Set(train.map((r) => r.label));
    for (const r of val) expect(trainLabels.has(r.label)).toBe(false);
    for (const r of [...train, ...val]) expect([1, 2, 3, 4]).toContain(r.label);
  });

  test('errors: bad options, missing lists, a malformed line named with its path', async () => {
    const root = sopCopy();
    expect(await errorOf(() => prepare(['sop', '--root', root, '--val_from_train', '1.5']))).toMatch(
      /^--val_from_train 1.5: expected a fraction between 0 and 1 \(exclusive\)/,
    );
    expect(await errorOf(() => prepare(['sop', '--root', root, '--seed', 'abc']))).toMatch(
      /^--seed abc: expected a non-negative integer/,
    );
    expect(await errorOf(() => prepare(['sop']))).toMatch(/^missing --root/);
    expect(await errorOf(() => prepare(['cub', '--root', root]))).toMatch(
      /^unknown dataset "cub" \(known: sop, sop_i2i\)/,
    );
    expect(await errorOf(() => prepare(['sop', '--root', join(root, 'bicycle_final')]), root)).toMatchInlineSnapshot(
      `"<root>/bicycle_final: no Ebay_train.txt (not a Stanford Online Products folder?)"`,
    );
    rmSync(join(root, 'Ebay_test.txt'));
    expect(await errorOf(() => prepare(['sop', '--root', root]), root)).toMatchInlineSnapshot(
      `"<root>: no Ebay_test.txt (needed for the validation split; or hold out training classes with --val_from_train)"`,
    );
    writeFileSync(
      join(root, 'Ebay_train.txt'),
      `${HEADER}1 1 1 bicycle_final/1_0.JPG\n2 1 one bicycle_final/1_1.JPG\n`,
    );
    expect(
      await errorOf(() => prepare(['sop', '--root', root, '--val_from_train', '0.5']), root),
    ).toMatchInlineSnapshot(`"<root>/Ebay_train.txt:3: super_class_id "one" is not a non-negative integer"`);
    expect(existsSync(join(root, 'train.jsonl'))).toBe(false);
  });

  test('--help prints the usage', async () => {
    expect(await prepare(['sop', '--help'])).toMatch(/^usage: vembed prepare sop --root <dir>/);
    expect(await prepare(['--help'])).toMatch(/^usage: vembed prepare <dataset>/);
  });
});

describe('Fashion-MNIST SOP builder', () => {
  test('builds a valid SOP folder (6 products x 3 images, 32 px) that prepare sop reads; deterministic', async () => {
    const root = tempDir();
    const opts = { fmnist: FMNIST_MINI, trainProducts: 6, testProducts: 4, imagesPerProduct: 3, size: 32, seed: 5 };
    expect(await makeSopFashionMnist({ ...opts, out: root })).toEqual({ trainImages: 18, testImages: 12 });
    const list = readEbayList(readFileSync(join(root, 'Ebay_train.txt'), 'utf8'), 'Ebay_train.txt');
    expect(list.length).toBe(18);
    expect(list.slice(0, 4)).toEqual([
      { imageId: 1, classId: 1, superClassId: 1, path: 'tshirt_final/1_0.JPG' },
      { imageId: 2, classId: 1, superClassId: 1, path: 'tshirt_final/1_1.JPG' },
      { imageId: 3, classId: 1, superClassId: 1, path: 'tshirt_final/1_2.JPG' },
      { imageId: 4, classId: 2, superClassId: 2, path: 'trouser_final/2_0.JPG' },
    ]);
    const test = readEbayList(readFileSync(join(root, 'Ebay_test.txt'), 'utf8'), 'Ebay_test.txt');
    expect([...new Set(test.map((r) => r.classId))]).toEqual([7, 8, 9, 10]);
    const img = await decodeImageFile(join(root, list[5].path));
    expect([img.width, img.height]).toEqual([32, 32]);
    // The views of one product differ (augmented) but come from one photo.
    const a = await decodeImageFile(join(root, list[0].path));
    const b = await decodeImageFile(join(root, list[1].path));
    expect(a.data).not.toEqual(b.data);

    const out = await prepare(['sop', '--root', root]);
    expect(out).toMatch(
      /^train.jsonl: 18 records in 6 classes from Ebay_train.txt \(18 images in 6 classes listed\); skipped: 0 single-image classes, 0 missing files\nval.jsonl: 12 records in 4 classes from Ebay_test.txt/,
    );

    const again = tempDir();
    await makeSopFashionMnist({ ...opts, out: again });
    for (const r of [...list, ...test])
      expect(readFileSync(join(again, r.path)).equals(readFileSync(join(root, r.path)))).toBe(true);
    expect(readFileSync(join(again, 'Ebay_train.txt'), 'utf8')).toBe(
      readFileSync(join(root, 'Ebay_train.txt'), 'utf8'),
    );
  });

  test('asking for more products than photos of a class is an error', async () => {
    const e = await errorOf(() =>
      makeSopFashionMnist({
        out: tempDir(),
        fmnist: FMNIST_MINI,
        trainProducts: 31,
        testProducts: 1,
        imagesPerProduct: 2,
      }),
    );
    expect(e).toBe(`${FMNIST_MINI}/train: only 3 images of class tshirt, not enough for 31 products`);
  });

  test('from the Debian package dataset-fashion-mnist (installed by .ci/run)', async () => {
    const root = tempDir();
    expect(
      await makeSopFashionMnist({
        out: root,
        trainProducts: 20,
        testProducts: 10,
        imagesPerProduct: 2,
        size: 28,
        format: 'png',
      }),
    ).toEqual({ trainImages: 40, testImages: 20 });
    const { train, val } = await prepareSop(nodeSource(root), { seed: 1 });
    expect([train.pairs.length, train.pairedClasses, val?.pairs.length, train.missing.length]).toEqual([40, 20, 20, 0]);
  });
});
