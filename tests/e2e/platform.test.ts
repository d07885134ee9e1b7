/**
 * The browser platform layer in headless Chromium (tests/e2e/platform.html, platform-page.ts):
 *   sources  directorySource over a real FileSystemDirectoryHandle (an OPFS folder the page fills:
 *            nested folders, an empty one, sop-mini fetched from Vite) and fileListSource over File
 *            objects with webkitRelativePath; loadPairDataset on sop-mini must give exactly what
 *            Node's nodeSource gives, and validateImages (browser decoder) finds no problem
 *   decode   the preprocessing fixtures vs PIL: PNG bit-identical (sha256), JPEG/WebP max |diff|
 *            reported and bounded; broken and cut-short files throw naming the file; the same
 *            bytes from a Web Worker
 *   store    the OPFS CheckpointStore: write, list, read back, atomic overwrite, a simulated full
 *            quota (maxBytes) and a genuine one (DevTools Storage.overrideQuotaForOrigin) leave the
 *            previous checkpoint intact with a "storage is full" message, crash recovery, runs
 *            listed with sizes and deleted
 * Run: npx vitest run tests/e2e/platform.test.ts
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadPairDataset } from '../../src/data/datasets';
import { nodeSource } from '../../src/platform/data-source-node';
import { launchChromium, openPage, startVite, waitForGlobal, type PageHandle, type ViteHandle } from './browser';
import type { DecodeReport, QuotaReport, SourceProbe, SourcesReport, StoreReport, WorkerReport } from './platform-page';

const SOP = 'tests/fixtures/data/sop-mini';

let vite: ViteHandle | null = null;
let browser: Browser | null = null;
let handle: PageHandle | null = null;
const summary: string[] = [];

beforeAll(async () => {
  vite = await startVite();
  browser = await launchChromium();
  handle = await openPage(browser, `${vite.url}/tests/e2e/platform.html`);
  await waitForGlobal(handle, '__platformReady', { timeoutMs: 30_000 });
}, 90_000);

afterAll(async () => {
  if (summary.length) console.log(`browser platform:\n  ${summary.join('\n  ')}`);
  await browser?.close().catch(() => {});
  await vite?.close().catch(() => {});
});

function run<T>(phase: string, arg?: unknown): Promise<T> {
  return handle!.page.evaluate(
    ([p, a]) =>
      (window as unknown as { __platform: { run(p: string, a: unknown): Promise<unknown> } }).__platform.run(p, a),
    [phase, arg] as const,
  ) as Promise<T>;
}

function walk(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel))
    .sort()
    .flatMap((n) => {
      const p = rel ? `${rel}/${n}` : n;
      return statSync(join(dir, p)).isDirectory() ? walk(dir, p) : [p];
    });
}

/** What both sources must report (the OPFS tree also has the empty folder). */
function expectProbe(p: SourceProbe, opts: { where: string; emptyFolder: boolean }) {
  const f = (name: string) => ({ name, dir: false });
  const d = (name: string) => ({ name, dir: true });
  const top = [f('Z.txt'), f('a.txt'), d('data'), ...(opts.emptyFolder ? [d('empty')] : []), d('sub')];
  expect(p.where).toBe(opts.where);
  expect(p.lists['.']).toEqual(top);
  expect(p.lists['']).toEqual(top);
  expect(p.lists.sub).toEqual([f('b.bin'), d('deeper')]);
  expect(p.lists['sub/deeper']).toEqual([f('c.txt'), f('d e.txt')]);
  expect(p.lists['sub/deeper/']).toEqual(p.lists['sub/deeper']);
  expect(p.lists['./sub/../sub']).toEqual(p.lists.sub);
  expect(p.lists['data/sop-mini']).toEqual([
    f('Ebay_test.txt'),
    f('Ebay_train.txt'),
    d('bicycle_final'),
    d('chair_final'),
  ]);
  expect(p.lists['data/sop-mini/chair_final']).toEqual(readdirSync(`${SOP}/chair_final`).sort().map(f));
  expect(p.texts).toEqual({
    'a.txt': 'hello',
    'sub/deeper/c.txt': 'deep',
    'sub/deeper/d e.txt': 'a space',
    'sub/../a.txt': 'hello',
  });
  expect(p.binOk).toBe(true);
  expect(p.exists).toEqual({
    '.': true,
    'a.txt': true,
    sub: true,
    'sub/deeper': true,
    'sub/deeper/c.txt': true,
    empty: opts.emptyFolder,
    'missing.txt': false,
    'sub/missing': false,
    'nope/nope/x.txt': false,
    'a.txt/x': false,
    'data/sop-mini/chair_final/4_1.JPG': false,
  });
  const w = opts.where;
  expect(p.errors).toEqual({
    'readText missing.txt': `Error: missing.txt: no such file (in ${w})`,
    'readBytes nope/x.bin': `Error: nope/x.bin: no such file (in ${w})`,
    'readText sub': `Error: sub: a folder, not a file (in ${w})`,
    'list a.txt': `Error: a.txt: not a folder (in ${w})`,
    'list nope': `Error: nope: no such folder (in ${w})`,
    'readText ../outside.txt': `Error: ../outside.txt: outside the picked folder ${w}`,
    'readText /etc/passwd': `Error: /etc/passwd: an absolute path; in the browser paths are relative to the picked folder ${w}`,
  });
}

describe('browser platform', () => {
  let sources: SourcesReport | undefined;

  test(
    'directorySource (OPFS handle) and fileListSource read a nested folder and the SOP dataset as Node does',
    { timeout: 60_000 },
    async () => {
      sources = await run<SourcesReport>('sources', { sop: walk(SOP) });
      expectProbe(sources.directory, { where: 'platform-data', emptyFolder: true });
      expectProbe(sources.fileList, { where: 'picked', emptyFolder: false });
      expect(sources.flat).toEqual({
        where: '',
        list: [
          { name: 'one.jpg', dir: false },
          { name: 'two.txt', dir: false },
        ],
        text: 'yz',
      });

      const want = await loadPairDataset(nodeSource('tests/fixtures'), { dataPath: 'data/sop-mini', seed: 42 });
      expect(want.records.length).toBe(5);
      expect(sources.directory.dataset).toEqual(want);
      expect(sources.fileList.dataset).toEqual(want);
      expect(sources.directory.imageProblems).toEqual([]);
      expect(sources.fileList.imageProblems).toEqual([]);
      summary.push(
        `sources: directorySource and fileListSource agree with nodeSource; sop-mini ${want.records.length} records, images decode`,
      );
    },
  );

  let decoded: DecodeReport | undefined;

  test('decoding the fixtures matches PIL; broken files throw naming the file', { timeout: 60_000 }, async () => {
    decoded = await run<DecodeReport>('decode');
    expect(decoded.files.map((f) => f.name)).toEqual([
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
    for (const f of decoded.files) {
      expect([f.height, f.width], f.name).toEqual(f.pilShape);
      expect(f.bytesPathSame, f.name).toBe(true);
      if (f.name.endsWith('.png')) {
        expect(f.sha256, `${f.name}: RGB differs from PIL's`).toBe(f.pilSha256);
      } else {
        // Chromium's libjpeg-turbo / libwebp against PIL's: a few uint8 steps at most.
        expect(f.maxDiff, f.name).not.toBeNull();
        expect(f.maxDiff!, f.name).toBeGreaterThanOrEqual(0);
        expect(f.maxDiff!, f.name).toBeLessThanOrEqual(4);
        summary.push(
          `decode ${f.name}: max |Chromium - PIL| = ${f.maxDiff} uint8 steps, ${f.differing} of ${f.width * f.height * 3} values differ${f.sha256 === f.pilSha256 ? ' (identical)' : ''}`,
        );
      }
    }
    expect(decoded.files.find((f) => f.name === 'exif_rot6.jpg')).toMatchObject({ width: 24, height: 40 });
    expect(decoded.grayIsRgbEqual).toBe(true);
    // The 2D canvas alone loses the colour under alpha (premultiplied); the WebGL read-back keeps it.
    expect(decoded.canvas2dOnly.transparentPixels).toBeGreaterThan(0);
    expect(decoded.canvas2dOnly.maxDiff).toBeGreaterThan(0);
    summary.push(
      `decode rgba_45x30.png: 2D canvas alone would differ by ${decoded.canvas2dOnly.maxDiff} (${decoded.canvas2dOnly.transparentPixels} fully transparent pixels); with the WebGL2 read-back: identical`,
    );

    const e = decoded.errors;
    expect(e['truncated.png']).toMatch(/^ImageDecodeError: truncated\.png: corrupt or truncated image file \(/);
    expect(e['corrupt.jpg']).toMatch(/^ImageDecodeError: corrupt\.jpg: corrupt or truncated image file \(/);
    expect(e['not_an_image.jpg']).toBe(
      'ImageDecodeError: not_an_image.jpg: unsupported or unrecognized image format (not a JPEG, PNG or WebP file?)',
    );
    expect(e['empty.jpg']).toBe('ImageDecodeError: empty.jpg: empty file, not an image');
    expect(e['tiff.tif']).toMatch(/^ImageDecodeError: tiff\.tif: unsupported or unrecognized image format/);
    const cut = Object.entries(e).filter(([k]) => k.includes('('));
    expect(cut.length).toBe(8);
    for (const [k, msg] of cut)
      expect(msg, k).toMatch(
        new RegExp(`^ImageDecodeError: ${k.split(' ')[0].replace('.', '\\.')}: corrupt or truncated image file \\(`),
      );
    summary.push(`decode errors: ${e['truncated.png']}`);
  });

  test('the same decoding, directorySource and OPFS store in a Web Worker', { timeout: 60_000 }, async () => {
    sources ??= await run<SourcesReport>('sources', { sop: walk(SOP) }); // the worker reads its OPFS folder
    decoded ??= await run<DecodeReport>('decode');
    const w = await run<WorkerReport>('worker');
    expect(w.decode.files).toEqual(decoded.files);
    expect(w.decode.errors).toEqual(decoded.errors);
    expect(w.directory).toEqual(sources.directory);
    expect(w.storeOk).toBe(true);
  });

  test(
    'OPFS checkpoint store: write, list, read back, atomic overwrite, simulated full quota, recovery, delete',
    { timeout: 60_000 },
    async () => {
      const r = await run<StoreReport>('store');
      expect(r.where).toBe('opfs:/runs/platform-run');
      expect(r.foldersAfterFirst).toEqual(['checkpoint-step-0', 'checkpoint-step-1']);
      expect(r.firstReadBack).toBe(true);
      expect(r.hasFile).toEqual({
        'checkpoint-step-1/adapter_config.json': true,
        'checkpoint-step-1/nope.json': false,
        'checkpoint-step-9/adapter_config.json': false,
      });
      expect(r.readMissing).toBe('Error: opfs:/runs/platform-run/checkpoint-step-9/x.json: no such file');
      expect(r.topFile).toBe(true);

      expect(r.overwritten.readBack).toBe(true);
      expect(r.overwritten.files['old_only.txt']).toBe('missing');
      expect(r.overwritten.tree).toEqual({
        '.': ['checkpoint-step-0/', 'checkpoint-step-1/', 'train_config.yaml'],
        'checkpoint-step-0': ['trainer_state.json'],
        'checkpoint-step-1': ['adapter_config.json', 'adapter_model.safetensors'],
      });
      const run0 = r.runsAfterWrites.find((x) => x.name === 'platform-run')!;
      expect(run0).toMatchObject({ files: 4, checkpoints: ['checkpoint-step-0', 'checkpoint-step-1'] });
      expect(run0.bytes).toBe(8 + 120_000 + '{"step": 0}'.length + 'lr: 1e-4\n'.length);
      expect(run0.lastModified).toBeGreaterThan(Date.now() - 600_000);

      const q = r.simulatedQuota;
      expect(q.isStorageFull).toBe(true);
      expect(q.error).toMatch(
        /^could not write checkpoint opfs:\/runs\/platform-run\/checkpoint-step-1: browser storage is full \(QuotaExceededError: simulated quota of \d+ bytes .*; this site uses [\d.]+ MB of its [\d.]+ MB quota \(navigator\.storage\.estimate\(\)\)\); the previous checkpoint checkpoint-step-1 is intact\./,
      );
      expect(q.intact).toBe(true);
      expect(q.tree).toEqual(r.overwritten.tree); // no pending folder left behind
      expect(q.bytesAfter).toBe(q.bytesBefore);
      expect(r.simulatedQuotaWriteFile.error).toMatch(
        /^StorageFullError: could not write opfs:\/runs\/platform-run\/train_config\.yaml: browser storage is full .*the previous train_config\.yaml is intact/,
      );
      expect(r.simulatedQuotaWriteFile.intact).toBe(true);

      expect(r.recovered.folders).toEqual(['checkpoint-step-0', 'checkpoint-step-1', 'checkpoint-step-2']);
      expect(r.recovered.step2).toEqual(r.recovered.step2Expected);
      expect(r.recovered.tree['.']).toEqual([
        'checkpoint-step-0/',
        'checkpoint-step-1/',
        'checkpoint-step-2/',
        'train_config.yaml',
      ]);

      expect(r.copyFallback).toBe(true);
      for (const [k, msg] of Object.entries(r.badNames)) expect(msg, k).toMatch(/expected a plain name/);
      expect([r.deleted, r.deletedAgain]).toEqual([true, false]);
      expect(r.runsAfterDelete).not.toContain('platform-run');
      summary.push(`store simulated quota: ${q.error}`);
    },
  );

  test(
    'a genuine QuotaExceededError (DevTools quota override) leaves the previous checkpoint intact',
    { timeout: 60_000 },
    async () => {
      const setup = await run<QuotaReport>('quotaSetup');
      const cdp = await handle!.page.context().newCDPSession(handle!.page);
      const quotaSize = setup.estimate.usage + 500_000; // the new checkpoint needs 2 MB
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: vite!.url, quotaSize });
      let w: QuotaReport;
      try {
        w = await run<QuotaReport>('quotaWrite');
      } finally {
        await cdp.send('Storage.overrideQuotaForOrigin', { origin: vite!.url });
      }
      expect(w.isStorageFull).toBe(true);
      expect(w.error).toMatch(
        /^could not write checkpoint opfs:\/runs\/quota-run\/checkpoint-step-1: browser storage is full \(QuotaExceededError: .*\); the previous checkpoint checkpoint-step-1 is intact\./,
      );
      expect(w.intact).toBe(true);
      expect(w.tree).toEqual({
        '.': ['checkpoint-step-1/'],
        'checkpoint-step-1': ['model.safetensors', 'trainer_state.json'],
      });
      const after = await run<QuotaReport>('quotaAfter');
      expect(after.afterLift).toBe(true);
      expect(handle!.errors).toEqual([]);
      summary.push(`store genuine quota (${quotaSize} bytes): ${w.error}`);
    },
  );
});
