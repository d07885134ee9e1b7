/**
 * vembed embed --model <dir | hub id> --images <files or folders...> --output <embeddings.safetensors>
 *              [--batch_size 8] [--pooling cls|cls_mean] [--hf_token T]
 * Decodes, preprocesses (as the model's preprocessor_config.json says), embeds and L2-normalizes
 * every image; decoding runs ahead of the GPU (one batch in flight). Unreadable images are skipped
 * and reported, never embedded as black images; when none can be read (or an embedding is NaN),
 * nothing is written. --output is checked before any work. Output: `embeddings` [N, D] (F32), with the image
 * paths (and skipped ones) as JSON in the file's metadata. (The loop is src/eval/embed.ts.)
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeImageFile } from '../data/decode-node';
import { IMAGE_EXTENSIONS, isImageName } from '../platform/data-source';
import { checkEmbeddings, embedImages, requireEmbedded } from '../eval/embed';
import { commandGpu } from './gpu';
import type { Gpu } from '../gpu/device';
import { writeSafetensors } from '../io/safetensors';
import { embeddingDim, type Pooling } from '../model/embed';
import { checkpointPreprocessor, loadCheckpoint } from '../model/load';
import { Vit } from '../model/vit';
import { parseOptions } from './args';
import { resolveModel } from './model-arg';
import { firstLines, ProgressBar, skipReason } from './progress';
import { checkOutputFile, writeFileAtomic } from '../util/output-node';

/** Image files under the given files/folders (folders recursively, sorted, by extension). */
export async function listImages(inputs: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string): Promise<void> => {
    const st = await stat(p).catch(() => null);
    if (!st) throw new Error(`--images ${p}: no such file or folder`);
    if (st.isDirectory()) {
      const names = (await readdir(p)).sort();
      for (const n of names) {
        const q = join(p, n);
        const s = await stat(q);
        if (s.isDirectory()) await walk(q);
        else if (isImageName(n)) out.push(q);
      }
    } else out.push(p);
  };
  for (const i of inputs) await walk(i);
  return out;
}

/** `env.gpu`: a GPU to use instead of the command's own (tests; it is not destroyed). */
export async function embedCommand(args: string[], env: { gpu?: Gpu } = {}): Promise<void> {
  const o = parseOptions(
    'embed',
    args,
    {
      model: { type: 'string', help: 'model folder or hub id (e.g. facebook/dinov2-small)', required: true },
      images: { type: 'string', multiple: true, help: 'image files or folders (repeatable; also positional)' },
      output: { type: 'string', help: 'safetensors file to write', required: true },
      batch_size: { type: 'string', help: 'images per GPU batch (default 8)' },
      pooling: { type: 'string', help: 'cls (default: normalized CLS) or cls_mean (CLS + mean of patch tokens)' },
      hf_token: { type: 'string', help: 'Hugging Face access token for gated models (or $HF_TOKEN)' },
    },
    '--model <dir|hub id> --images <files or folders...> --output <embeddings.safetensors> [--batch_size 8] [--pooling cls]',
  );
  if (!o) return;
  const v = o.values as Record<string, string | string[] | undefined>;
  const batch = Number(v.batch_size ?? 8);
  if (!Number.isInteger(batch) || batch < 1)
    throw new Error(`--batch_size ${String(v.batch_size)}: expected a positive integer`);
  const pooling = (v.pooling ?? 'cls') as Pooling;
  if (pooling !== 'cls' && pooling !== 'cls_mean') throw new Error(`--pooling ${pooling}: expected cls or cls_mean`);
  const inputs = [...((v.images as string[] | undefined) ?? []), ...o.positionals];
  if (inputs.length === 0) throw new Error('no images given (--images <files or folders>)');
  const paths = await listImages(inputs);
  if (paths.length === 0) throw new Error(`no images (${[...IMAGE_EXTENSIONS].join(', ')}) under ${inputs.join(', ')}`);
  const outPath = v.output as string;
  await checkOutputFile(outPath, '--output');

  const src = await resolveModel(v.model as string, v.hf_token as string | undefined);
  const ck = await loadCheckpoint(src);
  const pp = checkpointPreprocessor(ck, src.where);
  const gpu = env.gpu ?? (await commandGpu());
  const vit = new Vit(gpu, ck.spec, ck.weights);
  try {
    const D = embeddingDim(vit, pooling);

    const bar = new ProgressBar('embed', paths.length);
    const r = await embedImages(vit, pp, paths, decodeImageFile, {
      batchSize: batch,
      pooling,
      onProgress: (done, _total, skipped) => bar.update(done, skipped ? `(${skipped} skipped)` : ''),
    });
    bar.done();
    requireEmbedded(r, paths.length);
    const done = r.kept.map((i) => paths[i]);
    const { skipped, emb } = r;
    checkEmbeddings(emb, done.length, D, done, v.model as string);
    const meta = {
      format: 'pt',
      model: v.model as string,
      pooling,
      paths: JSON.stringify(done),
      skipped: JSON.stringify(skipped),
    };
    await writeFileAtomic(
      outPath,
      writeSafetensors([{ name: 'embeddings', shape: [done.length, D], data: emb }], meta),
    );
    process.stderr.write(
      firstLines(
        skipped.map((s) => `skipped ${skipReason(s)}`),
        `the "skipped" metadata of ${outPath}`,
      ),
    );
    process.stderr.write(
      `wrote ${done.length} embeddings of dimension ${D} to ${outPath}` +
        (skipped.length ? ` (${skipped.length} images skipped)` : '') +
        '\n',
    );
  } finally {
    vit.destroy();
    if (!env.gpu) gpu.destroy();
  }
}
