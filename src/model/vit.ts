/**
 * The ViT of DINOv3 and DINOv2 on the GPU, built from src/ops: inference forward, and the
 * training forward/backward (LoRA or full fine-tuning) used by src/train.
 *
 *   pixels [B, 3, Himg, Wimg] (normalized, NCHW)
 *     -> patch embedding into token rows [B, T, C] after the prefix (CLS + registers)
 *     -> DINOv2: + position table resized to the grid (posN = Interp @ pos, Interp from the CPU)
 *     -> L pre-norm blocks: LN -> q,k,v (+LoRA) -> (DINOv3: RoPE on patch rows of q,k)
 *        -> attention -> o_proj -> x += ls1*. ; LN -> fc1 -> GELU -> fc2 -> x += ls2*.
 *     -> final LN = last_hidden_state [B, T, C]; pooler_output = row 0 [B, C]
 * T = 1 + R + Hp*Wp (DINOv3, R registers) or 1 + Hp*Wp (DINOv2); leftover pixels are ignored.
 * Weights live in one GPU buffer per tensor, so ViT-B (~343 MB f32) fits default limits.
 *
 * Activations are kept in a `LayerActs` per layer: inference shares one set for all layers (the
 * residual stream updated in place); training keeps one set per layer, which the backward reads.
 */
import type { Gpu } from '../gpu/device';
import { attentionAttSize, attentionBackward, attentionForward } from '../ops/attention';
import { geluBackward, geluForward } from '../ops/gelu';
import { l2normBackward, l2normForward } from '../ops/l2norm';
import { layernormBackward, layernormForward } from '../ops/layernorm';
import { linearBackward, linearForward } from '../ops/linear';
import { loraBackward, loraForward, type LoraShape } from '../ops/lora';
import { colsum, matmul } from '../ops/matmul';
import { patchembedBackward, patchembedForward, patchGrid } from '../ops/patchembed';
import { residualBackward, residualForward } from '../ops/residual';
import { ropeBackward, ropeForward, ropeTables } from '../ops/rope';
import { scratch } from '../ops/support';
import { tokensAddPos, tokensGather, tokensPrefix, tokensScatter } from '../ops/tokens';
import type { VitSpec } from './config';
import { positionInterpMatrix } from './posembed';

export interface Grid {
  Hp: number;
  Wp: number;
  P: number;
  /** Rows before the patches: 1 (CLS) + registers. */
  prefix: number;
  T: number;
}

export const LINEAR_ROLES = ['q', 'k', 'v', 'o', 'fc1', 'fc2'] as const;
export type LinearRole = (typeof LINEAR_ROLES)[number];

/** A LoRA adapter on one linear layer: A [r, in], B [out, r] on the GPU, with gradients. */
export interface LoraModule {
  layer: number;
  role: LinearRole;
  r: number;
  scale: number;
  dropout: number;
  inF: number;
  outF: number;
  A: GPUBuffer;
  B: GPUBuffer;
  dA: GPUBuffer | null;
  dB: GPUBuffer | null;
}

/** Buffers of one layer's activations (see file comment). */
export interface LayerActs {
  xin: GPUBuffer;
  xmid: GPUBuffer;
  xout: GPUBuffer;
  ln1: GPUBuffer;
  mean1: GPUBuffer;
  rstd1: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  att: GPUBuffer;
  ao: GPUBuffer;
  po: GPUBuffer;
  ln2: GPUBuffer;
  mean2: GPUBuffer;
  rstd2: GPUBuffer;
  h: GPUBuffer;
  g: GPUBuffer;
  pf: GPUBuffer;
  /** LoRA u = dropout(x) A^T per adapted role. */
  u: Map<LinearRole, GPUBuffer>;
}

/** All activations of one forward at a given (B, grid). */
export interface Acts {
  B: number;
  grid: Grid;
  layers: LayerActs[];
  /** Final LN out (last_hidden_state), its mean/rstd, CLS rows, embedding and its norm. */
  out: GPUBuffer;
  meanF: GPUBuffer;
  rstdF: GPUBuffer;
  pooled: GPUBuffer;
  emb: GPUBuffer;
  embNorm: GPUBuffer;
  /** Every buffer owned (destroyed together). */
  owned: GPUBuffer[];
}

function layerOut(spec: VitSpec, role: LinearRole): { inF: number; outF: number } {
  const C = spec.hidden, I = spec.intermediate;
  if (role === 'fc1') return { inF: C, outF: I };
  if (role === 'fc2') return { inF: I, outF: C };
  return { inF: C, outF: C };
}

export class Vit {
  readonly gpu: Gpu;
  readonly spec: VitSpec;
  /** GPU buffer per weight, by role name (see weights.ts); `prefix` = CLS + register tokens. */
  readonly w: Map<string, GPUBuffer>;
  /** Shapes of the weights in `w` (prefix: [1 + R, C], pos: [1 + G*G, C]). */
  readonly shapes: Map<string, number[]>;
  /** LoRA modules by `layer.<l>.<role>`. */
  readonly lora = new Map<string, LoraModule>();
  /** Gradients of the weights (full fine-tuning), by role; empty when the base is frozen. */
  readonly grads = new Map<string, GPUBuffer>();
  private gridCache = new Map<string, { cos?: GPUBuffer; sin?: GPUBuffer; interp?: GPUBuffer; posN?: GPUBuffer }>();
  private inferActs: Acts | null = null;

  constructor(gpu: Gpu, spec: VitSpec, weights: Map<string, Float32Array>) {
    this.gpu = gpu;
    this.spec = spec;
    this.w = new Map();
    this.shapes = new Map();
    const C = spec.hidden;
    for (const [role, data] of weights) {
      if (role === 'mask' || role === 'cls' || role === 'reg') continue;
      this.w.set(role, gpu.upload(data, role));
      this.shapes.set(role, [data.length]);
    }
    const pre = new Float32Array((1 + spec.registers) * C);
    pre.set(weights.get('cls')!.subarray(0, C), 0);
    if (spec.registers > 0) pre.set(weights.get('reg')!.subarray(0, spec.registers * C), C);
    this.w.set('prefix', gpu.upload(pre, 'prefix tokens'));
    this.shapes.set('prefix', [1 + spec.registers, C]);
    if (spec.posGrid) this.shapes.set('pos', [1 + spec.posGrid ** 2, C]);
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

  /** RoPE tables (DINOv3) and the position-table interpolation matrix (DINOv2), per grid. */
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
      if (s.posGrid) {
        t.interp = this.gpu.upload(positionInterpMatrix(s.posGrid, g.Hp, g.Wp), `pos interp ${key}`);
        t.posN = this.gpu.zeros(g.T * s.hidden, `pos ${key}`);
      }
      this.gridCache.set(key, t);
    }
    return t;
  }

  private scaled: { key: string; cos: GPUBuffer; sin: GPUBuffer } | null = null;
  /** RoPE tables with the coordinates scaled by `scale` (only when scale != 1; kept for reuse). */
  private scaledRope(g: Grid, scale: number): { cos?: GPUBuffer; sin?: GPUBuffer } {
    if (scale === 1 || this.spec.ropeTheta === null) return {};
    const key = `${g.Hp}x${g.Wp}@${scale}`;
    if (this.scaled?.key !== key) {
      const { cos, sin } = ropeTables(g.Hp, g.Wp, this.spec.headDim, this.spec.ropeTheta, scale);
      if (this.scaled && this.scaled.cos.size === cos.byteLength) {
        this.gpu.write(this.scaled.cos, cos);
        this.gpu.write(this.scaled.sin, sin);
        this.scaled.key = key;
      } else {
        this.scaled?.cos.destroy();
        this.scaled?.sin.destroy();
        this.scaled = { key, cos: this.gpu.upload(cos, 'rope cos scaled'), sin: this.gpu.upload(sin, 'rope sin scaled') };
      }
    }
    return { cos: this.scaled.cos, sin: this.scaled.sin };
  }

  // ------------------------------------------------------------------ parameters

  /** Makes every base weight trainable (full fine-tuning): allocates zeroed gradients. */
  enableFullGrads(): void {
    for (const [role, buf] of this.w) {
      if (!this.grads.has(role)) this.grads.set(role, this.gpu.zeros(buf.size / 4, `d ${role}`));
    }
  }

  /**
   * Adds a LoRA module on a linear layer. A and B are given (PEFT init: A Kaiming-uniform, B zero;
   * or a loaded adapter). With `trainable`, gradient buffers are allocated.
   */
  addLora(layer: number, role: LinearRole, r: number, scale: number, dropout: number, A: Float32Array, B: Float32Array, trainable: boolean): LoraModule {
    const { inF, outF } = layerOut(this.spec, role);
    if (A.length !== r * inF || B.length !== outF * r) {
      throw new Error(`LoRA layer.${layer}.${role}: A has ${A.length} values (want ${r}x${inF}), B has ${B.length} (want ${outF}x${r})`);
    }
    const key = `layer.${layer}.${role}`;
    const m: LoraModule = {
      layer, role, r, scale, dropout, inF, outF,
      A: this.gpu.upload(A, `${key}.lora_A`), B: this.gpu.upload(B, `${key}.lora_B`),
      dA: trainable ? this.gpu.zeros(r * inF, `${key}.dA`) : null,
      dB: trainable ? this.gpu.zeros(outF * r, `${key}.dB`) : null,
    };
    this.lora.get(key)?.A.destroy();
    this.lora.set(key, m);
    return m;
  }

  /** Zeroes every gradient buffer (once per optimizer step). */
  zeroGrads(): void {
    for (const g of this.grads.values()) this.gpu.clear(g);
    for (const m of this.lora.values()) {
      if (m.dA) this.gpu.clear(m.dA);
      if (m.dB) this.gpu.clear(m.dB);
    }
  }

  // ------------------------------------------------------------------ activations

  /** Allocates activations for B images on grid g: shared across layers, or one set per layer. */
  allocActs(B: number, g: Grid, perLayer: boolean): Acts {
    const s = this.spec;
    const N = B * g.T, C = s.hidden;
    const owned: GPUBuffer[] = [];
    const z = (n: number, label: string) => {
      const b = this.gpu.zeros(n, label);
      owned.push(b);
      return b;
    };
    const loraRoles = (l: number) => LINEAR_ROLES.filter((r) => this.lora.has(`layer.${l}.${r}`));
    const mk = (l: number, xin: GPUBuffer): LayerActs => {
      const a: LayerActs = {
        xin, xmid: xin, xout: xin,
        ln1: z(N * C, 'ln1'), mean1: z(N, 'mean1'), rstd1: z(N, 'rstd1'),
        q: z(N * C, 'q'), k: z(N * C, 'k'), v: z(N * C, 'v'),
        att: z(attentionAttSize(B, g.T, s.heads), 'att'), ao: z(N * C, 'attn out'), po: z(N * C, 'o_proj out'),
        ln2: z(N * C, 'ln2'), mean2: z(N, 'mean2'), rstd2: z(N, 'rstd2'),
        h: z(N * s.intermediate, 'fc1 out'), g: z(N * s.intermediate, 'gelu out'), pf: z(N * C, 'fc2 out'),
        u: new Map(),
      };
      const rs = perLayer ? loraRoles(l) : LINEAR_ROLES.filter((r) => [...this.lora.values()].some((m) => m.role === r));
      const rmax = Math.max(0, ...[...this.lora.values()].map((m) => m.r));
      for (const r of rs) a.u.set(r, z(N * rmax, `lora u ${r}`));
      if (perLayer) {
        a.xmid = z(N * C, 'xmid');
        a.xout = z(N * C, 'xout');
      }
      return a;
    };
    const x0 = z(N * C, 'x');
    const layers: LayerActs[] = [];
    if (perLayer) {
      let xin = x0;
      for (let l = 0; l < s.layers; l++) {
        const a = mk(l, xin);
        layers.push(a);
        xin = a.xout;
      }
    } else {
      const a = mk(0, x0);
      for (let l = 0; l < s.layers; l++) layers.push(a);
    }
    return {
      B, grid: g, layers,
      out: z(N * C, 'last_hidden_state'), meanF: z(N, 'meanF'), rstdF: z(N, 'rstdF'),
      pooled: z(B * C, 'pooler_output'), emb: z(B * C, 'embedding'), embNorm: z(B, 'embedding norm'),
      owned,
    };
  }

  static freeActs(a: Acts): void {
    for (const b of a.owned) b.destroy();
  }

  // ------------------------------------------------------------------ forward

  private linear(l: number, role: LinearRole, acts: LayerActs, out: GPUBuffer, inp: GPUBuffer, N: number, dropoutSeed: number | null): void {
    const r = (n: string) => `layer.${l}.${n}`;
    const { inF, outF } = layerOut(this.spec, role);
    linearForward(this.gpu, out, inp, this.w.get(r(`${role}.w`))!, this.w.get(r(`${role}.b`)) ?? null, N, inF, outF);
    const m = this.lora.get(r(role));
    if (m) loraForward(this.gpu, out, acts.u.get(role)!, inp, m.A, m.B, this.loraShape(m, N, dropoutSeed));
  }

  private loraShape(m: LoraModule, N: number, dropoutSeed: number | null): LoraShape {
    return {
      N, inF: m.inF, outF: m.outF, r: m.r, scale: m.scale,
      p: dropoutSeed === null ? 0 : m.dropout,
      seed0: dropoutSeed ?? 0,
      seed1: m.layer * LINEAR_ROLES.length + LINEAR_ROLES.indexOf(m.role),
    };
  }

  /**
   * Records a forward pass into `acts`. `dropoutSeed` null = eval (no LoRA dropout); a number
   * = training, with LoRA dropout masks derived from it (reproducible: the same seed gives the
   * same masks, which the gradient-cache re-forward and the backward rely on). `ropeScale`
   * multiplies the DINOv3 RoPE patch coordinates (HF's train-time rescale, spec §1.4.6); 1 = none.
   */
  forwardInto(acts: Acts, pixels: GPUBuffer, Himg: number, Wimg: number, dropoutSeed: number | null = null, ropeScale = 1): void {
    const gpu = this.gpu, s = this.spec;
    const { B, grid: g } = acts;
    const tables = { ...this.gridTables(g), ...this.scaledRope(g, ropeScale) };
    const C = s.hidden, I = s.intermediate, H = s.heads, T = g.T, N = B * T;
    const W = (role: string) => this.w.get(role)!;

    const x0 = acts.layers[0].xin;
    const pshape = { B, Himg, Wimg, patch: s.patch, C, rowOffset: g.prefix, T };
    patchGrid(pshape); // validates
    patchembedForward(gpu, x0, pixels, W('patch.w'), W('patch.b'), pshape);
    tokensPrefix(gpu, x0, W('prefix'), B, T, C, g.prefix);
    if (tables.interp && tables.posN) {
      matmul(gpu, tables.posN, tables.interp, W('pos'), { M: T, N: C, K: 1 + s.posGrid! ** 2, op: 'pos.interp' });
      tokensAddPos(gpu, x0, tables.posN, B, T, C);
    }
    for (let l = 0; l < s.layers; l++) {
      const a = acts.layers[l];
      const r = (n: string) => `layer.${l}.${n}`;
      layernormForward(gpu, a.ln1, a.mean1, a.rstd1, a.xin, W(r('norm1.w')), W(r('norm1.b')), N, C, s.eps);
      this.linear(l, 'q', a, a.q, a.ln1, N, dropoutSeed);
      this.linear(l, 'k', a, a.k, a.ln1, N, dropoutSeed);
      this.linear(l, 'v', a, a.v, a.ln1, N, dropoutSeed);
      if (tables.cos && tables.sin) {
        ropeForward(gpu, a.q, tables.cos, tables.sin, B, T, C, H, g.prefix);
        ropeForward(gpu, a.k, tables.cos, tables.sin, B, T, C, H, g.prefix);
      }
      attentionForward(gpu, a.ao, a.att, a.q, a.k, a.v, B, T, C, H);
      this.linear(l, 'o', a, a.po, a.ao, N, dropoutSeed);
      residualForward(gpu, a.xmid, a.xin, a.po, W(r('ls1')), N, C);
      layernormForward(gpu, a.ln2, a.mean2, a.rstd2, a.xmid, W(r('norm2.w')), W(r('norm2.b')), N, C, s.eps);
      this.linear(l, 'fc1', a, a.h, a.ln2, N, dropoutSeed);
      geluForward(gpu, a.g, a.h, N * I);
      this.linear(l, 'fc2', a, a.pf, a.g, N, dropoutSeed);
      residualForward(gpu, a.xout, a.xmid, a.pf, W(r('ls2')), N, C);
    }
    const xL = acts.layers[s.layers - 1].xout;
    layernormForward(gpu, acts.out, acts.meanF, acts.rstdF, xL, W('norm.w'), W('norm.b'), N, C, s.eps);
    tokensGather(gpu, acts.pooled, acts.out, B, T, C, 0);
    l2normForward(gpu, acts.emb, acts.embNorm, acts.pooled, B, C);
  }

  /**
   * Inference forward of `pixels` [B,3,Himg,Wimg] (no dropout), in a workspace reused across calls
   * of the same shape. Returns buffers valid until the next forward of another shape:
   * last_hidden_state [B,T,C], pooler_output [B,C] and the L2-normalized embedding [B,C].
   */
  forward(pixels: GPUBuffer, B: number, Himg: number, Wimg: number): { hidden: GPUBuffer; pooled: GPUBuffer; emb: GPUBuffer; grid: Grid } {
    const g = this.grid(Himg, Wimg);
    if (!this.inferActs || this.inferActs.B !== B || this.inferActs.grid.T !== g.T || this.inferActs.grid.Hp !== g.Hp) {
      this.releaseWorkspace();
      this.inferActs = this.allocActs(B, g, false);
    }
    const acts = this.inferActs;
    this.forwardInto(acts, pixels, Himg, Wimg, null);
    return { hidden: acts.out, pooled: acts.pooled, emb: acts.emb, grid: g };
  }

  releaseWorkspace(): void {
    if (this.inferActs) Vit.freeActs(this.inferActs);
    this.inferActs = null;
  }

  // ------------------------------------------------------------------ backward

  /** Lowest layer whose parameters need gradients (0 for full fine-tuning). */
  private lowestTrainedLayer(): number {
    if (this.grads.size > 0) return 0;
    let low = Infinity;
    for (const m of this.lora.values()) if (m.dA) low = Math.min(low, m.layer);
    return low;
  }

  private linearBack(l: number, role: LinearRole, acts: LayerActs, dinp: GPUBuffer | null, dout: GPUBuffer, inp: GPUBuffer, N: number, dropoutSeed: number | null): void {
    const r = (n: string) => `layer.${l}.${n}`;
    const { inF, outF } = layerOut(this.spec, role);
    const dW = this.grads.get(r(`${role}.w`)) ?? null;
    const db = this.grads.get(r(`${role}.b`)) ?? null;
    linearBackward(this.gpu, dinp, dW, db, dout, inp, this.w.get(r(`${role}.w`))!, N, inF, outF);
    const m = this.lora.get(r(role));
    if (m?.dA && m.dB) {
      loraBackward(this.gpu, dinp, m.dA, m.dB, dout, inp, acts.u.get(role)!, m.A, m.B, this.loraShape(m, N, dropoutSeed));
    } else if (m && dinp) {
      // a frozen adapter still passes its input gradient
      const gu = scratch(this.gpu, 'lora.frozen.gu', N * m.r);
      matmul(this.gpu, gu, dout, m.B, { M: N, N: m.r, K: m.outF, alpha: m.scale, op: 'lora.bwd.gu' });
      matmul(this.gpu, dinp, gu, m.A, { M: N, N: m.inF, K: m.r, accum: true, op: 'lora.bwd.dx' });
    }
  }

  /**
   * Backward from the gradient of the L2-normalized embeddings `dEmb` [B, C] through the saved
   * per-layer activations of `forwardInto(acts, pixels, ...)`; adds into the LoRA and/or full
   * gradients. `dropoutSeed` must be the one the forward used.
   */
  backward(acts: Acts, dEmb: GPUBuffer, pixels: GPUBuffer, Himg: number, Wimg: number, dropoutSeed: number | null, ropeScale = 1): void {
    const gpu = this.gpu, s = this.spec;
    const { B, grid: g } = acts;
    if (acts.layers.length > 1 && acts.layers[0] === acts.layers[1]) {
      throw new Error('backward needs per-layer activations (allocActs(..., perLayer = true))');
    }
    const C = s.hidden, I = s.intermediate, H = s.heads, T = g.T, N = B * T;
    const W = (role: string) => this.w.get(role)!;
    const G = (role: string) => this.grads.get(role) ?? null;
    const tables = { ...this.gridTables(g), ...this.scaledRope(g, ropeScale) };
    const low = this.lowestTrainedLayer();
    if (!Number.isFinite(low)) throw new Error('backward: nothing is trainable (no LoRA gradients, no full gradients)');
    const full = this.grads.size > 0;
    const z = (key: string, n: number) => {
      const b = scratch(gpu, `vit.bwd.${key}`, n);
      gpu.clear(b, 0, n * 4);
      return b;
    };

    // embedding -> pooled (CLS row of the final LN) -> final LN -> residual stream
    const dpooled = z('dpooled', B * C);
    l2normBackward(gpu, dpooled, dEmb, acts.emb, acts.embNorm, B, C);
    const dOut = z('dout', N * C);
    tokensScatter(gpu, dOut, dpooled, B, T, C, 0);
    const dX = z('dx', N * C);
    const xL = acts.layers[s.layers - 1].xout;
    layernormBackward(gpu, dX, G('norm.w'), G('norm.b'), dOut, xL, W('norm.w'), acts.meanF, acts.rstdF, N, C);

    const dBranch = z('dbranch', N * C);
    const dHid = z('dhid', N * I);
    const dLn = z('dln', N * C);
    const dq = z('dq', N * C), dk = z('dk', N * C), dv = z('dv', N * C);
    const datt = scratch(gpu, 'vit.bwd.datt', attentionAttSize(B, T, H));
    for (let l = s.layers - 1; l >= low; l--) {
      const a = acts.layers[l];
      const r = (n: string) => `layer.${l}.${n}`;
      const needBelow = full || l > low;
      // MLP branch: xout = xmid + ls2 * fc2(gelu(fc1(LN2(xmid))))
      residualBackward(gpu, dBranch, G(r('ls2')), dX, a.pf, W(r('ls2')), N, C, false);
      gpu.clear(dHid, 0, N * I * 4);
      this.linearBack(l, 'fc2', a, dHid, dBranch, a.g, N, dropoutSeed);
      geluBackward(gpu, dHid, dHid, a.h, N * I, false);
      gpu.clear(dLn, 0, N * C * 4);
      this.linearBack(l, 'fc1', a, dLn, dHid, a.ln2, N, dropoutSeed);
      layernormBackward(gpu, dX, G(r('norm2.w')), G(r('norm2.b')), dLn, a.xmid, W(r('norm2.w')), a.mean2, a.rstd2, N, C);
      // attention branch: xmid = xin + ls1 * o_proj(attn(LN1(xin)))
      residualBackward(gpu, dBranch, G(r('ls1')), dX, a.po, W(r('ls1')), N, C, false);
      gpu.clear(dLn, 0, N * C * 4);
      this.linearBack(l, 'o', a, dLn, dBranch, a.ao, N, dropoutSeed);
      for (const b of [dq, dk, dv]) gpu.clear(b, 0, N * C * 4);
      attentionBackward(gpu, dq, dk, dv, datt, dLn, a.q, a.k, a.v, a.att, B, T, C, H);
      if (tables.cos && tables.sin) {
        ropeBackward(gpu, dq, tables.cos, tables.sin, B, T, C, H, g.prefix);
        ropeBackward(gpu, dk, tables.cos, tables.sin, B, T, C, H, g.prefix);
      }
      const dln1 = dBranch; // reuse: dBranch is free again
      gpu.clear(dln1, 0, N * C * 4);
      this.linearBack(l, 'q', a, needBelow ? dln1 : null, dq, a.ln1, N, dropoutSeed);
      this.linearBack(l, 'k', a, needBelow ? dln1 : null, dk, a.ln1, N, dropoutSeed);
      this.linearBack(l, 'v', a, needBelow ? dln1 : null, dv, a.ln1, N, dropoutSeed);
      if (needBelow) {
        layernormBackward(gpu, dX, G(r('norm1.w')), G(r('norm1.b')), dln1, a.xin, W(r('norm1.w')), a.mean1, a.rstd1, N, C);
      }
    }
    if (!full) return;
    // embeddings: dX is now the gradient of the token rows x0
    const dsum = z('dsum', T * C); // sum over the batch
    colsum(gpu, dsum, dX, B, T * C, 'tokens.bwd.sum');
    const dprefix = G('prefix')!;
    residualForward(gpu, dprefix, dprefix, dsum, null, g.prefix * C, 1); // dprefix += dsum[:prefix]
    if (tables.interp) {
      matmul(gpu, G('pos')!, tables.interp, dsum, { M: 1 + s.posGrid! ** 2, N: C, K: T, transA: true, accum: true, op: 'pos.interp.bwd' });
    }
    patchembedBackward(gpu, G('patch.w'), G('patch.b'), dX, pixels, { B, Himg, Wimg, patch: s.patch, C, rowOffset: g.prefix, T });
  }

  destroy(): void {
    this.releaseWorkspace();
    for (const b of this.w.values()) b.destroy();
    for (const b of this.grads.values()) b.destroy();
    for (const m of this.lora.values()) for (const b of [m.A, m.B, m.dA, m.dB]) b?.destroy();
    for (const t of this.gridCache.values()) for (const b of Object.values(t)) b?.destroy();
    this.scaled?.cos.destroy();
    this.scaled?.sin.destroy();
  }
}
