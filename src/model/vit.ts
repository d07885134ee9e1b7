/**
 * The ViT of DINOv3 and DINOv2 on the GPU, built from src/ops (inference forward).
 *
 *   pixels [B, 3, Himg, Wimg] (normalized, NCHW)
 *     -> patch embedding into token rows [B, T, C] after the prefix (CLS + registers)
 *     -> DINOv2: + position table resized to the grid (CPU, cached per grid)
 *     -> L pre-norm blocks: LN -> q,k,v -> (DINOv3: RoPE on patch rows of q,k) -> attention
 *        -> o_proj -> x += ls1*. ; LN -> fc1 -> GELU -> fc2 -> x += ls2*.
 *     -> final LN = last_hidden_state [B, T, C]; pooler_output = row 0 [B, C]
 * T = 1 + R + Hp*Wp (DINOv3, R registers) or 1 + Hp*Wp (DINOv2); leftover pixels are ignored.
 * Weights live in one GPU buffer per tensor, so ViT-B (~343 MB f32) fits default limits.
 */
import type { Gpu } from '../gpu/device';
import { attentionAttSize, attentionForward } from '../ops/attention';
import { geluForward } from '../ops/gelu';
import { layernormForward } from '../ops/layernorm';
import { linearForward } from '../ops/linear';
import { patchGrid } from '../ops/patchembed';
import { patchembedForward } from '../ops/patchembed';
import { residualForward } from '../ops/residual';
import { ropeForward, ropeTables } from '../ops/rope';
import { tokensAddPos, tokensGather, tokensPrefix } from '../ops/tokens';
import type { VitSpec } from './config';
import { interpolatePosEmbed } from './posembed';

export interface Grid {
  Hp: number;
  Wp: number;
  P: number;
  /** Rows before the patches: 1 (CLS) + registers. */
  prefix: number;
  T: number;
}

/** Activations of one forward at a given (B, Himg, Wimg); reused across calls of that shape. */
interface Workspace {
  key: string;
  x: GPUBuffer; // residual stream [B,T,C]
  ln: GPUBuffer; // layernorm out [B,T,C]
  mean: GPUBuffer;
  rstd: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  att: GPUBuffer; // [B,H,T,T]
  ao: GPUBuffer; // attention out [B,T,C]
  proj: GPUBuffer; // branch output [B,T,C]
  h: GPUBuffer; // fc1 out [B,T,I]
  g: GPUBuffer; // gelu out [B,T,I]
  out: GPUBuffer; // last_hidden_state [B,T,C]
  pooled: GPUBuffer; // [B,C]
}

export class Vit {
  readonly gpu: Gpu;
  readonly spec: VitSpec;
  /** GPU buffer per weight, by role name (see weights.ts). */
  readonly w: Map<string, GPUBuffer>;
  /** CPU copy of the position table (DINOv2), resized per grid. */
  private readonly posTable: Float32Array | null;
  private prefixTokens: GPUBuffer;
  private gridCache = new Map<string, { cos?: GPUBuffer; sin?: GPUBuffer; pos?: GPUBuffer }>();
  private ws: Workspace | null = null;

  constructor(gpu: Gpu, spec: VitSpec, weights: Map<string, Float32Array>) {
    this.gpu = gpu;
    this.spec = spec;
    this.w = new Map();
    for (const [role, data] of weights) {
      if (role === 'mask' || role === 'pos') continue;
      this.w.set(role, gpu.upload(data, role));
    }
    this.posTable = weights.get('pos') ?? null;
    const C = spec.hidden;
    const pre = new Float32Array((1 + spec.registers) * C);
    pre.set(weights.get('cls')!.subarray(0, C), 0);
    if (spec.registers > 0) pre.set(weights.get('reg')!.subarray(0, spec.registers * C), C);
    this.prefixTokens = gpu.upload(pre, 'prefix tokens');
  }

  grid(Himg: number, Wimg: number): Grid {
    const p = this.spec.patch;
    const Hp = Math.floor(Himg / p), Wp = Math.floor(Wimg / p);
    if (Hp === 0 || Wp === 0) {
      throw new Error(`image ${Himg}x${Wimg} is smaller than one ${p}x${p} patch`);
    }
    const prefix = 1 + this.spec.registers;
    return { Hp, Wp, P: Hp * Wp, prefix, T: prefix + Hp * Wp };
  }

  private gridTables(g: Grid) {
    const key = `${g.Hp}x${g.Wp}`;
    let t = this.gridCache.get(key);
    if (!t) {
      t = {};
      const s = this.spec;
      if (s.ropeTheta !== null) {
        const { cos, sin } = ropeTables(g.Hp, g.Wp, s.headDim, s.ropeTheta);
        t.cos = this.gpu.upload(cos, `rope cos ${key}`);
        t.sin = this.gpu.upload(sin, `rope sin ${key}`);
      }
      if (this.posTable) {
        const G = s.posGrid!;
        t.pos = this.gpu.upload(interpolatePosEmbed(this.posTable, G, s.hidden, g.Hp, g.Wp), `pos ${key}`);
      }
      this.gridCache.set(key, t);
    }
    return t;
  }

  private workspace(B: number, g: Grid): Workspace {
    const key = `${B}:${g.T}`;
    if (this.ws?.key === key) return this.ws;
    this.releaseWorkspace();
    const s = this.spec;
    const N = B * g.T, C = s.hidden;
    const z = (n: number, label: string) => this.gpu.zeros(n, label);
    this.ws = {
      key,
      x: z(N * C, 'x'), ln: z(N * C, 'ln'), mean: z(N, 'mean'), rstd: z(N, 'rstd'),
      q: z(N * C, 'q'), k: z(N * C, 'k'), v: z(N * C, 'v'),
      att: z(attentionAttSize(B, g.T, s.heads), 'att'), ao: z(N * C, 'attn out'), proj: z(N * C, 'proj'),
      h: z(N * s.intermediate, 'fc1'), g: z(N * s.intermediate, 'gelu'),
      out: z(N * C, 'last_hidden_state'), pooled: z(B * C, 'pooler_output'),
    };
    return this.ws;
  }

  releaseWorkspace(): void {
    if (!this.ws) return;
    for (const [k, v] of Object.entries(this.ws)) if (k !== 'key') (v as GPUBuffer).destroy();
    this.ws = null;
  }

  /**
   * Records the forward pass for `pixels` [B,3,Himg,Wimg]. Returns GPU buffers (owned by the
   * model's workspace; valid until the next forward of another shape) of last_hidden_state
   * [B,T,C] and pooler_output [B,C].
   */
  forward(pixels: GPUBuffer, B: number, Himg: number, Wimg: number): { hidden: GPUBuffer; pooled: GPUBuffer; grid: Grid } {
    const gpu = this.gpu, s = this.spec, w = this.w;
    const g = this.grid(Himg, Wimg);
    const ws = this.workspace(B, g);
    const tables = this.gridTables(g);
    const C = s.hidden, I = s.intermediate, H = s.heads, T = g.T, N = B * T;
    const W = (role: string) => w.get(role)!;
    const Wopt = (role: string) => w.get(role) ?? null;

    const pshape = { B, Himg, Wimg, patch: s.patch, C, rowOffset: g.prefix, T };
    patchGrid(pshape); // validates
    patchembedForward(gpu, ws.x, pixels, W('patch.w'), W('patch.b'), pshape);
    tokensPrefix(gpu, ws.x, this.prefixTokens, B, T, C, g.prefix);
    if (tables.pos) tokensAddPos(gpu, ws.x, tables.pos, B, T, C);

    for (let l = 0; l < s.layers; l++) {
      const r = (n: string) => `layer.${l}.${n}`;
      layernormForward(gpu, ws.ln, ws.mean, ws.rstd, ws.x, W(r('norm1.w')), W(r('norm1.b')), N, C, s.eps);
      linearForward(gpu, ws.q, ws.ln, W(r('q.w')), Wopt(r('q.b')), N, C, C);
      linearForward(gpu, ws.k, ws.ln, W(r('k.w')), Wopt(r('k.b')), N, C, C);
      linearForward(gpu, ws.v, ws.ln, W(r('v.w')), Wopt(r('v.b')), N, C, C);
      if (tables.cos && tables.sin) {
        ropeForward(gpu, ws.q, tables.cos, tables.sin, B, T, C, H, g.prefix);
        ropeForward(gpu, ws.k, tables.cos, tables.sin, B, T, C, H, g.prefix);
      }
      attentionForward(gpu, ws.ao, ws.att, ws.q, ws.k, ws.v, B, T, C, H);
      linearForward(gpu, ws.proj, ws.ao, W(r('o.w')), Wopt(r('o.b')), N, C, C);
      residualForward(gpu, ws.x, ws.x, ws.proj, W(r('ls1')), N, C);
      layernormForward(gpu, ws.ln, ws.mean, ws.rstd, ws.x, W(r('norm2.w')), W(r('norm2.b')), N, C, s.eps);
      linearForward(gpu, ws.h, ws.ln, W(r('fc1.w')), Wopt(r('fc1.b')), N, C, I);
      geluForward(gpu, ws.g, ws.h, N * I);
      linearForward(gpu, ws.proj, ws.g, W(r('fc2.w')), Wopt(r('fc2.b')), N, I, C);
      residualForward(gpu, ws.x, ws.x, ws.proj, W(r('ls2')), N, C);
    }
    layernormForward(gpu, ws.out, ws.mean, ws.rstd, ws.x, W('norm.w'), W('norm.b'), N, C, s.eps);
    tokensGather(gpu, ws.pooled, ws.out, B, T, C, 0);
    return { hidden: ws.out, pooled: ws.pooled, grid: g };
  }

  destroy(): void {
    this.releaseWorkspace();
    for (const b of this.w.values()) b.destroy();
    for (const t of this.gridCache.values()) for (const b of Object.values(t)) b?.destroy();
    this.prefixTokens.destroy();
  }
}
