/**
 * Attention lab: times the attention variants at the DINOv3 ViT-S/16 and ViT-B/16 shapes
 * (B = 8, T = 201, Dh = 64, RoPE with a 5-token prefix; bench/ops/attention.bench.ts entries) on
 * the Node Dawn adapter (SwiftShader on a machine without a GPU), interleaved so that load from
 * other processes hits all of them alike:
 *   unfused  the path before the fused op (RoPE passes, matmuls, softmax, P [B,H,T,T] saved)
 *   matmul   src/ops/attention.ts variant 'matmul' (src/ops/attention-matmul.ts; the default on
 *            software adapters)
 *   flash    src/ops/attention.ts variant 'flash' (src/ops/attention-flash.ts; the default on GPUs)
 *   v1_rows  shaders/dev/attention_fwd_v1_rows.wgsl (forward only): fused, no workgroup memory
 * Reports the median over reps of wall ms and of CPU ms of this process per call (SwiftShader's
 * threads run in it: on a machine shared with other jobs the stable figure to compare).
 *
 *   npx vite-node tools/attention-lab.ts                                 all, ViT-S, fwd and bwd
 *   npx vite-node tools/attention-lab.ts --variants unfused,matmul --shapes ViT-B --reps 5
 */
import { packParams, cdiv, type Gpu } from '../src/gpu/device';
import { requestNodeGpu } from '../src/gpu/device-node';
import { registerShaders } from '../src/gpu/shaders';
import { dummyBuffer } from '../src/ops/support';
import { entries } from '../bench/ops/attention.bench';
import type { BenchRun, CustomPeerRun } from '../bench/types';
import { randomF32 } from '../bench/util';

registerShaders(
  import.meta.glob('../shaders/dev/attention*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<
    string,
    string
  >,
);

const VARIANTS = ['unfused', 'matmul', 'flash', 'v1_rows'];

function parseArgs(argv: string[]) {
  const opts = { variants: VARIANTS, shapes: ['ViT-S'], dirs: ['fwd', 'bwd'], reps: 3, iters: 1 };
  for (let i = 0; i < argv.length; i++) {
    const list = () => argv[++i].split(',');
    if (argv[i] === '--variants') opts.variants = list();
    else if (argv[i] === '--shapes') opts.shapes = list();
    else if (argv[i] === '--dirs') opts.dirs = list();
    else if (argv[i] === '--reps') opts.reps = Number(argv[++i]);
    else if (argv[i] === '--iters') opts.iters = Number(argv[++i]);
    else throw new Error(`attention-lab: unknown argument ${argv[i]} (see the file comment)`);
  }
  return opts;
}

/** The v1_rows forward on its own buffers (no RoPE, default packed layout). */
function rowsKernel(gpu: Gpu, B: number, T: number, H: number, Dh: number): BenchRun {
  const C = H * Dh;
  const qkv = gpu.upload(randomF32(B * T * 3 * C, 1), 'qkv');
  const out = gpu.zeros(B * T * C, 'out'),
    lse = gpu.zeros(B * H * T, 'lse');
  const WG = 64;
  return {
    run: () =>
      gpu.dispatch({
        op: 'attention.fwd v1_rows',
        shapes: `B=${B} T=${T} H=${H} Dh=${Dh}`,
        shader: 'dev/attention_fwd_v1_rows',
        constants: { WG, DH4: Dh / 4 },
        buffers: [qkv, dummyBuffer(gpu), dummyBuffer(gpu), out, lse],
        params: packParams([B, T, H, Dh, C, 3 * C, 0, C, 2 * C, T], [1 / Math.sqrt(Dh)]),
        workgroups: [cdiv(T, WG), B * H],
      }),
    dispose: () => [qkv, out, lse].forEach((b) => b.destroy()),
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const gpu = await requestNodeGpu({ log: console.log });
  for (const e of entries) {
    const [model, batch] = e.shape.split(' ');
    if (batch !== 'B=8' || !opts.shapes.includes(model) || !opts.dirs.includes(e.op.split('.')[1])) continue;
    const runs = new Map<string, BenchRun | CustomPeerRun>();
    for (const v of opts.variants) {
      if (v === 'unfused') runs.set(v, await e.customPeer!.setup(gpu));
      else if (v === 'v1_rows') {
        if (e.op === 'attention.fwd') runs.set(v, rowsKernel(gpu, 8, 201, model === 'ViT-S' ? 6 : 12, 64));
      } else {
        gpu.variants.set('attention', v);
        runs.set(v, await e.setup!(gpu));
      }
    }
    const times = new Map<string, { wall: number[]; cpu: number[] }>();
    for (let rep = -1; rep < opts.reps; rep++) {
      for (const [v, r] of runs) {
        if (v === 'matmul' || v === 'flash') gpu.variants.set('attention', v);
        await gpu.sync();
        const t0 = performance.now(),
          c0 = process.cpuUsage();
        for (let i = 0; i < opts.iters; i++) await r.run();
        await gpu.sync();
        const c = process.cpuUsage(c0);
        if (rep < 0) continue; // warm-up: pipeline compilation
        const t = times.get(v) ?? { wall: [], cpu: [] };
        t.wall.push((performance.now() - t0) / opts.iters);
        t.cpu.push((c.user + c.system) / 1000 / opts.iters);
        times.set(v, t);
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
    const base = times.get('unfused');
    console.log(`${e.op} ${e.shape}: ms per call (median of ${opts.reps}), wall / CPU`);
    for (const [v, t] of times) {
      const ratio = base ? `, unfused/this CPU ${(med(base.cpu) / med(t.cpu)).toFixed(2)}` : '';
      console.log(
        `  ${v.padEnd(8)} ${med(t.wall).toFixed(0).padStart(6)} / ${med(t.cpu).toFixed(0).padStart(6)}${ratio}`,
      );
    }
    for (const r of runs.values()) await r.dispose();
    gpu.variants.delete('attention');
  }
  gpu.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
