/**
 * A Stanford-Online-Products-sized folder of tiny synthetic JPEGs, for scale tests and the
 * bench/scale benchmark: SOP's exact counts and layout, seeded, in about a minute.
 *
 *   npx vite-node tools/make_sop_synthetic.ts --out /tmp/sop-synth              (full size)
 *   npx vite-node tools/make_sop_synthetic.ts --out DIR --scale 0.1             (the CI variant)
 *       [--size 32] [--seed 0] [--corrupt 0] [--missing 0] [--model_dir DIR --hidden 16
 *        --layers 1 --patch 8 --heads 1]
 *
 * Layout, as the real SOP (Oh Song et al., 2016):
 *   <out>/Ebay_train.txt, Ebay_test.txt, Ebay_info.txt   header `image_id class_id super_class_id
 *                                        path`, image ids from 1 in each file (Ebay_info.txt: all)
 *   <out>/<super>_final/<product>_<n>.JPG   12 super-class folders (bicycle ... toaster)
 * Counts at --scale 1: train 59,551 images in 11,318 classes (class ids 1..11318), test 60,502
 * images in 11,316 classes (11319..22634), 2..12 images per class (sizes drawn from a decaying
 * distribution, then nudged so the totals are exact); classes in contiguous blocks per super
 * class, as in SOP. --scale f keeps round(f x) of each count (0.1: 5,955 + 6,050 images in
 * 1,132 + 1,132 classes). Images: size x size colour JPEGs (quality 90): a class colour and
 * stripe pattern plus per-image noise and shift, so same-class retrieval is learnable but not
 * trivial. `--corrupt n` makes n listed images unreadable (text bytes with a .JPG name), spread
 * evenly over both splits; `--missing n` lists n images whose files are not written. The same
 * options give byte-identical folders. 32 px full size: ~120k files, ~100 MB on disk.
 * `--model_dir` also writes a random-weight DINOv3 model (config.json, preprocessor_config.json
 * resizing to `size`, model.safetensors) with the given hidden size, layers, patch and heads.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { writeSafetensors } from '../src/io/safetensors';
import { parseModelConfig } from '../src/model/config';
import { expectedTensors } from '../src/model/weights';
import { Rng } from '../src/util/random';

export const SOP_SUPER_CLASSES = [
  'bicycle',
  'cabinet',
  'chair',
  'coffee_maker',
  'fan',
  'kettle',
  'lamp',
  'mug',
  'sofa',
  'stapler',
  'table',
  'toaster',
];
/** The real SOP split sizes. */
export const SOP_COUNTS = {
  train: { images: 59_551, classes: 11_318 },
  test: { images: 60_502, classes: 11_316 },
} as const;
const HEADER = 'image_id class_id super_class_id path';

export interface SyntheticSopOptions {
  out: string;
  /** Fraction of SOP's counts (1 = full size); default 1. */
  scale?: number;
  /** Image side in pixels; default 32. */
  size?: number;
  seed?: number;
  /** Listed images written as unreadable bytes; default 0. */
  corrupt?: number;
  /** Listed images not written at all; default 0. */
  missing?: number;
}

export interface SyntheticSop {
  train: { images: number; classes: number };
  test: { images: number; classes: number };
  /** Paths (relative to out) written unreadable / not written. */
  corrupt: string[];
  missing: string[];
}

/** `classes` sizes in 2..12 summing exactly to `images` (seeded). */
export function classSizes(images: number, classes: number, rng: Rng): number[] {
  if (images < 2 * classes || images > 12 * classes)
    throw new Error(`${images} images cannot fill ${classes} classes of 2..12 images`);
  // P(n) ~ 0.83^(n-2) for n = 2..12 (mean ~5.3, SOP's is 5.3), then nudged to the exact total.
  const w = Array.from({ length: 11 }, (_, k) => 0.83 ** k);
  const tot = w.reduce((a, b) => a + b, 0);
  const s = Array.from({ length: classes }, () => {
    let u = rng.next() * tot;
    let k = 0;
    while (k < 10 && u >= w[k]) u -= w[k++];
    return 2 + k;
  });
  let sum = s.reduce((a, b) => a + b, 0);
  while (sum !== images) {
    const i = rng.int(classes);
    if (sum < images && s[i] < 12) {
      s[i]++;
      sum++;
    } else if (sum > images && s[i] > 2) {
      s[i]--;
      sum--;
    }
  }
  return s;
}

/** One image of class `cls` (size x size x 3 uint8): class colour + stripes, per-image noise. */
function imagePixels(cls: number, size: number, rng: Rng): Buffer {
  const crng = new Rng(cls * 2654435761);
  const base = [crng.uniform(30, 225), crng.uniform(30, 225), crng.uniform(30, 225)];
  const period = 2 + crng.int(6);
  const slope = crng.int(3) - 1;
  const dx = rng.int(period);
  const tint = [rng.uniform(-40, 40), rng.uniform(-40, 40), rng.uniform(-40, 40)];
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const stripe = Math.floor((x + dx + slope * y + 64 * size) / period) & 1 ? 45 : -45;
      for (let c = 0; c < 3; c++) {
        const v = base[c] + tint[c] + stripe + rng.uniform(-35, 35);
        px[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return px;
}

/** `k` of the items 0..n-1 spread evenly (deterministic), none of those in `taken`. */
function spread(n: number, k: number, phase: number, taken = new Set<number>()): Set<number> {
  if (k + taken.size > n) throw new Error(`cannot pick ${k} of ${n} images besides ${taken.size} others`);
  const out = new Set<number>();
  for (let j = 0; j < k; j++) {
    let i = Math.min(n - 1, Math.floor(((j + phase) * n) / k));
    while (taken.has(i) || out.has(i)) i = (i + 1) % n;
    out.add(i);
  }
  return out;
}

export async function makeSyntheticSop(opts: SyntheticSopOptions): Promise<SyntheticSop> {
  const scale = opts.scale ?? 1;
  const size = opts.size ?? 32;
  const corrupt = opts.corrupt ?? 0;
  const missing = opts.missing ?? 0;
  if (!(scale > 0 && scale <= 1)) throw new Error(`scale ${scale}: expected a fraction in (0, 1]`);
  if (!Number.isInteger(size) || size < 1) throw new Error(`size ${size}: expected a positive integer`);
  const rng = new Rng(opts.seed ?? 0);
  for (const s of SOP_SUPER_CLASSES) await mkdir(join(opts.out, `${s}_final`), { recursive: true });
  const result: SyntheticSop = {
    train: { images: 0, classes: 0 },
    test: { images: 0, classes: 0 },
    corrupt: [],
    missing: [],
  };
  const info: string[] = [HEADER];
  let classId = 1;
  let jobs: Promise<unknown>[] = [];
  for (const split of ['train', 'test'] as const) {
    const images = Math.round(SOP_COUNTS[split].images * scale);
    const classes = Math.round(SOP_COUNTS[split].classes * scale);
    const sizes = classSizes(images, classes, rng);
    const half = (n: number) => (split === 'train' ? Math.floor(n / 2) : n - Math.floor(n / 2));
    const bad = spread(images, half(corrupt), 0.5);
    const gone = spread(images, half(missing), 0.25, bad);
    const lines = [HEADER];
    let i = 0;
    for (let c = 0; c < classes; c++, classId++) {
      const sup = Math.floor((c * SOP_SUPER_CLASSES.length) / classes);
      // A 12-digit eBay-like product number, unique per class.
      const product = 111_000_000_000 + classId * 37_813 + rng.int(37_813);
      for (let n = 0; n < sizes[c]; n++, i++) {
        const rel = `${SOP_SUPER_CLASSES[sup]}_final/${product}_${n}.JPG`;
        lines.push(`${lines.length} ${classId} ${sup + 1} ${rel}`);
        info.push(`${info.length} ${classId} ${sup + 1} ${rel}`);
        const px = imagePixels(classId, size, rng); // drawn for every image: the others do not depend on bad ones
        if (gone.has(i)) {
          result.missing.push(rel);
        } else if (bad.has(i)) {
          result.corrupt.push(rel);
          jobs.push(writeFile(join(opts.out, rel), `not a JPEG: synthetic unreadable image ${rel}\n`));
        } else {
          jobs.push(
            sharp(px, { raw: { width: size, height: size, channels: 3 } })
              .jpeg({ quality: 90 })
              .toFile(join(opts.out, rel)),
          );
        }
        if (jobs.length >= 64) {
          await Promise.all(jobs);
          jobs = [];
        }
      }
    }
    await writeFile(join(opts.out, `Ebay_${split}.txt`), lines.join('\n') + '\n');
    result[split] = { images, classes };
  }
  await Promise.all(jobs);
  await writeFile(join(opts.out, 'Ebay_info.txt'), info.join('\n') + '\n');
  await writeFile(
    join(opts.out, 'README.txt'),
    "Synthetic Stanford-Online-Products-layout folder (tools/make_sop_synthetic.ts): SOP's counts and layout,\n" +
      `random ${size} px JPEGs. options: scale=${scale} size=${size} seed=${opts.seed ?? 0} corrupt=${corrupt} missing=${missing}\n`,
  );
  return result;
}

export interface TinyModelOptions {
  hidden: number;
  layers: number;
  patch: number;
  heads: number;
  /** Input side in pixels (the processor resizes to it). */
  image: number;
  seed?: number;
}

/** A random-weight DINOv3 model folder (see the header); weights ~ N(0, 0.02), norms at 1. */
export async function makeTinyModel(dir: string, o: TinyModelOptions): Promise<void> {
  const config = {
    architectures: ['DINOv3ViTModel'],
    model_type: 'dinov3_vit',
    hidden_act: 'gelu',
    hidden_size: o.hidden,
    image_size: o.image,
    intermediate_size: 4 * o.hidden,
    num_attention_heads: o.heads,
    num_hidden_layers: o.layers,
    num_register_tokens: 0,
    patch_size: o.patch,
    num_channels: 3,
    layer_norm_eps: 1e-5,
    layerscale_value: 1.0,
    rope_theta: 100.0,
    query_bias: true,
    key_bias: false,
    value_bias: true,
    proj_bias: true,
    mlp_bias: true,
    use_gated_mlp: false,
    pos_embed_rescale: 2.0,
    pos_embed_jitter: null,
    pos_embed_shift: null,
    torch_dtype: 'float32',
  };
  const pre = {
    image_processor_type: 'DINOv3ViTImageProcessorFast',
    do_resize: true,
    size: { height: o.image, width: o.image },
    resample: 2,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.485, 0.456, 0.406],
    image_std: [0.229, 0.224, 0.225],
  };
  const spec = parseModelConfig(config);
  const rng = new Rng(o.seed ?? 1);
  const tensors = expectedTensors(spec)
    .filter((t) => !t.optional)
    .map((t) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const ones = /norm.*\.w$|ls[12]$/.test(t.role);
      const zeros = /norm.*\.b$/.test(t.role);
      const data = Float32Array.from({ length: n }, () => (ones ? 1 : zeros ? 0 : 0.02 * rng.normal()));
      return { name: t.key, shape: t.shape, data };
    });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  await writeFile(join(dir, 'preprocessor_config.json'), JSON.stringify(pre, null, 2) + '\n');
  await writeFile(join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const known = [
    'out',
    'scale',
    'size',
    'seed',
    'corrupt',
    'missing',
    'model_dir',
    'hidden',
    'layers',
    'patch',
    'heads',
  ];
  const a: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const k = args[i].replace(/^--/, '');
    if (args[i] === '--help' || args[i] === '-h') a.help = '1';
    else if (args[i].startsWith('--') && known.includes(k) && i + 1 < args.length) a[k] = args[++i];
    else throw new Error(`unexpected argument ${args[i]} (known: ${known.map((x) => `--${x}`).join(' ')})`);
  }
  if (a.help || (!a.out && !a.model_dir)) {
    const header = (await readFile(fileURLToPath(import.meta.url), 'utf8')).split('*/')[0];
    process.stdout.write(header.replace(/^\/\*\*\n?/, '').replace(/^ \* ?/gm, '') + '\n');
    return;
  }
  const num = (k: string, d: number) => {
    const v = a[k] === undefined ? d : Number(a[k]);
    if (!Number.isFinite(v)) throw new Error(`--${k} ${a[k]}: expected a number`);
    return v;
  };
  const size = num('size', 32);
  if (a.model_dir) {
    await makeTinyModel(a.model_dir, {
      hidden: num('hidden', 16),
      layers: num('layers', 1),
      patch: num('patch', 8),
      heads: num('heads', 1),
      image: size,
      seed: num('seed', 0) + 1,
    });
    process.stdout.write(`wrote ${a.model_dir}: random DINOv3 model\n`);
  }
  if (!a.out) return;
  const t0 = performance.now();
  const r = await makeSyntheticSop({
    out: a.out,
    scale: num('scale', 1),
    size,
    seed: num('seed', 0),
    corrupt: num('corrupt', 0),
    missing: num('missing', 0),
  });
  process.stdout.write(
    `wrote ${a.out}: train ${r.train.images} images / ${r.train.classes} classes, test ${r.test.images} / ${r.test.classes}` +
      `${r.corrupt.length ? `, ${r.corrupt.length} unreadable` : ''}${r.missing.length ? `, ${r.missing.length} missing` : ''}` +
      ` in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
}

const runAsScript =
  !process.env.VITEST &&
  (/vite-node/.test(process.argv[1] ?? '') || resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url));
if (runAsScript) {
  main().catch((e) => {
    process.stderr.write(`make_sop_synthetic: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
