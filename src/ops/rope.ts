/**
 * rope: DINOv3's 2-D rotary position embedding (docs/model.md#rope).
 *   ropeTables(Hp, Wp, Dh): cos, sin as Float32Array [P, Dh], P = Hp * Wp patches, computed in
 *     float64 and rounded to f32 (HF computes them in f32; the difference is f32 rounding).
 *   ropeForward(gpu, x, cos, sin, B, T, C, H, prefix): rotates q or k [B, T, C] in place,
 *     every head (Dh = C / H), patch rows only: row n >= prefix of each image uses table row
 *     n - prefix (prefix = 1 CLS + num_register_tokens, so T = prefix + P).
 *   ropeBackward(...same): dx = R^T dy, in place on the gradient (the exact transpose of the
 *     forward's linear map; the inverse rotation, since the tables are tiled x2).
 * Nothing to save: the backward needs only the tables. Kernel: shaders/ops/rope.wgsl.
 *
 * Table layout: patch p = r * Wp + c has centre (y_r, x_c) = (2 (r+0.5)/Hp - 1,
 * 2 (c+0.5)/Wp - 1) (times `coordScale`, the train-time RoPE rescale; 1 in eval).
 * inv_freq[k] = theta^(-4k/Dh), k < Dh/4. For channel d: j = d mod Dh/2,
 * ang = 2π · (j < Dh/4 ? y : x) · inv_freq[j mod Dh/4]; so the table is tiled x2 and
 * channels [0, Dh/4) (paired with [Dh/2, 3Dh/4)) carry y, channels [Dh/4, Dh/2) carry x.
 */
import { cdiv, dims, packParams, type Gpu } from '../gpu/device';

/** inv_freq[k] = 1 / theta^(4k/Dh), k = 0 .. Dh/4 - 1, in float64. */
export function ropeInvFreq(Dh: number, theta = 100): Float64Array {
  if (!Number.isInteger(Dh) || Dh <= 0 || Dh % 4 !== 0) {
    throw new Error(`rope: head dim Dh = ${Dh} must be a positive multiple of 4`);
  }
  const f = new Float64Array(Dh / 4);
  for (let k = 0; k < Dh / 4; k++) f[k] = 1 / Math.pow(theta, (4 * k) / Dh);
  return f;
}

/** Angles [P, Dh/2] in float64 (16 y-angles then 16 x-angles per patch for Dh = 64). */
export function ropeAngles(Hp: number, Wp: number, Dh: number, theta = 100, coordScale = 1): Float64Array {
  const inv = ropeInvFreq(Dh, theta);
  const Q = Dh / 4;
  const ang = new Float64Array(Hp * Wp * 2 * Q);
  for (let r = 0; r < Hp; r++) {
    const y = coordScale * (2 * ((r + 0.5) / Hp) - 1);
    for (let c = 0; c < Wp; c++) {
      const x = coordScale * (2 * ((c + 0.5) / Wp) - 1);
      const o = (r * Wp + c) * 2 * Q;
      for (let k = 0; k < Q; k++) {
        ang[o + k] = 2 * Math.PI * y * inv[k];
        ang[o + Q + k] = 2 * Math.PI * x * inv[k];
      }
    }
  }
  return ang;
}

/** cos and sin tables [P, Dh] in float64 (the reference uses these). */
export function ropeTables64(
  Hp: number,
  Wp: number,
  Dh: number,
  theta = 100,
  coordScale = 1,
): { cos: Float64Array; sin: Float64Array } {
  const ang = ropeAngles(Hp, Wp, Dh, theta, coordScale);
  const P = Hp * Wp;
  const half = Dh / 2;
  const cos = new Float64Array(P * Dh);
  const sin = new Float64Array(P * Dh);
  for (let p = 0; p < P; p++) {
    for (let d = 0; d < Dh; d++) {
      const a = ang[p * half + (d % half)];
      cos[p * Dh + d] = Math.cos(a);
      sin[p * Dh + d] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/** cos and sin tables [P, Dh], computed in float64 and rounded to f32, ready to upload. */
export function ropeTables(
  Hp: number,
  Wp: number,
  Dh: number,
  theta = 100,
  coordScale = 1,
): { cos: Float32Array; sin: Float32Array } {
  const t = ropeTables64(Hp, Wp, Dh, theta, coordScale);
  return { cos: Float32Array.from(t.cos), sin: Float32Array.from(t.sin) };
}

const WG = 64;
/** Workgroups per grid row (any value up to the device limit works; small enough for tests). */
const GRID_X = 4096;

function ropeDispatch(
  gpu: Gpu,
  backward: boolean,
  x: GPUBuffer,
  cos: GPUBuffer,
  sin: GPUBuffer,
  B: number,
  T: number,
  C: number,
  H: number,
  prefix: number,
): void {
  const op = backward ? 'rope.bwd' : 'rope.fwd';
  if (!Number.isInteger(H) || H <= 0 || C % H !== 0) {
    throw new Error(`${op}: C = ${C} is not a multiple of H = ${H}`);
  }
  const Dh = C / H;
  if (Dh % 2 !== 0) throw new Error(`${op}: head dim ${Dh} is odd`);
  const P = T - prefix;
  if (P < 0) throw new Error(`${op}: prefix ${prefix} exceeds T = ${T}`);
  const tableBytes = P * Dh * 4;
  if (cos.size < tableBytes || sin.size < tableBytes) {
    throw new Error(`${op}: tables of ${cos.size} / ${sin.size} bytes, need [P=${P}, Dh=${Dh}] = ${tableBytes}`);
  }
  const n = B * P * H * (Dh / 2);
  const groups = cdiv(n, WG);
  const gx = Math.min(groups, GRID_X, gpu.device.limits.maxComputeWorkgroupsPerDimension);
  gpu.dispatch({
    op,
    shapes: dims`x[${B},${T},${C}] H=${H} prefix=${prefix} tables[${P},${Dh}]`,
    shader: 'ops/rope',
    constants: { WG, BACKWARD: backward ? 1 : 0 },
    buffers: [x, cos, sin],
    params: packParams([B, T, C, H, prefix, P, Dh]),
    workgroups: [gx, gx === 0 ? 0 : cdiv(groups, gx)],
  });
}

/** Rotates the patch rows of x [B, T, C] in place (q or k, all H heads). */
export function ropeForward(
  gpu: Gpu,
  x: GPUBuffer,
  cos: GPUBuffer,
  sin: GPUBuffer,
  B: number,
  T: number,
  C: number,
  H: number,
  prefix: number,
): void {
  ropeDispatch(gpu, false, x, cos, sin, B, T, C, H, prefix);
}

/** dx = R^T dx in place: turns the gradient w.r.t. rotated q/k into one w.r.t. q/k. */
export function ropeBackward(
  gpu: Gpu,
  dx: GPUBuffer,
  cos: GPUBuffer,
  sin: GPUBuffer,
  B: number,
  T: number,
  C: number,
  H: number,
  prefix: number,
): void {
  ropeDispatch(gpu, true, dx, cos, sin, B, T, C, H, prefix);
}
