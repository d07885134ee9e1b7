/**
 * The learning tests' data (tests/train/learning*.test.ts): an SOP-layout folder of Fashion-MNIST
 * products (200 train / 100 held-out test products x 4 photos at 32 px), `vembed prepare sop`, and
 * the zero-shot `vembed eval sop` of the small DINOv3-layout fixture model, made once per file.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evalCommand } from '../../src/cli/eval';
import { prepareCommand } from '../../src/cli/prepare';
import { makeSopFashionMnist } from '../../tools/make_sop_fashion_mnist';
import { nodeGpu } from '../helpers/node-gpu';

export const model = 'tests/fixtures/models/dinov3-tiny';
/** What the commands print (shown by the tests). */
export const out: string[] = [];

let made: Promise<{ root: string; emb: string }> | null = null;
export function dataset(): Promise<{ root: string; emb: string }> {
  made ??= (async () => {
    const root = mkdtempSync(join(tmpdir(), 'vembed-learn-'));
    await makeSopFashionMnist({ out: root, trainProducts: 200, testProducts: 100, imagesPerProduct: 4, size: 32 });
    await prepareCommand(['sop', '--root', root]);
    const emb = join(root, 'zero-shot.safetensors');
    const env = { gpu: await nodeGpu(), out: (t: string) => void out.push(t) };
    await evalCommand(
      [
        'sop',
        '--model_path',
        model,
        '--sop_root',
        root,
        '--output_dir',
        join(root, 'zero-shot'),
        '--save_embeddings',
        emb,
      ],
      env,
    );
    return { root, emb };
  })();
  return made;
}
