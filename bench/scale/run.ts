/**
 * `npm run bench:scale`: Stanford Online Products at its real size, end to end, in Node and in
 * Chromium (issue 11's rows). Builds a synthetic SOP folder (tools/make_sop_synthetic.ts: SOP's
 * counts and layout, 32 px JPEGs, 300 unreadable and 100 missing images) and the two random tiny
 * models in a temporary folder (deleted at the end unless --keep), or uses --root / --models.
 *
 *   npm run bench:scale                          every row, full size (~1-2 h on 2 CPU cores)
 *   npm run bench:scale -- --only search.allpairs,search.query
 *   npm run bench:scale -- --scale 0.1           the 10% folder (quick look)
 *   npm run bench:scale -- --root DIR --keep     an existing SOP folder (real SOP works too)
 * Rows (bench/scale/node-rows.ts, browser-rows.ts): eval.sop.embed (Node, hidden 16 and 48;
 * Chromium, hidden 16) vs decode-only, search.allpairs vs our matmul, search.query, eval.sop
 * (the whole CLI, peak RSS), train.memory (RSS/GPU memory over 2,000 steps), folder.list
 * (Chromium). Writes bench/scale/results.json (rows as bench/results.json: bench/types.ts
 * BenchResult) and prints a markdown table. Ratios compare ours with a peer in the same run;
 * absolute times on a shared machine are noisy.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readEbayList } from '../../src/data/sop';
import { requestNodeGpu } from '../../src/gpu/device-node';
import { ROOT, withBrowser } from '../../tests/e2e/browser';
import type { BenchResult } from '../types';
import { mergeIntoFile } from '../results-file';
import { browserRows } from './browser-rows';
import { allPairsRows, embedSmall, embedTiny, evalSopRow, queryRows, trainMemoryRow, type ScaleCtx } from './node-rows';

const { values: o } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    only: { type: 'string', default: '' },
    scale: { type: 'string', default: '1' },
    root: { type: 'string' },
    models: { type: 'string' },
    keep: { type: 'boolean', default: false },
    steps: { type: 'string', default: '2000' },
  },
});
const only = (op: string) => !o.only || o.only.split(',').some((x) => op.startsWith(x.trim()));
const t0 = Date.now();
const log = (l: string) => console.log(`${((Date.now() - t0) / 1000).toFixed(0).padStart(6)}s ${l}`);

const fmt = (v: number | null | undefined, d = 1) =>
  v === null || v === undefined ? '–' : v >= 1000 ? v.toFixed(0) : v.toFixed(d);
function table(rows: BenchResult[]): string {
  return [
    '| op | shape | ours ms | ours items/s | ours GFLOP/s | peer | peer ms | peer items/s | peer GFLOP/s | ratio | note |',
    '|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.op} | ${r.shape} | ${fmt(r.ours_ms)} | ${fmt(r.ours_items_per_s)} | ${fmt(r.ours_gflops, 2)} | ${r.peer ?? '–'} | ` +
        `${fmt(r.peer_ms)} | ${fmt(r.peer_items_per_s)} | ${fmt(r.peer_gflops, 2)} | ${fmt(r.ratio, 2)} | ${r.note ?? ''} |`,
    ),
  ].join('\n');
}

/**
 * tools/make_sop_synthetic.ts runs its command line when imported under vite-node (it tells script
 * from import by the vite-node binary in argv[1], as tools/make_demo.ts explains); VITEST set
 * while importing keeps it quiet.
 */
async function generator(): Promise<typeof import('../../tools/make_sop_synthetic')> {
  const prev = process.env.VITEST;
  process.env.VITEST = 'bench-scale';
  try {
    return await import('../../tools/make_sop_synthetic');
  } finally {
    if (prev === undefined) delete process.env.VITEST;
    else process.env.VITEST = prev;
  }
}

async function main(): Promise<void> {
  const { makeSyntheticSop, makeTinyModel } = await generator();
  const tmp = await mkdtemp(join(tmpdir(), 'vembed-bench-scale-'));
  const root = o.root ? resolve(o.root) : join(tmp, 'sop');
  const modelsDir = o.models ? resolve(o.models) : join(tmp, 'models');
  const models = { m16: join(modelsDir, 'hidden16'), m48: join(modelsDir, 'hidden48') };
  const rows: BenchResult[] = [];
  try {
    if (!o.root) {
      log(`writing a synthetic SOP folder (scale ${o.scale}) to ${root} ...`);
      const r = await makeSyntheticSop({
        out: root,
        scale: Number(o.scale),
        corrupt: Math.round(300 * Number(o.scale)),
        missing: Math.round(100 * Number(o.scale)),
      });
      log(
        `  train ${r.train.images} / test ${r.test.images} images, ${r.corrupt.length} unreadable, ${r.missing.length} missing`,
      );
    }
    if (!o.models) {
      await makeTinyModel(models.m16, { hidden: 16, layers: 1, patch: 8, heads: 1, image: 32 });
      await makeTinyModel(models.m48, { hidden: 48, layers: 2, patch: 4, heads: 1, image: 32 });
    }
    const gpu = await requestNodeGpu();
    log(`adapter: ${gpu.describe()}`);
    const ctx: ScaleCtx = { gpu, root, models, shared: {}, log };
    const steps: [string, (c: ScaleCtx) => Promise<BenchResult[]>][] = [
      ['eval.sop.embed', embedTiny],
      ['eval.sop.embed.small', embedSmall],
      ['search.allpairs', allPairsRows],
      ['search.query', queryRows],
      ['eval.sop', evalSopRow],
      ['train.memory', (c) => trainMemoryRow(c, Number(o.steps))],
    ];
    for (const [name, fn] of steps) {
      if (!only(name)) continue; // (the search rows use the hidden-16 embeddings when that row ran)
      log(`${name} ...`);
      try {
        rows.push(...(await fn(ctx)));
      } catch (e) {
        log(`  FAILED: ${(e as Error).stack ?? e}`);
      }
    }
    gpu.destroy();
    if (only('folder.list') || only('eval.sop.embed.browser')) {
      log('Chromium rows ...');
      const list = readEbayList(await readFile(join(root, 'Ebay_test.txt'), 'utf8'), 'Ebay_test.txt');
      try {
        rows.push(
          ...(await withBrowser(({ vite, browser }) =>
            browserRows(
              browser,
              vite.url,
              root,
              models.m16,
              list.map((r) => r.path),
              log,
              (op) => (op === 'eval.sop.embed' ? only('eval.sop.embed.browser') : only(op)),
            ),
          )),
        );
      } catch (e) {
        log(`  FAILED: ${(e as Error).stack ?? e}`);
      }
    }
  } finally {
    if (!o.keep) await rm(tmp, { recursive: true, force: true });
    else log(`kept ${tmp}`);
  }
  if (rows.length) {
    const file = resolve(ROOT, 'bench/scale/results.json');
    const all = mergeIntoFile(file, rows);
    console.log(
      `\n${table(rows)}\n\nwrote ${rows.length} rows into bench/scale/results.json (${all} in all; ` +
        `${((Date.now() - t0) / 60000).toFixed(1)} min)`,
    );
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
