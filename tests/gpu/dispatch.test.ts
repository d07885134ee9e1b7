/**
 * The batched dispatch path of src/gpu/device.ts: one encoder per segment, shared compute passes,
 * params from one uniform arena, cached bind groups, error scopes per segment with the failing op
 * found again by re-encoding one by one, stream order of write/copy/clear, profiling, dry-run
 * counting, device loss, shader defines and generated shaders. Tiny test kernels are registered
 * as generated shaders (registerShaderSource), n = 64 elements, one workgroup.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { dims, packParams, shapesText, type Gpu } from '../../src/gpu/device';
import { requestNodeGpu } from '../../src/gpu/device-node';
import { registerShaderSource } from '../../src/gpu/shaders';
import { nodeGpu } from '../helpers/node-gpu';

afterAll(async () => (await nodeGpu()).destroy());

const N = 64;
const HEAD = `
struct Params { n: u32, a: f32, };
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
`;
// y = a * y + x
registerShaderSource(
  'test/axpy',
  `${HEAD}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < p.n) { y[g.x] = p.a * y[g.x] + x[g.x]; }
}`,
);
// y += a (x unused but bound): every dispatch reads its own params
registerShaderSource(
  'test/adda',
  `${HEAD}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < p.n) { y[g.x] += p.a + 0.0 * x[0]; }
}`,
);
// x is a fixed-size array: binding a smaller buffer is invalid (found when the dispatch is encoded)
registerShaderSource(
  'test/fixed',
  `
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32, 64>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { y[g.x] = x[g.x]; }`,
);
// Defines: //#if NEG negates, \${SCALE} scales.
registerShaderSource(
  'test/defines',
  `${HEAD}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x >= p.n) { return; }
//#if NEG
  y[g.x] = -\${SCALE} * x[g.x];
//#else
  y[g.x] = \${SCALE} * x[g.x];
//#endif
}`,
);
registerShaderSource('test/broken', 'fn main( {');

function axpy(gpu: Gpu, y: GPUBuffer | GPUBufferBinding, x: GPUBuffer, a: number, op = 'test.axpy'): void {
  gpu.dispatch({
    op,
    shapes: dims`y[${N}] x[${N}] a=${a}`,
    shader: 'test/axpy',
    buffers: [y, x],
    params: packParams([N], [a]),
    workgroups: [1],
  });
}
function adda(gpu: Gpu, y: GPUBuffer, x: GPUBuffer, a: number): void {
  gpu.dispatch({
    op: 'test.adda',
    shapes: `y[${N}]`,
    shader: 'test/adda',
    buffers: [y, x],
    params: packParams([N], [a]),
    workgroups: [1],
  });
}
const iota = (scale = 1) => Float32Array.from({ length: N }, (_, i) => (i + 1) * scale);
const list = async (gpu: Gpu, b: GPUBuffer) => [...(await gpu.read(b))];

describe('errors in a batched flush', () => {
  test('an invalid dispatch among valid ones is named with its shapes; earlier flushes are intact', async () => {
    const gpu = await nodeGpu();
    const x = gpu.upload(iota(), 'x');
    const y = gpu.zeros(N, 'y');
    for (let i = 0; i < 3; i++) axpy(gpu, y, x, 1); // y = 3x
    await gpu.flush();
    const small = gpu.zeros(4, 'small');
    axpy(gpu, y, x, 1, 'test.ok1');
    axpy(gpu, y, x, 1, 'test.ok2');
    gpu.dispatch({
      op: 'test.small',
      shapes: dims`x[${N}] bound to ${small.size} bytes`, // its values follow axpy's in the log
      shader: 'test/fixed',
      buffers: [y, small],
      workgroups: [1],
    });
    axpy(gpu, y, x, 1, 'test.ok3');
    await expect(gpu.flush()).rejects.toThrow(/^GPU error in test\.small x\[64\] bound to 16 bytes: .+/);
    // Nothing of the failed batch ran; what earlier flushes wrote is there.
    expect(await list(gpu, y)).toEqual([...iota(3)]);
    // The device keeps working and the error is reported once.
    axpy(gpu, y, x, 1);
    expect(await list(gpu, y)).toEqual([...iota(4)]);
  });

  test('a buffer destroyed before its work ran is named with the op that binds it', async () => {
    const gpu = await nodeGpu();
    const x = gpu.upload(iota(), 'x');
    const y = gpu.zeros(N, 'y');
    const z = gpu.zeros(N, 'z');
    axpy(gpu, y, x, 1);
    axpy(gpu, z, x, 1, 'test.uses-z');
    z.destroy();
    await expect(gpu.flush()).rejects.toThrow(
      /^GPU error in test\.uses-z y\[64\] x\[64\] a=1: buffer "z" was destroyed before the work ran/,
    );
  });

  test('copies, clears and writes out of range are named too', async () => {
    const gpu = await nodeGpu();
    const a = gpu.zeros(N, 'a');
    const b = gpu.zeros(4, 'b');
    gpu.copy(a, b, N * 4);
    await expect(gpu.flush()).rejects.toThrow(/^GPU error in copy "a"\[0\.\.\] -> "b"\[0\.\.\] \(256 bytes\): /);
    gpu.clear(b, 0, 64);
    await expect(gpu.flush()).rejects.toThrow(/^GPU error in clear "b"\[0\.\.\] \(64\): /);
    gpu.write(b, iota());
    await expect(gpu.flush()).rejects.toThrow(/^GPU error in write "b" \(256 bytes at 0\): /);
    a.destroy();
    b.destroy();
  });

  test('a shader that does not compile is reported naming the op that needed it', async () => {
    const gpu = await nodeGpu();
    const b = gpu.zeros(4);
    gpu.dispatch({ op: 'test.broken', shapes: 'b[4]', shader: 'test/broken', buffers: [], workgroups: [1] });
    await expect(gpu.flush()).rejects.toThrow(/^GPU error in test\.broken b\[4\]: /);
    b.destroy();
  });

  test('bindings that do not match the shader declarations are refused at once, naming the op', async () => {
    const gpu = await nodeGpu();
    const b = gpu.zeros(N);
    const spec = { shapes: 'b[64]', workgroups: [1] as [number] };
    expect(() => gpu.dispatch({ ...spec, op: 'test.extra', shader: 'test/fixed', buffers: [b, b, b] })).toThrow(
      /^test\.extra b\[64\]: shader test\/fixed declares no @group\(0\) @binding\(2\) \(the dispatch binds 3 buffers\)/,
    );
    expect(() =>
      gpu.dispatch({ ...spec, op: 'test.params', shader: 'test/fixed', buffers: [b, b], params: packParams([1]) }),
    ).toThrow(/^test\.params b\[64\]: the params go to @binding\(2\), which shader test\/fixed declares not at all/);
    expect(() =>
      gpu.dispatch({ ...spec, op: 'test.uniform', shader: 'test/axpy', buffers: [b, b, b], params: packParams([1]) }),
    ).toThrow(
      /^test\.uniform b\[64\]: the dispatch binds a storage buffer at @binding\(2\), which shader test\/axpy declares as var<uniform>/,
    );
    await gpu.flush(); // nothing was recorded
    b.destroy();
  });
});

describe('bind group cache', () => {
  test('one group per (layout, buffers, ranges); dropped when a buffer is destroyed; never reused for it', async () => {
    const gpu = await nodeGpu();
    const x = gpu.upload(iota(), 'x');
    const y = gpu.zeros(N, 'y');
    await gpu.flush();
    const n0 = gpu.bindGroupCount;
    axpy(gpu, y, x, 1);
    axpy(gpu, y, x, 2); // other params: same group, other dynamic offset
    adda(gpu, y, x, 5); // another shader with the same binding types: same group
    await gpu.flush();
    expect(gpu.bindGroupCount).toBe(n0 + 1);
    expect(await list(gpu, y)).toEqual([...iota(3).map((v) => v + 5)]);
    axpy(gpu, { buffer: y }, x, 0); // the whole buffer as a binding: the same group
    axpy(gpu, { buffer: y, offset: 0 }, x, 1);
    await gpu.flush();
    expect(gpu.bindGroupCount).toBe(n0 + 1);
    expect(await list(gpu, y)).toEqual([...iota(2)]);

    const align = gpu.device.limits.minStorageBufferOffsetAlignment;
    const big = gpu.zeros(align / 4 + N, 'big');
    axpy(gpu, { buffer: big, offset: align, size: N * 4 }, x, 1); // a sub-range: its own group
    axpy(gpu, big, x, 1);
    await gpu.flush();
    expect(gpu.bindGroupCount).toBe(n0 + 3);
    const got = await gpu.read(big);
    expect([...got.subarray(0, N)]).toEqual([...iota()]);
    expect([...got.subarray(align / 4)]).toEqual([...iota()]);

    big.destroy(); // both groups that bind it go
    expect(gpu.bindGroupCount).toBe(n0 + 1);
    axpy(gpu, big, x, 1, 'test.after-destroy');
    await expect(gpu.flush()).rejects.toThrow(/GPU error in test\.after-destroy .*buffer "big" was destroyed/);
    expect(gpu.bindGroupCount).toBe(n0 + 1); // no group was cached for the destroyed buffer
    x.destroy();
    expect(gpu.bindGroupCount).toBe(n0);
    y.destroy();
  });

  test('buffers not made by gpu.buffer() work (and are not cached)', async () => {
    const gpu = await nodeGpu();
    const x = gpu.upload(iota(), 'x');
    const raw = gpu.device.createBuffer({
      size: N * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    await gpu.flush();
    const n0 = gpu.bindGroupCount;
    axpy(gpu, raw, x, 1);
    axpy(gpu, raw, x, 1);
    expect(await list(gpu, raw)).toEqual([...iota(2)]);
    expect(gpu.bindGroupCount).toBe(n0);
    raw.destroy();
  });
});

describe('stream order', () => {
  test('write, copy, clear and dispatches keep their recorded order within and across segments', async () => {
    const gpu = await nodeGpu();
    const x = gpu.upload(iota(), 'x');
    const y = gpu.zeros(N, 'y');
    const w = gpu.zeros(N, 'w');
    axpy(gpu, y, x, 0); // y = x                      (x = i+1)
    gpu.write(x, iota(100)); // must land after the dispatch above
    axpy(gpu, y, x, 1); // y = x + 100x
    gpu.copy(y, w, N * 4); // w = 101x
    gpu.clear(y, 0, (N / 2) * 4); // first half of y = 0
    axpy(gpu, w, x, 1); // w = 201x
    gpu.write(x, iota(1000));
    axpy(gpu, w, x, 1); // w = 1201x
    const half = N / 2;
    expect(await list(gpu, y)).toEqual([...iota(101)].map((v, i) => (i < half ? 0 : v)));
    expect(await list(gpu, w)).toEqual([...iota(1201)]);
  });

  test('more dispatches than one segment holds: every one reads its own params', async () => {
    const gpu = await nodeGpu();
    const x = gpu.zeros(N, 'x');
    const y = gpu.zeros(N, 'y');
    const n = 2500;
    for (let k = 1; k <= n; k++) adda(gpu, y, x, k);
    const sum = (n * (n + 1)) / 2; // exact in f32 (< 2^24) at every partial sum
    expect(await list(gpu, y)).toEqual(new Array(N).fill(sum));
  });

  test('repeated params blocks share a slot; blocks that overflow the uniform arena split the segment', async () => {
    const gpu = await nodeGpu();
    const x = gpu.zeros(N, 'x');
    const y = gpu.zeros(N, 'y');
    const z = gpu.zeros(N, 'z');
    // Big blocks: `a` then 1000 zeros (4 KiB slots): a third of them distinct, so one segment's
    // 2048 records would need more than the 1 MiB arena.
    const big = new Array<number>(1000).fill(0);
    let sy = 0,
      sz = 0;
    for (let k = 0; k < 1500; k++) {
      const a = (k % 5) + 1; // 5 distinct small blocks, repeated
      adda(gpu, y, x, a);
      sy += a;
      const b = k % 3 === 0 ? k : 7;
      big[0] = b;
      gpu.dispatch({
        op: 'test.adda.big',
        shapes: `y[${N}]`,
        shader: 'test/adda',
        buffers: [z, x],
        params: packParams([N], big),
        workgroups: [1],
      });
      sz += b;
    }
    expect(await list(gpu, y)).toEqual(new Array(N).fill(sy));
    expect(await list(gpu, z)).toEqual(new Array(N).fill(sz));
  });
});

describe('shapes and pipelines', () => {
  test('dims keeps a template and its values; the text is made on demand', () => {
    const M = 3,
      label = 'q';
    const s = dims`${label}[${M},${M + 1}] eps=${1e-6} ${true}`;
    expect(s.values).toEqual([label, 3, 4, 1e-6, true]);
    expect(shapesText(s)).toBe('q[3,4] eps=0.000001 true');
    expect(shapesText(dims`no values`)).toBe('no values');
    expect(shapesText('a string')).toBe('a string');
  });

  test('a pipeline is found by its constants object, or by equal constants in another object', async () => {
    const gpu = await nodeGpu();
    const x = gpu.upload(iota(), 'x');
    const y = gpu.zeros(N, 'y');
    const run = (constants: Record<string, number>) =>
      gpu.dispatch({
        op: 'test.wg',
        shapes: 'y',
        shader: 'ops/colsum',
        constants,
        buffers: [y, x],
        params: packParams([1, N]),
        workgroups: [1],
      });
    const fixed = Object.freeze({ WG: 16 });
    run(fixed);
    const n = gpu.pipelineCount;
    run(fixed);
    run({ WG: 16 });
    run(fixed);
    expect(gpu.pipelineCount).toBe(n);
    run({ WG: 8 }); // other content: another pipeline, though the last object was `fixed`
    expect(gpu.pipelineCount).toBe(n + 1);
    run(fixed);
    expect(gpu.pipelineCount).toBe(n + 1);
    await gpu.flush();
    // column sums of x [1, 64] into y, one workgroup each: five with WG=16 (y[0..16)), one with WG=8 (y[0..8))
    const want = [...iota()].map((v, i) => (i < 8 ? 6 * v : i < 16 ? 5 * v : 0));
    expect(await list(gpu, y)).toEqual(want);
  });
});

describe('defines', () => {
  test('defines select code and substitute values; each set is its own pipeline', async () => {
    const gpu = await nodeGpu();
    const x = gpu.upload(iota(), 'x');
    const y = gpu.zeros(N, 'y');
    const run = (defines: Record<string, number | boolean>) =>
      gpu.dispatch({
        op: 'test.defines',
        shapes: 'x[64]',
        shader: 'test/defines',
        defines,
        buffers: [y, x],
        params: packParams([N]),
        workgroups: [1],
      });
    run({ NEG: true, SCALE: 2 });
    expect(await list(gpu, y)).toEqual([...iota(-2)]);
    const n0 = gpu.pipelineCount;
    run({ SCALE: 3, NEG: false });
    expect(await list(gpu, y)).toEqual([...iota(3)]);
    expect(gpu.pipelineCount).toBe(n0 + 1);
    run({ NEG: 0, SCALE: 3 }); // same source, other key order: the same pipeline
    run({ NEG: true, SCALE: 2 });
    expect(await list(gpu, y)).toEqual([...iota(-2)]);
    expect(gpu.pipelineCount).toBe(n0 + 2); // NEG 0 and NEG false differ in key only
  });
});

describe('profiling and dry run', () => {
  test('profiling gives one entry per dispatch, in order, with its op name', async () => {
    const gpu = await nodeGpu();
    if (!gpu.hasFeature('timestamp-query')) {
      // Written reason: without the feature there is nothing to time; the adapter here has it.
      expect(gpu.report.isFallback).toBe(false);
      return;
    }
    const x = gpu.upload(iota(), 'x');
    const y = gpu.zeros(N, 'y');
    const w = gpu.zeros(N, 'w');
    await gpu.flush();
    gpu.profile = true;
    gpu.profileEntries = [];
    axpy(gpu, y, x, 1, 'p.first');
    gpu.copy(y, w, N * 4); // a copy between profiled passes
    adda(gpu, y, x, 1);
    axpy(gpu, y, x, 1, 'p.third');
    await gpu.sync();
    gpu.profile = false;
    expect(gpu.profileEntries.map((e) => e.op)).toEqual(['p.first', 'test.adda', 'p.third']);
    expect(gpu.profileEntries.every((e) => e.ms >= 0)).toBe(true);
    expect(gpu.profileEntries.map((e) => e.shapes)).toEqual(['y[64] x[64] a=1', 'y[64]', 'y[64] x[64] a=1']);
    expect(await list(gpu, w)).toEqual([...iota()]);
    expect(await list(gpu, y)).toEqual([...iota(2).map((v) => v + 1)]);
  });

  test('dryRun counts dispatches (total and per op) and runs none', async () => {
    const gpu = await nodeGpu();
    const x = gpu.upload(iota(), 'x');
    const y = gpu.zeros(N, 'y');
    await gpu.flush();
    gpu.dryRun = true;
    gpu.resetCounts();
    expect(gpu.dispatchCount).toBe(0);
    for (let i = 0; i < 3; i++) axpy(gpu, y, x, 1, 'c.one');
    axpy(gpu, y, x, 1, 'c.two');
    axpy(gpu, y, x, 1, 'c.two');
    gpu.dispatch({
      op: 'c.empty',
      shapes: '',
      shader: 'test/axpy',
      buffers: [y, x],
      params: packParams([0]),
      workgroups: [0],
    });
    gpu.dryRun = false;
    expect(gpu.dispatchCount).toBe(5);
    expect(Object.fromEntries(gpu.dispatchCounts)).toEqual({ 'c.one': 3, 'c.two': 2 });
    expect(await list(gpu, y)).toEqual(new Array(N).fill(0));
    axpy(gpu, y, x, 1); // counted when run, too
    expect(gpu.dispatchCounts.get('test.axpy')).toBe(1);
  });
});

describe('device loss', () => {
  test('a device lost mid-step is an event, and the next flush and read throw', async () => {
    const gpu = await requestNodeGpu();
    const lost = new Promise<GPUDeviceLostInfo>((resolve) => gpu.onLost(resolve));
    const x = gpu.upload(iota(), 'x');
    const y = gpu.zeros(N, 'y');
    axpy(gpu, y, x, 1);
    await gpu.flush();
    axpy(gpu, y, x, 1);
    gpu.device.destroy(); // as if the browser took the device away mid-step
    axpy(gpu, y, x, 1);
    gpu.write(x, iota(2));
    await expect(gpu.flush()).rejects.toThrow(/^GPU device lost: /);
    expect((await lost).reason).toBe('destroyed');
    await expect(gpu.read(y)).rejects.toThrow(/^GPU device lost: /);
  });
});
