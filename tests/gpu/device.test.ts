/**
 * The GPU runtime (src/gpu): adapter report and limits, pipeline cache, errors that name the op
 * and shapes, device loss as an event, timestamp profiling, and the Node adapter choice.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { packParams } from '../../src/gpu/device';
import { paramBytes } from '../../src/gpu/params';
import { UniformArena } from '../../src/gpu/uniform-arena';
import { EXTRA_FEATURES, requestNodeGpu, UNSAFE_FEATURE_TOGGLES } from '../../src/gpu/device-node';
import { shaderNames, shaderSource } from '../../src/gpu/shaders';
import { linearForward } from '../../src/ops/linear';
import { colsum } from '../../src/ops/colsum';
import { nodeGpu } from '../helpers/node-gpu';

afterAll(async () => (await nodeGpu()).destroy());

describe('adapter', () => {
  test('reports the adapter and requests its maximum limits', async () => {
    const gpu = await nodeGpu();
    const r = gpu.report;
    expect(r.backend).toBe('dawn');
    expect(gpu.describe().length).toBeGreaterThan(5);
    // The device got the adapter's maximum, not the WebGPU default (128 MiB binding).
    expect(r.limits.maxStorageBufferBindingSize).toBe(gpu.device.limits.maxStorageBufferBindingSize);
    expect(r.limits.maxStorageBufferBindingSize).toBeGreaterThan(128 * 2 ** 20);
    expect(r.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    for (const f of ['subgroups', 'timestamp-query', 'shader-f16']) {
      expect(r.features.includes(f)).toBe(gpu.device.features.has(f as GPUFeatureName));
    }
    if (r.isFallback) expect(gpu.describe()).toMatch(/software fallback/);
  });

  test('falls back to SwiftShader by itself and says it is a slow CPU fallback', async () => {
    const lines: string[] = [];
    const gpu = await requestNodeGpu({ prefer: 'swiftshader', log: (l) => lines.push(l) });
    const again = await requestNodeGpu({ prefer: 'swiftshader', log: (l) => lines.push(l) });
    try {
      expect(gpu.report.isFallback).toBe(true);
      const text = lines.join('\n');
      expect(text).toMatch(/slow CPU fallback \(SwiftShader\)\n {2}To use the GPU instead: /);
      expect(text).toMatch(/libvulkan1/);
      expect(text).toMatch(/VK_DRIVER_FILES/);
      // Two devices, two adapter lines, the how-to once.
      expect(text.match(/slow CPU fallback/g)).toHaveLength(2);
      expect(text.match(/To use the GPU instead/g)).toHaveLength(1);
    } finally {
      gpu.destroy();
      again.destroy();
    }
  });

  test('unsafeFeatures: Dawn toggles for experimental features, extra features requested when offered', async () => {
    let adapter: GPUAdapter | null = null;
    const gpu = await requestNodeGpu({ unsafeFeatures: true, onAdapter: (a) => (adapter = a) });
    try {
      expect(adapter).not.toBeNull();
      const offered = [...adapter!.features];
      for (const f of EXTRA_FEATURES) expect(gpu.hasFeature(f), f).toBe(offered.includes(f));
      // The adapter's other properties pass through the wrapper that adds the features.
      expect(gpu.report.limits.maxStorageBufferBindingSize).toBe(adapter!.limits.maxStorageBufferBindingSize);
      expect(UNSAFE_FEATURE_TOGGLES).toContain('vulkan_enable_f16_on_nvidia');
    } finally {
      gpu.destroy();
    }
  });
});

describe('shaders and pipelines', () => {
  test('every shader under shaders/ is registered and compiles', async () => {
    const gpu = await nodeGpu();
    expect(shaderNames()).toContain('ops/colsum');
    // common/ holds pieces that compile inside the shaders including them (their Params, bindings)
    const common = shaderNames().filter((n) => n.startsWith('common/'));
    const kernels = shaderNames().filter((n) => !n.startsWith('common/') && !n.startsWith('gen/'));
    for (const c of common) {
      expect(
        kernels.some((k) => shaderSource(k).includes(shaderSource(c).trim().split('\n').slice(-1)[0])),
        `${c} is included somewhere`,
      ).toBe(true);
    }
    for (const name of kernels) {
      const mod = gpu.device.createShaderModule({ code: shaderSource(name) });
      const info = await mod.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === 'error');
      expect(errors.map((e) => `${name}:${e.lineNum}: ${e.message}`)).toEqual([]);
    }
  });

  test('unknown shader names are an error that lists the known ones', () => {
    expect(() => shaderSource('ops/nope')).toThrow(/unknown shader "ops\/nope" \(known: .*ops\/colsum/);
  });

  test('pipelines are cached by shader, entry point and override constants', async () => {
    const gpu = await nodeGpu();
    const a = gpu.pipeline('ops/colsum', 'main', { WG: 64 });
    const n = gpu.pipelineCount;
    expect(gpu.pipeline('ops/colsum', 'main', { WG: 64 })).toBe(a);
    expect(gpu.pipelineCount).toBe(n);
    expect(gpu.pipeline('ops/colsum', 'main', { WG: 32 })).not.toBe(a);
    expect(gpu.pipelineCount).toBe(n + 1);
  });
});

describe('stream order and bindings', () => {
  test('write lands after work recorded before it, and before work recorded after it', async () => {
    const gpu = await nodeGpu();
    const x = gpu.upload(new Float32Array([1, 2]));
    const w = gpu.upload(new Float32Array([1, 0, 0, 1]));
    const y = gpu.zeros(2);
    const y2 = gpu.zeros(2);
    linearForward(gpu, y, x, w, null, 1, 2, 2); // recorded, not yet submitted
    gpu.write(x, new Float32Array([5, 7]));
    linearForward(gpu, y2, x, w, null, 1, 2, 2);
    expect([...(await gpu.read(y))]).toEqual([1, 2]);
    expect([...(await gpu.read(y2))]).toEqual([5, 7]);
  });

  test('a dispatch can bind a sub-range of a buffer', async () => {
    const gpu = await nodeGpu();
    const align = gpu.device.limits.minStorageBufferOffsetAlignment;
    const x = gpu.upload(Float32Array.from({ length: align / 4 + 6 }, (_, i) => i)); // [.., rows at align]
    const out = gpu.zeros(3);
    gpu.dispatch({
      op: 'colsum',
      shapes: 'x[2,3]',
      shader: 'ops/colsum',
      constants: { WG: 64 },
      buffers: [out, { buffer: x, offset: align, size: 24 }],
      params: packParams([2, 3]),
      workgroups: [1],
    });
    const a = align / 4;
    expect([...(await gpu.read(out))]).toEqual([2 * a + 3, 2 * a + 5, 2 * a + 7]);
  });
});

describe('errors', () => {
  test('a validation error is thrown at flush, naming the op and its shapes', async () => {
    const gpu = await nodeGpu();
    const b = gpu.zeros(16);
    colsum(gpu, b, b, 2, 2); // same buffer as output and input
    await expect(gpu.flush()).rejects.toThrow(/GPU error in colsum x\[2,2\] -> out\[2\]/);
    // a matmul refuses an output that is one of its operands before recording anything
    expect(() => linearForward(gpu, b, b, b, null, 2, 2, 2)).toThrow(/linear\.fwd: the output C is also an operand/);
    // The error is reported once; the device keeps working.
    const x = gpu.upload(new Float32Array([1, 2, 3, 4]));
    const w = gpu.upload(new Float32Array([1, 0, 0, 1]));
    const y = gpu.zeros(4);
    linearForward(gpu, y, x, w, null, 2, 2, 2);
    expect([...(await gpu.read(y))]).toEqual([1, 2, 3, 4]);
  });

  test('storage buffers are counted: live bytes and the peak', async () => {
    const gpu = await nodeGpu();
    gpu.resetPeak();
    const live = gpu.memory.live;
    const a = gpu.zeros(1000);
    const b = gpu.zeros(3);
    expect(gpu.memory.live - live).toBe(4000 + 12);
    a.destroy();
    a.destroy(); // twice is harmless and counted once
    expect(gpu.memory.live - live).toBe(12);
    expect(gpu.memory.peak - live).toBe(4012);
    b.destroy();
  });

  test('a buffer over maxBufferSize is refused with its name and size', async () => {
    const gpu = await nodeGpu();
    const max = gpu.device.limits.maxBufferSize;
    expect(() => gpu.buffer(max + 4, 'huge')).toThrow(
      /buffer "huge" of \d+ bytes exceeds this adapter's maxBufferSize/,
    );
  });

  test('too many workgroups is refused naming the op', async () => {
    const gpu = await nodeGpu();
    const b = gpu.zeros(4);
    expect(() =>
      gpu.dispatch({
        op: 'big',
        shapes: 'x[huge]',
        shader: 'ops/colsum',
        buffers: [b, b],
        params: packParams([1, 1]),
        workgroups: [1e9],
      }),
    ).toThrow(/big x\[huge\]: dispatch 1000000000x1x1 exceeds maxComputeWorkgroupsPerDimension/);
  });

  test('packParams refuses values that are not u32', () => {
    expect(() => packParams([-1])).toThrow(/u32 field 0 = -1/);
    expect(() => packParams([1.5])).toThrow(/u32 field 0 = 1.5/);
  });

  test('packParams pads to 16 bytes; equal blocks, as arrays or Uint32Arrays, share one uniform slot', async () => {
    expect(packParams([])).toEqual([0, 0, 0, 0]);
    expect(packParams([1, 2], [1.5])).toEqual([1, 2, 0x3fc00000, 0]);
    expect(packParams([1, 2, 3, 4])).toHaveLength(4);
    expect(packParams([1, 2, 3, 4], [-2])).toEqual([1, 2, 3, 4, 0xc0000000, 0, 0, 0]);
    expect(paramBytes(packParams([1, 2, 3, 4, 5]))).toBe(32);
    const arena = new UniformArena((await nodeGpu()).device, 256);
    const a = arena.push(packParams([7, 8], [0.5]));
    const b = arena.push(packParams([9]));
    expect(b).toBe(256);
    expect(arena.push(packParams([7, 8], [0.5]))).toBe(a);
    expect(arena.push(new Uint32Array(packParams([9])))).toBe(b);
    expect(arena.push(packParams([7, 8], [0.25]))).toBe(512);
    arena.submit(); // a new segment starts empty
    expect(arena.push(packParams([9]))).toBe(0);
  });
});

describe('device loss and timing', () => {
  test('device.lost is surfaced as an event and later work throws', async () => {
    const gpu = await requestNodeGpu();
    const lost = new Promise<GPUDeviceLostInfo>((resolve) => gpu.onLost(resolve));
    gpu.device.destroy(); // as if the browser took the device away
    const info = await lost;
    expect(info.reason).toBe('destroyed');
    await expect(gpu.flush()).rejects.toThrow(/GPU device lost/);
  });

  test('per-op GPU timing through timestamp queries', async () => {
    const gpu = await nodeGpu();
    if (!gpu.hasFeature('timestamp-query')) {
      // Written reason: without the feature there is nothing to time; the adapter here has it.
      expect(gpu.report.isFallback).toBe(false);
      return;
    }
    gpu.profile = true;
    gpu.profileEntries = [];
    const x = gpu.zeros(64 * 64);
    const y = gpu.zeros(64 * 64);
    linearForward(gpu, y, x, x, null, 64, 64, 64);
    await gpu.sync();
    gpu.profile = false;
    expect(gpu.profileEntries.length).toBe(1);
    expect(gpu.profileEntries[0].op).toBe('linear.fwd');
    expect(gpu.profileEntries[0].ms).toBeGreaterThanOrEqual(0);
  });
});
