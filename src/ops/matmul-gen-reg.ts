/**
 * The register schedule of the matmul generator (src/ops/matmul-gen.ts): one invocation owns a
 * TM x TN block of C in registers, no workgroup memory; scalar or vec4 loads, optionally shared
 * inside a 2x2 quad (subgroups). Written out unrolled, as SwiftShader's Subzero does not unroll
 * loops over small arrays.
 */
import type { ProblemSpec, RegSchedule, SlotSpec } from './matmul-gen-spec';

/**
 * Register-tiled body of problem i, as a function of its tile coordinates. Accumulator c{r}_{j}:
 * row r (0..TM-1) of the invocation's block, columns 4j..4j+3. With quad sharing, rows
 * 0..TM/2-1 are "mine" (loaded by me), the rest my X-neighbour's (received through quadSwapX);
 * column groups 0..TN/8-1 mine, the rest my Y-neighbour's.
 */
export function regBody(s: RegSchedule, pr: ProblemSpec, i: number, slots: SlotSpec[]): string {
  const { tm: TM, tn: TN, quad: Q } = s;
  const f = pr.fusion;
  const q = `p.q${i}`;
  const LR = Q ? TM / 2 : TM; // rows I load
  const LG = Q ? TN / 8 : TN / 4; // column groups I load
  const RG = LR / 4;
  const L: string[] = [];
  const w = (x: string) => L.push(`  ${x}`);
  if (Q) {
    // wx, wy: workgroup tile coordinates; lii, sgi: invocation index and subgroup lane
    L.push(`fn run_${i}(wx: u32, wy: u32, z: u32, lii: u32, sgi: u32) {`);
    w('let qq = sgi & 3u;');
    w('let qx = qq & 1u;');
    w('let qy = qq >> 1u;');
    w('let quad = lii >> 2u;');
    w('let qpr = WG_X / 2u;');
    w('let nt = wx * WG_X + 2u * (quad % qpr) + qx;');
    w('let mt = wy * WG_Y + 2u * (quad / qpr) + qy;');
    w(`let n0 = nt * ${TN}u;`);
    w(`let m0 = mt * ${TM}u;`);
    w('// quad operations need all four lanes: a quad returns only as a whole, when all its tiles are');
    w('// past the edge; a lane whose own tile is past it is clamped on load and not stored');
    w(`if ((mt - qy) * ${TM}u >= ${q}.M || (nt - qx) * ${TN}u >= ${q}.N) { return; }`);
    w(`let mh = m0 + ${LR}u * qx;`);
    w(`let mo = m0 + ${LR}u * (1u - qx);`);
    w(`let nh = n0 + ${TN / 2}u * qy;`);
    w(`let no = n0 + ${TN / 2}u * (1u - qy);`);
  } else {
    // tx, ty: invocation tile coordinates
    L.push(`fn run_${i}(tx: u32, ty: u32, z: u32) {`);
    w(`let n0 = tx * ${TN}u;`);
    w(`let m0 = ty * ${TM}u;`);
    w(`if (n0 >= ${q}.N || m0 >= ${q}.M) { return; }`);
    w('let mh = m0;');
    w('let nh = n0;');
  }
  w(`let z1 = z / ${q}.NB2;`);
  w(`let z2 = z % ${q}.NB2;`);
  w(`let baseC = ${q}.offC + z1 * ${q}.sC1 + z2 * ${q}.sC2;`);
  const myRow = (r: number) => `mh + ${r}u`;
  const row = (r: number) => (r < LR ? `mh + ${r}u` : `mo + ${r - LR}u`);
  const myCol = (h: number) => `nh + ${4 * h}u`;
  const col = (j: number) => (j < LG ? `nh + ${4 * j}u` : `no + ${4 * (j - LG)}u`);
  for (let r = 0; r < TM; r++) {
    w(Array.from({ length: TN / 4 }, (_, j) => `var c${r}_${j} = vec4<f32>(0.0);`).join(' '));
  }
  const M = `${q}.M`,
    N = `${q}.N`;

  // One product (A, B) or (A2, B2) accumulated into the c's.
  const product = (a: string, b: string, sfx: string) => {
    const K = `${q}.K${sfx}`,
      lda = `${q}.lda${sfx}`,
      ldb = `${q}.ldb${sfx}`;
    const vec = slots[pr.slots[a]].vec4;
    const ldA4 = `ld${a}4_${i}`,
      ldB4 = `ld${b}4_${i}`,
      elA = `el${a}_${i}`,
      elB = `el${b}_${i}`;
    const ldA = `ld${a}_${i}`,
      ldB = `ld${b}_${i}`;
    w(`{ // ${a} x ${b}`);
    w(`let baseA = ${q}.offA${sfx} + z1 * ${q}.sA1 + z2 * ${q}.sA2;`);
    w(`let baseB = ${q}.offB${sfx} + z1 * ${q}.sB1 + z2 * ${q}.sB2;`);
    if (vec) {
      // vec4 lines: A rows (or, transposed, k-rows holding 4 consecutive m); B likewise.
      for (let g = 0; g < RG; g++) {
        for (let r = 0; r < 4; r++) {
          const e = f.transA
            ? `baseA + ${r}u * ${lda} + ${myRow(4 * g)}`
            : `baseA + min(${myRow(4 * g + r)}, ${M} - 1u) * ${lda}`;
          w(`let a${g}${r} = (${e}) >> 2u;`);
        }
      }
      for (let h = 0; h < LG; h++) {
        for (let r = 0; r < 4; r++) {
          const e = f.transB
            ? `baseB + min(${myCol(h)} + ${r}u, ${N} - 1u) * ${ldb}`
            : `baseB + ${r}u * ${ldb} + ${myCol(h)}`;
          w(`let b${h}${r} = (${e}) >> 2u;`);
        }
      }
      w(`let aStep = ${f.transA ? lda : '1u'};`);
      w(`let bStep = ${f.transB ? '1u' : ldb};`);
      w(`let KB = ${K} >> 2u;`);
      w('var ia = 0u;');
      w('var ib = 0u;');
      w('for (var kb = 0u; kb < KB; kb++) {');
      for (let g = 0; g < RG; g++) {
        w(`  var x${g} = mat4x4<f32>(${[0, 1, 2, 3].map((r) => `${ldA4}(a${g}${r} + ia)`).join(', ')});`);
        if (f.transA) w(`  x${g} = transpose(x${g});`);
      }
      for (let h = 0; h < LG; h++) {
        w(`  var y${h} = mat4x4<f32>(${[0, 1, 2, 3].map((r) => `${ldB4}(b${h}${r} + ib)`).join(', ')});`);
        if (f.transB) w(`  y${h} = transpose(y${h});`);
      }
      w('  ia += aStep;');
      w('  ib += bStep;');
      if (Q) {
        for (let g = 0; g < RG; g++) {
          w(`  let x${g + RG} = mat4x4<f32>(${[0, 1, 2, 3].map((r) => `quadSwapX(x${g}[${r}])`).join(', ')});`);
        }
        for (let h = 0; h < LG; h++) {
          w(`  let y${h + LG} = mat4x4<f32>(${[0, 1, 2, 3].map((r) => `quadSwapY(y${h}[${r}])`).join(', ')});`);
        }
      }
      for (let r = 0; r < TM; r++) {
        w(`  ${Array.from({ length: TN / 4 }, (_, j) => `c${r}_${j} += y${j} * x${r >> 2}[${r & 3}];`).join(' ')}`);
      }
      w('}');
      // K tail: one k at a time, every row and column loaded by each lane (no swaps).
      w(`for (var k = KB * 4u; k < ${K}; k++) {`);
      for (let g = 0; g < TM / 4; g++) {
        if (f.transA) w(`  let av${g} = ${ldA4}((baseA + k * ${lda} + ${row(4 * g)}) >> 2u);`);
        else
          w(
            `  let av${g} = vec4<f32>(${[0, 1, 2, 3].map((r) => `${elA}(baseA + min(${row(4 * g + r)}, ${M} - 1u) * ${lda} + k)`).join(', ')});`,
          );
      }
      for (let j = 0; j < TN / 4; j++) {
        if (f.transB)
          w(
            `  let bv${j} = vec4<f32>(${[0, 1, 2, 3].map((r) => `${elB}(baseB + min(${col(j)} + ${r}u, ${N} - 1u) * ${ldb} + k)`).join(', ')});`,
          );
        else w(`  let bv${j} = ${ldB4}((baseB + k * ${ldb} + ${col(j)}) >> 2u);`);
      }
      for (let r = 0; r < TM; r++) {
        w(`  ${Array.from({ length: TN / 4 }, (_, j) => `c${r}_${j} += av${r >> 2}[${r & 3}] * bv${j};`).join(' ')}`);
      }
      w('}');
    } else {
      // scalar loads: op(A)[m, k] at baseA + m * sAm + k * sAk
      w(`let sAm = ${f.transA ? '1u' : lda};`);
      w(`let sAk = ${f.transA ? lda : '1u'};`);
      w(`let sBk = ${f.transB ? '1u' : ldb};`);
      w(`let sBn = ${f.transB ? ldb : '1u'};`);
      for (let r = 0; r < LR; r++) w(`let a${r} = baseA + min(${myRow(r)}, ${M} - 1u) * sAm;`);
      for (let h = 0; h < LG; h++) {
        for (let r = 0; r < 4; r++) w(`let b${4 * h + r} = baseB + min(${myCol(h)} + ${r}u, ${N} - 1u) * sBn;`);
      }
      const step = (indent: string) => {
        for (let g = 0; g < RG; g++) {
          w(`${indent}let xa${g} = vec4<f32>(${[0, 1, 2, 3].map((r) => `${ldA}(a${4 * g + r} + ka)`).join(', ')});`);
        }
        for (let h = 0; h < LG; h++) {
          w(`${indent}let yb${h} = vec4<f32>(${[0, 1, 2, 3].map((r) => `${ldB}(b${4 * h + r} + kb)`).join(', ')});`);
        }
        if (Q) {
          for (let g = 0; g < RG; g++) w(`${indent}let xa${g + RG} = quadSwapX(xa${g});`);
          for (let h = 0; h < LG; h++) w(`${indent}let yb${h + LG} = quadSwapY(yb${h});`);
        }
        w(`${indent}ka += sAk;`);
        w(`${indent}kb += sBk;`);
        for (let r = 0; r < TM; r++) {
          w(
            `${indent}${Array.from({ length: TN / 4 }, (_, j) => `c${r}_${j} += xa${r >> 2}[${r & 3}] * yb${j};`).join(' ')}`,
          );
        }
      };
      w('var ka = 0u;');
      w('var kb = 0u;');
      w(`let KU = ${K} / 4u;`);
      w('for (var ku = 0u; ku < KU; ku++) {');
      for (let u = 0; u < 4; u++) {
        w('  {');
        step('    ');
        w('  }');
      }
      w('}');
      w(`for (var k = KU * 4u; k < ${K}; k++) {`);
      step('  ');
      w('}');
    }
    w('}');
  };
  product('A', 'B', '');
  if (f.k2) product('A2', 'B2', '2');
  for (let r = 0; r < TM; r++) {
    w(Array.from({ length: TN / 4 }, (_, j) => `store4_${i}(baseC, ${row(r)}, ${col(j)}, c${r}_${j});`).join(' '));
  }
  L.push('}');
  return L.join('\n');
}
