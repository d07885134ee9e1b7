/**
 * Image decoding and preprocessing throughput in the browser (the data side that must run ahead
 * of the GPU): 64 JPEG product photos of the bundled demo dataset (public/demo/dataset, 32x32
 * Fashion-MNIST products) decoded with createImageBitmap + OffscreenCanvas
 * (src/data/decode-browser.ts), 8 at a time, then preprocessed as DINOv3's processor does
 * (resize to 224x224, normalize; src/data/preprocess.ts). `items` = 64 images: the row reports
 * images/s, to read next to the embed rows' images/s. No GPU work; no peer.
 */
import { decodeImageBlob } from '../../src/data/decode-browser';
import { preprocess, preprocessorFromConfig } from '../../src/data/preprocess';
import type { BenchEntry } from '../types';

const N = 64;

async function demoImages(): Promise<{ name: string; blob: Blob }[]> {
  const list = (await (await fetch('/demo/dataset/files.json')).json()) as { files: { path: string }[] };
  const paths = list.files
    .map((f) => f.path)
    .filter((p) => /\.jpe?g$/i.test(p))
    .slice(0, N);
  return Promise.all(paths.map(async (p) => ({ name: p, blob: await (await fetch(`/demo/dataset/${p}`)).blob() })));
}

const pp = preprocessorFromConfig(
  {
    image_processor_type: 'DINOv3ViTImageProcessorFast',
    do_resize: true,
    size: { height: 224, width: 224 },
    resample: 2,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.485, 0.456, 0.406],
    image_std: [0.229, 0.224, 0.225],
  },
  'dinov3',
);

export const entries: BenchEntry[] = [
  {
    op: 'decode+preprocess',
    shape: `${N} JPEG 32x32 -> DINOv3 224x224 pixel_values (browser, 8 in flight)`,
    flops: null,
    items: N,
    quick: true,
    async setup() {
      const imgs = await demoImages();
      if (imgs.length < N) throw new Error(`the demo dataset has ${imgs.length} JPEGs; ${N} needed`);
      return {
        async run() {
          for (let i = 0; i < N; i += 8) {
            await Promise.all(
              imgs.slice(i, i + 8).map(async ({ name, blob }) => preprocess(await decodeImageBlob(blob, name), pp)),
            );
          }
        },
        dispose() {},
      };
    },
  },
];
