/**
 * Hub ids the hub does not have get a did-you-mean from the known ids (src/hub/known-models.ts),
 * and a repository with only PyTorch weights downloads: against the local hub stand-in
 * (tests/hub/hub-server.ts), unknown repositories answered 404 (with a token) and 401 (without,
 * as huggingface.co does for a repository that does not exist).
 * Run: npx vitest run tests/hub/known-models.test.ts
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { NodeModelCache } from '../../src/hub/cache-node';
import { ensureModel, HubError } from '../../src/hub/download';
import { HUB_PRESETS, KNOWN_MODEL_IDS, suggestModelId } from '../../src/hub/known-models';
import { loadCheckpoint } from '../../src/model/load';
import { dirSource } from '../../src/platform/file-source-node';
import { MODEL_PRESETS } from '../../src/run/presets';
import { HubServer } from './hub-server';

const server = new HubServer();
const cache = new NodeModelCache(mkdtempSync(join(tmpdir(), 'vembed-known-')));
const ensure = (id: string, token?: string) => ensureModel(id, cache, { endpoint: server.url, retryDelayMs: 5, token });
const BIN = 'tests/fixtures/torch-bin/dinov2-tiny';

beforeAll(async () => {
  server.addRepo(
    'test-org/dinov2-tiny-bin',
    Object.fromEntries(
      ['config.json', 'preprocessor_config.json', 'pytorch_model.bin'].map((f) => [
        f,
        new Uint8Array(readFileSync(join(BIN, f))),
      ]),
    ),
  );
  await server.start();
});
afterAll(() => server.close());

test("suggestions: the guide's vits14 is vits16; typos of presets; nothing for an id far from all", () => {
  expect(suggestModelId('facebook/dinov3-vits14-pretrain-lvd1689m')).toBe('facebook/dinov3-vits16-pretrain-lvd1689m');
  expect(suggestModelId('facebook/dinov2-smal')).toBe('facebook/dinov2-small');
  expect(suggestModelId('facebook/dinov2-lage')).toBe('facebook/dinov2-large');
  expect(suggestModelId('facebook/dinov2-base')).toBeNull(); // itself
  expect(suggestModelId('google/vit-base-patch16-224')).toBeNull();
  // the app offers exactly the hub presets after the bundled demo
  expect(MODEL_PRESETS.slice(1)).toEqual(HUB_PRESETS);
  for (const p of HUB_PRESETS) expect(KNOWN_MODEL_IDS).toContain(p.id);
});

test('a missing repository: 404 (with a token) and 401 (without) both end with the did-you-mean', async () => {
  const id = 'facebook/dinov3-vits14-pretrain-lvd1689m';
  const e404 = await ensure(id).catch((e) => e);
  expect(e404).toBeInstanceOf(HubError);
  expect(e404.message).toMatch(
    /config\.json not found \(HTTP 404 .*\): check the model id.* Did you mean "facebook\/dinov3-vits16-pretrain-lvd1689m"\?$/,
  );
  server.token = 'secret';
  try {
    const e401 = await ensure(id).catch((e) => e);
    expect(e401.kind).toBe('auth');
    expect(e401.message).toMatch(
      /HTTP 401.*check the id\. Did you mean "facebook\/dinov3-vits16-pretrain-lvd1689m"\?$/,
    );
    // a far-off id keeps the plain message
    const other = await ensure('someone/something-else').catch((e) => e);
    expect(other.message).not.toMatch(/Did you mean/);
  } finally {
    server.token = null;
  }
});

test('a repository with only pytorch_model.bin downloads and loads as its safetensors twin', async () => {
  const src = await ensure('test-org/dinov2-tiny-bin');
  const names = server.log.filter((r) => r.repo === 'test-org/dinov2-tiny-bin').map((r) => `${r.file} ${r.status}`);
  expect(names).toEqual(
    expect.arrayContaining(['model.safetensors 404', 'model.safetensors.index.json 404', 'pytorch_model.bin 200']),
  );
  const a = await loadCheckpoint(src);
  const b = await loadCheckpoint(dirSource('tests/fixtures/models/dinov2-tiny'));
  for (const [k, w] of b.weights) expect([...a.weights.get(k)!], k).toEqual([...w]);
});
