/**
 * Dataset formats (src/data/datasets.ts) over a Node DataSource (src/platform/data-source-node.ts):
 *   jsonl        image_root, label / class_id / id, string labels, column_mapping; every bad line an
 *                error naming file:line (and the value for a bad label), messages pinned
 *   imagefolder  one subfolder per class, seeded pairs within a class, single-image classes skipped
 *   sop          a folder with Ebay_train.txt, prepared on the fly (tests/fixtures/data/sop-mini)
 *   detection    anything else refused with the list of accepted formats
 *   validate     validateImages with sharp's decoder lists missing and undecodable images
 * Also the path helpers of src/platform/data-source.ts.
 *
 * Run: npx vitest run tests/data/datasets.test.ts
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname as nodeDirname, join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadPairDataset, readJsonlPairs, validateImages, type ColumnMapping } from '../../src/data/datasets';
import { decodeImageBytes } from '../../src/data/decode-node';
import { dirname, existingFiles, joinPath, subSource } from '../../src/platform/data-source';
import { nodeSource } from '../../src/platform/data-source-node';

const SOP_MINI = 'tests/fixtures/data/sop-mini';
const IMG = `${SOP_MINI}/bicycle_final/1_0.JPG`;

const tmp: string[] = [];
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A temp folder with the given files: string = text, null = a copy of a real JPEG. */
function folder(files: Record<string, string | null>): string {
  const d = mkdtempSync(join(tmpdir(), 'vembed-data-'));
  tmp.push(d);
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(nodeDirname(join(d, p)), { recursive: true });
    if (content === null) copyFileSync(IMG, join(d, p));
    else writeFileSync(join(d, p), content);
  }
  return d;
}

async function errorOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

const jsonl = (text: string, mapping: ColumnMapping | null = null, imageRoot: string | null = null) =>
  readJsonlPairs(text, 'data/train.jsonl', imageRoot, mapping);
const jsonlError = (text: string, mapping: ColumnMapping | null = null) => errorOf(() => jsonl(text, mapping));

describe('jsonl', () => {
  test('records with image_root; label, class_id or id; blank lines skipped', async () => {
    const d = folder({
      'data/train.jsonl':
        '{"query_image": "a/1.jpg", "positive": "a/2.jpg", "label": 7}\n\n' +
        '{"query_image": "b/1.jpg", "positive": "/abs/b2.jpg", "class_id": 3}\r\n' +
        '{"query_image": "c/1.jpg", "positive": "c/2.jpg", "id": 7, "negatives": ["x.jpg"]}\n' +
        '{"query_image": "d/1.jpg", "positive": "d/2.jpg"}\n   \n',
    });
    const ds = await loadPairDataset(nodeSource(d), {
      dataPath: 'data/train.jsonl',
      imageRoot: 'images/',
      allowOutsideRoot: true,
    });
    expect(ds).toEqual({
      format: 'jsonl',
      records: [
        { query: 'images/a/1.jpg', positive: 'images/a/2.jpg', label: 7 },
        { query: 'images/b/1.jpg', positive: '/abs/b2.jpg', label: 3 },
        { query: 'images/c/1.jpg', positive: 'images/c/2.jpg', label: 7 },
        { query: 'images/d/1.jpg', positive: 'images/d/2.jpg', label: null },
      ],
      numClasses: 2,
      problems: [],
    });
  });

  test('string labels become ids in order of first appearance', () => {
    const ds = jsonl(
      '{"query_image":"1","positive":"2","label":"shoe"}\n{"query_image":"3","positive":"4","label":"bag"}\n{"query_image":"5","positive":"6","label":"shoe"}\n',
    );
    expect(ds.records.map((r) => r.label)).toEqual([0, 1, 0]);
    expect(ds.numClasses).toBe(2);
  });

  test('column_mapping names the columns of each role', () => {
    const ds = jsonl(
      '{"img": "x.jpg", "pos": "y.jpg", "sku": "A-1", "label": 99}\n',
      { query_image: 'img', positive: 'pos', label: 'sku' },
      'root',
    );
    expect(ds.records).toEqual([{ query: 'root/x.jpg', positive: 'root/y.jpg', label: 0 }]);
    // Without the mapping, `img` is not a query image.
    expect(() => jsonl('{"img": "x.jpg", "pos": "y.jpg"}\n')).toThrow('no "query_image" field');
  });

  test('bad lines are errors naming file:line', async () => {
    // The parser's own words (in the parentheses) differ between Node versions.
    expect(
      (await jsonlError('{"query_image": "a", "positive": "b"}\n{"query_image": "a", positive: "b"}\n')).replace(
        /\(.*\)$/,
        '(...)',
      ),
    ).toMatchInlineSnapshot(`"data/train.jsonl:2: not valid JSON (...)"`);
    expect(await jsonlError('\n["a", "b"]\n')).toMatchInlineSnapshot(
      `"data/train.jsonl:2: expected a JSON object, got ["a","b"]"`,
    );
    expect(await jsonlError('{"positive": "b", "label": 1}\n')).toMatchInlineSnapshot(
      `"data/train.jsonl:1: no "query_image" field; the record has: positive, label"`,
    );
    expect(await jsonlError('{"query_image": "a", "pos": "b"}\n')).toMatchInlineSnapshot(
      `"data/train.jsonl:1: no "positive" field; the record has: query_image, pos"`,
    );
    expect(await jsonlError('{"img": "a", "positive": "b"}\n', { query_image: 'image' })).toMatchInlineSnapshot(
      `"data/train.jsonl:1: no "image" field (column_mapping query_image: image); the record has: img, positive"`,
    );
    expect(await jsonlError('{"query_image": 12, "positive": "b"}\n')).toMatchInlineSnapshot(
      `"data/train.jsonl:1: "query_image" must be an image path (a non-empty string), got 12"`,
    );
    expect(await jsonlError('{"query_image": "a", "positive": ""}\n')).toMatchInlineSnapshot(
      `"data/train.jsonl:1: "positive" must be an image path (a non-empty string), got """`,
    );
  });

  test('a label that is not an integer or a string is an error naming file:line and the value', async () => {
    const line = (label: string) =>
      `{"query_image": "a", "positive": "b", "label": 1}\n{"query_image": "a", "positive": "b", "label": ${label}}\n`;
    expect(await jsonlError(line('1.5'))).toMatchInlineSnapshot(
      `"data/train.jsonl:2: label "label" is 1.5; expected an integer or a string"`,
    );
    expect(await jsonlError(line('{"id": 3}'))).toMatchInlineSnapshot(
      `"data/train.jsonl:2: label "label" is {"id":3}; expected an integer or a string"`,
    );
    expect(await jsonlError(line('true'))).toMatchInlineSnapshot(
      `"data/train.jsonl:2: label "label" is true; expected an integer or a string"`,
    );
    expect(
      await jsonlError('{"query_image": "a", "positive": "b", "cls": [1]}\n', { label: 'cls' }),
    ).toMatchInlineSnapshot(`"data/train.jsonl:1: label "cls" is [1]; expected an integer or a string"`);
    expect(await jsonlError(line('"shoe"'))).toMatchInlineSnapshot(
      `"data/train.jsonl: labels mix integers (line 1: 1) and strings (line 2: "shoe"); use one kind"`,
    );
  });

  test('an empty file gives no records and says so', () => {
    expect(jsonl('\n\n')).toEqual({
      format: 'jsonl',
      records: [],
      numClasses: 0,
      problems: ['data/train.jsonl: no records'],
    });
  });
});

describe('imagefolder', () => {
  const files = {
    'shop/boots/1.jpg': null,
    'shop/boots/2.JPG': null,
    'shop/boots/more/3.png': null,
    'shop/bags/x.jpeg': null,
    'shop/bags/y.webp': null,
    'shop/bags/notes.txt': 'not an image',
    'shop/bags/.hidden.jpg': null,
    'shop/hats/only.jpg': null,
    'shop/empty/readme.md': 'nothing here',
    'shop/loose.jpg': null,
  };

  test('one class per subfolder (name order), pairs within a class, single-image classes skipped', async () => {
    const d = folder(files);
    const ds = await loadPairDataset(nodeSource(d), { dataPath: 'shop', seed: 1 });
    expect(ds.format).toBe('imagefolder');
    expect(ds.numClasses).toBe(2);
    expect(ds.records.map((r) => [r.query, r.label])).toEqual([
      ['shop/bags/x.jpeg', 0],
      ['shop/bags/y.webp', 0],
      ['shop/boots/1.jpg', 1],
      ['shop/boots/2.JPG', 1],
      ['shop/boots/more/3.png', 1],
    ]);
    expect(ds.records[0].positive).toBe('shop/bags/y.webp');
    expect(ds.records[1].positive).toBe('shop/bags/x.jpeg');
    for (const r of ds.records) {
      expect(r.positive).not.toBe(r.query);
      expect(r.positive.split('/')[1]).toBe(r.query.split('/')[1]);
    }
    expect(ds.problems).toMatchInlineSnapshot(`
      [
        "shop: skipped 1 single-image classes: hats",
        "shop: 1 subfolders without images ignored: empty",
        "shop: 1 images outside class subfolders ignored: loose.jpg",
      ]
    `);
  });

  test('seeded: the same seed gives the same pairs', async () => {
    const d = folder(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f/c${i % 3}/${i}.jpg`, null])));
    const a = await loadPairDataset(nodeSource(d), { dataPath: 'f', seed: 9 });
    expect((await loadPairDataset(nodeSource(d), { dataPath: 'f', seed: 9 })).records).toEqual(a.records);
    expect((await loadPairDataset(nodeSource(d), { dataPath: 'f', seed: 10 })).records).not.toEqual(a.records);
    expect(a.records.length).toBe(30);
    expect(a.records.every((r) => r.query !== r.positive)).toBe(true);
  });
});

describe('sop', () => {
  test('a folder with Ebay_train.txt is paired from the train split on the fly', async () => {
    const ds = await loadPairDataset(nodeSource('tests/fixtures'), {
      dataPath: 'data/sop-mini',
      seed: 42,
      imageRoot: 'ignored',
    });
    expect(ds.format).toBe('sop');
    expect(ds.numClasses).toBe(2);
    expect(ds.records.map((r) => r.query)).toEqual(
      [1, 2, 3]
        .map((k) => `data/sop-mini/bicycle_final/1_${k - 1}.JPG`)
        .concat(['data/sop-mini/bicycle_final/2_0.JPG', 'data/sop-mini/bicycle_final/2_1.JPG']),
    );
    expect(ds.records.map((r) => r.label)).toEqual([1, 1, 1, 2, 2]);
    expect(ds.problems).toMatchInlineSnapshot(`
      [
        "data/sop-mini/Ebay_train.txt: skipped 2 single-image classes: 3, 4",
        "data/sop-mini/Ebay_train.txt: skipped 1 missing image files: chair_final/4_1.JPG",
      ]
    `);
  });

  test('a malformed list line names the file and line', async () => {
    const d = folder({ 'sop/Ebay_train.txt': 'image_id class_id super_class_id path\n1 1 1\n' });
    expect(await errorOf(() => loadPairDataset(nodeSource(d), { dataPath: 'sop' }))).toBe(
      `${d}/sop/Ebay_train.txt:2: expected 4 fields (image_id class_id super_class_id path), got 3: "1 1 1"`,
    );
  });
});

describe('format detection', () => {
  test('anything else is refused, saying which formats are accepted', async () => {
    const d = folder({ 'train.csv': 'a,b\n', 'docs/readme.txt': 'hi', 'docs/sub/more.txt': 'hi', 'flat/a.jpg': null });
    const err = (dataPath: string) => errorOf(() => loadPairDataset(nodeSource(d), { dataPath }));
    expect(await err('train.csv')).toMatchInlineSnapshot(
      `"train.csv: not a dataset this trainer reads; accepted: a .jsonl file of records {query_image, positive, label}; a Stanford Online Products folder (with Ebay_train.txt); an ImageFolder folder (one subfolder of images per class)"`,
    );
    expect(await err('docs')).toMatchInlineSnapshot(
      `"docs: a folder with neither Ebay_train.txt nor class subfolders of images; accepted: a .jsonl file of records {query_image, positive, label}; a Stanford Online Products folder (with Ebay_train.txt); an ImageFolder folder (one subfolder of images per class)"`,
    );
    expect(await err('flat')).toMatch(
      /^flat: a folder with neither Ebay_train.txt nor class subfolders of images; accepted: /,
    );
    expect((await err('nothing/here')).replace(d, '<root>')).toMatchInlineSnapshot(
      `"nothing/here: no such file or folder (in <root>)"`,
    );
    expect((await err('val.jsonl')).replace(d, '<root>')).toMatchInlineSnapshot(
      `"val.jsonl: no such file (in <root>)"`,
    );
  });
});

describe('validateImages', () => {
  test('lists missing and undecodable images (each path once, record order) before training', async () => {
    const d = folder({
      'good/a.jpg': null,
      'good/b.jpg': null,
      'bad/empty.jpg': '',
      'bad/text.png': 'hello, not a png',
    });
    copyFileSync('tests/fixtures/preprocess/truncated.png', join(d, 'bad/truncated.png'));
    const records = [
      { query: 'good/a.jpg', positive: 'good/b.jpg', label: 0 },
      { query: 'good/b.jpg', positive: 'bad/gone.jpg', label: 0 },
      { query: 'bad/empty.jpg', positive: 'bad/text.png', label: 1 },
      { query: 'bad/truncated.png', positive: 'good/a.jpg', label: 1 },
    ];
    const progress: number[] = [];
    const problems = await validateImages(nodeSource(d), records, decodeImageBytes, {
      concurrency: 2,
      onProgress: (n, total) => progress.push(n / total),
    });
    expect(
      problems.map((p) => [p.path, p.reason.replace(/^(corrupt or truncated image file) \(.*\)$/, '$1 (...)')]),
    ).toEqual([
      ['bad/gone.jpg', 'missing file'],
      ['bad/empty.jpg', 'empty file, not an image'],
      ['bad/text.png', 'unsupported or unrecognized image format (not a JPEG, PNG or WebP file?)'],
      ['bad/truncated.png', 'corrupt or truncated image file (...)'],
    ]);
    expect(progress.length).toBe(6);
    expect(progress[5]).toBe(1);
    expect(await validateImages(nodeSource(d), records.slice(0, 1), decodeImageBytes)).toEqual([]);
  });
});

describe('source helpers', () => {
  test('joinPath and dirname', () => {
    expect(joinPath('a/b', '../c', './d.jpg')).toBe('a/c/d.jpg');
    expect(joinPath(null, 'x.jpg')).toBe('x.jpg');
    expect(joinPath('', '')).toBe('.');
    expect(joinPath('root', '/abs/x.jpg')).toBe('/abs/x.jpg');
    expect(joinPath('..', 'x')).toBe('../x');
    expect(joinPath('C:\\data', 'img\\a.jpg')).toBe('C:/data/img/a.jpg');
    expect(dirname('a/b/c.jpg')).toBe('a/b');
    expect(dirname('c.jpg')).toBe('.');
  });

  test('existingFiles lists each folder once; subSource re-roots', async () => {
    const d = folder({ 'x/a.jpg': null, 'x/b.jpg': null, 'y/c.jpg': null });
    const found = await existingFiles(nodeSource(d), ['x/a.jpg', 'x/zz.jpg', 'y/c.jpg', 'nope/d.jpg', 'x']);
    expect([...found].sort()).toEqual(['x/a.jpg', 'y/c.jpg']);
    const sub = subSource(nodeSource(d), 'x');
    expect(await sub.exists('b.jpg')).toBe(true);
    expect((await sub.list('.')).map((e) => e.name)).toEqual(['a.jpg', 'b.jpg']);
    expect(sub.where).toBe(`${d}/x`);
  });
});
