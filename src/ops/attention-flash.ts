/**
 * attention, variant 'flash' (./attention; the kernels: shaders/ops/attention.fwd, .bwd_dq,
 * .bwd_dkdv, with attention.common): fused kernels where the scores stay in registers, online
 * softmax, K/V (or Q/dO) tiles staged in workgroup memory, vec4 loads; forward 1 dispatch
 * (out, lse), backward 2 (dq and D = rowsum(dO * O), then dk and dv). `flashTile` says whether
 * a shape can run here (Dh % 4 == 0, % 8 with RoPE, Dh <= 128, 4-aligned ld and offsets, tiles
 * that fit the workgroup storage); where it cannot, ./attention runs 'matmul' instead.
 */
import { cdiv, packParams, type Gpu, type Params } from '../gpu/device';
import { isF16 } from '../gpu/f16';
import { describe, F32, type Layout } from './attention-layout';
import { dummyBuffer } from './support';
import { scratch } from './support';

/** Largest head dim the flash kernels hold in registers (DH4_MAX in attention.common.wgsl). */
const FLASH_MAX_DH = 128;
/** Invocations (= query or key rows) per flash workgroup. */
const FLASH_WG = 64;

/** The tile sizes `flashTile` may pick, largest first. */
const FLASH_TILES = [64, 32, 16, 8];

/**
 * Keys (queries) per staged tile of the flash kernels: the largest of 64, 32, 16, 8 whose tiles
 * (two [BC, Dh] f32 tiles plus two [BC] rows) fit the device's workgroup storage (48 KiB on
 * NVIDIA: 64 at Dh = 64; 32 KiB: 32; the 16 KiB minimum: 16); null when the flash kernels cannot
 * run this shape (then 'matmul' runs). With software defaults (`gpu.defaults`), where 'flash' runs
 * only when asked for (tests), 8: SwiftShader's pipeline compile time grows with the workgroup
 * arrays (measured: ~6 s of CPU per kernel for 32 x 64 tiles, ~1 s for 4 x 64).
 * `gpu.variants.get('attention.tile')` ('8', '16', '32' or '64') asks for one size (tests run
 * each size a GPU may pick); null when it does not fit.
 */
export function flashTile(gpu: Gpu, l: Layout): number | null {
  const aligned = [l.Dh, l.ld, l.offQ, l.offK, l.offV].every((x) => x % 4 === 0);
  if (!aligned || l.Dh > FLASH_MAX_DH || (l.rope && l.Dh % 8 !== 0)) return null;
  const asked = gpu.variants.get('attention.tile');
  if (asked !== undefined && !FLASH_TILES.includes(Number(asked))) {
    throw new Error(`attention.tile: unknown size "${asked}" (expected ${FLASH_TILES.join(', ')})`);
  }
  const limit = gpu.device.limits.maxComputeWorkgroupStorageSize;
  const sizes = asked !== undefined ? [Number(asked)] : gpu.defaults === 'software' ? [8] : FLASH_TILES;
  for (const bc of sizes) {
    if ((2 * bc * l.Dh + 2 * bc) * F32 <= limit) return bc;
  }
  return null;
}

function flashParams(l: Layout): Params {
  return packParams(
    // Without RoPE prefix = T: no row is rotated (one pipeline for both cases).
    [l.B, l.T, l.H, l.Dh, l.C, l.ld, l.offQ, l.offK, l.offV, l.rope?.prefix ?? l.T],
    [l.scale],
  );
}

function flashCommon(gpu: Gpu, l: Layout, bc: number) {
  return {
    constants: { WG: FLASH_WG, BC: bc, DH4: l.Dh / 4 },
    tables: [l.rope?.cos ?? dummyBuffer(gpu), l.rope?.sin ?? dummyBuffer(gpu)],
    params: flashParams(l),
    workgroups: [cdiv(l.T, FLASH_WG), l.B * l.H] as [number, number],
  };
}

export function flashForward(gpu: Gpu, out: GPUBuffer, lse: GPUBuffer, qkv: GPUBuffer, l: Layout, bc: number): void {
  const f = flashCommon(gpu, l, bc);
  gpu.dispatch({
    op: 'attention.fwd',
    shapes: describe(l, 'flash'),
    shader: 'ops/attention.fwd',
    defines: { F16_QKV: isF16(qkv), F16_OUT: isF16(out) },
    constants: f.constants,
    buffers: [qkv, ...f.tables, out, lse],
    params: f.params,
    workgroups: f.workgroups,
  });
}

export function flashBackward(
  gpu: Gpu,
  dqkv: GPUBuffer,
  dout: GPUBuffer,
  out: GPUBuffer,
  lse: GPUBuffer,
  qkv: GPUBuffer,
  l: Layout,
  bc: number,
): void {
  const f = flashCommon(gpu, l, bc);
  const D = scratch(gpu, 'attention.D', l.B * l.H * l.T);
  const shapes = describe(l, 'flash');
  gpu.dispatch({
    op: 'attention.bwd.dq',
    shapes,
    shader: 'ops/attention.bwd_dq',
    defines: { F16_QKV: isF16(qkv), F16_OUT: isF16(out) },
    constants: f.constants,
    buffers: [qkv, ...f.tables, dout, out, lse, dqkv, D],
    params: f.params,
    workgroups: f.workgroups,
  });
  gpu.dispatch({
    op: 'attention.bwd.dkdv',
    shapes,
    shader: 'ops/attention.bwd_dkdv',
    defines: { F16_QKV: isF16(qkv) },
    constants: f.constants,
    buffers: [qkv, ...f.tables, dout, lse, D, dqkv],
    params: f.params,
    workgroups: f.workgroups,
  });
}
