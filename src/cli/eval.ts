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
 *   --allow_absolute_paths; outputs are checked before any work and written atomically.
 *   --save_embeddings keeps the embeddings (+ class labels, paths in the metadata) so that
 *   --embeddings can search them again without the model (./eval-embeddings.ts); the report and
 *   its table: ./eval-report.ts.
 *
 * vembed eval compare <before.json> <after.json>: ./eval-compare.ts.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readEbayList, uniqueEbayRecords } from '../data/sop';
import { checkEmbeddings } from '../eval/embed';
import { parseKs } from '../eval/recall';
import type { SearchOpts } from '../eval/search';
import type { Gpu } from '../gpu/device';
import type { Pooling } from '../model/embed';
import { sopSearch } from '../run/evaluate';
import { checkOutputFile, checkOutputFolder, writeFileAtomic } from '../util/output-node';
import { parseOptions, UsageError } from './args';
import { evalCompare } from './eval-compare';
import { embedSopList, loadEmbeddingSet, saveEmbeddings, type EmbeddingSet, type SopList } from './eval-embeddings';
import { isDir, isFile } from './eval-model';
import { formatSopTable, sopReport } from './eval-report';
import { commandGpu } from './gpu';
import { formatBytes, formatDuration, ProgressBar } from './progress';

export type { SopReport } from './eval-report';

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
  const sopList: SopList | null = list && { records: list, file: listFile! };
  const reportFile = join(outDir, 'sop_report.json');
  const ownGpu = !env.gpu;
  const gpu = env.gpu ?? (await commandGpu((l) => err(`${l}\n`)));
  try {
    if (v.embeddings) {
      const r = await loadEmbeddingSet(v.embeddings, sopList, err);
      set = r.set;
      repeats += r.dropped;
    } else {
      const o = { modelPath: v.model_path!, baseModel: v.base_model, token: v.hf_token, batchSize: batch, pooling };
      ({ set, decodeRate, embedRate } = await embedSopList(gpu, sopList!, { ...o, reportFile }, err));
      if (v.save_embeddings) await saveEmbeddings(v.save_embeddings, set, listFile!, err);
    }

    // Search: every image against all others.
    const { N, D } = set;
    checkEmbeddings(set.emb, N, D, set.paths, v.model_path ?? v.embeddings!);
    if (v.embeddings) checkKs(N, 'in the embeddings file', `${v.embeddings} holds ${N}`);
    else checkKs(N, `${list!.length - N} of the ${list!.length} listed images could not be read`, null);
    const sbar = new ProgressBar('search', N, 'query');
    const rec = await sopSearch(gpu, set.emb, set.labels!, N, D, ks, {
      ...env.search,
      onProgress: (d) => sbar.update(d),
    });
    sbar.done();
    const p = rec.plan;
    err(
      `search: ${N} x ${N} x ${D}, K=${ks[ks.length - 1]}: query slabs of ${p.queryRows}, gallery slabs of ${p.galleryRows}, ` +
        `tile ${p.topk.chunkRows}x${p.topk.queryBlock}, peak GPU memory ${formatBytes(p.peakBytes)}, ${formatDuration(rec.seconds)}\n`,
    );
    const report = sopReport(set, rec, {
      ks,
      repeats,
      decodeRate,
      embedRate,
      t0,
      listFile,
      embeddingsFile: v.embeddings,
    });
    await writeFileAtomic(reportFile, JSON.stringify(report, null, 2) + '\n');
    out(formatSopTable(report) + `report: ${reportFile}\n`);
  } finally {
    if (ownGpu) gpu.destroy();
  }
}
