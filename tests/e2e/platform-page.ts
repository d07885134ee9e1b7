/**
 * Browser page (tests/e2e/platform.html) for tests/e2e/platform.test.ts: exercises the browser
 * platform layer in real Chromium and reports back plain JSON. The same module runs as a Web
 * Worker (started by the page from this file), to show the code works off the main thread.
 *
 * The page publishes `window.__platformReady` ({done: true} once loaded, for waitForGlobal) and
 * `window.__platform.run(phase, arg)`, which returns a promise of the phase's report:
 *   sources  {sop: [relative paths]}  builds an OPFS folder `platform-data/` (nested folders, an
 *            empty one, the sop-mini files fetched from Vite under data/sop-mini/) and reads it
 *            through directorySource, and the same files as File objects (webkitRelativePath
 *            "picked/...") through fileListSource: list/readText/readBytes/exists/errors, then
 *            loadPairDataset and validateImages (browser decoder) on data/sop-mini
 *   decode   decodes every fixture of tests/fixtures/preprocess (fetched from Vite) and compares
 *            with PIL's RGB from expected.safetensors (sha256; stored pixels for JPEG/WebP);
 *            broken files, and files cut short here, must throw naming the file
 *   store    the OPFS CheckpointStore: write, list, read back, overwrite, simulated quota
 *            (maxBytes), recovery of an interrupted commit, opfsListRuns / opfsDelete
 *   quotaSetup / quotaWrite / quotaAfter   a genuine QuotaExceededError: the test sets a small
 *            quota for the origin over the DevTools protocol between quotaSetup and quotaWrite,
 *            and lifts it before quotaAfter
 *   worker   runs `decode` and the directorySource part of `sources` in a Web Worker
 */
import { loadPairDataset, validateImages, type PairDataset } from '../../src/data/datasets';
import { decodeImageBlob, decodeImageBytes } from '../../src/data/decode-browser';
import { directorySource, fileListSource } from '../../src/platform/data-source-browser';
import type { DataSource, DirEntry } from '../../src/platform/data-source';
import { SafetensorsFile } from '../../src/io/safetensors';
import {
  opfsDelete,
  opfsListRuns,
  opfsStore,
  StorageFullError,
  type OpfsRun,
} from '../../src/platform/checkpoint-store-browser';

const FIXTURES = '/tests/fixtures';
const PRE = `${FIXTURES}/preprocess`;
const enc = new TextEncoder();
const dec = new TextDecoder();

const isWorker = typeof document === 'undefined';
const log = (line: string) => {
  if (isWorker) console.log(`[worker] ${line}`);
  else document.getElementById('log')!.textContent += `\n${line}`;
};

async function errorOf(fn: () => Promise<unknown>): Promise<string | null> {
  try {
    await fn();
    return null;
  } catch (e) {
    return `${(e as Error)?.constructor?.name}: ${(e as Error)?.message ?? e}`;
  }
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function sha256(b: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', b as Uint8Array<ArrayBuffer>));
  return [...h].map((x) => x.toString(16).padStart(2, '0')).join('');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function writeOpfsFile(root: FileSystemDirectoryHandle, path: string, data: Uint8Array): Promise<void> {
  const segs = path.split('/');
  let d = root;
  for (const s of segs.slice(0, -1)) d = await d.getDirectoryHandle(s, { create: true });
  const w = await (await d.getFileHandle(segs[segs.length - 1], { create: true })).createWritable();
  await w.write(data as Uint8Array<ArrayBuffer>);
  await w.close();
}

// ---------------------------------------------------------------------------------------------
// sources

/** The small hand-made tree (besides data/sop-mini); `empty/` is a folder with nothing in it. */
const TREE: Record<string, string | Uint8Array> = {
  'a.txt': 'hello',
  'Z.txt': 'upper case sorts first',
  'sub/b.bin': Uint8Array.from({ length: 256 }, (_, i) => i),
  'sub/deeper/c.txt': 'deep',
  'sub/deeper/d e.txt': 'a space',
};

export interface SourceProbe {
  where: string;
  lists: Record<string, DirEntry[] | string>;
  texts: Record<string, string>;
  binOk: boolean;
  exists: Record<string, boolean>;
  errors: Record<string, string | null>;
  dataset: PairDataset | string;
  imageProblems: { path: string; reason: string }[] | string;
}

async function probe(src: DataSource, withImages: boolean): Promise<SourceProbe> {
  const lists: SourceProbe['lists'] = {};
  for (const d of [
    '.',
    '',
    'sub',
    'sub/deeper',
    'sub/deeper/',
    './sub/../sub',
    'data/sop-mini',
    'data/sop-mini/chair_final',
  ]) {
    lists[d] = await src.list(d).catch((e) => `error: ${(e as Error).message}`);
  }
  const texts: Record<string, string> = {};
  for (const f of ['a.txt', 'sub/deeper/c.txt', 'sub/deeper/d e.txt', 'sub/../a.txt']) texts[f] = await src.readText(f);
  const bin = await src.readBytes('sub/b.bin');
  const exists: Record<string, boolean> = {};
  for (const p of [
    '.',
    'a.txt',
    'sub',
    'sub/deeper',
    'sub/deeper/c.txt',
    'empty',
    'missing.txt',
    'sub/missing',
    'nope/nope/x.txt',
    'a.txt/x',
    'data/sop-mini/chair_final/4_1.JPG',
  ]) {
    exists[p] = await src.exists(p);
  }
  const errors: Record<string, string | null> = {
    'readText missing.txt': await errorOf(() => src.readText('missing.txt')),
    'readBytes nope/x.bin': await errorOf(() => src.readBytes('nope/x.bin')),
    'readText sub': await errorOf(() => src.readText('sub')),
    'list a.txt': await errorOf(() => src.list('a.txt')),
    'list nope': await errorOf(() => src.list('nope')),
    'readText ../outside.txt': await errorOf(() => src.readText('../outside.txt')),
    'readText /etc/passwd': await errorOf(() => src.readText('/etc/passwd')),
  };
  let dataset: SourceProbe['dataset'];
  let imageProblems: SourceProbe['imageProblems'] = [];
  try {
    dataset = await loadPairDataset(src, { dataPath: 'data/sop-mini', seed: 42 });
    if (withImages) imageProblems = await validateImages(src, dataset.records, decodeImageBytes);
  } catch (e) {
    dataset = imageProblems = `error: ${(e as Error).stack}`;
  }
  return {
    where: src.where,
    lists,
    texts,
    binOk: sameBytes(bin, TREE['sub/b.bin'] as Uint8Array),
    exists,
    errors,
    dataset,
    imageProblems,
  };
}

/** The tree's files as [path, bytes], sop-mini fetched from Vite. */
async function treeFiles(sop: string[]): Promise<[string, Uint8Array][]> {
  const files: [string, Uint8Array][] = Object.entries(TREE).map(([p, v]) => [
    p,
    typeof v === 'string' ? enc.encode(v) : v,
  ]);
  for (const p of sop) files.push([`data/sop-mini/${p}`, await fetchBytes(`${FIXTURES}/data/sop-mini/${p}`)]);
  return files;
}

export interface SourcesReport {
  directory: SourceProbe;
  fileList: SourceProbe;
  /** fileListSource given files without webkitRelativePath (a plain multi-file input). */
  flat: { where: string; list: DirEntry[]; text: string };
}

async function sources(arg: { sop: string[] }): Promise<SourcesReport> {
  const files = await treeFiles(arg.sop);
  const opfs = await navigator.storage.getDirectory();
  await opfs.removeEntry('platform-data', { recursive: true }).catch(() => {});
  const root = await opfs.getDirectoryHandle('platform-data', { create: true });
  for (const [p, b] of files) await writeOpfsFile(root, p, b);
  await root.getDirectoryHandle('empty', { create: true });
  log(`sources: wrote ${files.length} files into OPFS platform-data/`);
  const directory = await probe(directorySource(root), true);

  const picked = files.map(([p, b]) => {
    const f = new File([b as Uint8Array<ArrayBuffer>], p.slice(p.lastIndexOf('/') + 1));
    Object.defineProperty(f, 'webkitRelativePath', { value: `picked/${p}` });
    return f;
  });
  const fileList = await probe(fileListSource(picked), true);
  const flatSrc = fileListSource([new File(['x'], 'one.jpg'), new File(['yz'], 'two.txt')]);
  const flat = { where: flatSrc.where, list: await flatSrc.list('.'), text: await flatSrc.readText('two.txt') };
  log('sources: done');
  return { directory, fileList, flat };
}

// ---------------------------------------------------------------------------------------------
// decode

export interface DecodedFile {
  name: string;
  width: number;
  height: number;
  /** [H, W] of PIL's decode. */
  pilShape: number[];
  sha256: string;
  pilSha256: string;
  /** Max |browser - PIL| over the RGB bytes, and how many bytes differ (null when PIL's pixels are not stored: PNG). */
  maxDiff: number | null;
  differing: number | null;
  /** decodeImageBytes gives the same bytes as decodeImageBlob. */
  bytesPathSame: boolean;
}

export interface DecodeReport {
  files: DecodedFile[];
  errors: Record<string, string | null>;
  /** rgba_45x30.png read through a 2D canvas alone: max |diff| vs PIL, and pixels with alpha 0. */
  canvas2dOnly: { maxDiff: number; transparentPixels: number };
  grayIsRgbEqual: boolean;
}

async function decode(): Promise<DecodeReport> {
  const ref = SafetensorsFile.parse(await fetchBytes(`${PRE}/expected.safetensors`), 'expected.safetensors');
  const meta = ref.metadata;
  const good = Object.keys(meta)
    .filter((k) => k.startsWith('sha256.'))
    .map((k) => k.slice(7))
    .sort();
  const files: DecodedFile[] = [];
  let grayIsRgbEqual = false;
  for (const name of good) {
    const bytes = await fetchBytes(`${PRE}/${name}`);
    const img = await decodeImageBlob(
      new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }),
      name,
    );
    const again = await decodeImageBytes(bytes, name);
    let maxDiff: number | null = null;
    let differing: number | null = null;
    if (ref.has(`dec.${name}`)) {
      const want = ref.raw(`dec.${name}`);
      maxDiff = 0;
      differing = 0;
      if (want.length !== img.data.length) maxDiff = differing = -1;
      else {
        for (let i = 0; i < want.length; i++) {
          const d = Math.abs(want[i] - img.data[i]);
          if (d) differing++;
          maxDiff = Math.max(maxDiff, d);
        }
      }
    }
    if (name.startsWith('gray')) {
      grayIsRgbEqual = true;
      for (let i = 0; i < img.data.length; i += 3)
        if (img.data[i] !== img.data[i + 1] || img.data[i] !== img.data[i + 2]) grayIsRgbEqual = false;
    }
    files.push({
      name,
      width: img.width,
      height: img.height,
      pilShape: (JSON.parse(meta[`shape.${name}`]) as number[]).slice(0, 2),
      sha256: await sha256(img.data),
      pilSha256: meta[`sha256.${name}`],
      maxDiff,
      differing,
      bytesPathSame: sameBytes(img.data, again.data),
    });
  }

  const cut = async (name: string, frac: number | null, minus = 0) => {
    const b = await fetchBytes(`${PRE}/${name}`);
    return b.subarray(0, frac === null ? b.length - minus : Math.floor(b.length * frac));
  };
  const errors: Record<string, string | null> = {};
  for (const name of ['truncated.png', 'corrupt.jpg', 'not_an_image.jpg']) {
    errors[name] = await errorOf(async () => decodeImageBytes(await fetchBytes(`${PRE}/${name}`), name));
  }
  const cuts: [string, string, number | null, number?][] = [
    ['head.png', 'collage_97x61.png', 0.05],
    ['cut90.png', 'collage_97x61.png', 0.9],
    ['noiend.png', 'collage_97x61.png', null, 12],
    ['cut50.jpg', 'collage_97x61.jpg', 0.5],
    ['cut90.jpg', 'collage_97x61.jpg', 0.9],
    ['cut99.jpg', 'tall_41x129.jpg', 0.99],
    ['cut60.webp', 'photo_60x40.webp', 0.6],
    ['cut95.webp', 'photo_60x40.webp', 0.95],
  ];
  for (const [as, from, frac, minus] of cuts)
    errors[`${as} (${from} ${frac === null ? `minus ${minus} bytes` : `first ${frac * 100}%`})`] = await errorOf(
      async () => decodeImageBytes(await cut(from, frac, minus), as),
    );
  errors['empty.jpg'] = await errorOf(() => decodeImageBytes(new Uint8Array(0), 'empty.jpg'));
  errors['tiff.tif'] = await errorOf(() => decodeImageBytes(enc.encode('II*\0 not really a tiff'), 'tiff.tif'));

  // Why the WebGL2 read-back: a 2D canvas is premultiplied, so colour under alpha is lost.
  const rgba = await fetchBytes(`${PRE}/rgba_45x30.png`);
  const bmp = await createImageBitmap(new Blob([rgba as Uint8Array<ArrayBuffer>]), {
    premultiplyAlpha: 'none',
    colorSpaceConversion: 'none',
  });
  const ctx = new OffscreenCanvas(bmp.width, bmp.height).getContext('2d')!;
  ctx.drawImage(bmp, 0, 0);
  const px = ctx.getImageData(0, 0, bmp.width, bmp.height).data;
  const ours = await decodeImageBytes(rgba, 'rgba_45x30.png');
  let maxDiff = 0;
  let transparentPixels = 0;
  for (let i = 0; i < bmp.width * bmp.height; i++) {
    if (px[4 * i + 3] === 0) transparentPixels++;
    for (let c = 0; c < 3; c++) maxDiff = Math.max(maxDiff, Math.abs(px[4 * i + c] - ours.data[3 * i + c]));
  }
  log(`decode: ${files.length} files`);
  return { files, errors, canvas2dOnly: { maxDiff, transparentPixels }, grayIsRgbEqual };
}

// ---------------------------------------------------------------------------------------------
// store

const RUN = 'platform-run';
const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 255);

async function readAll(
  store: ReturnType<typeof opfsStore>,
  folder: string,
  names: string[],
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of names)
    out[n] = (await store.hasFile(folder, n)) ? await sha256(await store.readFile(folder, n)) : 'missing';
  return out;
}

/** Names in runs/<run>/ (dot entries included) and in each folder. */
async function opfsTree(run: string): Promise<Record<string, string[]>> {
  const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('runs');
  const d = await root.getDirectoryHandle(run);
  const out: Record<string, string[]> = { '.': [] };
  for await (const h of d.values()) {
    out['.'].push(h.kind === 'directory' ? `${h.name}/` : h.name);
    if (h.kind === 'directory') {
      out[h.name] = [];
      for await (const k of (h as FileSystemDirectoryHandle).keys()) out[h.name].push(k);
      out[h.name].sort();
    }
  }
  out['.'].sort();
  return out;
}

export interface StoreReport {
  where: string;
  foldersAfterFirst: string[];
  firstReadBack: boolean;
  hasFile: Record<string, boolean>;
  readMissing: string | null;
  topFile: boolean;
  overwritten: { readBack: boolean; files: Record<string, string>; tree: Record<string, string[]> };
  runsAfterWrites: OpfsRun[];
  simulatedQuota: {
    error: string | null;
    isStorageFull: boolean;
    intact: boolean;
    tree: Record<string, string[]>;
    bytesBefore: number;
    bytesAfter: number;
  };
  simulatedQuotaWriteFile: { error: string | null; intact: boolean };
  recovered: {
    folders: string[];
    step2: Record<string, string>;
    step2Expected: Record<string, string>;
    tree: Record<string, string[]>;
  };
  /** An overwrite with FileSystemFileHandle.move removed (the copy fallback) reads back right. */
  copyFallback: boolean;
  badNames: Record<string, string | null>;
  deleted: boolean;
  deletedAgain: boolean;
  runsAfterDelete: string[];
}

async function store(): Promise<StoreReport> {
  await opfsDelete(RUN);
  const s = opfsStore(RUN);
  const v1 = new Map([
    ['adapter_config.json', enc.encode('{"r": 4}')],
    ['adapter_model.safetensors', bytesOf(100_000, 1)],
    ['old_only.txt', enc.encode('v1 only')],
  ]);
  await s.writeFolder('checkpoint-step-1', v1);
  await s.writeFolder('checkpoint-step-0', new Map([['trainer_state.json', enc.encode('{"step": 0}')]]));
  const foldersAfterFirst = await s.listFolders();
  let firstReadBack = true;
  for (const [n, b] of v1) firstReadBack &&= sameBytes(await s.readFile('checkpoint-step-1', n), b);
  const hasFile = {
    'checkpoint-step-1/adapter_config.json': await s.hasFile('checkpoint-step-1', 'adapter_config.json'),
    'checkpoint-step-1/nope.json': await s.hasFile('checkpoint-step-1', 'nope.json'),
    'checkpoint-step-9/adapter_config.json': await s.hasFile('checkpoint-step-9', 'adapter_config.json'),
  };
  const readMissing = await errorOf(() => s.readFile('checkpoint-step-9', 'x.json'));
  await s.writeFile('train_config.yaml', enc.encode('lr: 1e-4\n'));
  const topFile = dec.decode(await s.readFile('', 'train_config.yaml')) === 'lr: 1e-4\n';

  // Overwrite: new contents, one file fewer (the old-only file must go).
  const v2 = new Map([
    ['adapter_config.json', enc.encode('{"r": 8}')],
    ['adapter_model.safetensors', bytesOf(120_000, 2)],
  ]);
  await s.writeFolder('checkpoint-step-1', v2);
  let readBack = true;
  for (const [n, b] of v2) readBack &&= sameBytes(await s.readFile('checkpoint-step-1', n), b);
  const overwritten = {
    readBack,
    files: await readAll(s, 'checkpoint-step-1', [...v1.keys()]),
    tree: await opfsTree(RUN),
  };
  const runsAfterWrites = await opfsListRuns();
  const bytesBefore = runsAfterWrites.find((r) => r.name === RUN)!.bytes;

  // Simulated full quota: room for 150 000 more bytes, the new checkpoint needs 300 000.
  const tight = opfsStore(RUN, { maxBytes: bytesBefore + 150_000, chunkBytes: 64 * 1024 });
  const v3 = new Map([
    ['adapter_config.json', enc.encode('{"r": 16}')],
    ['adapter_model.safetensors', bytesOf(300_000, 3)],
  ]);
  let err: unknown = null;
  await tight.writeFolder('checkpoint-step-1', v3).catch((e) => (err = e));
  let intact = true;
  for (const [n, b] of v2) intact &&= sameBytes(await tight.readFile('checkpoint-step-1', n), b);
  const simulatedQuota = {
    error: err ? String((err as Error).message) : null,
    isStorageFull: err instanceof StorageFullError,
    intact,
    tree: await opfsTree(RUN),
    bytesBefore,
    bytesAfter: (await opfsListRuns()).find((r) => r.name === RUN)!.bytes,
  };
  const tightFile = opfsStore(RUN, { maxBytes: bytesBefore + 10 });
  const fileErr = await errorOf(() => tightFile.writeFile('train_config.yaml', bytesOf(1000, 4)));
  const simulatedQuotaWriteFile = {
    error: fileErr,
    intact: dec.decode(await s.readFile('', 'train_config.yaml')) === 'lr: 1e-4\n',
  };

  // A crash mid-commit: step-2 complete in .pending with one file already moved into place (and a
  // stale file beside it), step-3 never finished. A fresh store finishes step-2 and drops step-3.
  const runDir = await (
    await (await navigator.storage.getDirectory()).getDirectoryHandle('runs')
  ).getDirectoryHandle(RUN);
  const step2 = new Map([
    ['a.bin', bytesOf(5000, 5)],
    ['b.json', enc.encode('{"b": 2}')],
    ['c.bin', bytesOf(7000, 6)],
  ]);
  await writeOpfsFile(runDir, '.checkpoint-step-2.pending/b.json', step2.get('b.json')!);
  await writeOpfsFile(runDir, '.checkpoint-step-2.pending/c.bin', step2.get('c.bin')!);
  await writeOpfsFile(runDir, '.checkpoint-step-2.pending/.complete', enc.encode(JSON.stringify([...step2.keys()])));
  await writeOpfsFile(runDir, 'checkpoint-step-2/a.bin', step2.get('a.bin')!);
  await writeOpfsFile(runDir, 'checkpoint-step-2/b.json', enc.encode('{"b": "old"}'));
  await writeOpfsFile(runDir, 'checkpoint-step-2/stale.txt', enc.encode('from the older checkpoint'));
  await writeOpfsFile(runDir, '.checkpoint-step-3.pending/a.bin', bytesOf(10, 7));
  const fresh = opfsStore(RUN);
  const folders = await fresh.listFolders();
  const step2Expected: Record<string, string> = { 'stale.txt': 'missing' };
  for (const [n, b] of step2) step2Expected[n] = await sha256(b);
  const recovered = {
    folders,
    step2: await readAll(fresh, 'checkpoint-step-2', Object.keys(step2Expected)),
    step2Expected,
    tree: await opfsTree(RUN),
  };

  // Browsers without FileSystemHandle.move(): the commit copies, then deletes the pending copy.
  const proto = FileSystemFileHandle.prototype as unknown as Record<string, unknown>;
  const move = proto.move;
  delete proto.move;
  let copyFallback: boolean;
  try {
    const noMove = opfsStore(RUN);
    const v4 = new Map([['adapter_model.safetensors', bytesOf(70_000, 12)]]);
    await noMove.writeFolder('checkpoint-step-1', v4);
    copyFallback =
      sameBytes(
        await noMove.readFile('checkpoint-step-1', 'adapter_model.safetensors'),
        v4.get('adapter_model.safetensors')!,
      ) &&
      JSON.stringify((await opfsTree(RUN))['checkpoint-step-1']) === '["adapter_model.safetensors"]' &&
      !(await opfsTree(RUN))['.'].some((n) => n.includes('pending'));
  } finally {
    proto.move = move;
  }

  const badNames = {
    'folder ../x': await errorOf(() => s.writeFolder('../x', new Map())),
    'folder .hidden': await errorOf(() => s.writeFolder('.hidden', new Map())),
    'file a/b': await errorOf(() => s.writeFolder('ok', new Map([['a/b', new Uint8Array(1)]]))),
    'run a/b': await errorOf(async () => opfsStore('a/b')),
  };
  const deleted = await opfsDelete(RUN);
  const deletedAgain = await opfsDelete(RUN);
  const runsAfterDelete = (await opfsListRuns()).map((r) => r.name);
  log('store: done');
  return {
    where: s.where,
    foldersAfterFirst,
    firstReadBack,
    hasFile,
    readMissing,
    topFile,
    overwritten,
    runsAfterWrites,
    simulatedQuota,
    simulatedQuotaWriteFile,
    recovered,
    copyFallback,
    badNames,
    deleted,
    deletedAgain,
    runsAfterDelete,
  };
}

// ---------------------------------------------------------------------------------------------
// genuine quota (the test sets it over CDP between the phases)

const QRUN = 'quota-run';
const QV1 = new Map([
  ['model.safetensors', bytesOf(100_000, 8)],
  ['trainer_state.json', enc.encode('{"step": 1}')],
]);

export interface QuotaReport {
  estimate: { usage: number; quota: number };
  error?: string | null;
  isStorageFull?: boolean;
  intact?: boolean;
  tree?: Record<string, string[]>;
  afterLift?: boolean;
}

async function estimate() {
  const e = await navigator.storage.estimate();
  return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
}

async function quota(phase: string): Promise<QuotaReport> {
  const s = opfsStore(QRUN);
  const intact = async () => {
    let ok = true;
    for (const [n, b] of QV1) ok &&= sameBytes(await s.readFile('checkpoint-step-1', n), b);
    return ok;
  };
  if (phase === 'quotaSetup') {
    await opfsDelete(QRUN);
    await opfsDelete(RUN);
    await s.writeFolder('checkpoint-step-1', QV1);
    return { estimate: await estimate() };
  }
  const v2 = new Map([
    ['model.safetensors', bytesOf(2_000_000, 9)],
    ['trainer_state.json', enc.encode('{"step": 2}')],
  ]);
  if (phase === 'quotaWrite') {
    let err: unknown = null;
    await s.writeFolder('checkpoint-step-1', v2).catch((e) => (err = e));
    return {
      estimate: await estimate(),
      error: err ? String((err as Error).message) : null,
      isStorageFull: err instanceof StorageFullError,
      intact: await intact(),
      tree: await opfsTree(QRUN),
    };
  }
  await s.writeFolder('checkpoint-step-1', v2);
  const afterLift = sameBytes(await s.readFile('checkpoint-step-1', 'model.safetensors'), v2.get('model.safetensors')!);
  await opfsDelete(QRUN);
  return { estimate: await estimate(), afterLift };
}

// ---------------------------------------------------------------------------------------------
// wiring: page and worker

export interface WorkerReport {
  decode: DecodeReport;
  directory: SourceProbe;
  /** A checkpoint written, overwritten and read back by the OPFS store in the worker. */
  storeOk: boolean;
}

async function inWorker(): Promise<WorkerReport> {
  const root = await (await navigator.storage.getDirectory()).getDirectoryHandle('platform-data');
  const s = opfsStore('worker-run');
  const files = new Map([
    ['model.safetensors', bytesOf(50_000, 10)],
    ['trainer_state.json', enc.encode('{}')],
  ]);
  await s.writeFolder('checkpoint-step-1', new Map([['model.safetensors', bytesOf(10, 11)]]));
  await s.writeFolder('checkpoint-step-1', files);
  let storeOk = (await s.listFolders()).join() === 'checkpoint-step-1';
  for (const [n, b] of files) storeOk &&= sameBytes(await s.readFile('checkpoint-step-1', n), b);
  storeOk &&= await opfsDelete('worker-run');
  return { decode: await decode(), directory: await probe(directorySource(root), true), storeOk };
}

function runInWorker(): Promise<WorkerReport> {
  return new Promise((ok, fail) => {
    const w = new Worker(new URL('./platform-page.ts', import.meta.url), { type: 'module' });
    w.onmessage = (e: MessageEvent<{ report?: WorkerReport; error?: string }>) => {
      w.terminate();
      if (e.data.error) fail(new Error(`worker: ${e.data.error}`));
      else ok(e.data.report!);
    };
    w.onerror = (e) => {
      w.terminate();
      fail(new Error(`worker failed to start: ${e.message}`));
    };
    w.postMessage('run');
  });
}

async function run(phase: string, arg?: unknown): Promise<unknown> {
  log(`run ${phase}`);
  switch (phase) {
    case 'sources':
      return sources(arg as { sop: string[] });
    case 'decode':
      return decode();
    case 'store':
      return store();
    case 'quotaSetup':
    case 'quotaWrite':
    case 'quotaAfter':
      return quota(phase);
    case 'worker':
      return runInWorker();
    default:
      throw new Error(`unknown phase ${phase}`);
  }
}

if (isWorker) {
  self.onmessage = () => {
    inWorker().then(
      (report) => self.postMessage({ report }),
      (e) => self.postMessage({ error: String((e as Error)?.stack ?? e) }),
    );
  };
} else {
  (window as unknown as { __platform: { run: typeof run } }).__platform = { run };
  (window as unknown as { __platformReady: { done: boolean } }).__platformReady = { done: true };
  log('ready');
}
