/**
 * `npm run bench`: op benchmarks in headless Chromium on its WebGPU adapter, ours vs the peer
 * (TensorFlow.js WebGPU, same adapter, same page). Starts Vite and Chromium
 * (tests/e2e/browser.ts), opens bench/bench.html (bench/bench-page.ts), prints progress and a
 * markdown table, and writes
 *   bench/results.json  [{ op, shape, ours_ms, ours_gflops, peer, peer_ms, peer_gflops, ratio }]
 *                       (ratio = peer_ms / ours_ms: above 1, ours is faster)
 *   bench/adapter.json  the adapter, date, mode and duration of the run.
 *
 * Options (flags after `npm run bench --`, or environment variables):
 *   --quick              | BENCH_QUICK=1        a few batch-8 entries (minutes on SwiftShader)
 *   --all                | BENCH_ALL=1          also the `heavy` entries (ViT-B at batch 32 ...)
 *   --filter <substring> | BENCH_FILTER=<s>     entries whose `op shape` contains it
 *   --no-peer            | BENCH_PEER=0         ours only
 * On SwiftShader (2 CPU cores, no GPU) the default run takes about 20 minutes, --quick about 3,
 * --all well over an hour; on a GPU, seconds.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { openPage, ROOT, waitForGlobal, withBrowser } from '../tests/e2e/browser';
import type { BenchReport, BenchResult } from './types';

function parseArgs(argv: string[]) {
  const has = (f: string) => argv.includes(f);
  const value = (f: string) => {
    const i = argv.indexOf(f);
    const eq = argv.find((a) => a.startsWith(`${f}=`));
    return eq ? eq.slice(f.length + 1) : i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    quick: has('--quick') || process.env.BENCH_QUICK === '1',
    all: has('--all') || process.env.BENCH_ALL === '1',
    filter: value('--filter') ?? process.env.BENCH_FILTER ?? '',
    peer: !has('--no-peer') && process.env.BENCH_PEER !== '0',
  };
}

const fmt = (v: number | null, digits: number) => (v === null ? '–' : v.toFixed(digits));

function markdownTable(rows: BenchResult[]): string {
  const lines = [
    '| op | shape | ours ms | ours GFLOP/s | peer | peer ms | peer GFLOP/s | peer/ours |',
    '|---|---|---:|---:|---|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.op} | ${r.shape} | ${fmt(r.ours_ms, 1)} | ${fmt(r.ours_gflops, 2)} | ` +
        `${r.peer ?? '–'} | ${fmt(r.peer_ms, 1)} | ${fmt(r.peer_gflops, 2)} | ${fmt(r.ratio, 2)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const query = new URLSearchParams();
  if (opts.quick) query.set('quick', '1');
  if (opts.all) query.set('all', '1');
  if (opts.filter) query.set('filter', opts.filter);
  if (!opts.peer) query.set('peer', '0');
  const t0 = Date.now();

  const report = await withBrowser(async ({ vite, browser }) => {
    const handle = await openPage(browser, `${vite.url}/bench/bench.html?${query}`, (type, text) => {
      if (type === 'log' && text.startsWith('[bench] ')) {
        const s = ((Date.now() - t0) / 1000).toFixed(0).padStart(5);
        console.log(`${s}s  ${text.slice(8)}`);
      }
    });
    const r = await waitForGlobal<BenchReport>(handle, '__bench', {
      timeoutMs: Number(process.env.BENCH_TIMEOUT_MIN ?? 60) * 60_000,
      pollMs: 1000,
    });
    if (handle.errors.length) console.error(`page errors:\n  ${handle.errors.join('\n  ')}`);
    return r;
  });
  const seconds = (Date.now() - t0) / 1000;

  if (report.error) {
    console.error(`bench failed: ${report.error}`);
    return 1;
  }
  if (report.results.length) {
    writeFileSync(resolve(ROOT, 'bench/results.json'), JSON.stringify(report.results, null, 2) + '\n');
    writeFileSync(
      resolve(ROOT, 'bench/adapter.json'),
      JSON.stringify(
        {
          describe: report.describe,
          adapter: report.adapter,
          date: new Date().toISOString(),
          mode: opts.quick ? 'quick' : opts.all ? 'all' : 'default',
          filter: opts.filter || null,
          seconds: Math.round(seconds),
          userAgentNote: 'headless Chromium (tests/e2e/browser.ts flags), peer: TensorFlow.js webgpu',
        },
        null,
        2,
      ) + '\n',
    );
  }
  console.log(`\nAdapter: ${report.describe}`);
  console.log(`${report.results.length} of ${report.total} entries in ${seconds.toFixed(0)} s\n`);
  console.log(markdownTable(report.results));
  if (report.results.length) console.log('\nwrote bench/results.json and bench/adapter.json');
  if (report.failures.length) {
    console.error(`\n${report.failures.length} entries failed:\n  ${report.failures.join('\n  ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
