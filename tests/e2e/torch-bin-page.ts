/**
 * Browser page (tests/e2e/torch-bin.html) for tests/e2e/torch-bin.test.ts: the PyTorch .bin reader
 * (src/io/torch-bin.ts) in Chromium on the files torch.save wrote (tests/fixtures/torch-bin, fetched
 * from Vite). Publishes `window.__torchBin` (TorchBinReport):
 *   dtypes    per file (zip protocol 2 / 4, legacy): float tensors whose values differ from
 *             dtypes.expected.safetensors (must be none)
 *   models    per .bin model folder: tensors that differ bit for bit from the safetensors twin
 *             (loadCheckpoint over fetched files; must be none), and how many were compared
 *   adapter   LoRA modules read from adapter_model.bin vs adapter_model.safetensors that differ
 *   refused   per malicious file: the error message (must name the import; nothing ran)
 */
import { SafetensorsFile } from '../../src/io/safetensors';
import { TorchBinFile } from '../../src/io/torch-bin';
import { loadCheckpoint, type FileSource } from '../../src/model/load';
import { loadAdapter } from '../../src/model/lora';

export interface TorchBinReport {
  done: boolean;
  error: string | null;
  dtypes: Record<string, string[]>;
  models: Record<string, { compared: number; differ: string[] }>;
  adapter: { modules: number; differ: string[] };
  refused: Record<string, string>;
}

const FIX = '/tests/fixtures';
const report: TorchBinReport = {
  done: false,
  error: null,
  dtypes: {},
  models: {},
  adapter: { modules: 0, differ: [] },
  refused: {},
};
(window as unknown as { __torchBin: TorchBinReport }).__torchBin = report;
const log = (l: string) => (document.getElementById('log')!.textContent += `\n${l}`);

async function get(path: string): Promise<Uint8Array> {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** A FileSource over fetched files; `files` lists what the folder has (a static server cannot list). */
function urlSource(base: string, files: string[]): FileSource {
  return { where: base, exists: async (n) => files.includes(n), bytes: (n) => get(`${base}/${n}`) };
}

const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && new Uint8Array(a.buffer).every((x, i) => x === new Uint8Array(b.buffer)[i]);

async function main() {
  const expected = SafetensorsFile.parse(await get(`${FIX}/torch-bin/dtypes.expected.safetensors`));
  for (const f of ['dtypes.bin', 'dtypes-proto4.bin', 'dtypes-legacy.bin']) {
    const t = TorchBinFile.parse(await get(`${FIX}/torch-bin/${f}`), f);
    report.dtypes[f] = [...expected.tensors.keys()].filter((k) => k !== 'i64' && !same(t.f32(k), expected.f32(k)));
    log(`${f}: ${report.dtypes[f].length} differ`);
  }
  const meta = ['config.json', 'preprocessor_config.json'];
  const models: [string, FileSource, FileSource][] = [
    [
      'dinov2-tiny',
      urlSource(`${FIX}/torch-bin/dinov2-tiny`, [...meta, 'pytorch_model.bin']),
      urlSource(`${FIX}/models/dinov2-tiny`, [...meta, 'model.safetensors']),
    ],
    [
      'dinov3-tiny-bf16-sharded',
      urlSource(`${FIX}/torch-bin/dinov3-tiny-bf16-sharded`, [
        ...meta,
        'pytorch_model.bin.index.json',
        'pytorch_model-00001-of-00002.bin',
        'pytorch_model-00002-of-00002.bin',
      ]),
      urlSource(`${FIX}/models/dinov3-tiny-bf16`, [...meta, 'model.safetensors']),
    ],
  ];
  for (const [name, bin, st] of models) {
    const a = await loadCheckpoint(bin);
    const b = await loadCheckpoint(st);
    report.models[name] = {
      compared: b.weights.size,
      differ: [...b.weights].filter(([k, w]) => !a.weights.has(k) || !same(a.weights.get(k)!, w)).map(([k]) => k),
    };
    log(`${name}: ${report.models[name].differ.length} of ${b.weights.size} differ`);
  }
  const fromBin = await loadAdapter(
    urlSource(`${FIX}/torch-bin/dinov3-tiny-adapter`, ['adapter_config.json', 'adapter_model.bin']),
  );
  const fromSt = await loadAdapter(
    urlSource(`${FIX}/train/dinov3-tiny-adapter`, ['adapter_config.json', 'adapter_model.safetensors']),
  );
  report.adapter.modules = fromSt.modules.length;
  report.adapter.differ = fromSt.modules
    .filter(
      (m, i) =>
        fromBin.modules[i]?.path !== m.path || !same(fromBin.modules[i].A, m.A) || !same(fromBin.modules[i].B, m.B),
    )
    .map((m) => m.path);
  for (const f of ['malicious-system.bin', 'malicious-system.pkl', 'malicious-eval-proto4.bin']) {
    try {
      TorchBinFile.parse(await get(`${FIX}/torch-bin/${f}`), f);
      report.refused[f] = 'NOT REFUSED';
    } catch (e) {
      report.refused[f] = (e as Error).message;
    }
  }
  report.done = true;
  log('done');
}

main().catch((e) => {
  report.error = (e as Error).stack ?? String(e);
  log(`error: ${report.error}`);
});
