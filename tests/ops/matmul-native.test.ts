/**
 * The matmul variants that need GPU features SwiftShader lacks (src/ops/matmul-kernels.ts: native
 * `shader-f16` loads, subgroup matrices), compiled by Dawn's null backend, which offers every
 * feature and runs Tint's full WGSL validation and pipeline checks but executes nothing: every
 * such variant x transA/transB x bias x each fusion the kernel table lets it run (packed-f16
 * operands, outputs and saved tensors), with no compilation error and no validation error from
 * createComputePipeline. Subgroup matrices are generated for NVIDIA's f16 16x16x16 -> f32
 * configuration (the null adapter lists none) at the null adapter's subgroupMaxSize.
 * Negative cases show the check can fail: an f16 kernel on a device without shader-f16, a
 * subgroup-matrix kernel at a workgroup width that is not a multiple of the subgroup size, and a
 * kernel with a deliberate type error.
 * Their numerics: tests/ops/matmul-native.cases.ts (native-f16 loads instantiated with f32, on
 * SwiftShader) and, on a real GPU, tools/gpu-bench (every variant against float64 before timing).
 * Run: npx vitest run tests/ops/matmul-native.test.ts (~10 s).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerShaderSource, shaderSource } from '../../src/gpu/shaders';
import { matmulSource } from '../../src/ops/matmul-gen';
import { NO_FUSION, problemBindings, type Fusion } from '../../src/ops/matmul-gen-spec';
import { matmulKernels, type MatmulKernel } from '../../src/ops/matmul';

type WebGpu = { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
const FEATURES = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'] as GPUFeatureName[];

let instance: GPU; // kept alive as long as its devices (Dawn)
let adapter: GPUAdapter;
let device: GPUDevice;
let plain: GPUDevice; // no optional features
let sgMax = 0;

beforeAll(async () => {
  const m = (await import('webgpu')) as unknown as WebGpu;
  for (const [k, v] of Object.entries(m.globals))
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  instance = m.create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
  adapter = (await instance.requestAdapter())!;
  for (const f of FEATURES) expect(adapter.features.has(f), `null adapter offers ${f}`).toBe(true);
  sgMax = (adapter.info as unknown as { subgroupMaxSize: number }).subgroupMaxSize;
  device = await adapter.requestDevice({ requiredFeatures: FEATURES });
  plain = await (await instance.requestAdapter())!.requestDevice(); // an adapter makes one device
});

afterAll(() => {
  device?.destroy();
  plain?.destroy();
});

/** Compiles `code` on `dev`: the errors of getCompilationInfo and of createComputePipeline. */
async function compile(dev: GPUDevice, code: string, constants: Record<string, number>): Promise<string[]> {
  dev.pushErrorScope('validation');
  const mod = dev.createShaderModule({ code });
  const info = await mod.getCompilationInfo();
  dev.createComputePipeline({ layout: 'auto', compute: { module: mod, entryPoint: 'main', constants } });
  const err = await dev.popErrorScope();
  const errors = info.messages.filter((x) => x.type === 'error').map((x) => `${x.lineNum}: ${x.message}`);
  if (err) errors.push(err.message.split('\n')[0]);
  return errors;
}

/** The kernel's WGSL (includes expanded) for one fusion set with `f16` bindings packed f16. */
function source(k: MatmulKernel, f: Fusion, f16: string[], tag: string): string {
  const name = `test-native/${k.name}/${tag}`;
  registerShaderSource(name, matmulSource(k.schedule!, f, f16));
  return shaderSource(name);
}

function constants(k: MatmulKernel): Record<string, number> {
  return k.schedule!.kind === 'sgmat' ? { WG_X: sgMax } : k.schedule!.kind === 'reg' ? { WG_X: 4, WG_Y: 4 } : {};
}

/** The fusion sets each native variant is compiled with (beyond transA x transB x bias). */
const FUSIONS: [string, Partial<Fusion>][] = [
  ['fc1: gelu with pre saved', { transB: true, bias: true, gelu: true, pre: true }],
  [
    'fc2: gelu prologue, residual with LayerScale',
    { transB: true, bias: true, proA: 'gelu', residual: 'src', ls: true },
  ],
  ['dx: kscale prologue, gelu derivative', { proA: 'kscale', geluGrad: true }],
  ['dA: geludrop prologue, accumulate', { transA: true, proB: 'geludrop', accum: true }],
  ['epilogue dropout, column scale, block mask', { epiDropout: true, colScale: true, blockMask: true }],
  ['in-place residual', { residual: 'inplace' }],
  ['second product (LoRA)', { transB: true, bias: true, k2: true }],
];

const natives = matmulKernels().filter((k) => (k.features ?? []).length > 0);

describe('native matmul variants compile on the null backend', () => {
  test('the table has native-f16 and subgroup-matrix variants', () => {
    expect(natives.map((k) => k.name)).toEqual(['vec4_f16', 'tiled_128x64_f16', 'subgroup_matrix']);
  });

  for (const k of natives) {
    test(`${k.name}: transA x transB x bias, f16 A and B`, async () => {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const bias of [false, true]) {
            const f = { ...NO_FUSION, transA, transB, bias };
            const errors = await compile(device, source(k, f, ['A', 'B'], `${transA}${transB}${bias}`), constants(k));
            expect(errors, `${k.name} tA=${transA} tB=${transB} bias=${bias}`).toEqual([]);
          }
        }
      }
    });

    test(`${k.name}: fusions with f16 operands, outputs and saved tensors`, async () => {
      for (const [what, part] of FUSIONS) {
        const f = { ...NO_FUSION, ...part };
        if (k.f16Operands && f.k2) continue; // not legal for it: matmulLegal falls back (tested in matmul-native.cases.ts)
        const names = problemBindings(f);
        for (const f16 of [['A', 'B'], names.filter((x) => ['A', 'B', 'C', 'pre', 'H', 'R', 'B2'].includes(x))]) {
          const errors = await compile(device, source(k, f, f16, `${what}/${f16.join('')}`), constants(k));
          expect(errors, `${k.name} ${what}, f16 ${f16.join(',')}`).toEqual([]);
        }
      }
    });
  }
});

describe('the compile check fails on broken kernels', () => {
  const f = { ...NO_FUSION, transB: true, bias: true };
  test('an f16 kernel on a device without shader-f16', async () => {
    const k = natives.find((x) => x.name === 'tiled_128x64_f16')!;
    const errors = await compile(plain, source(k, f, ['A', 'B'], 'plain-device'), constants(k));
    expect(errors.join('\n')).toMatch(/f16/);
  });
  test('a subgroup-matrix kernel narrower than the subgroup size', async () => {
    const k = natives.find((x) => x.name === 'subgroup_matrix')!;
    const errors = await compile(device, source(k, f, ['A', 'B'], 'narrow'), { WG_X: sgMax / 2 });
    expect(errors.join('\n')).toMatch(/workgroup_size|subgroup/i);
  });
  test('a deliberate type error (an f16 value stored to an f32 array)', async () => {
    const k = natives.find((x) => x.name === 'subgroup_matrix')!;
    const good = source(k, f, ['A', 'B'], 'typo');
    const bad = good.replace('As[r * 32u + kk] = f16(v);', 'As[r * 32u + kk] = v;');
    expect(bad).not.toBe(good);
    expect(await compile(device, bad, constants(k))).not.toEqual([]);
  });
});
