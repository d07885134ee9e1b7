/**
 * The tiled schedule of the matmul generator (src/ops/matmul-gen.ts): a workgroup owns a BM x BN
 * tile of C staged through workgroup memory (As, Bs: declared by the entry point) in K-steps of
 * BK, each invocation a TM x TN block of it; coalesced global loads, the usual GPU kernel.
 */
import type { ProblemSpec, TiledSchedule } from './matmul-gen-spec';

/** The opening of a workgroup-tile body (tiled, sgmat): tile origin, uniform exit, batch, C base. */
export function tileStart(q: string, BM: number, BN: number): string[] {
  return [
    `  let m0 = wy * ${BM}u;`,
    `  let n0 = wx * ${BN}u;`,
    `  if (m0 >= ${q}.M || n0 >= ${q}.N) { return; } // the whole workgroup: uniform`,
    `  let z1 = z / ${q}.NB2;`,
    `  let z2 = z % ${q}.NB2;`,
    `  let baseC = ${q}.offC + z1 * ${q}.sC1 + z2 * ${q}.sC2;`,
  ];
}

/**
 * The loop (inside `for k0`) by which a workgroup's NT invocations stage op(A)[R, BK] (A) or
 * op(B)[BK, R] (B) from the operand at baseA / baseB, zeros past the edges: consecutive
 * invocations walk the stored-contiguous dimension; `store(r, kk)` writes v (row or column r of
 * the tile, kk along K) to workgroup memory.
 */
export function stage(
  o: { q: string; K: string; BK: number; NT: string; ld: string; A: boolean; trans?: boolean; ldx: string; R: number },
  store: (r: string, kk: string) => string,
): string[] {
  const kFast = o.A ? !o.trans : o.trans; // K is the stored-contiguous dimension
  const [rows, base] = o.A ? [`${o.q}.M`, 'baseA'] : [`${o.q}.N`, 'baseB'];
  const at = kFast ? `${base} + gr * ${o.ldx} + gk` : `${base} + gk * ${o.ldx} + gr`;
  return [
    `    for (var e = t; e < ${o.R * o.BK}u; e += ${o.NT}) {`,
    kFast ? `      let kk = e % ${o.BK}u; let r = e / ${o.BK}u;` : `      let r = e % ${o.R}u; let kk = e / ${o.R}u;`,
    `      let gr = ${o.A ? 'm0' : 'n0'} + r; let gk = k0 + kk;`,
    '      var v = 0.0;',
    `      if (gr < ${rows} && gk < ${o.K}) { v = ${o.ld}(${at}); }`,
    `      ${store('r', 'kk')}`,
    '    }',
  ];
}

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
  L.push(...tileStart(q, BM, BN));
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
    const st = { q, K, BK, NT: `${NT}u` };
    L.push(
      ...stage(
        { ...st, ld: `ld${a}_${i}`, A: true, trans: f.transA, ldx: lda, R: BM },
        (r, kk) => `As[${kk} * ${BM / 4}u + ${r} / 4u][${r} % 4u] = v;`,
      ),
    );
    L.push(
      ...stage(
        { ...st, ld: `ld${b}_${i}`, A: false, trans: f.transB, ldx: ldb, R: BN },
        (r, kk) => `Bs[${kk} * ${BN / 4}u + ${r} / 4u][${r} % 4u] = v;`,
      ),
    );
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
