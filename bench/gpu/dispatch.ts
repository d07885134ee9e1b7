/**
 * dispatch.overhead: host time to issue one dispatch of a tiny kernel through `Gpu`, against a
 * raw WebGPU loop issuing the same kernel, in the same process (Node on Dawn: bench/dispatch-node.ts;
 * Chromium: bench/gpu/dispatch.bench.ts).
 *
 * The kernel is ops/colsum on x [1, 16] (one workgroup): what an op records, spec, params and all.
 *   ours: a flush is `n` x `gpu.dispatch({... shapes: dims`...`, params: packParams([M, N]) ...})`
 *         (as src/ops/colsum.ts colsum records one), then `gpu.flush()` up to the moment it has
 *         submitted (the moment its promise is returned). The promises (the error-scope answers,
 *         which arrive after the GPU process has caught up with the queue) are awaited untimed
 *         after the rep; with them: `oursAwaitedUs`.
 *   raw:  a flush is one command encoder, one compute pass, the pipeline set once, one bind
 *         group made once (its uniform written once): `n` x (setBindGroup, dispatchWorkgroups(1)),
 *         end, submit. `rawDispatchOnlyUs`: the same with setBindGroup once, for reference.
 * A rep of either is FLUSHES such flushes, back to back: the same work in the same shape on both
 * sides. (A rep's first flush after the GPU went idle costs more, ~0.1 ms in Chromium for either;
 * more flushes per rep make the row measure the cost per dispatch rather than that.) The bench
 * page is served cross-origin isolated (bench/run.ts), so that Chromium's clock steps by 5 us,
 * not 100 us.
 * Host time: the clock stops at the (last) submit; the GPU is idle when a rep starts
 * (`onSubmittedWorkDone` between reps). `reps` reps of each, interleaved, after one warm-up rep
 * each; the medians, in microseconds per dispatch, and the best rep of each (on a loaded machine
 * the short raw loop often escapes preemption that the longer recording does not).
 */
import { dims, packParams, type Gpu } from '../../src/gpu/device';
import { shaderSource } from '../../src/gpu/shaders';

/** Dispatches per flush, flushes per rep (see the file comment) and reps (many:
 * timings on a shared machine are noisy). */
export const DISPATCHES = 2000;
export const FLUSHES = 5;
export const REPS = 41;

/** colsum's constants, kept in one frozen object as src/ops/colsum.ts keeps them. */
const CONSTANTS = Object.freeze({ WG: 64 });

/** The row's shape label, with the environment appended (`Node (Dawn)`, `Chromium`). */
export const DISPATCH_SHAPE = `colsum x[1,16] (1 workgroup), ${DISPATCHES} dispatches per flush`;

/** Microseconds per dispatch (see the file comment): medians, and the best rep of each. */
export interface DispatchOverhead {
  oursUs: number;
  oursAwaitedUs: number;
  rawUs: number;
  rawDispatchOnlyUs: number;
  oursBestUs: number;
  rawBestUs: number;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** The row's note: every figure in microseconds per dispatch. */
export function dispatchNote(r: DispatchOverhead): string {
  const f = (v: number) => v.toFixed(2);
  return (
    `median of ${REPS} reps, us per dispatch: ours ${f(r.oursUs)} (${(r.oursUs / r.rawUs).toFixed(1)}x raw; ${f(r.oursAwaitedUs)} with the ` +
    `flush's error scopes awaited), raw loop ${f(r.rawUs)} (setBindGroup + dispatch; dispatch only ` +
    `${f(r.rawDispatchOnlyUs)}); best reps: ours ${f(r.oursBestUs)}, raw ${f(r.rawBestUs)} ` +
    `(${(r.oursBestUs / r.rawBestUs).toFixed(1)}x)`
  );
}

export async function measureDispatchOverhead(gpu: Gpu, n = DISPATCHES, reps = REPS): Promise<DispatchOverhead> {
  const M = 1,
    N = 16;
  const dev = gpu.device;
  const x = gpu.upload(new Float32Array(M * N).fill(1), 'dispatch.x');
  const out = gpu.zeros(N, 'dispatch.out');

  const ours = async () => {
    const t0 = performance.now();
    const flushed: Promise<void>[] = [];
    for (let f = 0; f < FLUSHES; f++) {
      for (let i = 0; i < n; i++) {
        gpu.dispatch({
          op: 'colsum',
          shapes: dims`x[${M},${N}] -> out[${N}]`,
          shader: 'ops/colsum',
          constants: CONSTANTS,
          buffers: [out, x],
          params: packParams([M, N]),
          workgroups: [1],
        });
      }
      flushed.push(gpu.flush());
    }
    const us = ((performance.now() - t0) * 1000) / (n * FLUSHES);
    await Promise.all(flushed);
    const awaitedUs = ((performance.now() - t0) * 1000) / (n * FLUSHES);
    await dev.queue.onSubmittedWorkDone();
    return [us, awaitedUs];
  };

  const module = dev.createShaderModule({ code: shaderSource('ops/colsum') });
  const pipeline = dev.createComputePipeline({
    layout: 'auto',
    compute: { module, entryPoint: 'main', constants: { WG: 64 } },
  });
  const ub = dev.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  dev.queue.writeBuffer(ub, 0, new Uint32Array([M, N, 0, 0]));
  const bindGroup = dev.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: out } },
      { binding: 1, resource: { buffer: x } },
      { binding: 2, resource: { buffer: ub } },
    ],
  });
  const raw = async (bindEach: boolean) => {
    const t0 = performance.now();
    for (let f = 0; f < FLUSHES; f++) {
      const enc = dev.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      if (bindEach) {
        for (let i = 0; i < n; i++) {
          pass.setBindGroup(0, bindGroup);
          pass.dispatchWorkgroups(1);
        }
      } else {
        for (let i = 0; i < n; i++) pass.dispatchWorkgroups(1);
      }
      pass.end();
      dev.queue.submit([enc.finish()]);
    }
    const us = ((performance.now() - t0) * 1000) / (n * FLUSHES);
    await dev.queue.onSubmittedWorkDone();
    return us;
  };

  try {
    await ours();
    await raw(true);
    await raw(false);
    const o: number[] = [],
      oa: number[] = [],
      r: number[] = [],
      rd: number[] = [];
    for (let i = 0; i < reps; i++) {
      const [us, awaitedUs] = await ours();
      o.push(us);
      oa.push(awaitedUs);
      r.push(await raw(true));
      rd.push(await raw(false));
    }
    return {
      oursUs: median(o),
      oursAwaitedUs: median(oa),
      rawUs: median(r),
      rawDispatchOnlyUs: median(rd),
      oursBestUs: Math.min(...o),
      rawBestUs: Math.min(...r),
    };
  } finally {
    x.destroy();
    out.destroy();
    ub.destroy();
  }
}
