/**
 * The ViT of DINOv3 and DINOv2 on the GPU, built from src/ops with fused kernels: inference
 * forward, and the training forward/backward (LoRA or full fine-tuning) used by src/train.
 *
 *   pixels [B, 3, Himg, Wimg] (normalized, NCHW)
 *     -> patch embedding into token rows [B, T, C] after the prefix (CLS + registers)
 *     -> DINOv2: + position table resized to the grid (posN = Interp @ pos, Interp from the CPU)
 *     -> L pre-norm blocks, 7 dispatches each:
 *          LN1 (+ the q|k|v adapters' down-projections u)        layernorm.fwd
 *          qkv = ln1 Wqkv^T + b (+ u B_g^T)  [N, 3C]               one GEMM, q|k|v packed
 *          attention (RoPE on load for DINOv3), saving lse         attention.fwd
 *          xmid = x + ls1 * (ao Wo^T + bo)                         GEMM, residual epilogue
 *          LN2 (+ fc1 adapters' u)                                 layernorm.fwd
 *          g = gelu(h), h = ln2 W1^T + b1 (h saved for training)   GEMM, GELU epilogue
 *          xout = xmid + ls2 * (g W2^T + b2)                       GEMM, residual epilogue
 *        (+1 GEMM for each adapter on o or fc2, whose input no LayerNorm produces)
 *     -> final LN = last_hidden_state [B, T, C]; pooler_output = row 0 [B, C]
 * T = 1 + R + Hp*Wp (DINOv3, R registers) or 1 + Hp*Wp (DINOv2); leftover pixels are ignored.
 * Weights live in one GPU buffer per tensor, q|k|v packed into one [3C, C] (and [3C] bias);
 * `weightView` maps the checkpoint's role names onto it. LoRA adapters live in one arena
 * (./lora-params.ts). Backward: ./vit-backward.ts.
 *
 * Activations (`Acts`): inference keeps one set for all layers, the residual stream updated in
 * place; training keeps, per layer, what its backward reads (xin, LN stats, qkv, attention
 * output and lse, xmid, h; ln1/ln2 and the LoRA u only where an adapter or full fine-tuning needs
 * them; the branch outputs before LayerScale only for full fine-tuning).
 *
 * Precision (`VitOptions.f16`, the trainer's `fp16: true`): the big frozen weights (q|k|v, o, fc1,
 * fc2) and the activations the GEMMs and the attention read (LayerNorm outputs, q|k|v, attention
 * output, h and gelu(h)) are stored as packed f16 (src/gpu/f16.ts), halving their memory and
 * bandwidth; every kernel computes in f32 and the residual stream, LayerNorm statistics, LoRA
 * parameters, gradients, optimizer state and loss stay f32 (so no loss scaling is needed:
 * nothing that accumulates or that gradients flow through small values in is stored in f16).
 *
 * LoRA dropout masks: adapter (layer, role) uses the mask of ops/dropout with seeds
 * (seed, layer * 6 + role index) at index (rowOffset + n) * inF + c, where rowOffset is the
 * chunk's first row in the whole batch: a chunk of images gets the same masks however the batch
 * is cut into chunks (the gradient cache's embedding pass and its re-forward agree).
 */
import type { Gpu } from '../gpu/device';
import { isF16, packF16, readF16, uploadF16, zerosF16 } from '../gpu/f16';
import { attentionForward, attentionLseSize } from '../ops/attention';
import { l2normForward } from '../ops/l2norm';
import { layernormForward, type LnLora } from '../ops/layernorm';
import { matmul, type MatmulArgs } from '../ops/matmul';
import { patchembedForward, patchGrid } from '../ops/patchembed';
import { ropeTables } from '../ops/rope';
import { tokensAddPos, tokensGather, tokensPrefix } from '../ops/tokens';
import type { VitSpec } from './config';
import {
  LINEAR_ROLES,
  linearShape,
  LoraParams,
  type LinearRole,
  type LoraGroup,
  type LoraGroupKind,
  type LoraModule,
} from './lora-params';
import { positionInterpMatrix } from './posembed';
import { vitBackward } from './vit-backward';

export { LINEAR_ROLES, type LinearRole, type LoraModule };

export interface Grid {
  Hp: number;
  Wp: number;
  P: number;
  /** Rows before the patches: 1 (CLS) + registers. */
  prefix: number;
  T: number;
}

/** LoRA dropout of one forward: null = eval (no dropout). */
export interface DropoutSeed {
  seed: number;
  /** Row of the first image of this chunk in the whole batch (image index * T). */
  rowOffset: number;
}

/** Buffers of one layer's activations (see file comment). */
export interface LayerActs {
  xin: GPUBuffer;
  xmid: GPUBuffer;
  xout: GPUBuffer;
  ln1: GPUBuffer;
  st1: GPUBuffer;
  qkv: GPUBuffer;
  ao: GPUBuffer;
  lse: GPUBuffer;
  ln2: GPUBuffer;
  st2: GPUBuffer;
  /** fc1 output before GELU (training) and after (the fc2 input). */
  h: GPUBuffer;
  g: GPUBuffer;
  /** Branch outputs before LayerScale (full fine-tuning: the LayerScale gradients need them). */
  po: GPUBuffer | null;
  pf: GPUBuffer | null;
  /** LoRA u [N, R] per group kind of this layer. */
  u: Map<LoraGroupKind, GPUBuffer>;
}

/** All activations of one forward at a given (B, grid). */
export interface Acts {
  B: number;
  grid: Grid;
  layers: LayerActs[];
  perLayer: boolean;
  /** Final LN out (last_hidden_state), its stats, CLS rows, embedding and its norm. */
  out: GPUBuffer;
  stF: GPUBuffer;
  pooled: GPUBuffer;
  emb: GPUBuffer;
  embNorm: GPUBuffer;
  /** Every buffer owned (destroyed together). */
  owned: GPUBuffer[];
}

/** A slice of a weight buffer: the checkpoint tensor `role` (q|k|v are slices of the packed ones). */
export interface WeightView {
  buffer: GPUBuffer;
  /** Offset and length in f32 elements. */
  offset: number;
  n: number;
}

const QKV = ['q', 'k', 'v'] as const;

/** The weights stored as packed f16 with `f16: 'weights+acts'` (only while they are frozen). */
const F16_WEIGHTS = /^layer\.\d+\.(qkv|o|fc1|fc2)\.w$/;

export interface VitOptions {
  /**
   * Packed-f16 storage: 'acts' for the activations the GEMMs and the attention read,
   * 'weights+acts' also for the big frozen weights (not with full fine-tuning, whose weights are
   * trained in f32). Default: f32 everywhere.
   */
  f16?: 'acts' | 'weights+acts';
}

export class Vit {
  readonly gpu: Gpu;
  readonly spec: VitSpec;
  /**
   * GPU buffer per weight, by role name (see weights.ts) except q, k, v, which are packed into
   * `layer.<l>.qkv.w` [3C, C] and `layer.<l>.qkv.b` [3C] (zeros where a bias is absent);
   * `prefix` = CLS + register tokens.
   */
  readonly w: Map<string, GPUBuffer>;
  /** LoRA adapters (the arena) and their module views. */
  readonly loras: LoraParams;
  /** Gradients of the weights (full fine-tuning), by the roles of `w`; empty when frozen. */
  readonly grads = new Map<string, GPUBuffer>();
  private gridCache = new Map<string, { cos?: GPUBuffer; sin?: GPUBuffer; interp?: GPUBuffer; posN?: GPUBuffer }>();
  private inferActs: Acts | null = null;

  /** Packed-f16 activations (see VitOptions). */
  readonly f16Acts: boolean;

  constructor(gpu: Gpu, spec: VitSpec, weights: Map<string, Float32Array>, opts: VitOptions = {}) {
    this.gpu = gpu;
    this.spec = spec;
    this.w = new Map();
    this.loras = new LoraParams(gpu, spec);
    this.f16Acts = !!opts.f16;
    const f16W = opts.f16 === 'weights+acts';
    const up = (data: Float32Array, role: string) =>
      f16W && F16_WEIGHTS.test(role) ? uploadF16(gpu, data, role) : gpu.upload(data, role);
    const C = spec.hidden;
    for (const [role, data] of weights) {
      if (role === 'mask' || role === 'cls' || role === 'reg') continue;
      if (/^layer\.\d+\.[qkv]\.[wb]$/.test(role)) continue; // packed below
      this.w.set(role, up(data, role));
    }
    for (let l = 0; l < spec.layers; l++) {
      const wq = new Float32Array(3 * C * C),
        bq = new Float32Array(3 * C);
      QKV.forEach((r, i) => {
        const w = weights.get(`layer.${l}.${r}.w`);
        if (!w) throw new Error(`layer.${l}.${r}.w: missing`);
        wq.set(w, i * C * C);
        const b = weights.get(`layer.${l}.${r}.b`);
        if (b) bq.set(b, i * C);
      });
      this.w.set(`layer.${l}.qkv.w`, up(wq, `layer.${l}.qkv.w`));
      this.w.set(`layer.${l}.qkv.b`, gpu.upload(bq, `layer.${l}.qkv.b`));
    }
    const pre = new Float32Array((1 + spec.registers) * C);
    pre.set(weights.get('cls')!.subarray(0, C), 0);
    if (spec.registers > 0) pre.set(weights.get('reg')!.subarray(0, spec.registers * C), C);
    this.w.set('prefix', gpu.upload(pre, 'prefix tokens'));
  }

  /** LoRA adapters by `layer.<l>.<role>`. */
  get lora(): Map<string, LoraModule> {
    return this.loras.modules;
  }

  grid(Himg: number, Wimg: number): Grid {
    const p = this.spec.patch;
    const Hp = Math.floor(Himg / p),
      Wp = Math.floor(Wimg / p);
    if (Hp === 0 || Wp === 0) {
      throw new Error(`image ${Himg}x${Wimg} is smaller than one ${p}x${p} patch`);
    }
    const prefix = 1 + this.spec.registers;
    return { Hp, Wp, P: Hp * Wp, prefix, T: prefix + Hp * Wp };
  }

  /** RoPE tables (DINOv3) and the position-table interpolation matrix (DINOv2), per grid. */
  gridTables(g: Grid) {
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
  scaledRope(g: Grid, scale: number): { cos?: GPUBuffer; sin?: GPUBuffer } {
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
        this.scaled = {
          key,
          cos: this.gpu.upload(cos, 'rope cos scaled'),
          sin: this.gpu.upload(sin, 'rope sin scaled'),
        };
      }
    }
    return { cos: this.scaled.cos, sin: this.scaled.sin };
  }

  /** The attention's RoPE argument for grid g (null for DINOv2). */
  rope(g: Grid, ropeScale: number) {
    const t = { ...this.gridTables(g), ...this.scaledRope(g, ropeScale) };
    return t.cos && t.sin ? { cos: t.cos, sin: t.sin, prefix: g.prefix } : null;
  }

  // ------------------------------------------------------------------ weights by checkpoint role

  /** Where the checkpoint tensor `role` lives (q, k, v: slices of the packed q|k|v). */
  weightView(role: string, grads = false): WeightView | null {
    const map = grads ? this.grads : this.w;
    const m = /^layer\.(\d+)\.([qkv])\.([wb])$/.exec(role);
    if (!m) {
      const b = map.get(role);
      return b ? { buffer: b, offset: 0, n: b.size / (isF16(b) ? 2 : 4) } : null;
    }
    const C = this.spec.hidden,
      i = QKV.indexOf(m[2] as 'q');
    const b = map.get(`layer.${m[1]}.qkv.${m[3]}`);
    if (!b) return null;
    if (m[3] === 'b' && !this.hasBias(m[2] as 'q')) return null;
    return m[3] === 'w' ? { buffer: b, offset: i * C * C, n: C * C } : { buffer: b, offset: i * C, n: C };
  }

  /** Whether the checkpoint has this bias of q, k or v (absent ones stay zero in the packed bias). */
  hasBias(role: 'q' | 'k' | 'v'): boolean {
    const s = this.spec;
    return role === 'q' ? s.qBias : role === 'k' ? s.kBias : s.vBias;
  }

  async readWeight(role: string, grads = false): Promise<Float32Array | null> {
    const v = this.weightView(role, grads);
    if (!v) return null;
    return isF16(v.buffer) ? readF16(this.gpu, v.buffer, v.n, v.offset) : this.gpu.read(v.buffer, v.n, v.offset);
  }

  writeWeight(role: string, data: Float32Array): boolean {
    const v = this.weightView(role);
    if (!v) return false;
    if (data.length !== v.n) throw new Error(`${role}: ${data.length} values, expected ${v.n}`);
    if (isF16(v.buffer)) this.gpu.write(v.buffer, packF16(data), v.offset * 2);
    else this.gpu.write(v.buffer, data, v.offset * 4);
    return true;
  }

  // ------------------------------------------------------------------ parameters

  /** Makes every base weight trainable (full fine-tuning): allocates zeroed gradients. */
  enableFullGrads(): void {
    for (const [role, buf] of this.w) {
      if (isF16(buf))
        throw new Error(
          `${role}: stored as f16 (frozen weights); full fine-tuning trains f32 weights (VitOptions.f16 'acts')`,
        );
      if (!this.grads.has(role)) this.grads.set(role, this.gpu.zeros(buf.size / 4, `d ${role}`));
    }
  }

  /**
   * Adds a LoRA adapter on a linear layer. A [r, in] and B [out, r] are given (PEFT init: A
   * Kaiming-uniform, B zero; or a loaded adapter). With `trainable`, gradients are kept.
   */
  addLora(
    layer: number,
    role: LinearRole,
    r: number,
    scale: number,
    dropout: number,
    A: Float32Array,
    B: Float32Array,
    trainable: boolean,
  ): LoraModule {
    return this.loras.add(layer, role, r, scale, dropout, A, B, trainable);
  }

  /** Zeroes every gradient buffer (once per optimizer step). */
  zeroGrads(): void {
    for (const g of this.grads.values()) this.gpu.clear(g);
    this.loras.zeroGrads();
  }

  // ------------------------------------------------------------------ activations

  /** Bytes of `allocActs(B, g, perLayer, finalRows)` (nothing allocated). */
  actsBytes(B: number, g: Grid, perLayer: boolean, finalRows: 'all' | 'cls' = 'all'): number {
    return this.allocActs(B, g, perLayer, finalRows, true).owned.reduce((t, b) => t + b.size, 0);
  }

  /**
   * Allocates activations for B images on grid g: shared across layers, or one set per layer.
   * `finalRows` as in `forwardInto` ('cls': last_hidden_state holds only the B CLS rows).
   * `dry`: only sizes (buffers are stand-ins with a `size`), for `actsBytes`.
   */
  allocActs(B: number, g: Grid, perLayer: boolean, finalRows: 'all' | 'cls' = 'all', dry = false): Acts {
    const s = this.spec;
    const N = B * g.T,
      C = s.hidden,
      I = s.intermediate;
    const full = this.grads.size > 0;
    const owned: GPUBuffer[] = [];
    const z = (n: number, label: string, f16 = false) => {
      const b = dry
        ? ({ size: Math.max(4, n * (f16 ? 2 : 4)) } as GPUBuffer)
        : f16
          ? zerosF16(this.gpu, n, label)
          : this.gpu.zeros(n, label);
      owned.push(b);
      return b;
    };
    const h16 = this.f16Acts; // the activations GEMMs and attention read (see the file comment)
    const shared = new Map<string, GPUBuffer>();
    const sh = (n: number, label: string, f16 = false) => {
      let b = shared.get(label);
      if (!b) shared.set(label, (b = z(n, label, f16)));
      return b;
    };
    // per layer when training and the backward reads it, else one buffer for all layers
    const keep = (need: boolean, n: number, label: string, f16 = false) =>
      perLayer && need ? z(n, label, f16) : sh(n, label, f16);
    const x0 = z(N * C, 'x');
    const layers: LayerActs[] = [];
    let xin = x0;
    // Inference: buffers whose lives do not overlap share memory: a LayerNorm output and the
    // attention output (ln -> q|k|v GEMM, then ao -> o GEMM, then ln again); q|k|v and the MLP
    // hidden state (q|k|v -> attention, then g -> fc2): 6 N C floats per layer set instead of 10.
    const lnao = perLayer ? null : sh(N * C, 'ln / attn out', h16);
    const qkvg = perLayer ? null : sh(N * Math.max(3 * C, I), 'qkv / gelu out', h16);
    for (let l = 0; l < s.layers; l++) {
      const grp = (k: LoraGroupKind) => this.loras.group(l, k);
      const a: LayerActs = {
        xin,
        xmid: perLayer ? z(N * C, 'xmid') : xin,
        xout: perLayer ? z(N * C, 'xout') : xin,
        ln1: lnao ?? keep(full || !!grp('qkv'), N * C, 'ln', h16),
        st1: keep(true, 2 * N, 'ln1 stats'),
        qkv: qkvg ?? keep(true, 3 * N * C, 'qkv', h16),
        ao: lnao ?? keep(true, N * C, 'attn out', h16),
        lse: keep(true, attentionLseSize(B, g.T, s.heads), 'attn lse'),
        ln2: lnao ?? keep(full || !!grp('fc1'), N * C, 'ln', h16),
        st2: keep(true, 2 * N, 'ln2 stats'),
        h: perLayer ? z(N * I, 'fc1 out', h16) : sh(1, 'unused'),
        g: qkvg ?? sh(N * I, 'gelu out', h16),
        po: perLayer && full ? z(N * C, 'o_proj out') : null,
        pf: perLayer && full ? z(N * C, 'fc2 out') : null,
        u: new Map(),
      };
      for (const kind of ['qkv', 'o', 'fc1', 'fc2'] as const) {
        const gr = grp(kind);
        if (gr) a.u.set(kind, keep(true, N * gr.R, `lora u ${kind}`));
      }
      layers.push(a);
      xin = a.xout;
    }
    return {
      B,
      grid: g,
      layers,
      perLayer,
      out: z((finalRows === 'all' ? N : B) * C, 'last_hidden_state'),
      stF: z(2 * N, 'final ln stats'),
      pooled: z(B * C, 'pooler_output'),
      emb: z(B * C, 'embedding'),
      embNorm: z(B, 'embedding norm'),
      owned,
    };
  }

  static freeActs(a: Acts): void {
    for (const b of a.owned) b.destroy();
  }

  // ------------------------------------------------------------------ forward

  /** LoRA dropout of adapter m in this forward (null: none). */
  dropoutOf(m: LoraModule, drop: DropoutSeed | null) {
    if (!drop || m.dropout === 0) return null;
    return { p: m.dropout, seed0: drop.seed, seed1: this.moduleSeed(m), base: drop.rowOffset * m.inF };
  }

  moduleSeed(m: LoraModule): number {
    return m.layer * LINEAR_ROLES.length + LINEAR_ROLES.indexOf(m.role);
  }

  /** The LayerNorm-fused LoRA description of a group whose input is a LayerNorm output. */
  lnLora(g: LoraGroup, drop: DropoutSeed | null): LnLora {
    const p = g.dropout > 0 && drop ? { p: g.dropout, seed0: drop.seed, base: drop.rowOffset * g.inF } : null;
    return {
      P: this.loras.P!,
      offA: g.offA,
      offB: g.offB,
      R: g.R,
      outF: g.modules[0].outF,
      segs: g.modules.map((m) => ({
        r0: m.r0,
        r1: m.r0 + m.r,
        scale: m.scale,
        seed1: this.moduleSeed(m),
        col0: m.col0,
      })),
      dropout: p,
    };
  }

  /**
   * u = scale * drop(x) A^T for a group whose input is not a LayerNorm output (o, fc2: one
   * adapter each). `proGelu`: the input is gelu(x) (fc2's input recomputed from h).
   */
  loraDown(g: LoraGroup, u: GPUBuffer, x: GPUBuffer, N: number, drop: DropoutSeed | null, proGelu = false): void {
    const m = g.modules[0];
    const d = this.dropoutOf(m, drop);
    if (proGelu && d) throw new Error('loraDown: GELU and dropout prologues together are not supported');
    matmul(this.gpu, u, x, this.loras.P!, {
      M: N,
      N: m.r,
      K: m.inF,
      transB: true,
      offB: g.offA,
      alpha: m.scale,
      proA: d ? { kind: 'dropout', ...d } : proGelu ? { kind: 'gelu' } : undefined,
      op: `lora.fwd.u.${g.kind}`,
    });
  }

  /** The `second` product of a linear with adapters: + u B_g^T. */
  loraUp(g: LoraGroup | undefined, u: GPUBuffer | undefined): MatmulArgs['second'] {
    if (!g || !u) return undefined;
    return { A: u, B: this.loras.P!, K: g.R, offB: g.offB, ldb: g.R };
  }

  /**
   * Records a forward pass into `acts`. `drop` null = eval (no LoRA dropout); else training, with
   * LoRA dropout masks from it (see the file comment). `ropeScale` multiplies the DINOv3 RoPE patch
   * coordinates (HF's train-time rescale, docs/model.md#rope-rescale); 1 = none. `finalRows`: 'all' writes the
   * whole last_hidden_state, 'cls' only what the embedding needs (training). `images`: fewer
   * images than the activations hold (inference activations only; the first rows are used).
   */
  forwardInto(
    acts: Acts,
    pixels: GPUBuffer,
    Himg: number,
    Wimg: number,
    drop: DropoutSeed | null = null,
    ropeScale = 1,
    finalRows: 'all' | 'cls' = 'all',
    images = acts.B,
  ): void {
    const gpu = this.gpu,
      s = this.spec;
    const g = acts.grid,
      B = images;
    if (B > acts.B || (acts.perLayer && B !== acts.B))
      throw new Error(`forwardInto: ${B} images in activations for ${acts.B}`);
    const tables = this.gridTables(g);
    const C = s.hidden,
      I = s.intermediate,
      T = g.T,
      N = B * T;
    const W = (role: string) => this.w.get(role)!;
    const inPlace = !acts.perLayer;

    const x0 = acts.layers[0].xin;
    const pshape = { B, Himg, Wimg, patch: s.patch, C, rowOffset: g.prefix, T };
    patchGrid(pshape); // validates
    patchembedForward(gpu, x0, pixels, W('patch.w'), W('patch.b'), pshape);
    tokensPrefix(gpu, x0, W('prefix'), B, T, C, g.prefix);
    if (tables.interp && tables.posN) {
      matmul(gpu, tables.posN, tables.interp, W('pos'), { M: T, N: C, K: 1 + s.posGrid! ** 2, op: 'pos.interp' });
      tokensAddPos(gpu, x0, tables.posN, B, T, C);
    }
    const rope = this.rope(g, ropeScale);
    for (let l = 0; l < s.layers; l++) {
      const a = acts.layers[l];
      const r = (n: string) => `layer.${l}.${n}`;
      const grp = (k: LoraGroupKind) => this.loras.group(l, k);
      const gq = grp('qkv'),
        go = grp('o'),
        g1 = grp('fc1'),
        g2 = grp('fc2');
      // LN1 (+ q|k|v adapters' u) -> packed q|k|v
      layernormForward(
        gpu,
        a.ln1,
        a.st1,
        a.xin,
        W(r('norm1.w')),
        W(r('norm1.b')),
        N,
        C,
        s.eps,
        gq ? { ...this.lnLora(gq, drop), u: a.u.get('qkv')! } : undefined,
      );
      matmul(gpu, a.qkv, a.ln1, W(r('qkv.w')), {
        M: N,
        N: 3 * C,
        K: C,
        transB: true,
        bias: W(r('qkv.b')),
        second: this.loraUp(gq, a.u.get('qkv')),
        op: 'qkv.fwd',
      });
      attentionForward(gpu, a.ao, a.lse, a.qkv, { B, T, H: s.heads, Dh: s.headDim, rope });
      // xmid = xin + ls1 * (ao Wo^T + bo)
      if (go) this.loraDown(go, a.u.get('o')!, a.ao, N, drop);
      matmul(gpu, a.xmid, a.ao, W(r('o.w')), {
        M: N,
        N: C,
        K: C,
        transB: true,
        bias: this.w.get(r('o.b')),
        second: this.loraUp(go, a.u.get('o')),
        residual: { R: inPlace ? 'inplace' : a.xin, ls: W(r('ls1')) },
        pre: a.po ?? undefined,
        op: 'o.fwd+residual',
      });
      // LN2 (+ fc1 adapters' u) -> g = gelu(h) -> xout = xmid + ls2 * (g W2^T + b2)
      layernormForward(
        gpu,
        a.ln2,
        a.st2,
        a.xmid,
        W(r('norm2.w')),
        W(r('norm2.b')),
        N,
        C,
        s.eps,
        g1 ? { ...this.lnLora(g1, drop), u: a.u.get('fc1')! } : undefined,
      );
      matmul(gpu, a.g, a.ln2, W(r('fc1.w')), {
        M: N,
        N: I,
        K: C,
        transB: true,
        bias: this.w.get(r('fc1.b')),
        second: this.loraUp(g1, a.u.get('fc1')),
        pre: acts.perLayer ? a.h : undefined,
        gelu: true,
        op: 'fc1.fwd+gelu',
      });
      if (g2) this.loraDown(g2, a.u.get('fc2')!, a.g, N, drop);
      matmul(gpu, a.xout, a.g, W(r('fc2.w')), {
        M: N,
        N: C,
        K: I,
        transB: true,
        bias: this.w.get(r('fc2.b')),
        second: this.loraUp(g2, a.u.get('fc2')),
        residual: { R: inPlace ? 'inplace' : a.xmid, ls: W(r('ls2')) },
        pre: a.pf ?? undefined,
        op: 'fc2.fwd+residual',
      });
    }
    const xL = acts.layers[s.layers - 1].xout;
    if (finalRows === 'all') {
      layernormForward(gpu, acts.out, acts.stF, xL, W('norm.w'), W('norm.b'), N, C, s.eps);
      tokensGather(gpu, acts.pooled, acts.out, B, T, C, 0);
    } else {
      // only the CLS rows: gather them first, normalize B rows instead of B*T
      tokensGather(gpu, acts.out, xL, B, T, C, 0);
      layernormForward(gpu, acts.pooled, acts.stF, acts.out, W('norm.w'), W('norm.b'), B, C, s.eps);
    }
    l2normForward(gpu, acts.emb, acts.embNorm, acts.pooled, B, C);
  }

  /**
   * Inference forward of `pixels` [B,3,Himg,Wimg] (no dropout), in a workspace reused across calls
   * of the same shape. Returns buffers valid until the next forward of another shape:
   * last_hidden_state [B,T,C], pooler_output [B,C] and the L2-normalized embedding [B,C].
   */
  forward(
    pixels: GPUBuffer,
    B: number,
    Himg: number,
    Wimg: number,
  ): { hidden: GPUBuffer; pooled: GPUBuffer; emb: GPUBuffer; grid: Grid } {
    const g = this.grid(Himg, Wimg);
    if (!this.inferActs || this.inferActs.B !== B || this.inferActs.grid.T !== g.T || this.inferActs.grid.Hp !== g.Hp) {
      this.releaseWorkspace();
      this.inferActs = this.allocActs(B, g, false);
    }
    const acts = this.inferActs;
    this.forwardInto(acts, pixels, Himg, Wimg, null);
    return { hidden: acts.out, pooled: acts.pooled, emb: acts.emb, grid: g };
  }

  /**
   * Backward from the gradient of the L2-normalized embeddings `dEmb` [B, C] through the saved
   * per-layer activations of `forwardInto(acts, pixels, ...)` (same `drop`, `ropeScale` and
   * `finalRows`); adds into the LoRA and/or full gradients (./vit-backward.ts).
   */
  backward(
    acts: Acts,
    dEmb: GPUBuffer,
    pixels: GPUBuffer,
    Himg: number,
    Wimg: number,
    drop: DropoutSeed | null,
    ropeScale = 1,
    finalRows: 'all' | 'cls' = 'all',
  ): void {
    vitBackward(this, acts, dEmb, pixels, Himg, Wimg, drop, ropeScale, finalRows);
  }

  releaseWorkspace(): void {
    if (this.inferActs) Vit.freeActs(this.inferActs);
    this.inferActs = null;
  }

  destroy(): void {
    this.releaseWorkspace();
    for (const b of this.w.values()) b.destroy();
    for (const b of this.grads.values()) b.destroy();
    this.loras.destroy();
    for (const t of this.gridCache.values()) for (const b of Object.values(t)) b?.destroy();
    this.scaled?.cos.destroy();
    this.scaled?.sin.destroy();
  }
}

export { linearShape };
