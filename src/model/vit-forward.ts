/**
 * The ViT forward (src/model/vit.ts `Vit.forwardInto` / `Vit.forward`), recorded into the
 * activations of ./vit-state.ts, and the LoRA helpers the backward (./vit-backward.ts) shares:
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
 *        (+1 GEMM for each adapter on o or fc2, whose input no LayerNorm produces: `loraDown`)
 *     -> final LN = last_hidden_state [B, T, C]; pooler_output = row 0 [B, C]
 *     -> embedding = pooler_output / |pooler_output| [B, C]
 * T = 1 + R + Hp*Wp (DINOv3, R registers) or 1 + Hp*Wp (DINOv2); leftover pixels are ignored.
 *
 * LoRA dropout masks: adapter (layer, role) uses the mask of ops/dropout with seeds
 * (seed, layer * 6 + role index) at index (rowOffset + n) * inF + c, where rowOffset is the
 * chunk's first row in the whole batch: a chunk of images gets the same masks however the batch
 * is cut into chunks (the gradient cache's embedding pass and its re-forward agree).
 */
import { attentionForward } from '../ops/attention';
import { l2normForward } from '../ops/l2norm';
import { layernormForward, lnLoraFused, type LnLora } from '../ops/layernorm';
import { matmul, type MatmulArgs } from '../ops/matmul';
import { patchembedForward, patchGrid } from '../ops/patchembed';
import { tokensAddPos, tokensGather, tokensPrefix } from '../ops/tokens';
import { LINEAR_ROLES, type LoraGroup, type LoraGroupKind, type LoraModule } from './lora-params';
import type { Acts, DropoutSeed, VitState } from './vit-state';

/** The dropout-mask seed of adapter m (see the file comment). */
export function moduleSeed(m: LoraModule): number {
  return m.layer * LINEAR_ROLES.length + LINEAR_ROLES.indexOf(m.role);
}

/** LoRA dropout of adapter m in this forward (null: none). */
export function dropoutOf(m: LoraModule, drop: DropoutSeed | null) {
  if (!drop || m.dropout === 0) return null;
  return { p: m.dropout, seed0: drop.seed, seed1: moduleSeed(m), base: drop.rowOffset * m.inF };
}

/** The LayerNorm-fused LoRA description of a group whose input is a LayerNorm output. */
export function lnLora(vit: VitState, g: LoraGroup, drop: DropoutSeed | null): LnLora {
  const p = g.dropout > 0 && drop ? { p: g.dropout, seed0: drop.seed, base: drop.rowOffset * g.inF } : null;
  return {
    P: vit.loras.P!,
    offA: g.offA,
    offB: g.offB,
    R: g.R,
    outF: g.modules[0].outF,
    segs: g.modules.map((m) => ({
      r0: m.r0,
      r1: m.r0 + m.r,
      scale: m.scale,
      seed1: moduleSeed(m),
      col0: m.col0,
    })),
    dropout: p,
  };
}

/**
 * u = scale * drop(x) A^T for each adapter of a group, as GEMMs: the groups whose input is not a
 * LayerNorm output (o, fc2: one adapter each), and on adapters where the LayerNorm-fused
 * projection is slow (`lnLoraFused`) the q|k|v and fc1 groups too (adapter s writes the columns
 * [r0_s, r0_s + r_s) of u [N, R]). `proGelu`: the input is gelu(x) (fc2's input recomputed from h).
 */
export function loraDown(
  vit: VitState,
  g: LoraGroup,
  u: GPUBuffer,
  x: GPUBuffer,
  N: number,
  drop: DropoutSeed | null,
  proGelu = false,
): void {
  for (const m of g.modules) {
    const d = dropoutOf(m, drop);
    if (proGelu && d) throw new Error('loraDown: GELU and dropout prologues together are not supported');
    matmul(vit.gpu, u, x, vit.loras.P!, {
      M: N,
      N: m.r,
      K: m.inF,
      transB: true,
      offB: g.offA + m.r0 * m.inF,
      ldc: g.R,
      offC: m.r0,
      alpha: m.scale,
      proA: d ? { kind: 'dropout', ...d } : proGelu ? { kind: 'gelu' } : undefined,
      op: `lora.fwd.u.${g.kind}`,
    });
  }
}

/** The LoRA groups of layer l (undefined where it has none): q|k|v, o, fc1, fc2. */
export function layerGroups(vit: VitState, l: number) {
  const grp = (k: LoraGroupKind) => vit.loras.group(l, k);
  return { gq: grp('qkv'), go: grp('o'), g1: grp('fc1'), g2: grp('fc2') };
}

/** The `second` product of a linear with adapters: + u B_g^T. */
export function loraUp(vit: VitState, g: LoraGroup | undefined, u: GPUBuffer | undefined): MatmulArgs['second'] {
  if (!g || !u) return undefined;
  return { A: u, B: vit.loras.P!, K: g.R, offB: g.offB, ldb: g.R };
}

/** Records a forward pass into `acts`; the arguments as in `Vit.forwardInto`. */
export function vitForward(
  vit: VitState,
  acts: Acts,
  pixels: GPUBuffer,
  Himg: number,
  Wimg: number,
  drop: DropoutSeed | null,
  ropeScale: number,
  finalRows: 'all' | 'cls',
  images: number,
): void {
  const gpu = vit.gpu,
    s = vit.spec;
  const g = acts.grid,
    B = images;
  if (B > acts.B || (acts.perLayer && B !== acts.B))
    throw new Error(`forwardInto: ${B} images in activations for ${acts.B}`);
  const tables = vit.gridTables(g);
  const C = s.hidden,
    I = s.intermediate,
    T = g.T,
    N = B * T;
  const W = (role: string) => vit.w.get(role)!;
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
  const rope = vit.rope(g, ropeScale);
  for (let l = 0; l < s.layers; l++) {
    const a = acts.layers[l];
    const r = (n: string) => `layer.${l}.${n}`;
    const { gq, go, g1, g2 } = layerGroups(vit, l);
    const fused = lnLoraFused(gpu);
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
      gq && fused ? { ...lnLora(vit, gq, drop), u: a.u.get('qkv')! } : undefined,
    );
    if (gq && !fused) loraDown(vit, gq, a.u.get('qkv')!, a.ln1, N, drop);
    matmul(gpu, a.qkv, a.ln1, W(r('qkv.w')), {
      M: N,
      N: 3 * C,
      K: C,
      transB: true,
      bias: W(r('qkv.b')),
      second: loraUp(vit, gq, a.u.get('qkv')),
      op: 'qkv.fwd',
    });
    attentionForward(gpu, a.ao, a.lse, a.qkv, { B, T, H: s.heads, Dh: s.headDim, rope });
    // xmid = xin + ls1 * (ao Wo^T + bo)
    if (go) loraDown(vit, go, a.u.get('o')!, a.ao, N, drop);
    matmul(gpu, a.xmid, a.ao, W(r('o.w')), {
      M: N,
      N: C,
      K: C,
      transB: true,
      bias: vit.w.get(r('o.b')),
      second: loraUp(vit, go, a.u.get('o')),
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
      g1 && fused ? { ...lnLora(vit, g1, drop), u: a.u.get('fc1')! } : undefined,
    );
    if (g1 && !fused) loraDown(vit, g1, a.u.get('fc1')!, a.ln2, N, drop);
    matmul(gpu, a.g, a.ln2, W(r('fc1.w')), {
      M: N,
      N: I,
      K: C,
      transB: true,
      bias: vit.w.get(r('fc1.b')),
      second: loraUp(vit, g1, a.u.get('fc1')),
      pre: acts.perLayer ? a.h : undefined,
      gelu: true,
      op: 'fc1.fwd+gelu',
    });
    if (g2) loraDown(vit, g2, a.u.get('fc2')!, a.g, N, drop);
    matmul(gpu, a.xout, a.g, W(r('fc2.w')), {
      M: N,
      N: C,
      K: I,
      transB: true,
      bias: vit.w.get(r('fc2.b')),
      second: loraUp(vit, g2, a.u.get('fc2')),
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
