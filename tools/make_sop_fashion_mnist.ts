/**
 * Builds a small Stanford-Online-Products-layout folder of real photos from Fashion-MNIST, for
 * tests, CI and demos of `vembed prepare sop` / training / Recall@K without the 3 GB SOP download.
 *
 *   npx vite-node tools/make_sop_fashion_mnist.ts --out data/sop-fmnist
 *   npx vite-node tools/make_sop_fashion_mnist.ts --out DIR [--train_products 200] [--test_products 100]
 *       [--images_per_product 4] [--size 32] [--seed 0] [--format jpg|png] [--fmnist DIR]
 *   npx vite-node tools/make_sop_fashion_mnist.ts --mini_idx DIR [--mini_per_class 3] [--fmnist DIR]
 *
 * Input: the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*-ubyte.gz,
 * IDX format: 60000 train + 10000 test 28x28 grayscale product photos in 10 classes; Zalando,
 * MIT licence), or any folder with the same four files (--fmnist).
 *
 * Output (SOP layout):
 *   <out>/Ebay_train.txt, <out>/Ebay_test.txt   header `image_id class_id super_class_id path`, then
 *                                                one line per image (image ids from 1 in each file)
 *   <out>/<super>_final/<class_id>_<n>.JPG      size x size grayscale JPEG (quality 95) or PNG
 *   <out>/README.txt                             how it was made (the options)
 * A "product" (SOP class) is ONE Fashion-MNIST photo seen several times: images_per_product copies,
 * each upscaled to `size` px with its own small random augmentation (shift up to 2 source pixels,
 * horizontal flip with probability 1/2, scale 0.9..1.1, contrast 0.8..1.2, brightness -20..+20),
 * so "same product, different photo" is learnable and retrieval is meaningful. super_class_id is
 * the Fashion-MNIST class + 1 (folder `<name>_final`, e.g. `sneaker_final`). Product k of a split
 * takes its photo from class k mod 10 (classes balanced), a different photo for every product.
 * Train products (class ids 1..T) come from the Fashion-MNIST train set, test products (class ids
 * T+1..T+V) from its test set, as SOP's test classes are disjoint from its train classes.
 * Deterministic: the same options give byte-identical files (one seeded generator, src/util/random).
 *
 * --mini_idx writes a few Fashion-MNIST images per class (first N of each class, both splits) as
 * IDX .gz files to DIR: the tiny stand-in under tests/fixtures/data/fashion-mnist-mini/ that lets
 * the tests run where the Debian package is not installed.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { Rng } from '../src/util/random';

export const FMNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FMNIST_CLASSES = [
  'tshirt',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'ankle_boot',
];

export interface IdxImages {
  n: number;
  rows: number;
  cols: number;
  /** [n, rows, cols] uint8 */
  pixels: Uint8Array;
  labels: Uint8Array;
}

/** Reads `<prefix>-images-idx3-ubyte.gz` and `<prefix>-labels-idx1-ubyte.gz` (prefix train or t10k). */
export async function readIdx(dir: string, prefix: 'train' | 't10k'): Promise<IdxImages> {
  const img = gunzipSync(await readFile(join(dir, `${prefix}-images-idx3-ubyte.gz`)));
  const lab = gunzipSync(await readFile(join(dir, `${prefix}-labels-idx1-ubyte.gz`)));
  if (img.readUInt32BE(0) !== 0x803) throw new Error(`${dir}/${prefix}-images-idx3-ubyte.gz: not an IDX image file`);
  if (lab.readUInt32BE(0) !== 0x801) throw new Error(`${dir}/${prefix}-labels-idx1-ubyte.gz: not an IDX label file`);
  const n = img.readUInt32BE(4);
  const rows = img.readUInt32BE(8);
  const cols = img.readUInt32BE(12);
  if (lab.readUInt32BE(4) !== n) throw new Error(`${dir}/${prefix}: ${n} images but ${lab.readUInt32BE(4)} labels`);
  if (img.length !== 16 + n * rows * cols || lab.length !== 8 + n)
    throw new Error(`${dir}/${prefix}: truncated IDX file`);
  return {
    n,
    rows,
    cols,
    pixels: new Uint8Array(img.buffer, img.byteOffset + 16, n * rows * cols),
    labels: new Uint8Array(lab.buffer, lab.byteOffset + 8, n),
  };
}

function writeIdxBytes(set: IdxImages, idx: number[]): { images: Buffer; labels: Buffer } {
  const S = set.rows * set.cols;
  const images = Buffer.alloc(16 + idx.length * S);
  images.writeUInt32BE(0x803, 0);
  images.writeUInt32BE(idx.length, 4);
  images.writeUInt32BE(set.rows, 8);
  images.writeUInt32BE(set.cols, 12);
  const labels = Buffer.alloc(8 + idx.length);
  labels.writeUInt32BE(0x801, 0);
  labels.writeUInt32BE(idx.length, 4);
  idx.forEach((j, k) => {
    images.set(set.pixels.subarray(j * S, (j + 1) * S), 16 + k * S);
    labels[8 + k] = set.labels[j];
  });
  return { images: gzipSync(images, { level: 9 }), labels: gzipSync(labels, { level: 9 }) };
}

/** Writes the first `perClass` images of every class of both splits as IDX .gz files to `out`. */
export async function writeMiniIdx(fmnist: string, out: string, perClass: number): Promise<void> {
  await mkdir(out, { recursive: true });
  for (const prefix of ['train', 't10k'] as const) {
    const set = await readIdx(fmnist, prefix);
    const count = new Array(10).fill(0);
    const idx: number[] = [];
    for (let j = 0; j < set.n; j++) if (count[set.labels[j]]++ < perClass) idx.push(j);
    const { images, labels } = writeIdxBytes(set, idx);
    await writeFile(join(out, `${prefix}-images-idx3-ubyte.gz`), images);
    await writeFile(join(out, `${prefix}-labels-idx1-ubyte.gz`), labels);
  }
}

/** One augmented, upscaled view of a rows x cols photo: size x size uint8 (see the header). */
export function augmentView(src: Uint8Array, rows: number, cols: number, size: number, rng: Rng): Uint8Array {
  const shiftX = rng.uniform(-2, 2);
  const shiftY = rng.uniform(-2, 2);
  const flip = rng.next() < 0.5;
  const scale = rng.uniform(0.9, 1.1);
  const contrast = rng.uniform(0.8, 1.2);
  const brightness = rng.uniform(-20, 20);
  const cx = (cols - 1) / 2;
  const cy = (rows - 1) / 2;
  const at = (y: number, x: number) => (y < 0 || y >= rows || x < 0 || x >= cols ? 0 : src[y * cols + x]);
  const out = new Uint8Array(size * size);
  for (let oy = 0; oy < size; oy++) {
    for (let ox = 0; ox < size; ox++) {
      // Output pixel centre in source pixel coordinates, then the inverse of (flip, scale, shift).
      let u = ((ox + 0.5) / size) * cols - 0.5;
      const v = ((oy + 0.5) / size) * rows - 0.5;
      if (flip) u = cols - 1 - u;
      const x = cx + (u - cx - shiftX) / scale;
      const y = cy + (v - cy - shiftY) / scale;
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      const p =
        (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
        fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
      out[oy * size + ox] = Math.max(0, Math.min(255, Math.round(p * contrast + brightness)));
    }
  }
  return out;
}

export interface MakeSopOptions {
  out: string;
  fmnist?: string;
  trainProducts?: number;
  testProducts?: number;
  imagesPerProduct?: number;
  size?: number;
  seed?: number;
  format?: 'jpg' | 'png';
}

const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** Builds the SOP-layout folder (see the header); returns the counts written. */
export async function makeSopFashionMnist(opts: MakeSopOptions): Promise<{ trainImages: number; testImages: number }> {
  const o = {
    fmnist: FMNIST_DIR,
    trainProducts: 200,
    testProducts: 100,
    imagesPerProduct: 4,
    size: 32,
    seed: 0,
    format: 'jpg' as 'jpg' | 'png',
    ...defined(opts),
  };
  for (const k of ['trainProducts', 'testProducts', 'imagesPerProduct', 'size'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`${k} ${o[k]}: expected a positive integer`);
  }
  if (o.imagesPerProduct < 2)
    throw new Error(`imagesPerProduct ${o.imagesPerProduct}: a product needs at least 2 images to be paired`);
  const rng = new Rng(o.seed);
  const ext = o.format === 'png' ? 'PNG' : 'JPG';
  await mkdir(o.out, { recursive: true });
  for (const name of FMNIST_CLASSES) await mkdir(join(o.out, `${name}_final`), { recursive: true });
  const counts = { trainImages: 0, testImages: 0 };
  let classId = 1;
  for (const [prefix, products, list] of [
    ['train', o.trainProducts, 'Ebay_train.txt'],
    ['t10k', o.testProducts, 'Ebay_test.txt'],
  ] as const) {
    const set = await readIdx(o.fmnist, prefix);
    const S = set.rows * set.cols;
    // A seeded shuffle of each class's photos; product k takes the next photo of class k mod 10.
    const pool: number[][] = Array.from({ length: 10 }, () => []);
    for (let j = 0; j < set.n; j++) pool[set.labels[j]].push(j);
    for (const p of pool) {
      for (let i = p.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [p[i], p[j]] = [p[j], p[i]];
      }
    }
    const lines = ['image_id class_id super_class_id path'];
    const jobs: Promise<unknown>[] = [];
    for (let k = 0; k < products; k++, classId++) {
      const fc = k % 10;
      const j = pool[fc][Math.floor(k / 10)];
      if (j === undefined)
        throw new Error(
          `${o.fmnist}/${prefix}: only ${pool[fc].length} images of class ${FMNIST_CLASSES[fc]}, not enough for ${products} products`,
        );
      const src = set.pixels.subarray(j * S, (j + 1) * S);
      for (let n = 0; n < o.imagesPerProduct; n++) {
        const px = augmentView(src, set.rows, set.cols, o.size, rng);
        const rel = `${FMNIST_CLASSES[fc]}_final/${classId}_${n}.${ext}`;
        lines.push(`${lines.length} ${classId} ${fc + 1} ${rel}`);
        const img = sharp(Buffer.from(px), { raw: { width: o.size, height: o.size, channels: 1 } });
        jobs.push((o.format === 'png' ? img.png() : img.jpeg({ quality: 95 })).toFile(join(o.out, rel)));
        if (jobs.length >= 32) await Promise.all(jobs.splice(0));
      }
    }
    await Promise.all(jobs);
    await writeFile(join(o.out, list), lines.join('\n') + '\n');
    counts[prefix === 'train' ? 'trainImages' : 'testImages'] = lines.length - 1;
  }
  await writeFile(
    join(o.out, 'README.txt'),
    'Stanford-Online-Products-layout folder built from Fashion-MNIST by tools/make_sop_fashion_mnist.ts\n' +
      `(each product = one Fashion-MNIST photo, ${o.imagesPerProduct} augmented views at ${o.size} px).\n` +
      `options: train_products=${o.trainProducts} test_products=${o.testProducts} images_per_product=${o.imagesPerProduct} ` +
      `size=${o.size} seed=${o.seed} format=${o.format}\n`,
  );
  return counts;
}

function parseCli(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--help' || a === '-h') out.help = '1';
    else if (a.startsWith('--') && i + 1 < args.length) out[a.slice(2)] = args[++i];
    else throw new Error(`unexpected argument ${a} (see --help)`);
  }
  return out;
}

async function main(): Promise<void> {
  const a = parseCli(process.argv.slice(2));
  const known = [
    'out',
    'fmnist',
    'train_products',
    'test_products',
    'images_per_product',
    'size',
    'seed',
    'format',
    'mini_idx',
    'mini_per_class',
    'help',
  ];
  for (const k of Object.keys(a))
    if (!known.includes(k))
      throw new Error(
        `unknown option --${k} (known: ${known
          .slice(0, -1)
          .map((x) => `--${x}`)
          .join(' ')})`,
      );
  if (a.help || (!a.out && !a.mini_idx)) {
    const header = (await readFile(fileURLToPath(import.meta.url), 'utf8')).split('*/')[0];
    process.stdout.write(header.replace(/^\/\*\*\n?/, '').replace(/^ \* ?/gm, '') + '\n');
    return;
  }
  const fmnist = a.fmnist ?? FMNIST_DIR;
  if (a.mini_idx) {
    await writeMiniIdx(fmnist, a.mini_idx, Number(a.mini_per_class ?? 3));
    process.stdout.write(`wrote ${a.mini_idx}/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz\n`);
    return;
  }
  if (a.format && a.format !== 'jpg' && a.format !== 'png')
    throw new Error(`--format ${a.format}: expected jpg or png`);
  const num = (k: string) => (a[k] === undefined ? undefined : Number(a[k]));
  const r = await makeSopFashionMnist({
    out: a.out,
    fmnist,
    trainProducts: num('train_products'),
    testProducts: num('test_products'),
    imagesPerProduct: num('images_per_product'),
    size: num('size'),
    seed: num('seed'),
    format: a.format as 'jpg' | 'png' | undefined,
  });
  process.stdout.write(
    `wrote ${a.out}: ${r.trainImages} train and ${r.testImages} test images, Ebay_train.txt, Ebay_test.txt\n`,
  );
}

// Run as a script (vite-node drops the script's own path from argv), not when imported by a test.
const runAsScript =
  !process.env.VITEST &&
  (/vite-node/.test(process.argv[1] ?? '') || resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url));
if (runAsScript) {
  main().catch((e) => {
    process.stderr.write(`make_sop_fashion_mnist: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
