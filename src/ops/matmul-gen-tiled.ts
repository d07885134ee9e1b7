/**
 * The tiled schedule of the matmul generator (src/ops/matmul-gen.ts): a workgroup owns a BM x BN
 * tile of C staged through workgroup memory (As, Bs: declared by the entry point) in K-steps of
 * BK, each invocation a TM x TN block of it; coalesced global loads, the usual GPU kernel.
 */
import type { ProblemSpec, TiledSchedule } from './matmul-gen-spec';

/** Tiled body of problem i, as a function of its workgroup tile and the invocation in it. */
export function tiledBody(s: TiledSchedule, pr: ProblemSpec, i: number): string {
  const { bm: BM, bn: BN, bk: BK, tm: TM, tn: TN } = s;
  const WX = BN / TN,
    WY = BM / TM,
    NT = WX * WY;
  const f = pr.fusion;
  const q = `p.q${i}`;
  const L: string[] = [];
  const w = (x: string) => L.push(`  ${x}`);
  // wx, wy: workgroup tile; lx, ly: invocation in it; t: its flat index (all uniform exits)
  L.push(`fn run_${i}(wx: u32, wy: u32, z: u32, lx: u32, ly: u32, t: u32) {`);
  w(`let m0 = wy * ${BM}u;`);
  w(`let n0 = wx * ${BN}u;`);
  w(`if (m0 >= ${q}.M || n0 >= ${q}.N) { return; } // the whole workgroup: uniform`);
  w(`let z1 = z / ${q}.NB2;`);
  w(`let z2 = z % ${q}.NB2;`);
  w(`let baseC = ${q}.offC + z1 * ${q}.sC1 + z2 * ${q}.sC2;`);
  for (let r = 0; r < TM; r++) {
    w(Array.from({ length: TN / 4 }, (_, j) => `var c${r}_${j} = vec4<f32>(0.0);`).join(' '));
  }
  const product = (a: string, b: string, sfx: string) => {
    const K = `${q}.K${sfx}`,
      lda = `${q}.lda${sfx}`,
      ldb = `${q}.ldb${sfx}`;
    w(`{ // ${a} x ${b}`);
    w(`let baseA = ${q}.offA${sfx} + z1 * ${q}.sA1 + z2 * ${q}.sA2;`);
    w(`let baseB = ${q}.offB${sfx} + z1 * ${q}.sB1 + z2 * ${q}.sB2;`);
    w(`for (var k0 = 0u; k0 < ${K}; k0 += ${BK}u) {`);
    // stage op(A)[BM, BK]: consecutive invocations walk the stored-contiguous dimension
    w(`  for (var e = t; e < ${BM * BK}u; e += ${NT}u) {`);
    if (f.transA) w(`    let m = e % ${BM}u; let kk = e / ${BM}u;`);
    else w(`    let kk = e % ${BK}u; let m = e / ${BK}u;`);
    w('    let gm = m0 + m; let gk = k0 + kk;');
    w('    var v = 0.0;');
    const ia = f.transA ? `baseA + gk * ${lda} + gm` : `baseA + gm * ${lda} + gk`;
    w(`    if (gm < ${q}.M && gk < ${K}) { v = ld${a}_${i}(${ia}); }`);
    w(`    As[kk * ${BM / 4}u + m / 4u][m % 4u] = v;`);
    w('  }');
    w(`  for (var e = t; e < ${BK * BN}u; e += ${NT}u) {`);
    if (f.transB) w(`    let kk = e % ${BK}u; let n = e / ${BK}u;`);
    else w(`    let n = e % ${BN}u; let kk = e / ${BN}u;`);
    w('    let gn = n0 + n; let gk = k0 + kk;');
    w('    var v = 0.0;');
    const ib = f.transB ? `baseB + gn * ${ldb} + gk` : `baseB + gk * ${ldb} + gn`;
    w(`    if (gn < ${q}.N && gk < ${K}) { v = ld${b}_${i}(${ib}); }`);
    w(`    Bs[kk * ${BN / 4}u + n / 4u][n % 4u] = v;`);
    w('  }');
    w('  workgroupBarrier();');
    w(`  for (var kk = 0u; kk < ${BK}u; kk++) {`);
    for (let g = 0; g < TM / 4; g++) w(`    let x${g} = As[kk * ${BM / 4}u + ly * ${TM / 4}u + ${g}u];`);
    for (let j = 0; j < TN / 4; j++) w(`    let y${j} = Bs[kk * ${BN / 4}u + lx * ${TN / 4}u + ${j}u];`);
    for (let r = 0; r < TM; r++) {
      w(`    ${Array.from({ length: TN / 4 }, (_, j) => `c${r}_${j} += x${r >> 2}[${r & 3}] * y${j};`).join(' ')}`);
    }
    w('  }');
    w('  workgroupBarrier();');
    w('}');
    w('}');
  };
  product('A', 'B', '');
  if (f.k2) product('A2', 'B2', '2');
  w(`let mt = m0 + ly * ${TM}u;`);
  w(`let nt = n0 + lx * ${TN}u;`);
  for (let r = 0; r < TM; r++) {
    w(
      Array.from({ length: TN / 4 }, (_, j) => `store4_${i}(baseC, mt + ${r}u, nt + ${4 * j}u, c${r}_${j});`).join(' '),
    );
  }
  L.push('}');
  return L.join('\n');
}
