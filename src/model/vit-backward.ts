/**
 * The ViT backward (src/model/vit.ts `Vit.backward`): from the gradient of the L2-normalized
 * embeddings dEmb [B, C] through the saved per-layer activations of a training forward, adding
 * into the LoRA gradients (the arena's dP) and/or the full-fine-tuning gradients.
 *
 * Per layer, from dX (the gradient of the layer's output, kept in place as the residual-stream
 * gradient), with LoRA adapters on q|k|v (the default) 8 dispatches:
 *   dh   = ((ls2 * dX) W2) * gelu'(h)           GEMM: LayerScale read with dX, GELU' epilogue
 *   dln2 = dh W1                                 GEMM
 *   dX  += LN2 backward(dln2 [+ fc1 adapters])  layernorm.bwd (+ their gu and input gradient)
 *   dao  = (ls1 * dX) Wo                         GEMM
 *   dqkv = attention backward                    attention.bwd (1-2 dispatches)
 *   dln1 = dqkv Wqkv                             GEMM
 *   dX  += LN1 backward(dln1 + q|k|v adapters)  layernorm.bwd with gu and the LoRA input gradient
 *   adapters' dA += gu^T drop(x), dB_g += dY^T u (block-masked): one dispatch (matmulMulti)
 * Adapters on o or fc2 (inputs not produced by a LayerNorm) and full fine-tuning add GEMMs of
 * their own (branch gradients materialized, weight and bias gradients). On software adapters the
 * LayerScale and GELU' run as passes of their own (`branchGradFused`: 10 dispatches per layer).
 */
import type { Gpu } from '../gpu/device';
import { attentionBackward } from '../ops/attention';
import { colsum } from '../ops/colsum';
import { geluBackward } from '../ops/gelu';
import { l2normBackward } from '../ops/l2norm';
import { layernormBackward, lnLoraFused } from '../ops/layernorm';
import { matmul, matmulMulti, type MatmulArgs, type MatmulCall } from '../ops/matmul';
import { patchembedBackward } from '../ops/patchembed';
import { residualBackward, residualForward } from '../ops/residual';
import { scratch } from '../ops/support';
import { tokensScatter } from '../ops/tokens';
import type { LoraGroup, LoraGroupKind } from './lora-params';
import { dropoutOf, layerGroups, lnLora } from './vit-forward';
import type { Acts, DropoutSeed, VitState } from './vit-state';

/**
 * Whether the backward folds LayerScale and GELU' into the branch GEMMs (without adapters on o/fc2
 * and without full fine-tuning, where the materialized branch gradient is needed anyway): ls * dX
 * as a prologue scaling A as it is read instead of a pass of its own (residual.bwd), and GELU' as
 * the fc2 input-gradient GEMM's epilogue instead of gelu.bwd after it.
 * `gpu.variants.get('vitbwd')`: 'fused' (two passes fewer per layer, the default on GPUs) or
 * 'passes' (the default on software adapters: in Chromium's SwiftShader the prologue and the
 * epilogue made the register-tiled GEMM of a ViT-S/16 step 1.5-1.7x slower than the plain one
 * plus its pass, while the separate passes cost a few ms).
 */
function branchGradFused(gpu: Gpu): boolean {
  const v = gpu.variants.get('vitbwd') ?? (gpu.defaults === 'software' ? 'passes' : 'fused');
  if (v !== 'fused' && v !== 'passes') throw new Error(`vitbwd variant "${v}": expected 'fused' or 'passes'`);
  return v === 'fused';
}

/** Lowest layer whose parameters need gradients (0 for full fine-tuning). */
function lowestTrainedLayer(vit: VitState): number {
  if (vit.grads.size > 0) return 0;
  let low = Infinity;
  for (const m of vit.loras.modules.values()) if (m.trainable) low = Math.min(low, m.layer);
  return low;
}

/** A zeroed scratch buffer (shared by every layer and call; see ops/support `scratch`). */
function zeroed(gpu: Gpu, key: string, n: number): GPUBuffer {
  const b = scratch(gpu, `vit.bwd.${key}`, n);
  gpu.clear(b, 0, n * 4);
  return b;
}

/**
 * One group's adapter gradients: per adapter dA += gu_s^T drop_s(X), and dB_g += dY^T u.
 * `gelu`: the adapters' input is gelu(X) (fc2's, recomputed from the saved h as it is read).
 */
function loraGradCalls(
  vit: VitState,
  g: LoraGroup,
  X: GPUBuffer,
  dY: GPUBuffer,
  ldy: number,
  u: GPUBuffer,
  gu: GPUBuffer,
  N: number,
  drop: DropoutSeed | null,
  gelu = false,
): MatmulCall[] {
  const dP = vit.loras.dP!;
  const calls: MatmulCall[] = g.modules.map((m) => {
    const d = dropoutOf(m, drop);
    const proB: MatmulArgs['proB'] = d
      ? { kind: gelu ? 'geludrop' : 'dropout', ...d }
      : gelu
        ? { kind: 'gelu' }
        : undefined;
    return {
      C: dP,
      A: gu,
      B: X,
      args: {
        M: m.r,
        N: m.inF,
        K: N,
        transA: true,
        lda: g.R,
        offA: m.r0,
        offC: g.offA + m.r0 * m.inF,
        accum: true,
        proB,
        op: `lora.bwd.dA.${m.role}`,
      },
    };
  });
  const mask = vit.loras.blockRanges(g);
  calls.push({
    C: dP,
    A: dY,
    B: u,
    args: {
      M: g.outRows,
      N: g.R,
      K: N,
      transA: true,
      lda: ldy,
      offC: g.offB,
      accum: true,
      blockMask: g.kind === 'qkv' ? mask : undefined,
      op: `lora.bwd.dB.${g.kind}`,
    },
  });
  return calls;
}

/**
 * The branch input gradient of a linear whose adapter's input no LayerNorm produces (o, fc2):
 * dx = dY W (+ drop(s dY B) A): three GEMMs, gu into `gu`.
 */
function linearLoraBackward(
  vit: VitState,
  g: LoraGroup,
  dx: GPUBuffer,
  dY: GPUBuffer,
  W: GPUBuffer,
  gu: GPUBuffer,
  N: number,
  drop: DropoutSeed | null,
): void {
  const m = g.modules[0];
  matmul(vit.gpu, dx, dY, W, { M: N, N: m.inF, K: m.outF, op: `${g.kind}.bwd.dx` });
  loraInputBackward(vit, g, dx, dY, m.outF, gu, N, drop);
}

/**
 * The backward of a group's down-projections as GEMMs: for each adapter s of the group,
 *   gu[:, r0_s..] = scale_s * dY[:, col0_s .. col0_s + outF] B_s      (B_s: rows col0_s.., cols r0_s..)
 *   dx           += drop_s(gu[:, r0_s..] A_s)
 * (dx null: no input gradient wanted, only gu). For o and fc2 after their base GEMM; for q|k|v and
 * fc1 where `lnLoraFused` is false (else the LayerNorm backward kernel does this), before the
 * LayerNorm backward reads dx.
 */
function loraInputBackward(
  vit: VitState,
  g: LoraGroup,
  dx: GPUBuffer | null,
  dY: GPUBuffer,
  ldy: number,
  gu: GPUBuffer,
  N: number,
  drop: DropoutSeed | null,
): void {
  const gpu = vit.gpu,
    P = vit.loras.P!;
  for (const m of g.modules) {
    matmul(gpu, gu, dY, P, {
      M: N,
      N: m.r,
      K: m.outF,
      offA: m.col0,
      lda: ldy,
      offB: g.offB + m.col0 * g.R + m.r0,
      ldb: g.R,
      offC: m.r0,
      ldc: g.R,
      alpha: m.scale,
      op: `lora.bwd.gu.${g.kind}`,
    });
    if (!dx) continue;
    const d = dropoutOf(m, drop);
    matmul(gpu, dx, gu, P, {
      M: N,
      N: m.inF,
      K: m.r,
      offA: m.r0,
      lda: g.R,
      offB: g.offA + m.r0 * m.inF,
      accum: true,
      dropout: d ?? undefined,
      op: `lora.bwd.dx.${g.kind}`,
    });
  }
}

export function vitBackward(
  vit: VitState,
  acts: Acts,
  dEmb: GPUBuffer,
  pixels: GPUBuffer,
  Himg: number,
  Wimg: number,
  drop: DropoutSeed | null,
  ropeScale: number,
  finalRows: 'all' | 'cls',
): void {
  const gpu = vit.gpu,
    s = vit.spec;
  const { B, grid: g } = acts;
  if (!acts.perLayer) throw new Error('backward needs per-layer activations (allocActs(..., perLayer = true))');
  const C = s.hidden,
    I = s.intermediate,
    T = g.T,
    N = B * T;
  const W = (role: string) => vit.w.get(role)!;
  const G = (role: string) => vit.grads.get(role) ?? null;
  const low = lowestTrainedLayer(vit);
  if (!Number.isFinite(low)) throw new Error('backward: nothing is trainable (no LoRA gradients, no full gradients)');
  const full = vit.grads.size > 0;
  const rope = vit.rope(g, ropeScale);

  // embedding -> pooled (CLS row of the final LN) -> final LN -> residual stream gradient dX
  const dpooled = zeroed(gpu, 'dpooled', B * C);
  l2normBackward(gpu, dpooled, dEmb, acts.emb, acts.embNorm, B, C);
  const dX = zeroed(gpu, 'dx', N * C);
  const xL = acts.layers[s.layers - 1].xout;
  if (finalRows === 'cls') {
    const dcls = zeroed(gpu, 'dcls', B * C);
    layernormBackward(gpu, dcls, G('norm.w'), G('norm.b'), dpooled, acts.out, W('norm.w'), acts.stF, B, C);
    tokensScatter(gpu, dX, dcls, B, T, C, 0);
  } else {
    const dOut = zeroed(gpu, 'dout', N * C);
    tokensScatter(gpu, dOut, dpooled, B, T, C, 0);
    layernormBackward(gpu, dX, G('norm.w'), G('norm.b'), dOut, xL, W('norm.w'), acts.stF, N, C);
  }

  const dln = scratch(gpu, 'vit.bwd.dln', N * C);
  const dh = scratch(gpu, 'vit.bwd.dh', N * I);
  const dao = scratch(gpu, 'vit.bwd.dao', N * C);
  const dqkv = scratch(gpu, 'vit.bwd.dqkv', 3 * N * C);
  const dBr = scratch(gpu, 'vit.bwd.dbranch', N * C);
  const gu = (kind: LoraGroupKind, R: number) => scratch(gpu, `vit.bwd.gu.${kind}`, N * R);
  const folded = branchGradFused(gpu);
  for (let l = s.layers - 1; l >= low; l--) {
    const a = acts.layers[l];
    const r = (n: string) => `layer.${l}.${n}`;
    const { gq, go, g1, g2 } = layerGroups(vit, l);
    const fused = lnLoraFused(gpu);
    const needBelow = full || l > low;
    const calls: MatmulCall[] = [];

    // ---- MLP branch: xout = xmid + ls2 * (gelu(h) W2^T + b2)
    if (full || g2 || !folded) residualBackward(gpu, dBr, G(r('ls2')), dX, a.pf, W(r('ls2')), N, C, false); // dBr = ls2 * dX
    if (full) {
      matmul(gpu, G(r('fc2.w'))!, dBr, a.h, {
        M: C,
        N: I,
        K: N,
        transA: true,
        accum: true,
        proB: { kind: 'gelu' },
        op: 'fc2.bwd.dW',
      });
      if (G(r('fc2.b'))) colsum(gpu, G(r('fc2.b'))!, dBr, N, C, 'fc2.bwd.db');
    }
    if (g2) {
      const gu2 = gu('fc2', g2.R);
      linearLoraBackward(vit, g2, dh, dBr, W(r('fc2.w')), gu2, N, drop);
      geluBackward(gpu, dh, dh, a.h, N * I, false);
      // now (dBr is overwritten by the attention branch below); the input gelu(h) is recomputed
      matmulMulti(gpu, loraGradCalls(vit, g2, a.h, dBr, C, a.u.get('fc2')!, gu2, N, drop, true), 'lora.bwd.grads.fc2');
    } else if (!folded) {
      matmul(gpu, dh, dBr, W(r('fc2.w')), { M: N, N: I, K: C, op: 'fc2.bwd.dx' });
      geluBackward(gpu, dh, dh, a.h, N * I, false);
    } else if (full) {
      matmul(gpu, dh, dBr, W(r('fc2.w')), { M: N, N: I, K: C, geluGrad: { H: a.h }, op: 'fc2.bwd.dx+dgelu' });
    } else {
      matmul(gpu, dh, dX, W(r('fc2.w')), {
        M: N,
        N: I,
        K: C,
        proA: { kind: 'kscale', v: W(r('ls2')) },
        geluGrad: { H: a.h },
        op: 'fc2.bwd.dx+dgelu',
      });
    }
    matmul(gpu, dln, dh, W(r('fc1.w')), { M: N, N: C, K: I, op: 'fc1.bwd.dx' });
    if (full) {
      matmul(gpu, G(r('fc1.w'))!, dh, a.ln2, { M: I, N: C, K: N, transA: true, accum: true, op: 'fc1.bwd.dW' });
      if (G(r('fc1.b'))) colsum(gpu, G(r('fc1.b'))!, dh, N, I, 'fc1.bwd.db');
    }
    const gu1 = g1 ? gu('fc1', g1.R) : null;
    if (g1 && !fused) loraInputBackward(vit, g1, dln, dh, I, gu1!, N, drop);
    layernormBackward(
      gpu,
      dX,
      G(r('norm2.w')),
      G(r('norm2.b')),
      dln,
      a.xmid,
      W(r('norm2.w')),
      a.st2,
      N,
      C,
      g1 && fused ? { ...lnLora(vit, g1, drop), dy: dh, ldy: I, gu: gu1! } : undefined,
    );
    if (g1) calls.push(...loraGradCalls(vit, g1, a.ln2, dh, I, a.u.get('fc1')!, gu1!, N, drop));

    // ---- attention branch: xmid = xin + ls1 * (attn(q|k|v(LN1(xin))) Wo^T + bo)
    if (full || go || !folded) residualBackward(gpu, dBr, G(r('ls1')), dX, a.po, W(r('ls1')), N, C, false); // dBr = ls1 * dX
    if (full) {
      matmul(gpu, G(r('o.w'))!, dBr, a.ao, { M: C, N: C, K: N, transA: true, accum: true, op: 'o.bwd.dW' });
      if (G(r('o.b'))) colsum(gpu, G(r('o.b'))!, dBr, N, C, 'o.bwd.db');
    }
    if (go) {
      const guo = gu('o', go.R);
      linearLoraBackward(vit, go, dao, dBr, W(r('o.w')), guo, N, drop);
      matmulMulti(gpu, loraGradCalls(vit, go, a.ao, dBr, C, a.u.get('o')!, guo, N, drop), 'lora.bwd.grads.o');
    } else if (full || !folded) {
      matmul(gpu, dao, dBr, W(r('o.w')), { M: N, N: C, K: C, op: 'o.bwd.dx' });
    } else {
      matmul(gpu, dao, dX, W(r('o.w')), { M: N, N: C, K: C, proA: { kind: 'kscale', v: W(r('ls1')) }, op: 'o.bwd.dx' });
    }
    attentionBackward(gpu, dqkv, dao, a.ao, a.lse, a.qkv, { B, T, H: s.heads, Dh: s.headDim, rope });
    if (needBelow) matmul(gpu, dln, dqkv, W(r('qkv.w')), { M: N, N: C, K: 3 * C, op: 'qkv.bwd.dx' });
    if (full) {
      matmul(gpu, G(r('qkv.w'))!, dqkv, a.ln1, { M: 3 * C, N: C, K: N, transA: true, accum: true, op: 'qkv.bwd.dW' });
      const db = G(r('qkv.b'))!;
      colsum(gpu, db, dqkv, N, 3 * C, 'qkv.bwd.db');
      (['q', 'k', 'v'] as const).forEach((role, i) => !vit.hasBias(role) && gpu.clear(db, i * C * 4, C * 4));
    }
    const guq = gq ? gu('qkv', gq.R) : null;
    if (gq && !fused) loraInputBackward(vit, gq, needBelow ? dln : null, dqkv, 3 * C, guq!, N, drop);
    if (needBelow || gq) {
      layernormBackward(
        gpu,
        needBelow ? dX : null,
        G(r('norm1.w')),
        G(r('norm1.b')),
        dln,
        a.xin,
        W(r('norm1.w')),
        a.st1,
        N,
        C,
        gq && fused ? { ...lnLora(vit, gq, drop), dy: dqkv, ldy: 3 * C, gu: guq! } : undefined,
      );
    }
    if (gq) calls.unshift(...loraGradCalls(vit, gq, a.ln1, dqkv, 3 * C, a.u.get('qkv')!, guq!, N, drop));
    // the q|k|v and fc1 adapters' gradients together (their inputs are still intact here)
    if (calls.length) matmulMulti(gpu, calls, 'lora.bwd.grads');
  }
  if (!full) return;
  // embeddings: dX is now the gradient of the token rows x0
  const dsum = zeroed(gpu, 'dsum', T * C); // sum over the batch
  colsum(gpu, dsum, dX, B, T * C, 'tokens.bwd.sum');
  const dprefix = G('prefix')!;
  residualForward(gpu, dprefix, dprefix, dsum, null, g.prefix * C, 1); // dprefix += dsum[:prefix]
  const tables = vit.gridTables(g);
  if (tables.interp) {
    matmul(gpu, G('pos')!, tables.interp, dsum, {
      M: 1 + s.posGrid! ** 2,
      N: C,
      K: T,
      transA: true,
      accum: true,
      op: 'pos.interp.bwd',
    });
  }
  patchembedBackward(gpu, G('patch.w'), G('patch.b'), dX, pixels, {
    B,
    Himg,
    Wimg,
    patch: s.patch,
    C,
    rowOffset: g.prefix,
    T,
  });
}
