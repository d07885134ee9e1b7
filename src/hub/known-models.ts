/**
 * Hub ids this project knows: the presets the app offers (and the README names), plus the other
 * public DINOv3 / DINOv2 backbones, so that an id the hub does not have gets a did-you-mean
 * (e.g. facebook/dinov3-vits14-pretrain-lvd1689m, from an older guide, -> ...-vits16-...).
 * Plain data: the page imports it.
 */
import { editDistance } from '../util/suggest';

/** The app's hub presets (src/run/presets.ts puts the bundled demo model first). */
export const HUB_PRESETS: { label: string; id: string }[] = [
  { label: 'DINOv3 ViT-S/16 (gated: needs a token)', id: 'facebook/dinov3-vits16-pretrain-lvd1689m' },
  { label: 'DINOv3 ViT-B/16 (gated: needs a token)', id: 'facebook/dinov3-vitb16-pretrain-lvd1689m' },
  { label: 'DINOv2 small', id: 'facebook/dinov2-small' },
  { label: 'DINOv2 base', id: 'facebook/dinov2-base' },
];

/** Other public backbones of the same families (suggestions only). */
const OTHER_IDS = [
  'facebook/dinov3-vits16plus-pretrain-lvd1689m',
  'facebook/dinov3-vitl16-pretrain-lvd1689m',
  'facebook/dinov3-vith16plus-pretrain-lvd1689m',
  'facebook/dinov3-vit7b16-pretrain-lvd1689m',
  'facebook/dinov3-vitl16-pretrain-sat493m',
  'facebook/dinov2-large',
  'facebook/dinov2-giant',
  'facebook/dinov2-with-registers-small',
  'facebook/dinov2-with-registers-base',
  'facebook/dinov2-with-registers-large',
  'facebook/dinov2-with-registers-giant',
];

export const KNOWN_MODEL_IDS: readonly string[] = [...HUB_PRESETS.map((p) => p.id), ...OTHER_IDS];

/** The known id closest to `id` (case ignored), if it is a likely typo (at most 3 edits) and not `id` itself. */
export function suggestModelId(id: string): string | null {
  const w = id.toLowerCase();
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of KNOWN_MODEL_IDS) {
    const d = editDistance(w, k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== null && bestD > 0 && bestD <= 3 ? best : null;
}
