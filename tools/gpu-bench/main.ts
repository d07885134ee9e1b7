/**
 * tools/gpu-bench command line (`main`; bench.ts runs it: bundled into .gpubench/bench.mjs by
 * `npm run gpu-bench:build`, or here as `npx vite-node tools/gpu-bench/bench.ts -- <section>`).
 * run.sh calls one section per process, each under its own time limit:
 *
 *   plan    [--tiny]                 prints the plan (plan.ts) as JSON for torch_bench.py
 *   adapter [--tiny] --dir D         D/adapter.json: what Dawn reported (measure.ts adapterReport);
 *                                    exits 3 when the adapter is not an NVIDIA GPU
 *   gemm | forward | train [--tiny] --dir D --budget S
 *                                    D/node-<section>.json, rewritten after every row so a kill
 *                                    at the hard limit keeps what was measured; S seconds is the
 *                                    soft budget (no measurement starts after it)
 *   report  --dir D --out O          O/results.json and O/results.md from D/*.json (report.ts);
 *                                    prints the markdown
 *
 * --allow-fallback lets the measuring sections run on a software adapter (SwiftShader: tests and
 * run.sh --tiny); without it they refuse to measure anything but an NVIDIA GPU and say so.
 * The GPU is requested with `unsafeFeatures` (src/gpu/device-node.ts): subgroup matrices and, on
 * NVIDIA, shader-f16 are offered to the matmul variants that need them.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Gpu } from '../../src/gpu/device';
import { requestNodeGpu } from '../../src/gpu/device-node';
import {
  adapterReport,
  forwardEntry,
  gemmSection,
  modelSection,
  trainStepEntry,
  useTunedKernels,
  type AdapterReport,
  type GemmSection,
} from './measure';
import { makePlan, type Plan } from './plan';
import { buildResults, markdown, type Inputs } from './report';

const SECTIONS = ['plan', 'adapter', 'gemm', 'forward', 'train', 'report'] as const;

function writeJson(file: string, value: unknown): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(value, null, 1));
  renameSync(`${file}.tmp`, file);
}

function readJson<T>(file: string): T | null {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function openGpu(allowFallback: boolean): Promise<{ gpu: Gpu; adapter: AdapterReport }> {
  let chosen: GPUAdapter | null = null;
  const gpu = await requestNodeGpu({ unsafeFeatures: true, log, onAdapter: (a) => (chosen = a) });
  const adapter = adapterReport(gpu, chosen);
  if (!adapter.isNvidia && !allowFallback) {
    gpu.destroy();
    throw new NotNvidia(adapter);
  }
  return { gpu, adapter };
}

class NotNvidia extends Error {
  override name = 'NotNvidia';
  constructor(readonly adapter: AdapterReport) {
    super(
      `NOT AN NVIDIA GPU: Dawn's adapter is ${adapter.describe}; our numbers from it would not be GPU numbers, ` +
        'so nothing of ours is measured (check that the Vulkan loader and the NVIDIA ICD are found: run.sh prints vulkan setup lines).',
    );
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv.filter((a) => a !== '--'),
    allowPositionals: true,
    options: {
      tiny: { type: 'boolean', default: false },
      'allow-fallback': { type: 'boolean', default: false },
      dir: { type: 'string' },
      out: { type: 'string' },
      budget: { type: 'string' },
    },
  });
  const section = positionals[0] as (typeof SECTIONS)[number];
  if (!SECTIONS.includes(section)) {
    log(`usage: bench.mjs <${SECTIONS.join('|')}> [--tiny] [--allow-fallback] [--dir D] [--budget S] [--out O]`);
    return 2;
  }
  const plan = makePlan(values.tiny ? 'tiny' : 'full');
  if (section === 'plan') {
    process.stdout.write(`${JSON.stringify(plan, null, 1)}\n`);
    return 0;
  }
  const dir = values.dir;
  if (!dir) {
    log(`${section}: --dir is required`);
    return 2;
  }
  mkdirSync(dir, { recursive: true });
  if (section === 'report') return report(dir, values.out ?? dir);

  const budgetMs = Number(values.budget ?? 60) * 1000;
  let opened;
  try {
    opened = await openGpu(values['allow-fallback']);
  } catch (e) {
    if (e instanceof NotNvidia) {
      if (section === 'adapter') writeJson(join(dir, 'adapter.json'), e.adapter);
      log(e.message);
      return 3;
    }
    throw e;
  }
  const { gpu, adapter } = opened;
  try {
    const file = join(dir, `${section === 'adapter' ? 'adapter' : `node-${section}`}.json`);
    const progress = (partial: unknown) => writeJson(file, partial);
    if (section === 'adapter') {
      writeJson(file, adapter);
      log(`adapter: ${adapter.describe}; device features: ${adapter.deviceFeatures.join(', ')}`);
      log(`adapter info: ${JSON.stringify(adapter.info)}`);
    } else if (section === 'gemm') {
      progress(await gemmSection(gpu, plan, { budgetMs, log, progress }));
    } else {
      const what = section === 'forward' ? forwardEntry(plan) : trainStepEntry(plan);
      const kernels = useTunedKernels(gpu, readJson<GemmSection>(join(dir, 'node-gemm.json')));
      log(`[${section}] kernels: ${kernels}`);
      const r = await modelSection(gpu, what, { budgetMs, log, progress });
      r.kernels = kernels;
      progress(r);
      log(
        `[${section}] ${r.status}${r.imagesPerS ? `: ${r.imagesPerS.toFixed(1)} images/s (median of ${r.itersMs.length})` : ''}${r.note ? ` (${r.note})` : ''}`,
      );
    }
    return 0;
  } finally {
    gpu.destroy();
  }
}

function report(dir: string, out: string): number {
  const plan = readJson<Plan>(join(dir, 'plan.json'));
  if (!plan) {
    log(`report: ${join(dir, 'plan.json')} is missing (run.sh writes it first)`);
    return 2;
  }
  const notes = existsSync(join(dir, 'notes.txt'))
    ? readFileSync(join(dir, 'notes.txt'), 'utf8').split('\n').filter(Boolean)
    : [];
  const inputs: Inputs = {
    plan,
    adapter: readJson(join(dir, 'adapter.json')),
    gemm: readJson(join(dir, 'node-gemm.json')),
    forward: readJson(join(dir, 'node-forward.json')),
    train: readJson(join(dir, 'node-train.json')),
    torch: readJson(join(dir, 'torch.json')),
    notes,
  };
  const results = buildResults(inputs);
  mkdirSync(out, { recursive: true });
  writeJson(join(out, 'results.json'), results);
  const md = markdown(results);
  writeFileSync(join(out, 'results.md'), md);
  process.stdout.write(md);
  return 0;
}
