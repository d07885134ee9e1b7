/**
 * The ViT of DINOv3 and DINOv2 on the GPU, built from src/ops with fused kernels: inference
 * forward, and the training forward/backward (LoRA or full fine-tuning) used by src/train.
 * This class holds the model state: weights, their gradients (full fine-tuning), the LoRA
 * adapters and the per-grid tables; the passes are functions over it (llm.c-like):
 *   ./vit-state.ts     the state the passes read (VitState) and the activations (Acts, allocActs)
 *   ./vit-forward.ts   the forward, block by block (7 dispatches per layer), LoRA dropout masks
 *   ./vit-backward.ts  the backward from the embeddings' gradient
 *   ./lora-params.ts   the LoRA arena (parameters, gradients, checkpoints)
 * Weights live in one GPU buffer per tensor, q|k|v packed into one [3C, C] (and [3C] bias);
 * `weightView` maps the checkpoint's role names onto it.
 *
 * Precision (`VitOptions.f16`, the trainer's `fp16: true`): the big frozen weights (q|k|v, o, fc1,
 * fc2) and the activations the GEMMs and the attention read (LayerNorm outputs, q|k|v, attention
 * output, h and gelu(h)) are stored as packed f16 (src/gpu/f16.ts), halving their memory and
 * bandwidth; every kernel computes in f32 and the residual stream, LayerNorm statistics, LoRA
 * parameters, gradients, optimizer state and loss stay f32 (so no loss scaling is needed:
 * nothing that accumulates or that gradients flow through small values in is stored in f16).
 */
import type { Gpu } from '../gpu/device';
import { isF16, packF16, readF16, uploadF16 } from '../gpu/f16';
import { ropeTables } from '../ops/rope';
import type { VitSpec } from './config';
import { LINEAR_ROLES, linearShape, LoraParams, type LinearRole, type LoraModule } from './lora-params';
import { positionInterpMatrix } from './posembed';
import { vitBackward } from './vit-backward';
import { vitForward } from './vit-forward';
import {
  allocActs,
  freeActs,
  type Acts,
  type DropoutSeed,
  type Grid,
  type GridTables,
  type LayerActs,
  type VitState,
} from './vit-state';

export { LINEAR_ROLES, type LinearRole, type LoraModule };
export type { Acts, DropoutSeed, Grid, LayerActs };

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

export class Vit implements VitState {
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
  private gridCache = new Map<string, GridTables>();
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
  gridTables(g: Grid): GridTables {
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
   * `dry`: only sizes (buffers are stand-ins with a `size`), for `actsBytes`. (./vit-state.ts)
   */
  allocActs(B: number, g: Grid, perLayer: boolean, finalRows: 'all' | 'cls' = 'all', dry = false): Acts {
    return allocActs(this, B, g, perLayer, finalRows, dry);
  }

  static freeActs(a: Acts): void {
    freeActs(a);
  }

  /**
   * Records a forward pass into `acts` (./vit-forward.ts). `drop` null = eval (no LoRA dropout);
   * else training, with LoRA dropout masks from it (see ./vit-forward.ts). `ropeScale` multiplies
   * the DINOv3 RoPE patch coordinates (HF's train-time rescale, docs/model.md#rope-rescale);
   * 1 = none. `finalRows`: 'all' writes the whole last_hidden_state, 'cls' only what the embedding
   * needs (training). `images`: fewer images than the activations hold (inference activations
   * only; the first rows are used).
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
    vitForward(this, acts, pixels, Himg, Wimg, drop, ropeScale, finalRows, images);
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
