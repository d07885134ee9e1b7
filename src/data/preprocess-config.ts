/**
 * preprocessor_config.json -> `Preprocessor`: what a checkpoint's Hugging Face image processor will do
 * (docs/model.md#preprocessing), resolved against the processor class defaults of each family
 * (DINOv3ViTImageProcessorFast, BitImageProcessor). Pure TypeScript, no Node APIs.
 *
 *   preprocessorFromConfig(json, family, file?)  parses the JSON (zod) into a `Preprocessor`; refuses what
 *                                                 src/data/preprocess.ts does not implement, naming the key
 *   PreprocessorConfig                            the zod schema (every field optional/nullable)
 *   PreprocessorConfigError                       what a bad or unsupported config throws
 */
import { z } from 'zod';
import type { ResampleFilter } from './resample';
import { VembedError } from '../util/errors';

/** The model family: its image processor (DINOv3: torch path, DINOv2: PIL path) and its ViT (src/model). */
export type Family = 'dinov3' | 'dinov2';

/** What the image processor will do, resolved against the processor class defaults. */
export interface Preprocessor {
  family: Family;
  /** Resize target: an exact size, or the shortest edge (the long side is int(edge * long / short)). */
  resize: { kind: 'exact'; height: number; width: number } | { kind: 'shortest_edge'; edge: number } | null;
  resample: ResampleFilter;
  crop: { height: number; width: number } | null;
  /** null: no rescale (pixels stay 0..255). */
  rescaleFactor: number | null;
  /** null: no normalization. */
  mean: [number, number, number] | null;
  std: [number, number, number] | null;
}

export class PreprocessorConfigError extends VembedError {
  override name = 'PreprocessorConfigError';
}

const SizeObject = z.looseObject({
  height: z.number().int().positive().optional(),
  width: z.number().int().positive().optional(),
  shortest_edge: z.number().int().positive().optional(),
  longest_edge: z.number().int().positive().nullish(),
  max_height: z.number().int().positive().nullish(),
  max_width: z.number().int().positive().nullish(),
});
const Size = z.union([z.number().int().positive(), SizeObject]);
const Triple = z.union([z.number(), z.array(z.number()).length(3)]);

/** Every field may be missing or null; both mean "the processor class default" (see `DEFAULTS`). */
export const PreprocessorConfig = z.looseObject({
  image_processor_type: z.string().nullish(),
  do_resize: z.boolean().nullish(),
  size: Size.nullish(),
  /** PIL resampling id: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming. */
  resample: z.number().int().nullish(),
  do_center_crop: z.boolean().nullish(),
  crop_size: Size.nullish(),
  do_rescale: z.boolean().nullish(),
  rescale_factor: z.number().positive().nullish(),
  do_normalize: z.boolean().nullish(),
  image_mean: Triple.nullish(),
  image_std: Triple.nullish(),
  do_convert_rgb: z.boolean().nullish(),
  /** Only for an integer `size` in DINOv3 configs: true -> square, false -> shortest edge. */
  default_to_square: z.boolean().nullish(),
  do_pad: z.boolean().nullish(),
});
export type PreprocessorConfig = z.infer<typeof PreprocessorConfig>;

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/** Class defaults: DINOv3ViTImageProcessorFast and BitImageProcessor (transformers). */
const DEFAULTS = {
  dinov3: {
    types: ['DINOv3ViTImageProcessorFast', 'DINOv3ViTImageProcessor'],
    do_resize: true,
    size: { height: 224, width: 224 } as number | z.infer<typeof SizeObject>,
    resample: 2,
    do_center_crop: false,
    crop_size: null as number | z.infer<typeof SizeObject> | null,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: IMAGENET_MEAN,
    image_std: IMAGENET_STD,
  },
  dinov2: {
    // BitImageProcessorFast (torchvision, int16 weights) agrees with the PIL path within 1 uint8 step.
    types: ['BitImageProcessor', 'BitImageProcessorFast'],
    do_resize: true,
    size: { shortest_edge: 224 } as number | z.infer<typeof SizeObject>,
    resample: 3,
    do_center_crop: true,
    crop_size: { height: 224, width: 224 } as number | z.infer<typeof SizeObject> | null,
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: CLIP_MEAN,
    image_std: CLIP_STD,
  },
};

const RESAMPLE_NAMES = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming'];

/**
 * Parses a preprocessor_config.json object for `family`; `file` names it in errors. Unsupported values
 * (resample other than 2/3, size with longest_edge/max_*, do_pad, an image_processor_type of another
 * model) are refused with a message naming the key.
 */
export function preprocessorFromConfig(json: unknown, family: Family, file = 'preprocessor_config.json'): Preprocessor {
  const r = PreprocessorConfig.safeParse(json);
  if (!r.success) {
    throw new PreprocessorConfigError(
      r.error.issues.map((i) => `${file}: "${i.path.join('.') || '(root)'}": ${i.message}`).join('\n'),
    );
  }
  const c = r.data;
  const d = DEFAULTS[family];
  const fail = (key: string, msg: string): never => {
    throw new PreprocessorConfigError(`${file}: "${key}": ${msg}`);
  };

  if (c.image_processor_type != null && !d.types.includes(c.image_processor_type)) {
    fail(
      'image_processor_type',
      `"${c.image_processor_type}" is not supported for ${family}; expected one of ${d.types.map((t) => `"${t}"`).join(', ')}`,
    );
  }
  if (c.do_pad) fail('do_pad', 'padding is not supported (expected false or null)');

  const resampleId = c.resample ?? d.resample;
  const resample: ResampleFilter | null = resampleId === 2 ? 'bilinear' : resampleId === 3 ? 'bicubic' : null;
  if (resample === null) {
    const name = RESAMPLE_NAMES[resampleId] ?? 'unknown';
    fail('resample', `${resampleId} (${name}) is not supported; supported: 2 (bilinear), 3 (bicubic)`);
  }

  let resize: Preprocessor['resize'] = null;
  if (c.do_resize ?? d.do_resize) {
    const s = c.size ?? d.size;
    if (typeof s === 'number') {
      // DINOv3 (fast): get_size_dict(size, default_to_square) -> square by default.
      // BitImageProcessor: get_size_dict(size, default_to_square=False) -> shortest edge.
      const square = family === 'dinov3' && (c.default_to_square ?? true);
      resize = square ? { kind: 'exact', height: s, width: s } : { kind: 'shortest_edge', edge: s };
    } else {
      if (s.longest_edge != null) fail('size.longest_edge', 'is not supported');
      if (s.max_height != null || s.max_width != null)
        fail('size.max_height', '"max_height"/"max_width" are not supported');
      if (s.shortest_edge !== undefined) {
        resize = { kind: 'shortest_edge', edge: s.shortest_edge };
      } else if (s.height !== undefined && s.width !== undefined) {
        resize = { kind: 'exact', height: s.height, width: s.width };
      } else {
        fail('size', `${JSON.stringify(s)} needs "shortest_edge" or both "height" and "width"`);
      }
    }
  }

  let crop: Preprocessor['crop'] = null;
  if (c.do_center_crop ?? d.do_center_crop) {
    const s = c.crop_size ?? d.crop_size;
    if (s == null) fail('crop_size', 'is required when "do_center_crop" is true');
    else if (typeof s === 'number') crop = { height: s, width: s };
    else if (s.height !== undefined && s.width !== undefined) crop = { height: s.height, width: s.width };
    else fail('crop_size', `${JSON.stringify(s)} needs "height" and "width"`);
  }

  const triple = (key: 'image_mean' | 'image_std'): [number, number, number] => {
    const v = c[key] ?? d[key];
    const t = (typeof v === 'number' ? [v, v, v] : v) as [number, number, number];
    if (key === 'image_std' && t.some((x) => !(x > 0))) fail(key, `${JSON.stringify(v)} must be positive`);
    return t;
  };
  const normalize = c.do_normalize ?? d.do_normalize;
  return {
    family,
    resize,
    resample: resample as ResampleFilter,
    crop,
    rescaleFactor: (c.do_rescale ?? d.do_rescale) ? (c.rescale_factor ?? d.rescale_factor) : null,
    mean: normalize ? triple('image_mean') : null,
    std: normalize ? triple('image_std') : null,
  };
}
