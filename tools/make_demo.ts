/**
 * Builds the assets the browser app bundles under public/ (served at the site root, committed):
 *   public/demo/dataset/   a small real-image dataset: Stanford-Online-Products layout made from
 *                          Fashion-MNIST by tools/make_sop_fashion_mnist.ts (40 train + 20 test
 *                          products x 4 augmented views at 32 px = 240 JPEGs), then prepared as
 *                          `vembed prepare sop` does (train.jsonl, val.jsonl beside the lists);
 *                          files.json lists every file with its size (a static server cannot list
 *                          folders; the app's URL DataSource reads this instead)
 *   public/demo/model/     the tiny DINOv3 test model (tests/fixtures/models/dinov3-tiny: config.json,
 *                          preprocessor_config.json, model.safetensors; random weights, hidden 32,
 *                          2 layers, patch 8, 32 px input), files.json likewise
 *   public/icons/          app icons for the web manifest: icon-192.png and icon-512.png rendered
 *                          from public/icons/icon.svg
 * Deterministic: the same inputs give byte-identical files.
 *
 *   npx vite-node tools/make_demo.ts [--out public] [--fmnist DIR]
 */
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { pairsToJsonl, prepareSop } from '../src/data/sop';
import { nodeSource } from '../src/platform/data-source-node';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL_FIXTURE = join(ROOT, 'tests/fixtures/models/dinov3-tiny');
const MODEL_FILES = ['config.json', 'preprocessor_config.json', 'model.safetensors'];

/** Every file under `dir` (relative, '/'-separated, sorted) with its size. */
async function listFiles(dir: string, sub = ''): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  const ents = (await readdir(join(dir, sub), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of ents) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (e.name !== 'files.json') out.push({ path: rel, size: (await stat(join(dir, rel))).size });
  }
  return out;
}

async function writeIndex(dir: string): Promise<number> {
  const files = await listFiles(dir);
  await writeFile(join(dir, 'files.json'), JSON.stringify({ files }) + '\n');
  return files.reduce((a, f) => a + f.size, 0);
}

/**
 * tools/make_sop_fashion_mnist.ts runs its command line when imported under vite-node (it tells
 * script from import by the vite-node binary in argv[1]); importing it with VITEST set, as a test
 * would, keeps it quiet.
 */
async function sopBuilder(): Promise<typeof import('./make_sop_fashion_mnist')> {
  const prev = process.env.VITEST;
  process.env.VITEST = 'make_demo';
  try {
    return await import('./make_sop_fashion_mnist');
  } finally {
    if (prev === undefined) delete process.env.VITEST;
    else process.env.VITEST = prev;
  }
}

export async function makeDemo(out: string, fmnist?: string): Promise<{ bytes: number }> {
  const { FMNIST_DIR, makeSopFashionMnist } = await sopBuilder();
  fmnist ??= FMNIST_DIR;
  const dataDir = join(out, 'demo/dataset');
  const modelDir = join(out, 'demo/model');
  await rm(dataDir, { recursive: true, force: true });
  await rm(modelDir, { recursive: true, force: true });

  await makeSopFashionMnist({
    out: dataDir,
    fmnist,
    trainProducts: 40,
    testProducts: 20,
    imagesPerProduct: 4,
    size: 32,
    seed: 0,
    format: 'jpg',
  });
  const { train, val } = await prepareSop(nodeSource(dataDir), { seed: 42 });
  await writeFile(join(dataDir, 'train.jsonl'), pairsToJsonl(train.pairs));
  await writeFile(join(dataDir, 'val.jsonl'), pairsToJsonl(val!.pairs));
  let bytes = await writeIndex(dataDir);

  await mkdir(modelDir, { recursive: true });
  for (const f of MODEL_FILES) await copyFile(join(MODEL_FIXTURE, f), join(modelDir, f));
  await writeFile(
    join(modelDir, 'README.txt'),
    'The tiny DINOv3 model of the tests (tests/fixtures/models/dinov3-tiny): random weights, hidden size 32,\n' +
      '2 layers, 2 heads, patch 8, 32 px input. Small enough to train in seconds on any WebGPU device.\n',
  );
  bytes += await writeIndex(modelDir);

  const icons = join(out, 'icons');
  const svg = await readFile(join(icons, 'icon.svg'));
  for (const size of [192, 512]) {
    await sharp(svg, { density: 72 * (size / 64) })
      .resize(size, size)
      .png({ compressionLevel: 9 })
      .toFile(join(icons, `icon-${size}.png`));
  }
  return { bytes };
}

const runAsScript =
  !process.env.VITEST &&
  (/vite-node/.test(process.argv[1] ?? '') || resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url));
if (runAsScript) {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const out = resolve(opt('out') ?? join(ROOT, 'public'));
  makeDemo(out, opt('fmnist'))
    .then(({ bytes }) =>
      process.stdout.write(
        `wrote ${relative(process.cwd(), out) || '.'}/demo (${(bytes / 1024).toFixed(0)} KiB) and icons\n`,
      ),
    )
    .catch((e) => {
      process.stderr.write(`make_demo: ${(e as Error).message}\n`);
      process.exit(1);
    });
}
