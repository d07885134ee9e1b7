/**
 * What `vembed eval sop` (./eval.ts) writes and prints: sop_report.json (SopReport: Recall@K per
 * requested K, the images searched and skipped, the rates and the search plan) and the table of
 * its recall@K values on stdout.
 */
import type { SopSearchResult } from '../run/evaluate';
import type { Pooling } from '../model/embed';
import { recallKeys } from './eval-compare';
import { round, type EmbeddingSet } from './eval-embeddings';

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

/** The report of searching `set` (`rec`), the run having started at `t0` (performance.now()). */
export function sopReport(
  set: EmbeddingSet,
  rec: SopSearchResult,
  o: {
    ks: number[];
    repeats: number;
    decodeRate: number | null;
    embedRate: number | null;
    t0: number;
    listFile: string | null;
    embeddingsFile?: string;
  },
): SopReport {
  const p = rec.plan;
  return {
    model: set.model,
    ...(set.base ? { base_model: set.base } : {}),
    pooling: set.pooling,
    num_images: set.N,
    num_valid_queries: rec.numValidQueries,
    topk: o.ks,
    ...rec.recall,
    skipped_images: set.skipped.length,
    skipped: set.skipped,
    repeated_paths_removed: o.repeats,
    decode_images_per_s: o.decodeRate,
    embed_images_per_s: o.embedRate,
    search: {
      seconds: round(rec.seconds, 3),
      peak_gpu_bytes: p.peakBytes,
      query_rows: p.queryRows,
      gallery_rows: p.galleryRows,
      chunk_rows: p.topk.chunkRows,
      query_block: p.topk.queryBlock,
    },
    time: { seconds: round((performance.now() - o.t0) / 1000, 3), date: new Date().toISOString() },
    list: o.listFile ?? '',
    ...(o.embeddingsFile ? { embeddings_file: o.embeddingsFile } : {}),
  };
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
