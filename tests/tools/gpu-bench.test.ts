/**
 * tools/gpu-bench: the plan both sides run, the Node side measured for real through the normal
 * Gpu on this machine's adapter (SwiftShader; tiny sizes), the report that merges it with the
 * PyTorch side (tests/fixtures/gpu-bench/torch-tiny.json: torch_bench.py --tiny output from
 * Debian's torch on the CPU), and the command line's refusal to measure a non-NVIDIA adapter.
 * The LoRA training step section and the bundle run in `bash tools/gpu-bench/run.sh --tiny`
 * (about 2 minutes here, most of it SwiftShader compiling the training pipelines), not here.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { defaultTrainConfig } from '../../src/config/schema';
import { matmulKernel, type MatmulKernel } from '../../src/ops/matmul';
import {
  adapterReport,
  benchKernels,
  forwardEntry,
  gemmSection,
  modelSection,
  useTunedKernels,
  variantClass,
  type GemmSection,
  type ModelResult,
} from '../../tools/gpu-bench/measure';
import { main } from '../../tools/gpu-bench/main';
import { makePlan } from '../../tools/gpu-bench/plan';
import { buildResults, markdown, type TorchResults } from '../../tools/gpu-bench/report';
import { nodeGpu } from '../helpers/node-gpu';

afterAll(async () => (await nodeGpu()).destroy());

const torchTiny = JSON.parse(readFileSync('tests/fixtures/gpu-bench/torch-tiny.json', 'utf8')) as TorchResults;

describe('plan', () => {
  test('ViT-B/16 linear shapes at N = B * 201 rows, B = 8..64, forward and both backward products', () => {
    const p = makePlan('full');
    expect(p.tokens).toBe(201);
    expect(p.gemm).toHaveLength(4 * 4 * 3);
    expect(new Set(p.gemm.map((s) => s.B))).toEqual(new Set([8, 16, 32, 64]));
    const qkv = p.gemm.filter((s) => s.layer === 'qkv' && s.B === 64);
    expect(qkv.map((s) => [s.dir, s.M, s.N, s.K, s.transA, s.transB])).toEqual([
      ['fwd', 12864, 2304, 768, false, true],
      ['dx', 12864, 768, 2304, false, false],
      ['dW', 2304, 768, 12864, true, false],
    ]);
    const fc2 = p.gemm.find((s) => s.id === 'fc2.fwd B=8')!;
    expect([fc2.M, fc2.N, fc2.K, fc2.flops]).toEqual([1608, 768, 3072, 2 * 1608 * 768 * 3072]);
    expect(p.forward.batch).toBe(64);
    // The training step is the trainer's defaults at batch 128.
    const d = defaultTrainConfig();
    expect(p.train).toEqual({
      pairs: 128,
      chunk: d.gradient_cache_chunk_size,
      lora: {
        r: d.lora_r,
        alpha: d.lora_alpha,
        dropout: d.lora_dropout,
        roles: ['q', 'v'],
        modules: ['q_proj', 'v_proj'],
      },
      temperature: d.temperature,
      lr: d.learning_rate,
      weightDecay: d.weight_decay,
      maxGradNorm: d.max_grad_norm,
    });
    expect(p.config.hidden_size).toBe(768);
  });

  test('variant precision classes: f32 kernels; f16 / subgroup-matrix ones by flag, field or name', () => {
    for (const k of benchKernels()) {
      const f16 = (k.features ?? []).length > 0 || k.name.endsWith('packed_f16');
      expect(variantClass(k), k.name).toBe(f16 ? 'f16' : 'f32');
    }
    expect(
      benchKernels()
        .filter((k) => variantClass(k) === 'f16')
        .map((k) => k.name),
    ).toEqual(['vec4_f16', 'tiled_128x64_f16', 'subgroup_matrix', 'tiled_128x64.packed_f16']);
    const base = matmulKernel('tiled');
    const like = (extra: object) => ({ ...base, name: 'x', ...extra }) as MatmulKernel;
    expect(variantClass(like({ name: 'tiled_f16' }))).toBe('f16');
    expect(variantClass(like({ shader: 'ops/matmul_subgroup_matrix' }))).toBe('f16');
    expect(variantClass(like({ schedule: { kind: 'sgmat', bm: 64 } }))).toBe('f16');
    expect(variantClass(like({ shaderF16: true }))).toBe('f16');
    expect(variantClass(like({ precision: 'f16' }))).toBe('f16');
    expect(variantClass(like({ features: ['shader-f16'] }))).toBe('f16');
    expect(variantClass(like({ f16: false, precision: 'f32', fallback: 'tiled_f16' }))).toBe('f32');
  });
});

describe('Node side on this adapter (tiny)', () => {
  const plan = makePlan('tiny');
  let gemm: GemmSection;
  let forward: ModelResult;

  // Two real variants (the general one and a vec4 one), vec4 on packed-f16 operands and a broken
  // one, at the three products
  // (transB, plain, transA). Every variant and autotune's pick run in `run.sh --tiny`: all of them
  // here would take ~40 s of SwiftShader compiling on a loaded machine.
  const real = [matmulKernel('scalar'), matmulKernel('vec4')];
  // the f16 class's input path: packed-f16 operands, checked against the rounded inputs' product
  const half: MatmulKernel = { ...matmulKernel('vec4'), name: 'vec4.packed_f16' };

  test('GEMM: variants checked against float64 and timed; a wrong one is reported failed, not dropped', async () => {
    const gpu = await nodeGpu();
    // A variant that leaves half of C unwritten (its tile height doubled): it must fail the check.
    const broken: MatmulKernel = { ...matmulKernel('scalar'), name: 'broken', tm: 16 };
    const small = { ...plan, gemm: plan.gemm.filter((s) => s.B === 4 && s.layer === 'qkv') };
    const rows: unknown[] = [];
    gemm = await gemmSection(gpu, small, {
      budgetMs: 60_000,
      kernels: [...real, half, broken],
      autotune: false,
      progress: (p) => rows.push(p),
    });
    expect(gemm.complete).toBe(true);
    expect(gemm.rows.map((r) => r.id)).toEqual(['qkv.fwd B=4', 'qkv.dx B=4', 'qkv.dW B=4']);
    expect(gemm.variants.map((v) => [v.name, v.class, v.supported])).toEqual([
      ['scalar', 'f32', true],
      ['vec4', 'f32', true],
      ['vec4.packed_f16', 'f16', true],
      ['broken', 'f32', true],
    ]);
    for (const row of gemm.rows) {
      for (const k of real) {
        const v = row.variants[k.name];
        expect(v.status, `${row.id} ${k.name}: ${v.note}`).toBe('ok');
        expect(v.relErr!).toBeLessThan(1e-5);
        expect(v.maxErr!).toBeLessThan(1e-4);
        expect(v.ms!).toBeGreaterThan(0);
        expect(v.tflops).toBeCloseTo(row.flops / (v.ms! / 1000) / 1e12, 12);
        expect(v.samples).toHaveLength(3);
      }
      // f32 accumulation of exact f16 products: as close to its reference as the f32 variants
      expect(row.variants[half.name]).toMatchObject({ status: 'ok' });
      expect(row.variants[half.name].relErr!).toBeLessThan(1e-5);
      expect(row.variants.broken.status).toBe('failed');
      expect(row.variants.broken.note).toMatch(/disagrees with the float64 reference/);
      expect(row.variants.broken.maxErr).toBeGreaterThan(1e-2);
    }
    expect(rows.length).toBe(1 + gemm.rows.length); // written at the start and after every row
  });

  test('GEMM: past the time budget the rest is marked skipped, not dropped', async () => {
    const gpu = await nodeGpu();
    const one = { ...plan, gemm: plan.gemm.slice(0, 1) };
    const s = await gemmSection(gpu, one, { budgetMs: -1, kernels: [matmulKernel('scalar')], autotune: false });
    expect(s.rows[0].variants.scalar).toEqual({ status: 'skipped', note: 'time budget spent' });
  });

  test("model rows run the gemm section's autotune picks (what a user's start-up picks), else say the default", async () => {
    const gpu = await nodeGpu();
    const saved = new Map(gpu.variants);
    try {
      const tuned: GemmSection = { ...gemm, autotune: { choice: 'vec4', ms: {}, totalMs: 1, f16: 'scalar' } };
      expect(useTunedKernels(gpu, tuned)).toBe("matmul vec4, matmul-f16 scalar (autotune's picks in the gemm section)");
      expect([gpu.variants.get('matmul'), gpu.variants.get('matmul-f16')]).toEqual(['vec4', 'scalar']);
      gpu.variants.clear();
      expect(useTunedKernels(gpu, null)).toBe('matmul vec4_quad (the default; no autotune pick: no gemm section)');
      expect(useTunedKernels(gpu, gemm)).toMatch(/no autotune pick: not run \(autotune: false\)\)$/);
      expect(gpu.variants.size).toBe(0);
    } finally {
      gpu.variants.clear();
      for (const [k, v] of saved) gpu.variants.set(k, v);
    }
  });

  test('forward: warm-up, output check (unit-norm embeddings), timed iterations', async () => {
    const gpu = await nodeGpu();
    const kernels = useTunedKernels(gpu, gemm); // as main.ts does: the default here (no autotune ran)
    forward = await modelSection(gpu, forwardEntry(plan), { budgetMs: 60_000, maxIters: 2 });
    forward.kernels = kernels;
    expect(forward.status, forward.note).toBe('ok');
    expect(forward.images).toBe(plan.forward.batch);
    expect(forward.itersMs).toHaveLength(2);
    expect(forward.imagesPerS).toBeCloseTo(plan.forward.batch / (forward.ms! / 1000), 9);
  });

  test('report: ours vs the PyTorch fixture, ratios and targets, markdown table', async () => {
    const adapter = adapterReport(await nodeGpu(), null);
    const r = buildResults(
      { plan, adapter, gemm, forward, train: null, torch: torchTiny, notes: ['ours train: killed at its 140 s limit'] },
      'DATE',
    );
    const line = r.gemm.find((l) => l.id === 'qkv.fwd B=4')!;
    const best = Math.min(...real.map((k) => gemm.rows[0].variants[k.name].ms!));
    expect(line.best.f32!.ms).toBe(best);
    const torchMs = (torchTiny.gemm['qkv.fwd B=4'].fp32 as { ms: number }).ms;
    expect(line.ratio.f32).toBeCloseTo(torchMs / best, 12);
    expect(line.best.f16!.name).toBe('vec4.packed_f16'); // the only f16-class variant here
    // The f32 target over the 3 measured shapes, time-weighted.
    const f32 = r.targets[0];
    const ids = gemm.rows.map((x) => x.id);
    const oursMs = ids.reduce((a, id) => a + r.gemm.find((l) => l.id === id)!.best.f32!.ms, 0);
    const theirsMs = ids.reduce((a, id) => a + (torchTiny.gemm[id].fp32 as { ms: number }).ms, 0);
    expect(f32.ratio).toBeCloseTo(theirsMs / oursMs, 12);
    expect(f32.met).toBe(f32.ratio! >= 0.5);
    expect(f32.detail).toMatch(/3\/24 shapes/);
    expect(r.targets[1].met).toBeNull(); // PyTorch fp16 needs CUDA: no time to compare with
    expect(r.targets[1].detail).toMatch(/not measured \(no f16 variant and PyTorch fp16 time/);
    expect(r.targets[2]).toMatchObject({ ours: null, met: null }); // our training step did not run
    expect(r.models[0].ratio.fp32).toBeCloseTo(
      forward.imagesPerS! / (torchTiny.forward.fp32 as { images_per_s: number }).images_per_s,
      12,
    );
    expect(r.notes).toContain('ours train: killed at its 140 s limit');
    expect(r.notes.some((n) => /torch forward amp_fp16: AMP fp16 needs CUDA/.test(n))).toBe(true);
    const md = markdown(r);
    expect(md).toMatch(/\| f32 GEMM vs PyTorch fp32 \(TF32 off\) \| .* \| 50% \| (met|not met) \|/);
    expect(md).toMatch(/\| LoRA training step vs PyTorch eager fp32 \| – images\/s \| .* \| not measured \|/);
    expect(md).toContain('| qkv.fwd B=4 | 36x192x64 |');
    expect(md).toMatch(/\| qkv\.fwd B=4 \| 36x192x64 \| [^|]+ \| [^|]+ \| [^|]+ \| FAILED \|/); // the broken variant
    expect(md).toContain('| qkv.fwd B=2 | 18x192x64 | not run |'); // a row the section never reached
    expect(md).toMatch(/\| ViT forward, batch 2 \| .* \| matmul vec4_quad \(the default; no autotune pick/);
  });
});

describe('command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gpubench-'));

  test('adapter: on a software adapter it writes what Dawn reported and refuses to measure (exit 3)', async () => {
    expect(await main(['adapter', '--dir', dir])).toBe(3);
    const a = JSON.parse(readFileSync(join(dir, 'adapter.json'), 'utf8'));
    expect(a).toMatchObject({ isFallback: true, isNvidia: false });
    expect(a.toggles).toContain('vulkan_enable_f16_on_nvidia');
    expect(a.info).toHaveProperty('subgroupMatrixConfigs');
    expect(await main(['gemm', '--dir', dir, '--budget', '1'])).toBe(3);
  });

  test('report from the files the sections left (some missing), and usage errors', async () => {
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(makePlan('tiny')));
    writeFileSync(join(dir, 'torch.json'), JSON.stringify(torchTiny));
    expect(await main(['report', '--dir', dir, '--out', join(dir, 'out')])).toBe(0);
    const md = readFileSync(join(dir, 'out', 'results.md'), 'utf8');
    expect(md).toContain('NOT an NVIDIA GPU');
    expect(md).toMatch(/\| ViT forward, batch 2 \| – \| [\d.]+ \|/);
    expect(JSON.parse(readFileSync(join(dir, 'out', 'results.json'), 'utf8')).mode).toBe('tiny');
    expect(await main(['frobnicate'])).toBe(2);
    expect(await main(['gemm'])).toBe(2);
  });
});
