/**
 * vembed eval sop --model_path <model dir | checkpoint dir with a PEFT adapter | hub id>
 *                 --sop_root <dir> [--batch_size 128] [--topk 1,10,100] [--output_dir <dir>]
 *                 [--save_embeddings <file>] [--embeddings <file>] [--base_model <dir|hub id>]
 *                 [--pooling cls] [--hf_token T]
 *   Stanford Online Products retrieval: every image of Ebay_test.txt is embedded (decoding runs
 *   ahead of the GPU), L2-normalized, and searched against all the others on the GPU (exact
 *   cosine top-K, the query itself excluded, bounded memory). Recall@K as vembed-factory computes
 *   it (src/eval/recall.ts). Writes <output_dir>/sop_report.json and prints a table. Unreadable
 *   images are skipped and listed in the report, never a crash (none readable: an error). Each
 *   image path counts once (repeats in the list are removed and counted); a --topk beyond the
 *   other images is refused (default Ks beyond them are left out, with a note); NaN embeddings
 *   are refused before the search; list paths stay in the SOP folder unless
 *   --allow_absolute_paths; outputs are checked before any work and written atomically. --save_embeddings keeps the
 *   embeddings (+ class labels, paths in the metadata) so that --embeddings can search them again
 *   without the model.
 *
 * vembed eval compare <before.json> <after.json>: ./eval-compare.ts.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { decodeImageFile } from '../data/decode-node';
import { readEbayList, uniqueEbayRecords } from '../data/sop';
import { checkEmbeddings, embedImages, requireEmbedded } from '../eval/embed';
import { l2normalizeRows } from '../model/embed';
import { parseKs } from '../eval/recall';
import type { SearchOpts } from '../eval/search';
import type { Gpu } from '../gpu/device';
import { commandGpu } from './gpu';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors';
import type { Pooling } from '../model/embed';
import { checkpointPreprocessor } from '../model/load';
import { Vit } from '../model/vit';
import { sopSearch } from '../run/evaluate';
import { parseOptions, UsageError } from './args';
import { evalCompare, recallKeys } from './eval-compare';
import { isDir, isFile, loadEvalModel } from './eval-model';
import { firstLines, formatBytes, formatDuration, ProgressBar, skipReason } from './progress';
import { checkOutputFile, checkOutputFolder, writeFileAtomic } from '../util/output-node';

/** For tests and embedding callers: a GPU to use (not destroyed), where the table goes, search tuning. */
export interface EvalEnv {
  gpu?: Gpu;
  out?: (text: string) => void;
  err?: (text: string) => void;
  search?: SearchOpts;
}

const USAGE =
  'usage: vembed eval <sop|compare> ...\n\n' +
  '  sop      Recall@K on Stanford Online Products (Ebay_test.txt), written to sop_report.json\n' +
  '  compare  two reports side by side: vembed eval compare <before.json> <after.json>\n';

export async function evalCommand(args: string[], env: EvalEnv = {}): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'sop') return evalSop(rest, env);
  if (sub === 'compare') return evalCompare(rest, env);
  if (!sub || sub === '--help' || sub === '-h') {
    (env.out ?? ((t) => process.stdout.write(t)))(USAGE);
    if (!sub) throw new UsageError('eval: missing subcommand (sop or compare)');
    return;
  }
  throw new UsageError(`eval: unknown subcommand "${sub}"\n\n${USAGE}`);
}

// ------------------------------------------------------------------------------------------- sop

/** The SOP report (sop_report.json); `recall@K` keys per requested K. */
export interface SopReport {
  model: string;
  base_model?: string;
  pooling: Pooling;
  num_images: number;
  num_valid_queries: number;
  topk: number[];
  [recall: `recall@${number}`]: number;
  skipped_images: number;
  skipped: { path: string; error: string }[];
  /** Image paths listed more than once (Ebay_test.txt or an embeddings file), searched once. */
  repeated_paths_removed: number;
  decode_images_per_s: number | null;
  embed_images_per_s: number | null;
  search: {
    seconds: number;
    peak_gpu_bytes: number;
    query_rows: number;
    gallery_rows: number;
    chunk_rows: number;
    query_block: number;
  };
  time: { seconds: number; date: string };
  list: string;
  embeddings_file?: string;
}

/** Ebay_test.txt in the root, else the first one found below it (sorted walk), as vembed-factory does. */
export async function findSopList(root: string, name = 'Ebay_test.txt'): Promise<string> {
  if (!(await isDir(root))) throw new Error(`--sop_root ${root}: no such folder`);
  const walk = async (dir: string): Promise<string | null> => {
    if (await isFile(join(dir, name))) return join(dir, name);
    const entries = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    for (const e of entries) {
      const f = await walk(join(dir, e));
      if (f) return f;
    }
    return null;
  };
  const f = await walk(root);
  if (!f)
    throw new Error(
      `--sop_root ${root}: no ${name} in it or in its subfolders (a Stanford Online Products folder is expected)`,
    );
  return f;
}

/** Embeddings file written by --save_embeddings (or `vembed embed`, labels then from the list). */
interface EmbeddingSet {
  emb: Float32Array;
  N: number;
  D: number;
  labels: Int32Array | null;
  paths: string[];
  skipped: { path: string; error: string }[];
  model: string;
  base?: string;
  pooling: Pooling;
}

async function readEmbeddings(file: string): Promise<EmbeddingSet> {
  const bytes = await readFile(file).catch((e: Error) => {
    throw new Error(`--embeddings ${file}: cannot read (${e.message})`);
  });
  const f = SafetensorsFile.parse(bytes, file);
  if (!f.has('embeddings')) throw new Error(`${file}: no "embeddings" tensor (write one with --save_embeddings)`);
  const shape = f.info('embeddings').shape;
  if (shape.length !== 2) throw new Error(`${file}: "embeddings" has shape [${shape.join(', ')}]; expected [N, D]`);
  const [N, D] = shape;
  let labels: Int32Array | null = null;
  if (f.has('labels')) {
    const l = f.i64('labels');
    if (l.length !== N) throw new Error(`${file}: ${l.length} labels for ${N} embeddings`);
    labels = Int32Array.from(l, (x) => Number(x));
  }
  const json = <T>(key: string, dflt: T): T => {
    if (f.metadata[key] === undefined) return dflt;
    try {
      return JSON.parse(f.metadata[key]) as T;
    } catch {
      throw new Error(`${file}: metadata "${key}" is not valid JSON`);
    }
  };
  const paths = json<string[]>('paths', []);
  if (paths.length !== N) throw new Error(`${file}: metadata "paths" lists ${paths.length} images for ${N} embeddings`);
  return {
    emb: f.f32('embeddings'),
    N,
    D,
    labels,
    paths,
    skipped: json('skipped', []),
    model: f.metadata.model ?? '?',
    base: f.metadata.base_model,
    pooling: (f.metadata.pooling ?? 'cls') as Pooling,
  };
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Keeps the first row of each image path of an embeddings file; returns how many were dropped. */
function dropRepeatedPaths(set: EmbeddingSet): number {
  const seen = new Set<string>();
  const keep = set.paths.map((p) => !seen.has(p) && !!seen.add(p));
  const rows = keep.flatMap((k, i) => (k ? [i] : []));
  if (rows.length === set.N) return 0;
  const emb = new Float32Array(rows.length * set.D);
  rows.forEach((i, j) => emb.set(set.emb.subarray(i * set.D, (i + 1) * set.D), j * set.D));
  const dropped = set.N - rows.length;
  Object.assign(set, {
    emb,
    N: rows.length,
    paths: rows.map((i) => set.paths[i]),
    labels: set.labels ? Int32Array.from(rows, (i) => set.labels![i]) : null,
  });
  return dropped;
}

async function evalSop(args: string[], env: EvalEnv): Promise<void> {
  const out = env.out ?? ((t: string) => process.stdout.write(t));
  const err = env.err ?? ((t: string) => process.stderr.write(t));
  const o = parseOptions(
    'eval sop',
    args,
    {
      model_path: {
        type: 'string',
        help: 'model folder, checkpoint folder with a PEFT adapter (.safetensors or .bin; checkpoint-<N> accepted), or hub id',
      },
      base_model: {
        type: 'string',
        help: 'base model of an adapter checkpoint (default: its base_model_name_or_path)',
      },
      sop_root: { type: 'string', help: 'Stanford Online Products folder (with Ebay_test.txt)' },
      batch_size: { type: 'string', help: 'images per GPU batch (default 128)' },
      topk: { type: 'string', help: 'comma-separated K values of Recall@K (default 1,10,100)' },
      output_dir: { type: 'string', help: 'where sop_report.json goes (default benchmark_output_sop)' },
      save_embeddings: { type: 'string', help: 'also write the embeddings (+ labels, paths) to this safetensors file' },
      embeddings: {
        type: 'string',
        help: 'search the embeddings of this file (from --save_embeddings) instead of embedding',
      },
      pooling: { type: 'string', help: 'cls (default) or cls_mean' },
      allow_absolute_paths: {
        type: 'boolean',
        help: 'allow list paths that are absolute or lead out of the SOP folder with ..',
      },
      hf_token: { type: 'string', help: 'Hugging Face access token for gated models (or $HF_TOKEN)' },
    },
    '--model_path <dir|hub id> --sop_root <dir> [--batch_size 128] [--topk 1,10,100] [--output_dir <dir>] [--save_embeddings <file>] [--embeddings <file>]',
  );
  if (!o) return;
  const v = o.values as Record<string, string | undefined>;
  if (o.positionals.length) throw new UsageError(`eval sop: unexpected argument "${o.positionals[0]}"`);
  const t0 = performance.now();
  let ks = parseKs(
    (v.topk ?? '1,10,100').split(',').map((s) => (s.trim() === '' ? NaN : Number(s))),
    `--topk ${v.topk}`,
  );
  const batch = Number(v.batch_size ?? 128);
  if (!Number.isInteger(batch) || batch < 1)
    throw new UsageError(`--batch_size ${v.batch_size}: expected a positive integer`);
  const pooling = (v.pooling ?? 'cls') as Pooling;
  if (pooling !== 'cls' && pooling !== 'cls_mean')
    throw new UsageError(`--pooling ${pooling}: expected cls or cls_mean`);
  if (v.embeddings && v.save_embeddings)
    throw new UsageError('--embeddings reuses a saved file; --save_embeddings is only for a run that embeds');
  if (!v.embeddings && !v.model_path)
    throw new UsageError('missing --model_path (or --embeddings <file> to reuse saved embeddings)');
  if (!v.embeddings && !v.sop_root) throw new UsageError('missing --sop_root (the Stanford Online Products folder)');
  const outDir = v.output_dir ?? 'benchmark_output_sop';
  // Outputs checked before any work.
  await checkOutputFolder(outDir, '--output_dir');
  if (v.save_embeddings) await checkOutputFile(v.save_embeddings, '--save_embeddings');

  // The list (needed to embed, or to label embeddings that carry no labels), one record per path:
  // a path listed twice would find itself and inflate Recall@K.
  const listFile = v.sop_root ? await findSopList(v.sop_root) : null;
  let list = listFile
    ? readEbayList(await readFile(listFile, 'utf8'), listFile, o.values.allow_absolute_paths === true)
    : null;
  if (list && list.length === 0) throw new Error(`${listFile}: no images listed`);
  let repeats = 0;
  if (list) {
    ({ records: list, repeats } = uniqueEbayRecords(list, listFile!));
    if (repeats)
      err(
        `${listFile}: ${repeats} repeated image paths removed (each image is searched once; a repeat would find itself)\n`,
      );
  }
  // Recall@K needs K other images to rank: a larger K would report 100% for any model. Given
  // with --topk it is refused while nothing has been computed yet (`source`: where n comes from);
  // after the embedding (unreadable images lowered n), and for the default Ks, it is left out.
  const checkKs = (n: number, when: string, source: string | null) => {
    const big = ks.filter((k) => k > n - 1);
    if (!big.length) return;
    if (v.topk !== undefined && source) {
      throw new UsageError(
        `--topk ${big.join(',')}: larger than the ${n - 1} other images each query is ranked against (${source}); use K <= ${n - 1}`,
      );
    }
    ks = ks.filter((k) => k <= n - 1);
    err(`recall@${big.join(', recall@')} left out: each query has only ${n - 1} other images to rank (${when})\n`);
    if (!ks.length) throw new Error(`${n} images: too few to measure Recall@K (need at least 2)`);
  };
  if (list) checkKs(list.length, 'listed', `${listFile} lists ${list.length}`);

  let set: EmbeddingSet;
  let decodeRate: number | null = null;
  let embedRate: number | null = null;
  const ownGpu = !env.gpu;
  const gpu = env.gpu ?? (await commandGpu((l) => err(`${l}\n`)));
  try {
    if (v.embeddings) {
      set = await readEmbeddings(v.embeddings);
      const dropped = dropRepeatedPaths(set);
      if (dropped) err(`${v.embeddings}: ${dropped} repeated image paths removed (each image is searched once)\n`);
      repeats += dropped;
      checkEmbeddings(set.emb, set.N, set.D, set.paths, v.embeddings);
      l2normalizeRows(set.emb, set.N, set.D); // (rows from embedImages already are)
      if (!set.labels) {
        if (!list)
          throw new Error(
            `${v.embeddings}: no "labels" tensor; give --sop_root to take the classes from Ebay_test.txt`,
          );
        const base = dirname(listFile!);
        const byPath = new Map(list.map((r) => [join(base, r.path), r.classId]));
        set.labels = Int32Array.from(set.paths, (p) => {
          const c = byPath.get(p);
          if (c === undefined) throw new Error(`${v.embeddings}: image ${p} is not in ${listFile}`);
          return c;
        });
      }
      err(`read ${set.N} embeddings of dimension ${set.D} from ${v.embeddings}\n`);
    } else {
      const { ck, base } = await loadEvalModel(v.model_path!, v.base_model, v.hf_token, (l) => err(`${l}\n`));
      const pp = checkpointPreprocessor(ck, base ?? v.model_path!);
      const root = dirname(listFile!);
      const paths = list!.map((r) => join(root, r.path));
      const vit = new Vit(gpu, ck.spec, ck.weights);
      try {
        const bar = new ProgressBar('embed', paths.length);
        const r = await embedImages(vit, pp, paths, decodeImageFile, {
          batchSize: batch,
          pooling,
          onProgress: (done, _total, skipped) => bar.update(done, skipped ? `(${skipped} skipped)` : ''),
        });
        bar.done();
        err(
          firstLines(
            r.skipped.map((s) => `skipped ${skipReason(s)}`),
            join(outDir, 'sop_report.json'),
          ),
        );
        requireEmbedded(r, paths.length);
        decodeRate = r.decodeSeconds > 0 ? round(paths.length / r.decodeSeconds) : null;
        embedRate = r.embedSeconds > 0 ? round(r.kept.length / r.embedSeconds) : null;
        set = {
          emb: r.emb,
          N: r.kept.length,
          D: r.D,
          labels: Int32Array.from(r.kept, (i) => list![i].classId),
          paths: r.kept.map((i) => paths[i]),
          skipped: r.skipped,
          model: v.model_path!,
          base: base ?? undefined,
          pooling,
        };
      } finally {
        vit.destroy();
      }
      if (v.save_embeddings) {
        const meta: Record<string, string> = {
          format: 'pt',
          model: set.model,
          pooling,
          list: listFile!,
          paths: JSON.stringify(set.paths),
          skipped: JSON.stringify(set.skipped),
        };
        if (set.base) meta.base_model = set.base;
        await writeFileAtomic(
          v.save_embeddings,
          writeSafetensors(
            [
              { name: 'embeddings', shape: [set.N, set.D], data: set.emb },
              { name: 'labels', dtype: 'I64', shape: [set.N], data: set.labels! },
            ],
            meta,
          ),
        );
        err(`wrote ${set.N} embeddings of dimension ${set.D} to ${v.save_embeddings}\n`);
      }
    }

    // Search: every image against all others.
    const { N, D } = set;
    checkEmbeddings(set.emb, N, D, set.paths, v.model_path ?? v.embeddings!);
    if (v.embeddings) checkKs(N, 'in the embeddings file', `${v.embeddings} holds ${N}`);
    else checkKs(N, `${list!.length - N} of the ${list!.length} listed images could not be read`, null);
    const emb = set.emb;
    const sbar = new ProgressBar('search', N, 'query');
    const rec = await sopSearch(gpu, emb, set.labels!, N, D, ks, { ...env.search, onProgress: (d) => sbar.update(d) });
    sbar.done();
    const searchSeconds = rec.seconds;
    const p = rec.plan;
    err(
      `search: ${N} x ${N} x ${D}, K=${ks[ks.length - 1]}: query slabs of ${p.queryRows}, gallery slabs of ${p.galleryRows}, ` +
        `tile ${p.topk.chunkRows}x${p.topk.queryBlock}, peak GPU memory ${formatBytes(p.peakBytes)}, ${formatDuration(searchSeconds)}\n`,
    );
    const report: SopReport = {
      model: set.model,
      ...(set.base ? { base_model: set.base } : {}),
      pooling: set.pooling,
      num_images: N,
      num_valid_queries: rec.numValidQueries,
      topk: ks,
      ...rec.recall,
      skipped_images: set.skipped.length,
      skipped: set.skipped,
      repeated_paths_removed: repeats,
      decode_images_per_s: decodeRate,
      embed_images_per_s: embedRate,
      search: {
        seconds: round(searchSeconds, 3),
        peak_gpu_bytes: p.peakBytes,
        query_rows: p.queryRows,
        gallery_rows: p.galleryRows,
        chunk_rows: p.topk.chunkRows,
        query_block: p.topk.queryBlock,
      },
      time: { seconds: round((performance.now() - t0) / 1000, 3), date: new Date().toISOString() },
      list: listFile ?? '',
      ...(v.embeddings ? { embeddings_file: v.embeddings } : {}),
    };
    const reportFile = join(outDir, 'sop_report.json');
    await writeFileAtomic(reportFile, JSON.stringify(report, null, 2) + '\n');
    out(formatSopTable(report) + `report: ${reportFile}\n`);
  } finally {
    if (ownGpu) gpu.destroy();
  }
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

export function formatSopTable(r: SopReport): string {
  const keys = recallKeys(r as unknown as Record<string, unknown>);
  const lines = [
    `Stanford Online Products: ${r.num_images} images, ${r.num_valid_queries} valid queries` +
      (r.skipped_images ? `, ${r.skipped_images} skipped` : '') +
      `, model ${r.model}` +
      (r.base_model ? ` (base ${r.base_model})` : ''),
    `  ${'metric'.padEnd(12)}${'value'.padStart(10)}`,
    ...keys.map((k) => `  ${k.padEnd(12)}${pct(r[k as `recall@${number}`]).padStart(10)}`),
  ];
  if (r.decode_images_per_s !== null || r.embed_images_per_s !== null) {
    lines.push(
      `  decode ${r.decode_images_per_s ?? '-'} img/s, embed ${r.embed_images_per_s ?? '-'} img/s, search ${r.search.seconds}s, total ${r.time.seconds}s`,
    );
  }
  return lines.join('\n') + '\n';
}
