/**
 * tools/gpu-bench report: merges what the sections wrote (adapter.json, node-gemm.json,
 * node-forward.json, node-train.json from bench.ts; torch.json from torch_bench.py; any of them
 * may be missing or partial after a failure or a time limit) into one results object and a
 * markdown table: ours vs PyTorch on the same GPU in the same run, ratio = ours / PyTorch
 * (above 1: ours faster), and the targets of issue 10 marked met / not met:
 *   - f32 GEMM at the ViT-B/16 shapes >= 50% of PyTorch fp32 with TF32 off,
 *   - f16 / subgroup-matrix GEMM >= 30% of PyTorch fp16,
 *   - the LoRA training step >= 40% of PyTorch eager fp32 images/s.
 * GEMM targets compare the whole set of shapes time-weighted (sum of FLOPs over sum of times, per
 * side, over the shapes both measured), ours being the fastest correct variant of the class at
 * each shape; the worst single-shape ratio is shown next to it.
 */
import type { AdapterReport, GemmRow, GemmSection, ModelResult, VariantClass } from './measure';
import type { Plan } from './plan';

/** One PyTorch measurement, or why there is none. */
export type TorchTiming =
  { ms: number; tflops?: number; images_per_s?: number; iters_ms?: number[] } | { error: string } | { skipped: string };

export interface TorchResults {
  torch: string;
  device: string;
  device_type: string;
  model_impl?: string;
  lora_impl?: string;
  settings?: Record<string, unknown>;
  gemm: Record<string, Partial<Record<'fp32' | 'fp16' | 'bf16', TorchTiming>>>;
  forward: Partial<Record<'fp32' | 'amp_fp16', TorchTiming>>;
  train: Partial<Record<'fp32' | 'fp32_gradcache' | 'amp_fp16', TorchTiming>>;
  errors?: string[];
  complete?: boolean;
}

export interface Inputs {
  plan: Plan;
  adapter: AdapterReport | null;
  gemm: GemmSection | null;
  forward: ModelResult | null;
  train: ModelResult | null;
  torch: TorchResults | null;
  /** Lines about sections that did not run or did not finish (from run.sh). */
  notes: string[];
}

export interface Target {
  name: string;
  unit: string;
  ours: number | null;
  torch: number | null;
  ratio: number | null;
  goal: number;
  met: boolean | null;
  detail: string;
}

export interface GemmLine {
  id: string;
  mnk: string;
  /** TFLOP/s per variant, or its status. */
  variants: Record<string, number | string>;
  autotune: number | null;
  best: Record<VariantClass, { name: string; ms: number; tflops: number } | null>;
  torch: Record<'fp32' | 'fp16' | 'bf16', number | null>;
  ratio: Record<VariantClass, number | null>;
}

export interface Results {
  date: string;
  mode: Plan['mode'];
  /** The model both sides built, and its tokens per image. */
  configFile: string;
  tokens: number;
  adapter: AdapterReport | null;
  torch: Omit<TorchResults, 'gemm' | 'forward' | 'train'> | null;
  targets: Target[];
  gemm: GemmLine[];
  models: {
    name: string;
    ours: number | null;
    torch: Record<string, number | null>;
    ratio: Record<string, number | null>;
    note: string;
  }[];
  notes: string[];
  raw: Omit<Inputs, 'plan' | 'notes'>;
}

const timed = (t: TorchTiming | undefined): t is { ms: number; tflops?: number; images_per_s?: number } =>
  !!t && typeof (t as { ms?: unknown }).ms === 'number';

function bestOf(gemm: GemmSection, row: GemmRow, cls: VariantClass): GemmLine['best'][VariantClass] {
  let best: GemmLine['best'][VariantClass] = null;
  for (const v of gemm.variants) {
    const r = row.variants[v.name];
    if (v.class !== cls || r?.status !== 'ok' || r.ms === undefined) continue;
    if (!best || r.ms < best.ms) best = { name: v.name, ms: r.ms, tflops: r.tflops! };
  }
  return best;
}

/** The note of a model row: the kernels it ran, then what went wrong, or 'not run'. */
function modelNote(m: ModelResult | null): string {
  return m ? [m.kernels, m.note].filter(Boolean).join('; ') : 'not run';
}

export function buildResults(inp: Inputs, date = new Date().toISOString()): Results {
  const { plan, gemm, torch } = inp;
  const notes = [...inp.notes];
  const tg = (id: string, p: 'fp32' | 'fp16' | 'bf16') => {
    const t = torch?.gemm?.[id]?.[p];
    return timed(t) ? t : null;
  };
  const choice = gemm && 'choice' in gemm.autotune ? gemm.autotune.choice : null;
  const lines: GemmLine[] = [];
  for (const sh of plan.gemm) {
    const row = gemm?.rows.find((r) => r.id === sh.id);
    const variants: Record<string, number | string> = {};
    for (const v of gemm?.variants ?? []) {
      const r = row?.variants[v.name];
      variants[v.name] = r?.status === 'ok' ? r.tflops! : r ? r.status : 'not run';
    }
    const best = {
      f32: gemm && row ? bestOf(gemm, row, 'f32') : null,
      f16: gemm && row ? bestOf(gemm, row, 'f16') : null,
    };
    const torchT = { fp32: tg(sh.id, 'fp32'), fp16: tg(sh.id, 'fp16'), bf16: tg(sh.id, 'bf16') };
    const tflops = (t: { ms: number } | null) => (t ? sh.flops / (t.ms / 1000) / 1e12 : null);
    const auto = choice ? row?.variants[choice] : undefined;
    lines.push({
      id: sh.id,
      mnk: `${sh.M}x${sh.N}x${sh.K}`,
      variants,
      autotune: auto?.status === 'ok' ? auto.tflops! : null,
      best,
      torch: { fp32: tflops(torchT.fp32), fp16: tflops(torchT.fp16), bf16: tflops(torchT.bf16) },
      ratio: {
        f32: best.f32 && torchT.fp32 ? torchT.fp32.ms / best.f32.ms : null,
        f16: best.f16 && torchT.fp16 ? torchT.fp16.ms / best.f16.ms : null,
      },
    });
  }

  /** Time-weighted ratio over the shapes where both sides have a time. */
  const aggregate = (cls: VariantClass, p: 'fp32' | 'fp16', oursMs: (id: string) => number | null) => {
    let flops = 0,
      ours = 0,
      theirs = 0,
      worst: { id: string; r: number } | null = null,
      n = 0;
    for (const sh of plan.gemm) {
      const o = oursMs(sh.id),
        t = tg(sh.id, p);
      if (o === null || !t) continue;
      n++;
      flops += sh.flops;
      ours += o;
      theirs += t.ms;
      const r = t.ms / o;
      if (!worst || r < worst.r) worst = { id: sh.id, r };
    }
    if (n === 0) return null;
    return {
      ours: flops / (ours / 1000) / 1e12,
      torch: flops / (theirs / 1000) / 1e12,
      ratio: theirs / ours,
      worst: worst!,
      n,
    };
  };
  const bestMs = (cls: VariantClass) => (id: string) => lines.find((l) => l.id === id)?.best[cls]?.ms ?? null;
  const target = (
    name: string,
    goal: number,
    agg: ReturnType<typeof aggregate>,
    missing: string,
    what: string,
  ): Target => ({
    name,
    unit: 'TFLOP/s',
    ours: agg?.ours ?? null,
    torch: agg?.torch ?? null,
    ratio: agg?.ratio ?? null,
    goal,
    met: agg ? agg.ratio >= goal : null,
    detail: agg
      ? `${what}; ${agg.n}/${plan.gemm.length} shapes, time-weighted; worst shape ${agg.worst.id} at ${pct(agg.worst.r)}`
      : missing,
  });
  const targets: Target[] = [
    target(
      'f32 GEMM vs PyTorch fp32 (TF32 off)',
      0.5,
      aggregate('f32', 'fp32', bestMs('f32')),
      'not measured (no f32 variant and PyTorch fp32 time at the same shape)',
      'fastest correct f32 variant per shape',
    ),
    target(
      'f16 / subgroup-matrix GEMM vs PyTorch fp16',
      0.3,
      aggregate('f16', 'fp16', bestMs('f16')),
      gemm && !gemm.variants.some((v) => v.class === 'f16' && v.supported)
        ? 'not measured: no f16 / subgroup-matrix matmul variant is supported on this adapter'
        : 'not measured (no f16 variant and PyTorch fp16 time at the same shape)',
      'fastest correct f16 / subgroup-matrix variant per shape',
    ),
  ];
  const ours = (m: ModelResult | null) => (m?.status === 'ok' ? m.imagesPerS! : null);
  const ips = (t: TorchTiming | undefined) => (timed(t) ? (t.images_per_s ?? null) : null);
  const trainOurs = ours(inp.train),
    trainTorch = ips(torch?.train?.fp32);
  targets.push({
    name: 'LoRA training step vs PyTorch eager fp32',
    unit: 'images/s',
    ours: trainOurs,
    torch: trainTorch,
    ratio: trainOurs !== null && trainTorch !== null ? trainOurs / trainTorch : null,
    goal: 0.4,
    met: trainOurs !== null && trainTorch !== null ? trainOurs / trainTorch >= 0.4 : null,
    detail: `${plan.train.pairs} pairs (${2 * plan.train.pairs} images) per step; ours gradient-cached in chunks of ${plan.train.chunk}, PyTorch whole batch`,
  });
  const autoAgg = choice
    ? aggregate('f32', 'fp32', (id) => {
        const r = gemm!.rows.find((x) => x.id === id)?.variants[choice];
        return r?.status === 'ok' ? r.ms! : null;
      })
    : null;
  if (autoAgg)
    notes.push(
      `autotune picks "${choice}": ${num(autoAgg.ours)} TFLOP/s over the shapes (time-weighted), ${pct(autoAgg.ratio)} of PyTorch fp32`,
    );

  const ratios = (o: number | null, t: Record<string, number | null>) =>
    Object.fromEntries(Object.entries(t).map(([k, v]) => [k, o !== null && v !== null ? o / v : null]));
  const fwdTorch = { fp32: ips(torch?.forward?.fp32), amp_fp16: ips(torch?.forward?.amp_fp16) };
  const trTorch = {
    fp32: trainTorch,
    fp32_gradcache: ips(torch?.train?.fp32_gradcache),
    amp_fp16: ips(torch?.train?.amp_fp16),
  };
  const models = [
    {
      name: `ViT forward, batch ${plan.forward.batch}`,
      ours: ours(inp.forward),
      torch: fwdTorch,
      ratio: ratios(ours(inp.forward), fwdTorch),
      note: modelNote(inp.forward),
    },
    {
      name: `LoRA step, ${plan.train.pairs} pairs`,
      ours: trainOurs,
      torch: trTorch,
      ratio: ratios(trainOurs, trTorch),
      note: modelNote(inp.train),
    },
  ];
  // PyTorch measurements that did not happen, one note per reason (GEMM shapes counted).
  const why = (v: TorchTiming | undefined) => (v && !timed(v) ? ('error' in v ? v.error : v.skipped) : null);
  const gemmWhy = new Map<string, number>();
  for (const row of Object.values(torch?.gemm ?? {})) {
    for (const [p, v] of Object.entries(row)) {
      const w = why(v);
      if (w) gemmWhy.set(`torch gemm ${p}: ${w}`, (gemmWhy.get(`torch gemm ${p}: ${w}`) ?? 0) + 1);
    }
  }
  for (const [k, n] of gemmWhy) notes.push(`${k} (${n} shape${n > 1 ? 's' : ''})`);
  for (const [part, o] of [
    ['forward', torch?.forward],
    ['train', torch?.train],
  ] as const) {
    for (const [k, v] of Object.entries(o ?? {})) {
      const w = why(v);
      if (w) notes.push(`torch ${part} ${k}: ${w}`);
    }
  }
  for (const e of torch?.errors ?? []) notes.push(`torch: ${e}`);
  if (gemm && !gemm.complete)
    notes.push('ours GEMM: the section did not finish (time limit or crash); missing rows are "not run"');
  let torchMeta: Results['torch'] = null;
  if (torch) {
    const { gemm: _g, forward: _f, train: _t, ...meta } = torch;
    torchMeta = meta;
  }
  return {
    date,
    mode: plan.mode,
    configFile: plan.configFile,
    tokens: plan.tokens,
    adapter: inp.adapter,
    torch: torchMeta,
    targets,
    gemm: lines,
    models,
    notes,
    raw: { adapter: inp.adapter, gemm: inp.gemm, forward: inp.forward, train: inp.train, torch: inp.torch },
  };
}

const pct = (r: number) => `${(100 * r).toFixed(0)}%`;
/** 3 significant digits (12.3, 0.456, 1.23e-5); whole numbers from 100. */
const num = (v: number | null | undefined) =>
  v === null || v === undefined
    ? '–'
    : v >= 100
      ? v.toFixed(0)
      : v >= 0.01 || v === 0
        ? v.toPrecision(3)
        : v.toExponential(2);
/** A variant's TFLOP/s, or its status (a wrong variant in capitals: FAILED). */
const cell = (v: number | string) => (typeof v === 'number' ? num(v) : v === 'failed' ? 'FAILED' : v);

export function markdown(r: Results): string {
  const out: string[] = [];
  const a = r.adapter;
  out.push(`# vembed-web GPU benchmark (${r.mode}), ${r.date}`);
  out.push('');
  out.push(`- ours: ${a ? `${a.describe}${a.isNvidia ? '' : ' — NOT an NVIDIA GPU'}` : 'no adapter report'}`);
  if (a) {
    const sm = (a.info.subgroupMatrixConfigs as unknown[] | undefined) ?? [];
    out.push(`- device features: ${a.deviceFeatures.join(', ') || '–'}`);
    out.push(
      `- subgroup matrix configs: ${sm.length ? JSON.stringify(sm) : 'none'}; Dawn toggles: ${a.toggles.join(', ')}`,
    );
  }
  out.push(
    `- PyTorch: ${r.torch?.torch ? `${r.torch.torch} on ${r.torch.device} (${r.torch.device_type}); model ${r.torch.model_impl ?? '?'}; LoRA ${r.torch.lora_impl ?? '?'}` : 'no results (see Notes)'}`,
  );
  if (r.mode === 'tiny') out.push('- tiny sizes: a check of the plumbing, not a measurement');
  out.push('');
  out.push('## Targets (ratio = ours / PyTorch, same GPU, same run)');
  out.push('');
  out.push('| target | ours | PyTorch | ratio | goal | met | how |');
  out.push('|---|---:|---:|---:|---:|---|---|');
  for (const t of r.targets) {
    out.push(
      `| ${t.name} | ${num(t.ours)} ${t.unit} | ${num(t.torch)} ${t.unit} | ${t.ratio === null ? '–' : pct(t.ratio)} | ${pct(t.goal)} | ${t.met === null ? 'not measured' : t.met ? 'met' : 'not met'} | ${t.detail} |`,
    );
  }
  out.push('');
  const names = Object.keys(r.gemm[0]?.variants ?? {});
  const tuned = r.raw.gemm && 'choice' in r.raw.gemm.autotune ? r.raw.gemm.autotune : null;
  const picks = tuned ? `${tuned.choice}${tuned.f16 ? `, for packed-f16 operands ${tuned.f16}` : ''}` : '–';
  out.push(
    `## GEMM TFLOP/s at the linear shapes of ${r.configFile} (B images = B x ${r.tokens} rows; autotune picks ${picks})`,
  );
  out.push('');
  out.push(
    `| shape | MxNxK | ${names.join(' | ')} | best f32 | torch fp32 | ratio | best f16 | torch fp16 | ratio | torch bf16 |`,
  );
  out.push(`|---|---|${names.map(() => '---:').join('|')}|---:|---:|---:|---:|---:|---:|---:|`);
  for (const l of r.gemm) {
    out.push(
      `| ${l.id} | ${l.mnk} | ${names.map((n) => cell(l.variants[n])).join(' | ')} | ` +
        `${l.best.f32 ? `${num(l.best.f32.tflops)} ${l.best.f32.name}` : '–'} | ${num(l.torch.fp32)} | ${l.ratio.f32 === null ? '–' : pct(l.ratio.f32)} | ` +
        `${l.best.f16 ? `${num(l.best.f16.tflops)} ${l.best.f16.name}` : '–'} | ${num(l.torch.fp16)} | ${l.ratio.f16 === null ? '–' : pct(l.ratio.f16)} | ${num(l.torch.bf16)} |`,
    );
  }
  out.push('');
  out.push('## Model (images/s)');
  out.push('');
  out.push(
    '| row | ours | PyTorch fp32 | ratio | PyTorch fp32, gradient cache | ratio | PyTorch AMP fp16 | ratio | note |',
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const m of r.models) {
    const c = (k: string) =>
      `${num(m.torch[k])} | ${m.ratio[k] === null || m.ratio[k] === undefined ? '–' : pct(m.ratio[k]!)}`;
    out.push(
      `| ${m.name} | ${num(m.ours)} | ${c('fp32')} | ${'fp32_gradcache' in m.torch ? c('fp32_gradcache') : '– | –'} | ${c('amp_fp16')} | ${m.note} |`,
    );
  }
  if (r.notes.length) {
    out.push('');
    out.push('## Notes');
    out.push('');
    for (const n of r.notes) out.push(`- ${n}`);
  }
  return out.join('\n') + '\n';
}
