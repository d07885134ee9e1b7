/**
 * The Node rows of the SOP-scale benchmark (bench/scale/run.ts runs them; each is a function so
 * that `--only` can pick them). Every row times ours and its peer in the same process, one after
 * the other (the decode-only peer before and after ours, averaged), so the ratio holds on a
 * shared machine; absolute times do not.
 *   eval.sop.embed   embedImages (decode + preprocess + GPU) over the test split vs sharp
 *                    decode-only of the same files (64 in flight): images/s
 *   search.allpairs  searchTopK, N x N, K = 100, itself excluded vs our matmul on the same
 *                    similarity tiles (no selection): GFLOP/s of 2 N^2 D
 *   search.query     one query against the N-image gallery kept on the GPU (ResidentGallery)
 *                    vs searchTopK uploading the gallery for the query: ms
 *   eval.sop         the whole `vembed eval sop` in a child process: seconds and peak RSS
 *   train.memory     a max_steps run of the tiny model on the train split: RSS and GPU memory
 *                    at step 100 and at the last step
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultTrainConfig } from '../../src/config';
import { decodeImageFile } from '../../src/data/decode-node';
import { preprocessorFromConfig } from '../../src/data/preprocess';
import { prepareSop, readEbayList } from '../../src/data/sop';
import { nodeSource } from '../../src/platform/data-source-node';
import { embedImages } from '../../src/eval/embed';
import { ResidentGallery, searchPlan, searchTopK } from '../../src/eval/search';
import type { Gpu } from '../../src/gpu/device';
import { loadCheckpoint } from '../../src/model/load';
import { dirSource } from '../../src/platform/file-source-node';
import { Vit } from '../../src/model/vit';
import { matmul } from '../../src/ops/matmul';
import { galleryChunks } from '../../src/ops/topk';
import { nodeStore } from '../../src/platform/checkpoint-store-node';
import { Trainer } from '../../src/train/trainer';
import { ROOT } from '../../tests/e2e/browser';
import type { BenchResult } from '../types';
import { normalizeRows, randomF32 } from '../util';

export interface ScaleCtx {
  gpu: Gpu;
  root: string;
  /** Random-weight tiny models (tools/make_sop_synthetic.ts --model_dir). */
  models: { m16: string; m48: string };
  /** Rows done so far (a row may reuse what an earlier one computed, e.g. embeddings). */
  shared: { emb16?: { emb: Float32Array; N: number; D: number } };
  log: (line: string) => void;
}

const K = 100;

export async function testPaths(root: string): Promise<string[]> {
  const list = readEbayList(await readFile(join(root, 'Ebay_test.txt'), 'utf8'), join(root, 'Ebay_test.txt'));
  return list.map((r) => join(root, r.path));
}

async function pool(items: readonly string[], inFlight: number, f: (p: string) => Promise<unknown>): Promise<number> {
  let i = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (i < items.length) await f(items[i++]).catch(() => {});
    }),
  );
  return (performance.now() - t0) / 1000;
}

const row = (r: Omit<BenchResult, 'ours_gflops' | 'peer_gflops'> & Partial<BenchResult>): BenchResult => ({
  ours_gflops: null,
  peer_gflops: null,
  ...r,
});

/** Tiny model over `paths` vs sharp decode-only (mean of one run before and one after ours). */
async function embedVsDecode(
  ctx: ScaleCtx,
  model: string,
  paths: string[],
  label: string,
  batch: number,
): Promise<BenchResult> {
  const ck = await loadCheckpoint(dirSource(model));
  const pp = preprocessorFromConfig(ck.preprocessor!, ck.spec.family, model);
  const vit = new Vit(ctx.gpu, ck.spec, ck.weights);
  try {
    await embedImages(vit, pp, paths.slice(0, batch), decodeImageFile, { batchSize: batch }); // pipelines compiled
    await pool(paths, 64, (p) => readFile(p)); // file cache warm for both
    const d1 = await pool(paths, 64, decodeImageFile);
    ctx.log(`  decode-only ${(paths.length / d1).toFixed(0)} images/s`);
    const t0 = performance.now();
    const r = await embedImages(vit, pp, paths, decodeImageFile, { batchSize: batch });
    const ours = (performance.now() - t0) / 1000;
    ctx.log(`  ${label}: ${(paths.length / ours).toFixed(1)} images/s (${r.skipped.length} unreadable)`);
    const d2 = await pool(paths, 64, decodeImageFile);
    const decode = (d1 + d2) / 2;
    if (ck.spec.hidden === 16) ctx.shared.emb16 = { emb: r.emb, N: r.kept.length, D: r.D };
    return row({
      op: 'eval.sop.embed',
      shape: `${label}, ${paths.length} SOP test images at 32 px, batch ${batch} (node)`,
      ours_ms: ours * 1000,
      peer: 'sharp decode-only (64 in flight)',
      peer_ms: decode * 1000,
      ratio: decode / ours,
      ours_items_per_s: paths.length / ours,
      peer_items_per_s: paths.length / decode,
      note:
        `ratio = ours / decode-only images/s; decode-only ${(paths.length / d1).toFixed(0)} before, ${(paths.length / d2).toFixed(0)} after; ` +
        `decode busy ${r.decodeSeconds.toFixed(1)} s, GPU busy ${r.embedSeconds.toFixed(1)} s`,
    });
  } finally {
    vit.destroy();
  }
}

export async function embedTiny(ctx: ScaleCtx): Promise<BenchResult[]> {
  const paths = await testPaths(ctx.root);
  return [await embedVsDecode(ctx, ctx.models.m16, paths, 'hidden 16, 1 layer, patch 8', 128)];
}

export async function embedSmall(ctx: ScaleCtx): Promise<BenchResult[]> {
  const paths = (await testPaths(ctx.root)).slice(0, 4096);
  return [await embedVsDecode(ctx, ctx.models.m48, paths, 'hidden 48, 2 layers, patch 4', 128)];
}

/** The similarity tiles searchTopK computes (same plan), by our matmul alone. */
async function matmulTiles(gpu: Gpu, buf: GPUBuffer, N: number, D: number): Promise<number> {
  const lim = gpu.device.limits;
  const plan = searchPlan(
    N,
    N,
    D,
    K,
    { maxBindingBytes: lim.maxStorageBufferBindingSize, maxBufferBytes: lim.maxBufferSize },
    {},
    true,
  );
  const { queryBlock, chunkRows, tileStride } = plan.topk;
  const tile = gpu.zeros(queryBlock * tileStride, 'bench tile');
  try {
    const t0 = performance.now();
    for (let q0 = 0; q0 < N; q0 += queryBlock) {
      const nq = Math.min(queryBlock, N - q0);
      for (const [g0, ng] of galleryChunks(N, chunkRows, K)) {
        matmul(gpu, tile, buf, buf, {
          M: nq,
          N: ng,
          K: D,
          transB: true,
          offA: q0 * D,
          offB: g0 * D,
          ldc: tileStride,
          op: 'bench.similarity',
        });
      }
      await gpu.flush();
    }
    await gpu.sync();
    return (performance.now() - t0) / 1000;
  } finally {
    tile.destroy();
  }
}

async function allPairs(ctx: ScaleCtx, emb: Float32Array, N: number, D: number, what: string): Promise<BenchResult> {
  const gpu = ctx.gpu;
  await searchTopK(gpu, emb.subarray(0, 512 * D), emb.subarray(0, 512 * D), 512, 512, D, K, { excludeSelf: true }); // compile
  const t0 = performance.now();
  await searchTopK(gpu, emb, emb, N, N, D, K, { excludeSelf: true });
  const ours = (performance.now() - t0) / 1000;
  const buf = gpu.upload(emb, 'bench gallery');
  let mm: number;
  try {
    mm = await matmulTiles(gpu, buf, N, D);
  } finally {
    buf.destroy();
  }
  const flops = 2 * N * N * D;
  ctx.log(
    `  all-pairs ${N} x ${N} x ${D}: top-${K} ${ours.toFixed(1)} s, matmul alone ${mm.toFixed(1)} s (${((mm / ours) * 100).toFixed(0)}% of its rate)`,
  );
  return row({
    op: 'search.allpairs',
    shape: `${N} x ${N}, D=${D}, top-${K}, itself excluded (${what})`,
    ours_ms: ours * 1000,
    ours_gflops: flops / ours / 1e9,
    peer: 'our matmul, same similarity tiles, no selection',
    peer_ms: mm * 1000,
    peer_gflops: flops / mm / 1e9,
    ratio: mm / ours,
    ours_items_per_s: N / ours,
    note: 'ratio = our top-K rate / our matmul rate on the same product (target >= 0.5)',
  });
}

export async function allPairsRows(ctx: ScaleCtx): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const e = ctx.shared.emb16;
  if (e) out.push(await allPairs(ctx, e.emb, e.N, e.D, 'embeddings of the hidden-16 model'));
  const N = 16_384; // at 60,502 rows (14x the work) this takes ~15 min on 2 CPU cores
  out.push(await allPairs(ctx, normalizeRows(randomF32(N * 48, 48), N, 48), N, 48, 'random unit vectors'));
  return out;
}

export async function queryRows(ctx: ScaleCtx): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const N = 60_502;
  for (const D of [16, 768]) {
    const emb = D === 16 && ctx.shared.emb16 ? ctx.shared.emb16.emb : normalizeRows(randomF32(N * D, D), N, D);
    const G = emb.length / D;
    const q = emb.slice(7 * D, 8 * D);
    const opts = { excludeSelf: true, selfOffset: 7 };
    const gallery = new ResidentGallery(ctx.gpu, emb, G, D);
    const median = async (n: number, f: () => Promise<unknown>) => {
      await f();
      const ts: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await f();
        ts.push(performance.now() - t0);
      }
      return ts.sort((a, b) => a - b)[n >> 1];
    };
    let ours: number, peer: number;
    try {
      ours = await median(5, () => gallery.search(q, 1, K, opts));
      peer = await median(3, () => searchTopK(ctx.gpu, q, emb, 1, G, D, K, opts));
    } finally {
      gallery.destroy();
    }
    ctx.log(`  one query vs ${G} x ${D}: ${ours.toFixed(1)} ms resident, ${peer.toFixed(1)} ms uploading the gallery`);
    out.push(
      row({
        op: 'search.query',
        shape: `1 query vs ${G} images, D=${D}, top-${K} (${D === 16 && ctx.shared.emb16 ? 'hidden-16 embeddings' : 'random unit vectors'})`,
        ours_ms: ours,
        peer: 'searchTopK (gallery uploaded for the query)',
        peer_ms: peer,
        ratio: peer / ours,
        note: "median wall ms; ours keeps the gallery on the GPU (ResidentGallery, the app's Search)",
      }),
    );
  }
  return out;
}

/** `vembed eval sop` on the full test split in a child process under /usr/bin/time -v. */
export async function evalSopRow(ctx: ScaleCtx): Promise<BenchResult[]> {
  const out = await mkdtemp(join(tmpdir(), 'vembed-bench-sop-'));
  try {
    const r = spawnSync(
      '/usr/bin/time',
      [
        '-v',
        process.execPath,
        join(ROOT, 'bin/vembed.mjs'),
        'eval',
        'sop',
        '--model_path',
        ctx.models.m16,
        '--sop_root',
        ctx.root,
        '--output_dir',
        out,
      ],
      { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
    );
    if (r.status !== 0) throw new Error(`vembed eval sop failed: ${(r.stderr || '').split('\n').slice(-8).join('\n')}`);
    const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
    const rep = JSON.parse(await readFile(join(out, 'sop_report.json'), 'utf8'));
    ctx.log(
      `  vembed eval sop: ${rep.time.seconds} s, peak RSS ${(kb / 1024).toFixed(0)} MiB, search ${rep.search.seconds} s, R@1 ${rep['recall@1']}`,
    );
    return [
      row({
        op: 'eval.sop',
        shape: `vembed eval sop, hidden-16 model, ${rep.num_images} test images (${rep.skipped_images} skipped)`,
        ours_ms: rep.time.seconds * 1000,
        peer: null,
        peer_ms: null,
        ratio: null,
        ours_items_per_s: rep.num_images / rep.time.seconds,
        note:
          `peak RSS ${(kb / 1024).toFixed(0)} MiB; embed ${rep.embed_images_per_s} img/s, decode ${rep.decode_images_per_s} img/s, ` +
          `search ${rep.search.seconds} s; recall@1/10/100 ${[1, 10, 100].map((k) => rep[`recall@${k}`]).join(' / ')}`,
      }),
    ];
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** Training memory over a long run: RSS and GPU memory at step 100 and at the last step. */
export async function trainMemoryRow(ctx: ScaleCtx, steps = 2000): Promise<BenchResult[]> {
  const { train } = await prepareSop(nodeSource(ctx.root), { seed: 42, withVal: false });
  const ck = await loadCheckpoint(dirSource(ctx.models.m16));
  const out = await mkdtemp(join(tmpdir(), 'vembed-bench-train-'));
  const mem: Record<number, { rss: number; gpu: number }> = {};
  const t0 = performance.now();
  const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  try {
    const config = {
      ...defaultTrainConfig(),
      model_name: ctx.models.m16,
      data_path: 'Ebay_train.txt',
      output_dir: out,
      batch_size: 32,
      max_steps: steps,
      learning_rate: 1e-4,
      logging_steps: 100,
      use_lora: true,
      lora_r: 4,
      lora_alpha: 8,
      use_gradient_cache: false,
    };
    const t = new Trainer({
      gpu: ctx.gpu,
      checkpoint: ck,
      config,
      store: nodeStore(out),
      train: {
        records: train.pairs.map((p) => ({
          ...p,
          query: join(ctx.root, p.query),
          positive: join(ctx.root, p.positive),
        })),
        load: decodeImageFile,
      },
      onEvent: (e) => {
        if (e.kind === 'step' && (e.step === 100 || e.step === steps || e.step % 500 === 0)) {
          mem[e.step] = { rss: process.memoryUsage().rss, gpu: ctx.gpu.memory.live };
          ctx.log(
            `  train step ${e.step}/${steps}: RSS ${MiB(mem[e.step].rss)}, GPU ${MiB(mem[e.step].gpu)}, ${e.imagesPerSec.toFixed(0)} images/s`,
          );
        }
      },
    });
    const r = await t.run();
    t.destroy();
    const s = (performance.now() - t0) / 1000;
    const a = mem[100],
      b = mem[steps];
    return [
      row({
        op: 'train.memory',
        shape: `hidden-16 model, LoRA r=4, batch 32, ${steps} steps over ${train.pairs.length} SOP pairs`,
        ours_ms: s * 1000,
        peer: null,
        peer_ms: null,
        ratio: null,
        ours_items_per_s: (2 * 32 * r.steps) / s,
        note:
          `RSS ${MiB(a.rss)} at step 100, ${MiB(b.rss)} at step ${steps}; GPU memory ${MiB(a.gpu)} and ${MiB(b.gpu)}; ` +
          `every 500 steps: ${Object.entries(mem)
            .map(([k, v]) => `${k}: ${MiB(v.rss)}`)
            .join(', ')}`,
      }),
    ];
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
