/**
 * Image decoding (src/data/decode-node.ts, sharp) against PIL, and preprocessing (src/data/preprocess.ts,
 * preprocess-config.ts, resample.ts) against PyTorch / PIL, on the fixtures of tools/gen_preproc_fixtures.py
 * (tests/fixtures/preprocess/).
 *
 *   decoding      PNG: bit-identical to PIL (sha256 of the RGB bytes); JPEG and WebP: max |diff| reported
 *                 and asserted; EXIF orientation 6; broken files throw naming the file.
 *   preprocessing input = PIL's decoded RGB (so decoders do not matter):
 *                 DINOv3 pixel_values vs torch F.interpolate(antialias=True) within 1e-5;
 *                 DINOv2 uint8 after resize+crop vs PIL Image.resize (asserted bit-identical, which is
 *                 stricter than the one-uint8-step budget), pixel_values within 1e-5.
 *
 * Run: npx vitest run tests/data/preprocess.test.ts
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { decodeImageBytes, decodeImageFile } from '../../src/data/decode-node';
import type { RgbImage } from '../../src/data/image';
import {
  outputSize,
  preprocess,
  preprocessorFromConfig,
  resizeAndCropU8,
  type Family,
} from '../../src/data/preprocess';
import { axisTaps, resampleAA } from '../../src/data/resample';
import { SafetensorsFile } from '../../src/io/safetensors';
import { maxAbsDiff } from '../helpers/check';

const DIR = 'tests/fixtures/preprocess';
const ref = SafetensorsFile.parse(readFileSync(join(DIR, 'expected.safetensors')), 'expected.safetensors');
const meta = ref.metadata;
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const GOOD = Object.keys(meta)
  .filter((k) => k.startsWith('sha256.'))
  .map((k) => k.slice('sha256.'.length))
  .sort();
const CASES = Object.keys(meta)
  .filter((k) => k.startsWith('config.'))
  .map((k) => k.slice('config.'.length))
  .sort();

/** Max differences seen, printed at the end. */
const report: string[] = [];
afterAll(() => {
  if (report.length) console.log(`preprocess fixtures, max |ours - reference|:\n  ${report.join('\n  ')}`);
});

/** PIL's decoded RGB of a fixture file: stored pixels, or (PNG) our decode after checking PIL's hash. */
async function pilRgb(name: string): Promise<RgbImage> {
  const [height, width] = JSON.parse(meta[`shape.${name}`]) as number[];
  if (ref.has(`dec.${name}`)) return { width, height, data: ref.raw(`dec.${name}`) };
  const img = await decodeImageFile(join(DIR, name));
  expect(sha256(img.data), `${name}: decoded RGB differs from PIL's`).toBe(meta[`sha256.${name}`]);
  return img;
}

describe('decodeImageFile (sharp) vs PIL load_image', () => {
  test('fixture list', () => {
    expect(GOOD).toEqual([
      'collage_97x61.jpg',
      'collage_97x61.png',
      'exif_rot6.jpg',
      'gray_64x64.png',
      'photo_60x40.webp',
      'rgba_45x30.png',
      'tall_41x129.jpg',
      'tall_41x129.png',
      'wide_300x200.png',
    ]);
  });

  test.each(GOOD)('%s decodes to the same RGB as PIL', async (name) => {
    const img = await decodeImageFile(join(DIR, name));
    const [height, width] = JSON.parse(meta[`shape.${name}`]) as number[];
    expect([img.width, img.height, img.data.length]).toEqual([width, height, width * height * 3]);
    if (ref.has(`dec.${name}`)) {
      const diff = maxAbsDiff(img.data, ref.raw(`dec.${name}`));
      report.push(`decode ${name}: ${diff} (uint8 steps)`);
      // libjpeg-turbo (PIL) and sharp's mozjpeg/libjpeg-turbo agree exactly here (islow DCT, fancy
      // upsampling); so do the two libwebp builds. Other decoders (browsers) may differ by a few steps.
      expect(diff).toBe(0);
    }
    expect(sha256(img.data)).toBe(meta[`sha256.${name}`]);
  });

  test('grayscale PNG becomes R = G = B; RGBA PNG keeps RGB under alpha 0', async () => {
    const g = await decodeImageFile(join(DIR, 'gray_64x64.png'));
    for (let i = 0; i < g.data.length; i += 3) {
      if (g.data[i] !== g.data[i + 1] || g.data[i] !== g.data[i + 2]) throw new Error(`gray pixel ${i / 3} not R=G=B`);
    }
    // the top-left 10x6 corner is fully transparent in the file; its colour must not be black
    const a = await decodeImageFile(join(DIR, 'rgba_45x30.png'));
    expect(a.data[0] + a.data[1] + a.data[2]).toBeGreaterThan(0);
  });

  test('EXIF orientation 6 is applied (stored 40x24, shown 24x40)', async () => {
    const img = await decodeImageFile(join(DIR, 'exif_rot6.jpg'));
    expect([img.width, img.height]).toEqual([24, 40]);
  });

  test.each([
    ['truncated.png', /truncated\.png: corrupt or truncated image file/],
    ['corrupt.jpg', /corrupt\.jpg: corrupt or truncated image file/],
    ['not_an_image.jpg', /not_an_image\.jpg: unsupported or unrecognized image format/],
  ])('%s throws, naming the file', async (name, msg) => {
    await expect(decodeImageFile(join(DIR, name))).rejects.toThrow(msg);
  });

  test('missing file and empty bytes throw, naming them', async () => {
    await expect(decodeImageFile(join(DIR, 'no_such_file.png'))).rejects.toThrow(
      /no_such_file\.png: cannot read the file/,
    );
    await expect(decodeImageBytes(new Uint8Array(0), 'empty.jpg')).rejects.toThrow(/empty\.jpg: empty file/);
    const png = readFileSync(join(DIR, 'collage_97x61.png'));
    await expect(decodeImageBytes(png.subarray(0, 200), 'head.png')).rejects.toThrow(/head\.png: corrupt or truncated/);
  });
});

describe('preprocess vs PyTorch (DINOv3) and PIL (DINOv2)', () => {
  test("tiny-model cases use the model fixtures' preprocessor_config.json verbatim", () => {
    expect(JSON.parse(meta['config.v3tiny'])).toEqual(
      readJson('tests/fixtures/models/dinov3-tiny/preprocessor_config.json'),
    );
    expect(JSON.parse(meta['config.v2tiny'])).toEqual(
      readJson('tests/fixtures/models/dinov2-tiny/preprocessor_config.json'),
    );
    expect(CASES).toEqual(['v2_224', 'v2_bilinear', 'v2tiny', 'v3_224', 'v3_32x48', 'v3_bicubic', 'v3tiny']);
  });

  const pairs = CASES.flatMap((c) => (JSON.parse(meta[`inputs.${c}`]) as string[]).map((n) => [c, n] as const));
  test.each(pairs)('%s on %s', async (c, name) => {
    const family = meta[`family.${c}`] as Family;
    const pp = preprocessorFromConfig(JSON.parse(meta[`config.${c}`]), family, `${c} config`);
    const rows = JSON.parse(meta[`rows.${c}`]) as number[] | null;
    const img = await pilRgb(name);
    const { height: H, width: W } = outputSize(pp, img.width, img.height);
    const px = preprocess(img, pp);
    expect(px.length).toBe(3 * H * W);
    const pick = (chw: Float32Array) => (rows === null ? chw : selectRowsChw(chw, H, W, rows));

    if (family === 'dinov3') {
      const want = ref.f32(`${c}.${name}.px`);
      const diff = maxAbsDiff(pick(px), want);
      report.push(`${c} ${name}: pixel_values ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(1e-5);
      return;
    }
    const u8 = resizeAndCropU8(img, pp);
    expect([u8.height, u8.width]).toEqual([H, W]);
    const wantU8 = ref.raw(`${c}.${name}.u8`);
    const gotU8 = rows === null ? u8.data : selectRowsHwc(u8.data, W, rows);
    const d8 = maxAbsDiff(gotU8, wantU8);
    let line = `${c} ${name}: uint8 after resize+crop ${d8}`;
    expect(d8).toBe(0); // PIL's fixed point reproduced exactly (budget was one uint8 step)
    if (ref.has(`${c}.${name}.px`)) {
      const diff = maxAbsDiff(px, ref.f32(`${c}.${name}.px`));
      line += `, pixel_values ${diff.toExponential(2)}`;
      expect(diff).toBeLessThanOrEqual(1e-5);
    }
    report.push(line);
  });
});

function selectRowsChw(chw: Float32Array, H: number, W: number, rows: number[]): Float32Array {
  const out = new Float32Array(3 * rows.length * W);
  for (let c = 0; c < 3; c++) {
    rows.forEach((r, i) => out.set(chw.subarray((c * H + r) * W, (c * H + r + 1) * W), (c * rows.length + i) * W));
  }
  return out;
}

function selectRowsHwc(hwc: Uint8Array, W: number, rows: number[]): Uint8Array {
  const out = new Uint8Array(rows.length * W * 3);
  rows.forEach((r, i) => out.set(hwc.subarray(r * W * 3, (r + 1) * W * 3), i * W * 3));
  return out;
}

describe('preprocessorFromConfig', () => {
  test('tiny DINOv3 and DINOv2 configs', () => {
    const v3 = preprocessorFromConfig(readJson('tests/fixtures/models/dinov3-tiny/preprocessor_config.json'), 'dinov3');
    expect(v3).toEqual({
      family: 'dinov3',
      resize: { kind: 'exact', height: 32, width: 32 },
      resample: 'bilinear',
      crop: null,
      rescaleFactor: 0.00392156862745098,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    const v2 = preprocessorFromConfig(readJson('tests/fixtures/models/dinov2-tiny/preprocessor_config.json'), 'dinov2');
    expect(v2).toEqual({
      family: 'dinov2',
      resize: { kind: 'shortest_edge', edge: 40 },
      resample: 'bicubic',
      crop: { height: 35, width: 35 },
      rescaleFactor: 0.00392156862745098,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
  });

  test('class defaults fill missing and null keys', () => {
    const v3 = preprocessorFromConfig({ crop_size: null, do_center_crop: null }, 'dinov3');
    expect(v3.resize).toEqual({ kind: 'exact', height: 224, width: 224 });
    expect([v3.resample, v3.crop, v3.rescaleFactor]).toEqual(['bilinear', null, 1 / 255]);
    const v2 = preprocessorFromConfig({ size: 256 }, 'dinov2');
    expect([v2.resize, v2.resample, v2.crop]).toEqual([
      { kind: 'shortest_edge', edge: 256 },
      'bicubic',
      { height: 224, width: 224 },
    ]);
    expect(v2.mean).toEqual([0.48145466, 0.4578275, 0.40821073]); // BitImageProcessor's default is CLIP's
    const off = preprocessorFromConfig({ do_resize: false, do_rescale: false, do_normalize: false }, 'dinov3');
    expect([off.resize, off.rescaleFactor, off.mean, off.std]).toEqual([null, null, null, null]);
  });

  test('output sizes: shortest edge with the long side truncated, then the crop', () => {
    const v2 = preprocessorFromConfig({ size: { shortest_edge: 256 }, do_center_crop: false }, 'dinov2');
    expect(outputSize(v2, 300, 200)).toEqual({ height: 256, width: 384 });
    expect(outputSize(v2, 41, 129)).toEqual({ height: 805, width: 256 }); // 256*129/41 = 805.46
    expect(outputSize(v2, 97, 61)).toEqual({ height: 256, width: 407 }); // 256*97/61 = 407.08
  });

  test.each([
    [{ resample: 0 }, 'dinov3', /"resample": 0 \(nearest\) is not supported; supported: 2 \(bilinear\), 3 \(bicubic\)/],
    [{ resample: 1 }, 'dinov2', /"resample": 1 \(lanczos\) is not supported/],
    [{ size: { shortest_edge: 224, longest_edge: 448 } }, 'dinov2', /"size.longest_edge": is not supported/],
    [{ size: { width: 224 } }, 'dinov3', /"size": \{"width":224\} needs "shortest_edge" or both "height" and "width"/],
    [{ do_center_crop: true }, 'dinov3', /"crop_size": is required when "do_center_crop" is true/],
    [
      { image_processor_type: 'BitImageProcessor' },
      'dinov3',
      /"image_processor_type": "BitImageProcessor" is not supported for dinov3/,
    ],
    [{ do_pad: true }, 'dinov2', /"do_pad": padding is not supported/],
    [{ rescale_factor: 'x' }, 'dinov2', /"rescale_factor": /],
    [{ image_std: [0.2, 0, 0.2] }, 'dinov2', /"image_std": \[0.2,0,0.2\] must be positive/],
    [{ image_mean: [0.5, 0.5] }, 'dinov3', /"image_mean": /],
  ])('refuses %j (%s), naming the key', (json, family, msg) => {
    expect(() => preprocessorFromConfig(json, family as Family, 'pp.json')).toThrow(msg);
    expect(() => preprocessorFromConfig(json, family as Family, 'pp.json')).toThrow(/^pp\.json: /);
  });
});

describe('resampler and crop details', () => {
  test('weights sum to 1 (float32) and to 2^22 within rounding (PIL fixed point); same size is a copy', () => {
    for (const [i, o] of [
      [300, 224],
      [61, 256],
      [7, 3],
      [5, 17],
    ] as const) {
      for (const f of ['bilinear', 'bicubic'] as const) {
        const t = axisTaps(i, o, f, 'f32');
        const q = axisTaps(i, o, f, 'pil-u8');
        for (let k = 0; k < o; k++) {
          let s = 0;
          let sq = 0;
          for (let j = 0; j < t.count[k]; j++) {
            s += t.w[k * t.ksize + j];
            sq += q.w[k * q.ksize + j];
          }
          expect(Math.abs(s - 1)).toBeLessThan(1e-6);
          expect(Math.abs(sq - 2 ** 22)).toBeLessThanOrEqual(t.count[k]);
        }
      }
    }
    const img = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) % 256);
    expect([...resampleAA(img, 5, 4, 3, 5, 4, 'bicubic', 'pil-u8')]).toEqual([...img]);
    const f = Float64Array.from(img, (v) => v / 255);
    expect([...resampleAA(f, 5, 4, 3, 5, 4, 'bilinear', 'f32')]).toEqual([...f]);
  });

  test('a crop larger than the image zero-pads: ceil on top/left for the PIL processor, floor for the fast one', () => {
    // 1x1 image, no resize, crop 1x4 (width 4): slow puts it at x = ceil(3/2) = 2, fast at floor(3/2) = 1
    const img: RgbImage = { width: 1, height: 1, data: Uint8Array.from([255, 255, 255]) };
    const common = {
      do_resize: false,
      do_rescale: true,
      do_normalize: false,
      do_center_crop: true,
      crop_size: { height: 1, width: 4 },
    };
    const v2 = preprocess(img, preprocessorFromConfig({ ...common }, 'dinov2'));
    const v3 = preprocess(img, preprocessorFromConfig({ ...common }, 'dinov3'));
    expect([...v2.subarray(0, 4)]).toEqual([0, 0, 1, 0]);
    expect([...v3.subarray(0, 4)]).toEqual([0, 1, 0, 0]);
  });

  test('preprocess refuses an image whose data does not match its size', () => {
    const pp = preprocessorFromConfig({}, 'dinov3');
    expect(() => preprocess({ width: 2, height: 2, data: new Uint8Array(11) }, pp)).toThrow(/11 bytes, expected 2x2x3/);
  });
});
