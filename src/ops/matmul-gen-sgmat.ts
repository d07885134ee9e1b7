/**
 * The subgroup-matrix schedule of the matmul generator (src/ops/matmul-gen.ts): tensor cores
 * through WGSL's `chromium_experimental_subgroup_matrix` (Dawn's subgroup_matrix feature: types
 * subgroup_matrix_left<T, K, M> / _right<T, N, K> / _result<T, N, M>, subgroupMatrixLoad /
 * MultiplyAccumulate / Store on workgroup or storage arrays).
 *
 * A workgroup of WG_X invocations (an override: the adapter's subgroupMaxSize, which the API
 * requires the x size to be a multiple of) owns a BM x BN tile of C, BM = FM m, BN = FN n, kept
 * as FM x FN result matrices of m x n f32. Per K-step of BK: op(A)[BM, BK] and op(B)[BK, BN]
 * are staged in workgroup memory as f16, row-major (transposes and edges resolved while staging,
 * through the shared loads ld<X>_i with their prologues; zeros past the edges), then each k-slice
 * multiplies FM left by FN right matrices into the accumulators. Every offset the matrix builtins
 * get is workgroup-uniform (WGSL requires subgroup uniformity and checks workgroup uniformity), so
 * no invocation picks its own matrices: should the workgroup hold several subgroups (an adapter
 * whose subgroup size varies), each computes the same tile and stores the same values. The
 * epilogue: each result matrix is stored to workgroup memory (Cs) and the whole workgroup runs
 * the shared epilogue (store4_i: bias, GELU, residual, f16 output ... and the edges) over it.
 */
import type { ProblemSpec, SgmatSchedule } from './matmul-gen-spec';
import { stage, tileStart } from './matmul-gen-tiled';

/** Workgroup arrays and the entry's workgroup size of a subgroup-matrix kernel. */
export function sgmatShared(s: SgmatSchedule): string[] {
  return [
    `var<workgroup> As: array<f16, ${s.fm * s.m * s.bk}>;`,
    `var<workgroup> Bs: array<f16, ${s.bk * s.fn * s.n}>;`,
    `var<workgroup> Cs: array<f32, ${s.m * s.n}>;`,
  ];
}

/** Subgroup-matrix body of problem i, as a function of its workgroup tile and invocation index t. */
export function sgmatBody(s: SgmatSchedule, pr: ProblemSpec, i: number): string {
  const { m, n, k, fm: FM, fn: FN, bk: BK } = s;
  const BM = FM * m,
    BN = FN * n;
  const f = pr.fusion;
  const q = `p.q${i}`;
  const L: string[] = [];
  const w = (x: string) => L.push(`  ${x}`);
  const left = `subgroup_matrix_left<f16, ${k}, ${m}>`,
    right = `subgroup_matrix_right<f16, ${n}, ${k}>`,
    result = `subgroup_matrix_result<f32, ${n}, ${m}>`;
  L.push(`fn run_${i}(wx: u32, wy: u32, z: u32, t: u32) {`);
  L.push(...tileStart(q, BM, BN));
  w(`let baseA = ${q}.offA + z1 * ${q}.sA1 + z2 * ${q}.sA2;`);
  w(`let baseB = ${q}.offB + z1 * ${q}.sB1 + z2 * ${q}.sB2;`);
  for (let r = 0; r < FM; r++) {
    w(Array.from({ length: FN }, (_, c) => `var c${r}_${c} = ${result}();`).join(' '));
  }
  w(`for (var k0 = 0u; k0 < ${q}.K; k0 += ${BK}u) {`);
  // stage op(A)[BM, BK] and op(B)[BK, BN] row-major, as f16
  const st = { q, K: `${q}.K`, BK, NT: 'WG_X' };
  L.push(
    ...stage(
      { ...st, ld: `ldA_${i}`, A: true, trans: f.transA, ldx: `${q}.lda`, R: BM },
      (r, kk) => `As[${r} * ${BK}u + ${kk}] = f16(v);`,
    ),
  );
  L.push(
    ...stage(
      { ...st, ld: `ldB_${i}`, A: false, trans: f.transB, ldx: `${q}.ldb`, R: BN },
      (r, kk) => `Bs[${kk} * ${BN}u + ${r}] = f16(v);`,
    ),
  );
  w('  workgroupBarrier();');
  for (let ks = 0; ks < BK / k; ks++) {
    w(`  { // k-slice ${ks}`);
    for (let r = 0; r < FM; r++) {
      w(`    let a${r} = subgroupMatrixLoad<${left}, row_major>(&As, ${r * m * BK + ks * k}u, ${BK}u);`);
    }
    for (let c = 0; c < FN; c++) {
      w(`    let b${c} = subgroupMatrixLoad<${right}, row_major>(&Bs, ${ks * k * BN + c * n}u, ${BN}u);`);
    }
    for (let r = 0; r < FM; r++) {
      w(
        `    ${Array.from({ length: FN }, (_, c) => `c${r}_${c} = subgroupMatrixMultiplyAccumulate(a${r}, b${c}, c${r}_${c});`).join(' ')}`,
      );
    }
    w('  }');
  }
  w('  workgroupBarrier();');
  w('}');
  // epilogue: one result matrix at a time through Cs, 4 columns per store4 call
  for (let r = 0; r < FM; r++) {
    for (let c = 0; c < FN; c++) {
      w(`subgroupMatrixStore<row_major>(&Cs, 0u, c${r}_${c}, ${n}u);`);
      w('workgroupBarrier();');
      w(`for (var e = t; e < ${(m * n) / 4}u; e += WG_X) {`);
      w(`  let rr = e / ${n / 4}u; let cc = 4u * (e % ${n / 4}u); let o = rr * ${n}u + cc;`);
      w(
        `  store4_${i}(baseC, m0 + ${r * m}u + rr, n0 + ${c * n}u + cc, vec4<f32>(Cs[o], Cs[o + 1u], Cs[o + 2u], Cs[o + 3u]));`,
      );
      w('}');
      w('workgroupBarrier();');
    }
  }
  L.push('}');
  return L.join('\n');
}
