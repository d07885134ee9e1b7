/**
 * WGSL generator for the batched matmul kernels (src/ops/matmul.ts runs them), in the manner of
 * tfjs-backend-webgpu's makeMatMulPackedVec4Source: one function writes every variant from a
 * schedule (how work is tiled) and a fusion set (what happens on load and on store), so the
 * kernels share their header, loads and epilogue and differ only where they must.
 *
 *   C[z] = epilogue(alpha * (op(A[z]) op(B[z]) [+ op(A2) op(B2)]))
 *   op(A) is [M,K]: A stored [M,K] (row stride lda) or, transA, stored [K,M]; likewise op(B) [K,N].
 *   Batch z = z1 * NB2 + z2 addresses off + z1 * s1 + z2 * s2 in A, B and C (per-head slices).
 *
 * Schedules:
 *   reg    one invocation owns a TM x TN block of C in registers, no workgroup memory (what is fast
 *          on CPU backends such as SwiftShader): scalar loads (any strides) or vec4 loads
 *          (4-aligned operands), optionally shared inside a 2x2 quad of invocations (subgroups):
 *          each lane loads half the rows/columns and swaps with its neighbour. Everything is
 *          written out unrolled: SwiftShader's Subzero does not unroll loops over small arrays
 *          (shaders/dev/matmul_v4 was 10x slower for it).
 *   tiled  a workgroup owns a BM x BN tile staged through workgroup memory in K-steps of BK, each
 *          invocation a TM x TN block of it: coalesced global loads, the usual GPU kernel.
 *   sgmat  subgroup matrices (tensor cores): a subgroup-sized workgroup owns FM x FN result
 *          matrices, f16 operands staged in workgroup memory, f32 accumulation
 *          (matmul-gen-sgmat.ts).
 *   `half` (reg and tiled; always on sgmat): packed-f16 slots bound as native vec2<f16> /
 *          vec4<f16> arrays (`shader-f16`) instead of u32 words read through unpack2x16float;
 *          the same code with f32 in place of f16 (half 'f32') is its check on adapters without
 *          shader-f16 (matmul-gen-spec.ts `Half`).
 *
 * Fusions (each changes the generated text, so each combination is its own pipeline):
 *   proA/proB  an element-wise prologue on the loaded operand: 'gelu' (fc2 reads gelu(h)),
 *              'dropout' (LoRA's inverted dropout, the counter-based mask of shaders/ops/dropout.wgsl
 *              at index dbase + (the element's position in its matrix)), 'geludrop' (dropout of
 *              gelu(x): an fc2 adapter's input, recomputed from h) or, for A only, 'kscale'
 *              (op(A)[m, k] * ks[k]: LayerScale applied to a residual-stream gradient as it is read)
 *   k2         a second product over K2 added to the same accumulators (LoRA's u B^T next to
 *              x W^T: one pass instead of two), same transposes, no prologue
 *   epilogue, in this order on v = alpha * acc:
 *              + bias[n];  * colScale[n];  pre[c] = v;  dropout (mask at dbase + c - offC);
 *              block mask (v = 0 unless n is in row m's segment range);  gelu: v = gelu(v);
 *              geluGrad: v *= gelu'(H[c]);  residual: v = R[c] + ls[n] * v ('src') or
 *              C[c] + ls[n] * v ('inplace');  accum: v += C[c];  C[c] = v
 *              (c: the element's index in C; pre, H and R are laid out like C; ls absent = 1)
 *
 * Several independent problems can share one dispatch (`matmulSourceMulti`): each keeps its own
 * fusions and parameters, buffers are bound once per distinct buffer ("slots"), and the
 * workgroups are split between the problems (problem i owns a contiguous range of a flattened
 * workgroup index, so no problem pays for another's grid).
 *
 * Files: matmul-gen-spec.ts (schedules, fusions, binding and parameter order), matmul-gen-header.ts
 * (parameter structs, bindings, loads with prologues, the epilogue), matmul-gen-reg.ts,
 * matmul-gen-tiled.ts and matmul-gen-sgmat.ts (the schedules' bodies); this file the entry point
 * and the whole source.
 */
import { header } from './matmul-gen-header';
import { regBody } from './matmul-gen-reg';
import {
  bindingVec4,
  bindingWritten,
  fusionKey,
  problemBindings,
  validate,
  type Fusion,
  type ProblemSpec,
  type Schedule,
  type SlotSpec,
} from './matmul-gen-spec';
import { sgmatBody, sgmatShared } from './matmul-gen-sgmat';
import { tiledBody } from './matmul-gen-tiled';

/** The compute entry point: which problem a workgroup belongs to, and the call of its body. */
function entry(s: Schedule, problems: ProblemSpec[]): string {
  const L: string[] = [];
  const multi = problems.length > 1;
  // Multi-problem: the grid is 2-D flattened; problem i owns workgroups [wg0_i, wg0_{i+1}).
  const pick = (call: (i: number, wx: string, wy: string) => string) => {
    if (!multi) return [`  ${call(0, 'wid.x', 'wid.y')}`];
    const out = ['  let flat = wid.y * nwg.x + wid.x;'];
    for (let i = problems.length - 1; i >= 0; i--) {
      const q = `p.q${i}`;
      out.push(`  ${i === problems.length - 1 ? '' : '} else '}if (flat >= ${q}.wg0) {`);
      out.push(`    let w = flat - ${q}.wg0;`);
      out.push(`    ${call(i, `w % ${q}.wgx`, `w / ${q}.wgx`)}`);
    }
    out.push('  }');
    return out;
  };
  if (s.kind === 'reg' && s.quad) {
    L.push('@compute @workgroup_size(WG_X, WG_Y, 1)');
    L.push('fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,');
    L.push('        @builtin(local_invocation_index) lii: u32, @builtin(subgroup_invocation_id) sgi: u32) {');
    L.push(...pick((i, wx, wy) => `run_${i}(${wx}, ${wy}, ${multi ? '0u' : 'wid.z'}, lii, sgi);`));
  } else if (s.kind === 'reg') {
    L.push('@compute @workgroup_size(WG_X, WG_Y, 1)');
    L.push('fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,');
    L.push('        @builtin(local_invocation_id) lid: vec3<u32>) {');
    L.push(
      ...pick((i, wx, wy) => `run_${i}((${wx}) * WG_X + lid.x, (${wy}) * WG_Y + lid.y, ${multi ? '0u' : 'wid.z'});`),
    );
  } else if (s.kind === 'sgmat') {
    L.push(...sgmatShared(s));
    L.push('@compute @workgroup_size(WG_X, 1, 1)');
    L.push('fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,');
    L.push('        @builtin(local_invocation_index) t: u32) {');
    L.push(...pick((i, wx, wy) => `run_${i}(${wx}, ${wy}, ${multi ? '0u' : 'wid.z'}, t);`));
  } else {
    L.push(`var<workgroup> As: array<vec4<f32>, ${(s.bk * s.bm) / 4}>;`);
    L.push(`var<workgroup> Bs: array<vec4<f32>, ${(s.bk * s.bn) / 4}>;`);
    L.push(`@compute @workgroup_size(${s.bn / s.tn}, ${s.bm / s.tm}, 1)`);
    L.push('fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,');
    L.push('        @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) t: u32) {');
    L.push(...pick((i, wx, wy) => `run_${i}(${wx}, ${wy}, ${multi ? '0u' : 'wid.z'}, lid.x, lid.y, t);`));
  }
  L.push('}');
  return L.join('\n');
}

/** The WGSL source of a kernel running `problems` in one dispatch over the given binding slots. */
export function matmulSourceMulti(s: Schedule, problems: ProblemSpec[], slots: SlotSpec[]): string {
  for (const pr of problems) validate(s, pr.fusion);
  if (s.kind !== 'reg' && slots.some((x) => x.vec4)) throw new Error(`matmul-gen: ${s.kind} kernels bind scalars`);
  for (const pr of problems) {
    for (const X of ['C', 'pre']) {
      const sl = pr.slots[X] === undefined ? null : slots[pr.slots[X]];
      if (sl?.f16 && sl.vec4) throw new Error(`matmul-gen: output ${X} is f16 and vec4`);
    }
  }
  const desc =
    s.kind === 'reg'
      ? `reg ${s.tm}x${s.tn}${s.vec4 ? ' vec4' : ' scalar'}${s.quad ? ' quad' : ''}`
      : s.kind === 'tiled'
        ? `tiled ${s.bm}x${s.bn}x${s.bk}, ${s.tm}x${s.tn} per invocation`
        : `subgroup matrices ${s.m}x${s.n}x${s.k}, ${s.fm}x${s.fn} per workgroup, K-step ${s.bk}`;
  const parts: string[] = [];
  if (s.half === 'f16') parts.push('enable f16;');
  // (a quad past the edge returns as a whole, on a condition the analysis cannot see is quad-uniform)
  if (s.kind === 'reg' && s.quad) parts.push('enable subgroups;', 'diagnostic(off, subgroup_uniformity);');
  if (s.kind === 'sgmat') parts.push('enable chromium_experimental_subgroup_matrix;');
  parts.push(
    `// generated by src/ops/matmul-gen.ts: matmul ${desc}${s.half ? `, native ${s.half} loads` : ''}; problems: ${problems.map((x) => fusionKey(x.fusion)).join(' | ')}`,
  );
  if (s.kind === 'reg') parts.push('override WG_X: u32 = 4u;', 'override WG_Y: u32 = 4u;');
  if (s.kind === 'sgmat') parts.push('override WG_X: u32 = 32u;');
  parts.push(header(problems, slots, s.half));
  problems.forEach((pr, i) =>
    parts.push(
      s.kind === 'reg' ? regBody(s, pr, i, slots) : s.kind === 'tiled' ? tiledBody(s, pr, i) : sgmatBody(s, pr, i),
    ),
  );
  parts.push(entry(s, problems));
  return `${parts.join('\n')}\n`;
}

/** One problem with its own slot per binding (the plain single-matmul kernel). */
export function matmulSource(s: Schedule, f: Fusion, f16: string[] = []): string {
  const names = problemBindings(f);
  const vec = s.kind === 'reg' && s.vec4;
  const slots = names.map((n) => ({ written: bindingWritten(n), vec4: vec && bindingVec4(n), f16: f16.includes(n) }));
  return matmulSourceMulti(s, [{ fusion: f, slots: Object.fromEntries(names.map((n, i) => [n, i])) }], slots);
}
