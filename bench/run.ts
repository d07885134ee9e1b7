/**
 * `npm run bench`: op and model benchmarks in headless Chromium on its WebGPU adapter, ours vs
 * the peer (TensorFlow.js WebGPU for ops, onnxruntime-web WebGPU for the ViT-S/16 model row, a
 * CPU brute force for topk; same adapter, same page). Starts Vite and Chromium
 * (tests/e2e/browser.ts), opens bench/bench.html (bench/bench-page.ts), prints progress and a
 * markdown table, and merges its rows into bench/results.json (rows of this run replace the rows
 * with the same op and shape; the others are kept):
 *   bench/results.json  [{ op, shape, ours_ms, ours_gflops, peer, peer_ms, peer_gflops, ratio,
 *                          and optionally ours_gbps, peer_gbps, ours_items_per_s,
 *                          peer_items_per_s, note }]  (bench/types.ts BenchResult)
 *                       (ratio = peer_ms / ours_ms: above 1, ours is faster)
 *   bench/adapter.json  the adapter, date, mode and duration of the run.
 * Model rows (bench/model/models.ts): before the browser starts, the ONNX file of the
 * onnxruntime-web peer is exported when missing (/usr/bin/python3 tools/export_onnx.py); after
 * the browser closes (so the CPU is free), each model row that ran gets a second row with peer
 * "pytorch-cpu" (tools/bench_torch_cpu.py: the PyTorch reference on the CPU, 2 threads, same
 * batch and size), or a row with null peer fields and a note when python3 or torch is missing.
 * The LoRA training row (vit-s16.train-lora, bench/model/train.bench.ts) gets its pytorch-cpu
 * row the same way (tools/bench_torch_cpu.py --train: same model, pairs, LoRA and optimizer
 * settings; images/s counting the 2 * pairs images of a step).
 The Node (Dawn) row of dispatch.overhead (bench/gpu/dispatch.ts) is measured first, by
 * bench/dispatch-node.ts in a child process, before the browser starts.
 *
 * Options (flags after `npm run bench --`, or environment variables):
 *   --quick              | BENCH_QUICK=1        a few batch-8 entries (minutes on SwiftShader)
 *   --all                | BENCH_ALL=1          also the `heavy` entries (batch-32 linear, softmax)
 *   --filter <substring> | BENCH_FILTER=<s>     entries whose `op shape` contains it
 *   --no-peer            | BENCH_PEER=0         ours only (no onnxruntime-web, PyTorch, CPU rows)
 *   BENCH_PYTHON=<path>  the Python with torch for the model tools (default /usr/bin/python3)
 * On SwiftShader (2 CPU cores, no GPU) the default run took 27 minutes with other jobs loading
 * the cores (load ~7; about 9 of them the onnxruntime-web peer of vit-s16.embed, ~4.5 min per
 * forward), --quick 2 minutes; --all adds the batch-32 linear and softmax entries and their tfjs
 * peers; on a GPU, seconds.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { openPage, ROOT, waitForGlobal, withBrowser } from '../tests/e2e/browser';
import { DISPATCH_SHAPE } from './gpu/dispatch';
import { MODEL_BENCHES, modelLabel, TRAIN_BENCHES, type ModelBench } from './model/models';
import type { BenchReport, BenchResult } from './types';
import { mergeIntoFile } from './results-file';

/** Python with torch for the model tools (Debian's; $BENCH_PYTHON overrides). */
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

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

const fmt = (v: number | null | undefined, digits: number) => (v === null || v === undefined ? '–' : v.toFixed(digits));
/** Rates (GB/s, items/s) with 3 significant digits. */
const fmtRate = (v: number | null | undefined) =>
  v === null || v === undefined ? '–' : v >= 100 ? v.toFixed(0) : v.toPrecision(3);

function markdownTable(rows: BenchResult[]): string {
  const lines = [
    '| op | shape | ours ms | ours GFLOP/s | ours GB/s | ours items/s | peer | peer ms | peer GFLOP/s | peer items/s | peer/ours | note |',
    '|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    // count rows (train.dispatches, train.memory): the values go in the ms columns, with their unit
    const unit = r.unit ? ` ${r.unit}` : '';
    const ours = r.ours_value !== undefined ? `${r.ours_value}${unit}` : fmt(r.ours_ms, 1);
    const peer =
      r.ours_value !== undefined
        ? r.peer_value === null || r.peer_value === undefined
          ? '–'
          : `${r.peer_value}${unit}`
        : fmt(r.peer_ms, 1);
    lines.push(
      `| ${r.op} | ${r.shape} | ${ours} | ${fmt(r.ours_gflops, 2)} | ${fmtRate(r.ours_gbps)} | ` +
        `${fmtRate(r.ours_items_per_s)} | ${r.peer ?? '–'} | ${peer} | ${fmt(r.peer_gflops, 2)} | ` +
        `${fmtRate(r.peer_items_per_s)} | ${fmt(r.ratio, 2)} | ${r.note ?? ''} |`,
    );
  }
  return lines.join('\n');
}

/** Runs a model tool; returns its stdout, or an error message. */
function runPython(args: string[], timeoutMs: number): { out: string } | { error: string } {
  const r = spawnSync(PYTHON, args, { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs });
  if (r.error) {
    const e = r.error as NodeJS.ErrnoException;
    return { error: e.code === 'ENOENT' ? `${PYTHON} not found` : `${PYTHON}: ${e.message}` };
  }
  if (r.status !== 0) {
    let msg = (r.stderr || r.stdout || '').trim().split('\n').pop() ?? '';
    try {
      msg = (JSON.parse(r.stdout) as { error?: string }).error ?? msg;
    } catch {
      /* not JSON: keep the last output line */
    }
    return { error: `${args[0]} exited ${r.status ?? r.signal}: ${msg}` };
  }
  return { out: r.stdout };
}

/** Whether the page will run this model row (its selection rules, see bench-page.ts). */
function modelSelected(m: ModelBench, opts: ReturnType<typeof parseArgs>): boolean {
  return !opts.quick && (opts.all || !m.heavy) && modelLabel(m).includes(opts.filter);
}

/** Exports the ONNX files of the selected model rows' onnxruntime-web peers when missing. */
function ensureOnnx(opts: ReturnType<typeof parseArgs>): void {
  for (const m of MODEL_BENCHES) {
    if (!m.onnx || !opts.peer || !modelSelected(m, opts) || existsSync(resolve(ROOT, m.onnx))) continue;
    console.log(`exporting ${m.onnx} (tools/export_onnx.py --model ${m.torchModel}) ...`);
    const r = runPython(['tools/export_onnx.py', '--model', m.torchModel, '--out', m.onnx], 600_000);
    // On failure the page's peer finds no file and its row says so.
    console.log('error' in r ? `  failed: ${r.error}` : `  ${r.out.trim()}`);
  }
}

/** A PyTorch CPU peer to time next to a page row: its tools/bench_torch_cpu.py arguments. */
interface TorchPeer {
  op: string;
  shape: string;
  /** Images per iteration (the page row's `items`). */
  images: number;
  args: string[];
}

/** The PyTorch peers of the model rows (embed) and of the LoRA training rows (--train). */
function torchPeers(): TorchPeer[] {
  const embed = MODEL_BENCHES.map((m) => ({
    op: m.op,
    shape: m.shape,
    images: m.batch,
    args: ['--model', m.torchModel, '--batch', String(m.batch), '--size', String(m.image), '--threads', '2'],
  }));
  const train = TRAIN_BENCHES.map((t) => ({
    op: t.op,
    shape: t.shape,
    images: 2 * t.pairs,
    args: [
      '--train',
      '--model',
      t.model.torchModel,
      '--batch',
      String(t.pairs),
      '--size',
      String(t.model.image),
      '--threads',
      '2',
      '--lora-r',
      String(t.lora.r),
      '--lora-alpha',
      String(t.lora.alpha),
      '--lora-dropout',
      String(t.lora.dropout),
      '--lr',
      String(t.lr),
      '--weight-decay',
      String(t.weightDecay),
      '--max-grad-norm',
      String(t.maxGradNorm),
      '--tau',
      String(t.temperature),
    ],
  }));
  return [...embed, ...train];
}

/** The "pytorch-cpu" row next to each model / training row that ran (or a note why it has no peer). */
function torchRows(results: BenchResult[]): BenchResult[] {
  const rows: BenchResult[] = [];
  for (const m of torchPeers()) {
    const ours = results.find((r) => r.op === m.op);
    if (!ours) continue;
    console.log(`timing ${m.op} on PyTorch CPU (tools/bench_torch_cpu.py ${m.args.join(' ')}) ...`);
    const r = runPython(['tools/bench_torch_cpu.py', ...m.args], 900_000);
    const row: BenchResult = {
      op: m.op,
      shape: m.shape,
      ours_ms: ours.ours_ms,
      ours_gflops: ours.ours_gflops,
      peer: null,
      peer_ms: null,
      peer_gflops: null,
      ratio: null,
      ours_items_per_s: ours.ours_items_per_s,
      peer_items_per_s: null,
    };
    if ('error' in r) {
      row.note = `no pytorch-cpu peer: ${r.error}`;
    } else {
      const t = JSON.parse(r.out.trim().split('\n').pop()!) as {
        ms: number;
        threads: number;
        torch: string;
        blas?: string;
      };
      row.peer = 'pytorch-cpu';
      row.peer_ms = t.ms;
      row.peer_gflops = ours.ours_gflops === null ? null : (ours.ours_gflops * ours.ours_ms!) / t.ms;
      row.ratio = t.ms / ours.ours_ms!;
      row.peer_items_per_s = m.images / (t.ms / 1000);
      row.note = `torch ${t.torch} (BLAS ${t.blas ?? 'unknown'}), ${t.threads} CPU threads, after the browser closed`;
    }
    console.log(`  ${row.peer ? `${row.peer_ms!.toFixed(0)} ms` : row.note}`);
    rows.push(row);
  }
  return rows;
}

/**
 * Rows measured in Node by `script` (bench/dispatch-node.ts, bench/train-step-node.ts), each
 * printed as one JSON line (a BenchResult) on stdout; or an error message.
 */
function nodeRows(script: string): BenchResult[] | { error: string } {
  const r = spawnSync(resolve(ROOT, 'node_modules/.bin/vite-node'), [script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 600_000,
  });
  const rows = (r.stdout ?? '')
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  if (r.status !== 0 || rows.length === 0) {
    const why = r.error?.message ?? (r.stderr || r.stdout || '').trim().split('\n').pop() ?? '';
    return { error: `${script} exited ${r.status ?? r.signal}: ${why}` };
  }
  return rows.map((l) => JSON.parse(l) as BenchResult);
}

/** The Node scripts and the rows they make (for --filter). */
const NODE_SCRIPTS: { script: string; label: string }[] = [
  { script: 'bench/dispatch-node.ts', label: `dispatch.overhead ${DISPATCH_SHAPE}, Node (Dawn)` },
  { script: 'bench/train-step-node.ts', label: 'train.dispatches train.memory ViT-B/16 LoRA step' },
];

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const query = new URLSearchParams();
  if (opts.quick) query.set('quick', '1');
  if (opts.all) query.set('all', '1');
  if (opts.filter) query.set('filter', opts.filter);
  if (!opts.peer) query.set('peer', '0');
  const t0 = Date.now();
  ensureOnnx(opts);
  const nodeResults: BenchResult[] = [];
  const nodeFailures: string[] = [];
  for (const { script, label } of NODE_SCRIPTS) {
    if (!label.includes(opts.filter) && !label.split(' ').some((w) => w.includes(opts.filter))) continue;
    console.log(`measuring ${label} (${script}) ...`);
    const rows = nodeRows(script);
    if ('error' in rows) nodeFailures.push(`${label}: ${rows.error}`);
    else nodeResults.push(...rows);
    console.log(`  ${'error' in rows ? rows.error : rows.map((x) => x.note).join('\n  ')}`);
  }

  const report = await withBrowser(
    async ({ vite, browser }) => {
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
    },
    { isolated: true },
  );

  if (report.error) {
    console.error(`bench failed: ${report.error}`);
    return 1;
  }
  report.results.unshift(...nodeResults);
  report.failures.unshift(...nodeFailures);
  report.total = (report.total ?? 0) + nodeResults.length + nodeFailures.length;
  const pageRows = report.results.length;
  if (opts.peer) {
    // Each PyTorch row goes right after its model's row(s).
    for (const row of torchRows(report.results)) {
      const last = report.results.map((r) => r.op).lastIndexOf(row.op);
      report.results.splice(last + 1, 0, row);
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  if (report.results.length) {
    const file = resolve(ROOT, 'bench/results.json');
    mergeIntoFile(file, report.results);
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
          userAgentNote:
            'headless Chromium (tests/e2e/browser.ts flags); peers: TensorFlow.js webgpu (ops), ' +
            'onnxruntime-web webgpu (vit-s16.embed), cpu-bruteforce (topk, in the page), ' +
            'pytorch-cpu (model and training rows, tools/bench_torch_cpu.py after the browser closed)',
        },
        null,
        2,
      ) + '\n',
    );
  }
  console.log(`\nAdapter: ${report.describe}`);
  const extra = report.results.length - pageRows;
  console.log(
    `${pageRows} of ${report.total} entries in ${seconds.toFixed(0)} s` +
      (extra ? ` (+${extra} pytorch-cpu row${extra > 1 ? 's' : ''})` : '') +
      '\n',
  );
  console.log(markdownTable(report.results));
  if (report.results.length) console.log('\nmerged into bench/results.json; wrote bench/adapter.json');
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
