/**
 * Bad input of every kind the fault-injection suite knows, through the real commands and loaders
 * (in-process; the tiny models; Dawn only where a command embeds or searches). Each case asserts
 * the message (the file, line or key, and what was expected) and that nothing already saved
 * changed:
 *   output folders   merge into a training run's folder, train into another run's output_dir,
 *                    overwrite_output_dir (moved aside, not deleted), outputs that are folders or
 *                    files, all refused before any work
 *   paths            records and list lines that are absolute or climb out with "..", a sharded
 *                    index naming a file outside the model folder, a missing local checkpoint
 *                    shaped like owner/name (never asked of the hub)
 *   NaN              a NaN weight, adapter tensor or non-numeric lora_alpha, NaN pixels, NaN
 *                    embeddings in a file to search
 *   images           decompression bombs (PNG, JPEG, WebP, GIF headers) refused from the header
 *   blame            empty JSONL, batch_size 1, epochs 1e20, a bad rank_pattern regex, --topk
 *                    beyond the gallery, no readable image, repeated paths in Ebay_test.txt
 *   hostile hub      a redirect to another origin gets no token; served NaN weights are refused
 * Run: npx vitest run tests/faults/inputs.test.ts
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, test } from 'vitest';
import { evalCommand, type SopReport } from '../../src/cli/eval';
import { embedCommand } from '../../src/cli/embed';
import { forwardCommand } from '../../src/cli/forward';
import { mergeCommand } from '../../src/cli/merge';
import { resolveModel } from '../../src/cli/model-arg';
import { trainCommand } from '../../src/cli/train';
import { loadPairDataset, readJsonlPairs } from '../../src/data/datasets';
import { decodeImageBytes } from '../../src/data/decode-node';
import { readEbayList } from '../../src/data/sop';
import { nodeSource } from '../../src/platform/data-source-node';
import { NodeModelCache } from '../../src/hub/cache-node';
import { ensureModel } from '../../src/hub/download';
import { SafetensorsFile, writeSafetensors } from '../../src/io/safetensors';
import { loadCheckpoint } from '../../src/model/load';
import { loadAdapter } from '../../src/model/lora';
import { dirSource } from '../../src/platform/file-source-node';
import { checkTrainOutput } from '../../src/train/output-dir-node';
import { fixtureFiles, HubServer } from '../hub/hub-server';
import { nodeGpu } from '../helpers/node-gpu';
import { BOMBS, bombMessage } from './bombs';
import { visibleTree, TINY } from './helpers';

const TINY2 = 'tests/fixtures/models/dinov2-tiny';
const ADAPTER = 'tests/fixtures/train/dinov3-tiny-adapter';
const root = mkdtempSync(join(tmpdir(), 'vembed-faults-inputs-'));
let n = 0;
const fresh = (name = 'd') => {
  const d = join(root, `${name}-${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
};
afterAll(async () => {
  rmSync(root, { recursive: true, force: true });
  (await nodeGpu()).destroy();
});

/** A copy of a model or adapter folder with one value of tensor `key` (or of the first one) set to `v`. */
function poisoned(src: string, file: string, v: number, key?: string): string {
  const d = fresh('poisoned');
  cpSync(src, d, { recursive: true });
  const f = SafetensorsFile.parse(readFileSync(join(src, file)), file);
  const name = key ?? [...f.tensors.keys()][0];
  const tensors = [...f.tensors.keys()].map((k) => {
    const data = f.f32(k).slice();
    if (k === name) data[data.length >> 1] = v;
    return { name: k, shape: f.info(k).shape, data };
  });
  writeFileSync(join(d, file), writeSafetensors(tensors, f.metadata));
  return d;
}

const errorOf = async (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: Error) => e.message,
  );
const yaml = (dir: string, text: string) => {
  writeFileSync(join(dir, 'config.yaml'), text);
  return join(dir, 'config.yaml');
};

describe('output folders', () => {
  /** A training run's output folder: checkpoints and results. */
  function runFolder(): string {
    const out = fresh('run');
    mkdirSync(join(out, 'checkpoint-step-5'));
    writeFileSync(join(out, 'checkpoint-step-5', 'trainer_state.json'), '{"step":5}');
    writeFileSync(join(out, 'train_results.json'), '{"steps":5}');
    writeFileSync(join(out, 'train_config.yaml'), 'epochs: 3\n');
    return out;
  }

  test('merge refuses a folder that is not an earlier merge, before loading anything', async () => {
    const out = runFolder();
    const before = visibleTree(out);
    const msg = await errorOf(mergeCommand(['--model', 'no/such-model', '--adapter', ADAPTER, '--output', out]));
    expect(msg).toMatch(
      new RegExp(
        `^--output ${out}: the folder holds other files \\(checkpoint-step-5, train_config\\.yaml, train_results\\.json\\), not an earlier merge; nothing was written\\. .*--overwrite_output_dir`,
      ),
    );
    expect(visibleTree(out)).toEqual(before);
    // An earlier merge is replaced; --overwrite_output_dir writes beside other files, keeping them.
    const merged = join(fresh('m'), 'merged');
    await mergeCommand(['--model', TINY, '--adapter', ADAPTER, '--output', merged]);
    const first = visibleTree(merged);
    expect(Object.keys(first)).toEqual(['config.json', 'model.safetensors', 'preprocessor_config.json']);
    await mergeCommand(['--model', TINY, '--adapter', ADAPTER, '--output', merged]);
    expect(visibleTree(merged)).toEqual(first);
    await mergeCommand(['--model', TINY, '--adapter', ADAPTER, '--output', out, '--overwrite_output_dir']);
    expect(visibleTree(out)).toEqual({ ...before, ...first });
    // A file as --output
    const file = join(fresh(), 'x');
    writeFileSync(file, 'keep');
    expect(await errorOf(mergeCommand(['--model', TINY, '--adapter', ADAPTER, '--output', file]))).toBe(
      `--output ${file}: is a file; expected a folder`,
    );
    expect(readFileSync(file, 'utf8')).toBe('keep');
  });

  test('train refuses an output_dir holding another run, before reading data or model', async () => {
    const out = runFolder();
    const before = visibleTree(out);
    const cfg = yaml(fresh(), `model_name: no/such-model\ndata_path: no-such.jsonl\noutput_dir: ${out}\n`);
    expect(await errorOf(trainCommand([cfg]))).toMatch(
      new RegExp(
        `^output_dir ${out} already holds 1 checkpoint \\(checkpoint-step-5\\), train_config\\.yaml, train_results\\.json: resume that run with resume_from_checkpoint: latest, train into another output_dir, or set overwrite_output_dir: true`,
      ),
    );
    // resuming from elsewhere into it is refused too (the runs would mix)
    expect(
      await errorOf(
        trainCommand([cfg, '--config_override', `resume_from_checkpoint=${join(fresh(), 'checkpoint-step-1')}`]),
      ),
    ).toMatch(/is not in it: resume that run/);
    // resuming from it is allowed (the failure is now the missing data, after the check)
    expect(await errorOf(trainCommand([cfg, '--config_override', 'resume_from_checkpoint=latest']))).toMatch(
      /no-such\.jsonl: no such file/,
    );
    expect(visibleTree(out)).toEqual(before);
    // output_dir that is a file
    const file = join(fresh(), 'f');
    writeFileSync(file, 'keep');
    const cfg2 = yaml(fresh(), `model_name: no/such-model\ndata_path: no-such.jsonl\noutput_dir: ${file}\n`);
    expect(await errorOf(trainCommand([cfg2]))).toBe(`output_dir ${file}: is a file; expected a folder`);
  });

  test('overwrite_output_dir: true moves the earlier run aside (never deletes it), leaving other files', async () => {
    const out = runFolder();
    writeFileSync(join(out, 'notes.txt'), 'mine');
    const before = visibleTree(out);
    const r = await checkTrainOutput({ output_dir: out, resume_from_checkpoint: null, overwrite_output_dir: true });
    expect(r.notes.join('\n')).toMatch(
      /overwrite_output_dir: .*moving checkpoint-step-5, train_config\.yaml, train_results\.json into .*replaced-1/,
    );
    expect(visibleTree(out)).toEqual(before); // nothing moves until training starts
    await r.commit();
    expect(visibleTree(out)).toEqual(
      Object.fromEntries(Object.entries(before).map(([k, v]) => [k === 'notes.txt' ? k : `replaced-1/${k}`, v])),
    );
  });

  test('outputs that are folders are refused before any work (embed, eval, forward)', async () => {
    const dir = fresh('out-dir');
    const gpu = await nodeGpu();
    // The model does not exist: an error about it would mean the output was checked too late.
    expect(
      await errorOf(
        embedCommand(
          ['--model', 'none/none', '--images', 'tests/fixtures/preprocess/gray_64x64.png', '--output', dir],
          { gpu },
        ),
      ),
    ).toBe(`--output ${dir}: is a folder; expected a file name to write`);
    expect(
      await errorOf(
        evalCommand(
          [
            'sop',
            '--model_path',
            'none/none',
            '--sop_root',
            'tests/fixtures/data/sop-mini',
            '--save_embeddings',
            dir,
            '--output_dir',
            fresh(),
          ],
          { gpu, err: () => {} },
        ),
      ),
    ).toBe(`--save_embeddings ${dir}: is a folder; expected a file name to write`);
    expect(await errorOf(forwardCommand(['--model', 'none/none', '--input', 'x.safetensors', '--output', dir]))).toBe(
      `--output ${dir}: is a folder; expected a file name to write`,
    );
  });
});

describe('paths stay in their root', () => {
  test('JSONL records: absolute or ../ paths are errors naming file:line and key, unless allow_absolute_paths', async () => {
    const text =
      '{"query_image": "a.jpg", "positive": "b.jpg", "label": 1}\n{"query_image": "../../etc/passwd", "positive": "b.jpg", "label": 1}\n';
    expect(() => readJsonlPairs(text, 'train.jsonl', 'imgs', null)).toThrow(
      'train.jsonl:2: "query_image": "../../etc/passwd" leads out of image_root (imgs) with ".."; paths must stay inside it unless allow_absolute_paths: true',
    );
    expect(() =>
      readJsonlPairs('{"query_image": "/etc/passwd", "positive": "b.jpg"}\n', 'train.jsonl', null, null),
    ).toThrow(
      'train.jsonl:1: "query_image": "/etc/passwd" is an absolute path; paths must stay inside the folder the paths are relative to (no image_root) unless allow_absolute_paths: true',
    );
    expect(readJsonlPairs(text, 'train.jsonl', 'imgs', null, true).records[1].query).toBe('../etc/passwd');
    expect(
      readJsonlPairs('{"query_image": "x/../a.jpg", "positive": "b.jpg"}\n', 't.jsonl', 'imgs', null).records[0].query,
    ).toBe('imgs/a.jpg');
    // through the config key
    const d = fresh();
    writeFileSync(join(d, 'train.jsonl'), text);
    const cfg = yaml(
      d,
      `model_name: ${resolve(TINY)}\ndata_path: ${join(d, 'train.jsonl')}\nimage_root: imgs\noutput_dir: ${join(d, 'out')}\n`,
    );
    expect(await errorOf(trainCommand([cfg]))).toMatch(
      /train\.jsonl:2: "query_image": "\.\.\/\.\.\/etc\/passwd" leads out of image_root/,
    );
    expect(await errorOf(trainCommand([cfg, '--config_override', 'allow_absolute_paths=true']))).toMatch(
      /none of the 3 images named by .* exist/,
    );
  });

  test('Ebay_*.txt paths, in training and in eval', async () => {
    const bad = 'image_id class_id super_class_id path\n1 1 1 a/1.jpg\n2 1 1 ../secret/2.jpg\n';
    expect(() => readEbayList(bad, 'sop/Ebay_test.txt')).toThrow(
      'sop/Ebay_test.txt:3: path "../secret/2.jpg" leads out of the folder of the list with ".."; paths must stay inside it unless allow_absolute_paths: true (vembed eval: --allow_absolute_paths)',
    );
    const d = fresh('sop');
    writeFileSync(join(d, 'Ebay_train.txt'), bad);
    await expect(loadPairDataset(nodeSource('.'), { dataPath: d })).rejects.toThrow(
      /Ebay_train\.txt:3: path "\.\.\/secret\/2\.jpg" leads out/,
    );
    writeFileSync(join(d, 'Ebay_test.txt'), bad);
    expect(
      await errorOf(
        evalCommand(['sop', '--model_path', TINY2, '--sop_root', d, '--output_dir', fresh()], {
          gpu: await nodeGpu(),
          err: () => {},
        }),
      ),
    ).toMatch(/Ebay_test\.txt:3: path "\.\.\/secret\/2\.jpg" leads out/);
  });

  test('a sharded index naming a file outside the model folder', async () => {
    const d = fresh('sharded');
    const outside = fresh('outside');
    cpSync(join(TINY, 'config.json'), join(d, 'config.json'));
    cpSync(join(TINY, 'model.safetensors'), join(outside, 'model.safetensors'));
    writeFileSync(
      join(d, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { 'norm.weight': `../${outside.split('/').pop()}/model.safetensors` } }),
    );
    await expect(loadCheckpoint(dirSource(d))).rejects.toThrow(
      `${d}/model.safetensors.index.json: weight_map "norm.weight" names "../${outside.split('/').pop()}/model.safetensors"; expected a file name inside the model folder (no absolute path, no "..")`,
    );
  });

  test('a missing local checkpoint shaped like owner/name is "no such folder" at once; the hub is never asked', async () => {
    const hub = new HubServer();
    await hub.start();
    const cwd = process.cwd();
    const env = process.env.HF_ENDPOINT;
    const d = fresh('cwd');
    mkdirSync(join(d, 'output', 'checkpoint-epoch-1'), { recursive: true });
    try {
      process.chdir(d);
      process.env.HF_ENDPOINT = hub.url;
      // a checkpoint folder name is never a hub id (src/cli/checkpoint-path.ts says what is there)
      expect(await errorOf(resolveModel('output/checkpoint-epoch-2'))).toBe(
        'output/checkpoint-epoch-2: no such checkpoint folder; output has checkpoint-epoch-1',
      );
      expect(await errorOf(resolveModel('run2/checkpoint-step-40'))).toBe(
        'run2/checkpoint-step-40: no such checkpoint folder; no folder run2',
      );
      // the first part is a training output folder: still a missing local path, not a hub id
      writeFileSync(join(d, 'output', 'train_config.yaml'), 'epochs: 1\n');
      expect(await errorOf(resolveModel('output/best'))).toBe(
        '--model output/best: no such folder (output/ is a training output folder here with checkpoint-epoch-1; the hub was not asked)',
      );
      expect(hub.log).toEqual([]);
    } finally {
      process.chdir(cwd);
      if (env === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = env;
      await hub.close();
    }
  });
});

describe('NaN at the boundaries', () => {
  test('a NaN weight is refused at load, naming the file and tensor', async () => {
    const d = poisoned(TINY, 'model.safetensors', NaN, 'layer.0.attention.q_proj.weight');
    await expect(loadCheckpoint(dirSource(d))).rejects.toThrow(
      new RegExp(
        `^${d}/model\\.safetensors: tensor "layer\\.0\\.attention\\.q_proj\\.weight" has 1 NaN value \\(at index 512\\); a damaged checkpoint`,
      ),
    );
    const out = fresh();
    expect(
      await errorOf(
        evalCommand(['sop', '--model_path', d, '--sop_root', 'tests/fixtures/data/sop-mini', '--output_dir', out], {
          gpu: await nodeGpu(),
          err: () => {},
        }),
      ),
    ).toMatch(/q_proj\.weight" has 1 NaN value/);
    expect(readdirSync(out)).toEqual([]); // no "Recall 0.00%" report
  });

  test('adapters: a NaN tensor, a non-numeric lora_alpha, a bad rank_pattern regex; merge writes nothing', async () => {
    const nanA = poisoned(ADAPTER, 'adapter_model.safetensors', Infinity);
    expect(await errorOf(loadAdapter(dirSource(nanA)))).toMatch(
      /adapter_model\.safetensors: tensor ".*lora_A\.weight" has 1 Infinity value \(at index \d+\); a damaged adapter/,
    );
    const cfg = JSON.parse(readFileSync(join(ADAPTER, 'adapter_config.json'), 'utf8'));
    const withCfg = (over: Record<string, unknown>) => {
      const d = fresh('adapter');
      cpSync(ADAPTER, d, { recursive: true });
      writeFileSync(join(d, 'adapter_config.json'), JSON.stringify({ ...cfg, ...over }));
      return d;
    };
    const out = join(fresh(), 'merged');
    expect(
      await errorOf(mergeCommand(['--model', TINY, '--adapter', withCfg({ lora_alpha: 'sixteen' }), '--output', out])),
    ).toMatch(
      /adapter_config\.json: "lora_alpha" is "sixteen"; expected a number \(the LoRA alpha; scale = alpha \/ r\)$/,
    );
    expect(
      await errorOf(
        mergeCommand(['--model', TINY, '--adapter', withCfg({ rank_pattern: { 'q_proj(': 2 } }), '--output', out]),
      ),
    ).toMatch(/adapter_config\.json: "rank_pattern" key "q_proj\(" is not a valid regular expression/);
    expect(existsSync(out)).toBe(false);
  });

  test('NaN pixels given to forward, NaN rows in an embeddings file to search', async () => {
    const d = fresh();
    const px = new Float32Array(3 * 32 * 32).fill(0.5);
    px[100] = NaN;
    writeFileSync(join(d, 'px.safetensors'), writeSafetensors([{ name: 'x', shape: [1, 3, 32, 32], data: px }]));
    expect(
      await errorOf(
        forwardCommand(['--model', TINY, '--input', join(d, 'px.safetensors'), '--output', join(d, 'o.safetensors')]),
      ),
    ).toBe(`${join(d, 'px.safetensors')}: tensor "x" has 1 NaN value (at index 100); pixel values must be finite`);
    const emb = new Float32Array(4 * 8).map((_, i) => Math.sin(i));
    emb[2 * 8 + 3] = NaN;
    const f = join(d, 'emb.safetensors');
    writeFileSync(
      f,
      writeSafetensors(
        [
          { name: 'embeddings', shape: [4, 8], data: emb },
          { name: 'labels', dtype: 'I64', shape: [4], data: new BigInt64Array([1n, 1n, 2n, 2n]) },
        ],
        { paths: JSON.stringify(['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg']) },
      ),
    );
    const out = fresh();
    expect(
      await errorOf(
        evalCommand(['sop', '--embeddings', f, '--output_dir', out, '--topk', '1'], {
          gpu: await nodeGpu(),
          err: () => {},
        }),
      ),
    ).toBe(
      `${f}: the embedding of c.jpg has NaN/Inf values; nothing was searched: a model or file that gives NaN cannot be evaluated`,
    );
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('images', () => {
  test('decompression bombs are refused from the header, with the size and the limit', async () => {
    for (const [name, bytes] of Object.entries(BOMBS))
      await expect(decodeImageBytes(bytes, name), name).rejects.toThrow(bombMessage(name));
    // A real image within the limit still decodes, and a lower limit applies to it.
    const ok = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    expect((await decodeImageBytes(ok, 'ok.png')).width).toBe(300);
    await expect(decodeImageBytes(ok, 'ok.png', 50_000)).rejects.toThrow(
      /^ok\.png: a PNG of 300x200 \(0\.1 megapixels, 0 MB of RGB\) above the limit of 0\.1 megapixels/,
    );
  });
});

describe('errors that name the file and key', () => {
  test('empty JSONL, batch_size 1, epochs 1e20', async () => {
    const d = fresh();
    writeFileSync(join(d, 'train.jsonl'), '\n\n');
    const cfg = yaml(d, `model_name: ${TINY}\ndata_path: ${join(d, 'train.jsonl')}\noutput_dir: ${join(d, 'out')}\n`);
    expect(await errorOf(trainCommand([cfg]))).toBe(
      `${join(d, 'train.jsonl')}: nothing to train or evaluate on (${join(d, 'train.jsonl')}: no records); expected one JSON object {query_image, positive, label} per line`,
    );
    expect(await errorOf(trainCommand([yaml(d, `model_name: ${TINY}\ndata_path: x.jsonl\nbatch_size: 1\n`)]))).toBe(
      `${join(d, 'config.yaml')}:3: batch_size: 1 is not allowed; expected an integer >= 2 (the in-batch negatives of a pair are the other pairs of its batch) (default 32)`,
    );
    expect(await errorOf(trainCommand([yaml(d, `model_name: ${TINY}\ndata_path: x.jsonl\nepochs: 1e20\n`)]))).toMatch(
      /config\.yaml:3: epochs: (1e\+?20|100000000000000000000) is too large; expected an integer in \[1, 1000000\] \(default 3\), below 2\^53/,
    );
    expect(existsSync(join(d, 'out'))).toBe(false);
  });

  describe('eval sop and embed', () => {
    let sop = '';
    const run = async (args: string[]) => {
      let err = '';
      await evalCommand(['sop', ...args], { gpu: await nodeGpu(), out: () => {}, err: (t) => (err += t) });
      return err;
    };
    const report = (d: string) => JSON.parse(readFileSync(join(d, 'sop_report.json'), 'utf8')) as SopReport;

    test('repeated paths in Ebay_test.txt are searched once, and counted', async () => {
      sop = fresh('sop');
      cpSync('tests/fixtures/data/sop-mini', sop, { recursive: true });
      const list = readFileSync(join(sop, 'Ebay_test.txt'), 'utf8').trim().split('\n');
      const one = fresh(),
        two = fresh();
      await run(['--model_path', TINY2, '--sop_root', sop, '--output_dir', one, '--topk', '1,2']);
      writeFileSync(
        join(sop, 'Ebay_test.txt'),
        [...list, ...list.slice(1).map((l) => l.replace(/^(\d+)/, (m) => String(Number(m) + 100)))].join('\n') + '\n',
      );
      const err = await run(['--model_path', TINY2, '--sop_root', sop, '--output_dir', two, '--topk', '1,2']);
      expect(err).toMatch(
        /Ebay_test\.txt: 4 repeated image paths removed \(each image is searched once; a repeat would find itself\)/,
      );
      const a = report(one),
        b = report(two);
      expect(b.num_images).toBe(4);
      expect(b.repeated_paths_removed).toBe(4);
      expect(b['recall@1']).toBe(a['recall@1']);
      // The same path under two classes cannot be resolved: an error naming both.
      writeFileSync(join(sop, 'Ebay_test.txt'), [...list, '9 6 2 chair_final/5_0.JPG'].join('\n') + '\n');
      expect(await errorOf(run(['--model_path', TINY2, '--sop_root', sop, '--output_dir', two]))).toMatch(
        /Ebay_test\.txt: chair_final\/5_0\.JPG is listed as class 5 \(image_id 1\) and as class 6 \(image_id 9\); an image can be in one class only/,
      );
      writeFileSync(join(sop, 'Ebay_test.txt'), list.join('\n') + '\n');
    });

    test('--topk beyond the gallery is refused; default Ks beyond it are left out with a note', async () => {
      expect(
        await errorOf(run(['--model_path', TINY2, '--sop_root', sop, '--output_dir', fresh(), '--topk', '1,10'])),
      ).toMatch(
        /^--topk 10: larger than the 3 other images each query is ranked against \(.*Ebay_test\.txt lists 4\); use K <= 3$/,
      );
      const d = fresh();
      const err = await run(['--model_path', TINY2, '--sop_root', sop, '--output_dir', d]);
      expect(err).toMatch(/recall@10, recall@100 left out: each query has only 3 other images to rank \(listed\)/);
      expect(report(d).topk).toEqual([1]);
      // an embeddings file (no list): the same refusal, counting its rows
      const f = join(fresh(), 'emb.safetensors');
      writeFileSync(
        f,
        writeSafetensors(
          [
            { name: 'embeddings', shape: [4, 8], data: new Float32Array(32).map((_, i) => Math.cos(i)) },
            { name: 'labels', dtype: 'I64', shape: [4], data: new BigInt64Array([1n, 1n, 2n, 2n]) },
          ],
          { paths: JSON.stringify(['a', 'b', 'c', 'd']) },
        ),
      );
      expect(await errorOf(run(['--embeddings', f, '--output_dir', fresh(), '--topk', '1,5']))).toBe(
        `--topk 5: larger than the 3 other images each query is ranked against (${f} holds 4); use K <= 3`,
      );
    });

    test('no readable image: an error, and no output (eval and embed)', async () => {
      const d = fresh('broken');
      mkdirSync(join(d, 'c'));
      writeFileSync(join(d, 'c', '1.png'), 'not an image');
      writeFileSync(join(d, 'c', '2.png'), new Uint8Array(0));
      writeFileSync(join(d, 'Ebay_test.txt'), 'image_id class_id super_class_id path\n1 1 1 c/1.png\n2 1 1 c/2.png\n');
      const out = fresh();
      expect(await errorOf(run(['--model_path', TINY2, '--sop_root', d, '--output_dir', out, '--topk', '1']))).toMatch(
        /^none of the 2 images could be read \(first: .*c\/1\.png: unsupported or unrecognized image format.*\); nothing was written$/,
      );
      expect(readdirSync(out)).toEqual([]);
      const emb = join(fresh(), 'emb.safetensors');
      expect(
        await errorOf(
          embedCommand(['--model', TINY2, '--images', join(d, 'c'), '--output', emb], { gpu: await nodeGpu() }),
        ),
      ).toMatch(/^none of the 2 images could be read/);
      expect(existsSync(emb)).toBe(false);
    });
  });
});

describe('a hostile hub endpoint', () => {
  test('a redirect to another origin carries no token', async () => {
    const seen: (string | null)[] = [];
    const other = createServer((req, res) => {
      seen.push(req.headers.authorization ?? null);
      res.writeHead(404).end();
    });
    await new Promise<void>((ok) => other.listen(0, '127.0.0.1', ok));
    const port = (other.address() as { port: number }).port;
    const redirector = createServer((req, res) =>
      res.writeHead(302, { Location: `http://localhost:${port}${req.url}` }).end(),
    );
    await new Promise<void>((ok) => redirector.listen(0, '127.0.0.1', ok));
    try {
      const url = `http://127.0.0.1:${(redirector.address() as { port: number }).port}`;
      await expect(
        ensureModel('org/model', new NodeModelCache(fresh('cache')), { endpoint: url, token: 'hf_secret', retries: 0 }),
      ).rejects.toThrow();
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((a) => a === null)).toBe(true);
    } finally {
      redirector.close();
      other.close();
    }
  });

  test('weights served with a NaN are refused at load, naming the cached file', async () => {
    const hub = new HubServer();
    const files = fixtureFiles();
    const bad = poisoned(TINY, 'model.safetensors', NaN, 'norm.weight');
    hub.addRepo('evil/model', {
      ...files,
      'model.safetensors': new Uint8Array(readFileSync(join(bad, 'model.safetensors'))),
    });
    await hub.start();
    try {
      const cache = new NodeModelCache(fresh('cache'));
      const src = await ensureModel('evil/model', cache, { endpoint: hub.url });
      await expect(loadCheckpoint(src)).rejects.toThrow(
        /evil--model\/model\.safetensors: tensor "norm\.weight" has 1 NaN value/,
      );
    } finally {
      await hub.close();
    }
  });
});
