/**
 * Browser page (tests/e2e/faults.html) for tests/e2e/faults-browser.test.ts. Publishes
 * `window.__faultsReady` ({done: true} once loaded) and `window.__faults.run(phase, arg)`:
 *   bombs         decodes each of tests/faults/bombs.ts's BOMBS with the browser decoder (must be
 *                 refused from the header, never handed to createImageBitmap) and a real small PNG
 *                 fixture (must still decode); returns {name: error message | null}
 *   reloadStart   writes checkpoint-step-1 (v1, small) into the OPFS run `reload-run`, then starts
 *                 replacing it with v2 (48 MB in 256 KiB writes) without waiting, and returns once
 *                 the pending folder holds a file: the test reloads the tab in the middle of that write
 *   reloadAfter   after the reload: opens the store (which recovers), returns the run's folder
 *                 listing and which version checkpoint-step-1 holds ('v1', 'v2' or 'mixed')
 */
import { decodeImageBytes } from '../../src/data/decode-browser';
import { opfsDelete, opfsStore, OPFS_RUNS_DIR } from '../../src/platform/checkpoint-store-browser';
import { BOMBS } from '../faults/bombs';

const RUN = 'reload-run';
const BIG = 48 << 20;
const log = (line: string) => (document.getElementById('log')!.textContent += `\n${line}`);

const version = (tag: string, bytes: number) =>
  new Map([
    ['adapter_model.safetensors', new Uint8Array(bytes).fill(tag.charCodeAt(1))],
    ['trainer_state.json', new TextEncoder().encode(`{"version":"${tag}"}`)],
  ]);

async function runDir(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return (await root.getDirectoryHandle(OPFS_RUNS_DIR)).getDirectoryHandle(RUN);
}

async function names(d: FileSystemDirectoryHandle): Promise<string[]> {
  const out: string[] = [];
  for await (const h of d.values()) out.push(h.kind === 'directory' ? `${h.name}/` : h.name);
  return out.sort();
}

async function run(phase: string): Promise<unknown> {
  log(`run ${phase}`);
  if (phase === 'bombs') {
    const out: Record<string, string | null> = {};
    for (const [name, bytes] of Object.entries(BOMBS)) {
      out[name] = await decodeImageBytes(bytes, name).then(
        () => null,
        (e: Error) => e.message,
      );
    }
    const ok = new Uint8Array(await (await fetch('/tests/fixtures/preprocess/gray_64x64.png')).arrayBuffer());
    out['gray_64x64.png'] = await decodeImageBytes(ok, 'gray_64x64.png').then(
      (img) => `decoded ${img.width}x${img.height}`,
      (e: Error) => e.message,
    );
    return out;
  }
  if (phase === 'reloadStart') {
    await opfsDelete(RUN);
    await opfsStore(RUN).writeFolder('checkpoint-step-1', version('v1', 1000));
    void opfsStore(RUN, { chunkBytes: 256 << 10 })
      .writeFolder('checkpoint-step-1', version('v2', BIG))
      .catch(() => {});
    const d = await runDir();
    for (let i = 0; i < 600; i++) {
      const p = await d.getDirectoryHandle('.checkpoint-step-1.pending').catch(() => null);
      if (p && (await names(p)).length) return { pending: await names(p) };
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('the pending write never started');
  }
  if (phase === 'reloadAfter') {
    const s = opfsStore(RUN);
    const folders = await s.listFolders(); // first use: recovers
    const state = new TextDecoder().decode(await s.readFile('checkpoint-step-1', 'trainer_state.json'));
    const weights = await s.readFile('checkpoint-step-1', 'adapter_model.safetensors');
    const v = state.includes('v1') ? 'v1' : 'v2';
    const fill = v.charCodeAt(1);
    const consistent = weights.length === (v === 'v1' ? 1000 : BIG) && weights.every((x) => x === fill);
    const tree = {
      run: await names(await runDir()),
      checkpoint: await names(await (await runDir()).getDirectoryHandle('checkpoint-step-1')),
    };
    await opfsDelete(RUN);
    return { folders, version: consistent ? v : 'mixed', tree };
  }
  throw new Error(`unknown phase ${phase}`);
}

(window as unknown as { __faults: { run: typeof run } }).__faults = { run };
(window as unknown as { __faultsReady: { done: boolean } }).__faultsReady = { done: true };
log('ready');
