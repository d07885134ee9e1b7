/**
 * What the ViT's forward (./vit-forward.ts) and backward (./vit-backward.ts) read: the model state
 * (`VitState`, which `Vit` of ./vit.ts implements: weights, gradients, LoRA arena, grid tables)
 * and the activations of one forward (`Acts`), with their allocation (`allocActs`).
 *
 * Activations: inference keeps one set for all layers, the residual stream updated in place;
 * training keeps, per layer, what its backward reads (xin, LN stats, qkv, attention output and
 * lse, xmid, h; ln1/ln2 and the LoRA u only where an adapter or full fine-tuning needs them; the
 * branch outputs before LayerScale only for full fine-tuning). With packed-f16 activations
 * (`f16Acts`) the ones the GEMMs and the attention read are f16: LayerNorm outputs, q|k|v,
 * attention output, h and gelu(h) (see ./vit.ts, "Precision").
 */
import type { Gpu } from '../gpu/device';
import { zerosF16 } from '../gpu/f16';
import { attentionLseSize, type AttentionShape } from '../ops/attention';
import type { VitSpec } from './config';
import type { LoraGroupKind, LoraParams } from './lora-params';

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

/**
 * The per-grid tables: RoPE (DINOv3), position interpolation and the resized table (DINOv2).
 * (A type, not an interface, so that `Object.values` of it is typed.)
 */
export type GridTables = { cos?: GPUBuffer; sin?: GPUBuffer; interp?: GPUBuffer; posN?: GPUBuffer };

/** The model state the forward and backward functions read (see ./vit.ts `Vit` for each field). */
export interface VitState {
  readonly gpu: Gpu;
  readonly spec: VitSpec;
  /** Weights by role (q|k|v packed into `layer.<l>.qkv.w|b`, `prefix` = CLS + registers). */
  readonly w: Map<string, GPUBuffer>;
  /** Gradients of the weights (full fine-tuning), by the roles of `w`; empty when frozen. */
  readonly grads: Map<string, GPUBuffer>;
  readonly loras: LoraParams;
  /** Packed-f16 activations. */
  readonly f16Acts: boolean;
  gridTables(g: Grid): GridTables;
  /** The attention's RoPE argument for grid g (null for DINOv2). */
  rope(g: Grid, ropeScale: number): AttentionShape['rope'];
  /** Whether the checkpoint has this bias of q, k or v (absent ones stay zero in the packed bias). */
  hasBias(role: 'q' | 'k' | 'v'): boolean;
}

/**
 * Allocates activations for B images on grid g: shared across layers, or one set per layer.
 * `finalRows` as in `Vit.forwardInto` ('cls': last_hidden_state holds only the B CLS rows).
 * `dry`: only sizes (buffers are stand-ins with a `size`), for `Vit.actsBytes`.
 */
export function allocActs(
  m: VitState,
  B: number,
  g: Grid,
  perLayer: boolean,
  finalRows: 'all' | 'cls' = 'all',
  dry = false,
): Acts {
  const s = m.spec;
  const N = B * g.T,
    C = s.hidden,
    I = s.intermediate;
  const full = m.grads.size > 0;
  const owned: GPUBuffer[] = [];
  const z = (n: number, label: string, f16 = false) => {
    const b = dry
      ? ({ size: Math.max(4, n * (f16 ? 2 : 4)) } as GPUBuffer)
      : f16
        ? zerosF16(m.gpu, n, label)
        : m.gpu.zeros(n, label);
    owned.push(b);
    return b;
  };
  const h16 = m.f16Acts; // the activations GEMMs and attention read (see the file comment)
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
    const grp = (k: LoraGroupKind) => m.loras.group(l, k);
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

/** Destroys every buffer of `a`. */
export function freeActs(a: Acts): void {
  for (const b of a.owned) b.destroy();
}
