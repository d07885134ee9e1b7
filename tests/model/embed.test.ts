/** Retrieval embeddings vs the PyTorch fixtures: normalized CLS and the CLS+patch-mean variant. */
import { readFileSync } from 'node:fs';
import { afterAll, test } from 'vitest';
import { SafetensorsFile } from '../../src/io/safetensors';
import { embedBatch } from '../../src/model/embed';
import { loadCheckpoint } from '../../src/model/load';
import { dirSource } from '../../src/platform/file-source-node';
import { Vit } from '../../src/model/vit';
import { expectClose } from '../helpers/check';
import { nodeGpu } from '../helpers/node-gpu';

afterAll(async () => (await nodeGpu()).destroy());

for (const name of ['dinov3-tiny', 'dinov2-tiny']) {
  test(`${name}: embedding and cls_mean match PyTorch (atol 1e-5)`, async () => {
    const dir = `tests/fixtures/models/${name}`;
    const cases = SafetensorsFile.parse(readFileSync(`${dir}/cases.safetensors`));
    const ck = await loadCheckpoint(dirSource(dir));
    const vit = new Vit(await nodeGpu(), ck.spec, ck.weights);
    const [B, , H, W] = cases.info('s1.pixel_values').shape;
    const px = cases.f32('s1.pixel_values');
    expectClose(
      await embedBatch(vit, px, B, H, W, 'cls'),
      cases.f32('s1.embedding'),
      { atol: 1e-5, rtol: 0 },
      'embedding',
    );
    expectClose(
      await embedBatch(vit, px, B, H, W, 'cls_mean'),
      cases.f32('s1.cls_mean'),
      { atol: 1e-5, rtol: 0 },
      'cls_mean',
    );
    vit.destroy();
  });
}
