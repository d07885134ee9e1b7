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
 *
 * Fusions (each changes the generated text, so each combination is its own pipeline):
 *   proA/proB  an element-wise prologue on the loaded operand: 'gelu' (fc2 reads gelu(h)) or
 *              'dropout' (LoRA's inverted dropout, the counter-based mask of shaders/ops/dropout.wgsl
 *              indexed by the element's position in its matrix, so it matches dropoutForward)
 *   k2         a second product over K2 added to the same accumulators (LoRA's s*u B^T next to
 *              x W^T: one pass instead of two), same transposes, no prologue
 *   epilogue, in this order on v = alpha * acc:  + bias[n];  * colScale[n];
 *              gelu: pre[c] = v, v = gelu(v);  geluGrad: v *= gelu'(H[c]);
 *              residual: v = R[c] + ls[n] * v ('src') or C[c] + ls[n] * v ('inplace');
 *              accum: v += C[c]                         (c: the element's index in C; pre, H and R
 *              are laid out like C; ls is optional, 1 when absent)
 */

export type Prologue = 'none' | 'gelu' | 'dropout';

export interface RegSchedule {
  kind: 'reg';
  /** Outputs per invocation along M and N (multiples of 4). */
  tm: number;
  tn: number;
  /** A and B (and A2, B2) bound as array<vec4<f32>>: needs 4-aligned offsets and strides. */
  vec4: boolean;
  /** Share loads inside a 2x2 quad (needs the subgroups feature; wg sizes even). */
  quad: boolean;
}

export interface TiledSchedule {
  kind: 'tiled';
  /** Workgroup tile BM x BN, K-step BK; each invocation TM x TN (so BN/TN x BM/TM invocations). */
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
}

export type Schedule = RegSchedule | TiledSchedule;

export interface Fusion {
  transA: boolean;
  transB: boolean;
  accum: boolean;
  bias: boolean;
  proA: Prologue;
  proB: Prologue;
  k2: boolean;
  colScale: boolean;
  gelu: boolean;
  geluGrad: boolean;
  residual: 'none' | 'src' | 'inplace';
  /** Residual scale vector ls[n] (LayerScale); without it the residual adds v itself. */
  ls: boolean;
}

export const NO_FUSION: Fusion = {
  transA: false, transB: false, accum: false, bias: false, proA: 'none', proB: 'none', k2: false,
  colScale: false, gelu: false, geluGrad: false, residual: 'none', ls: false,
};

/** Short stable key of a fusion set (part of the generated shader's name). */
export function fusionKey(f: Fusion): string {
  const bits: string[] = [];
  if (f.transA) bits.push('tA');
  if (f.transB) bits.push('tB');
  if (f.accum) bits.push('acc');
  if (f.bias) bits.push('bias');
  if (f.proA !== 'none') bits.push(`pa-${f.proA}`);
  if (f.proB !== 'none') bits.push(`pb-${f.proB}`);
  if (f.k2) bits.push('k2');
  if (f.colScale) bits.push('cs');
  if (f.gelu) bits.push('gelu');
  if (f.geluGrad) bits.push('dgelu');
  if (f.residual !== 'none') bits.push(`res-${f.residual}`);
  if (f.ls) bits.push('ls');
  return bits.join('.') || 'plain';
}

/** Storage bindings after C, A, B, in binding order (the TS side binds buffers in this order). */
export function extraBindings(f: Fusion): string[] {
  const b: string[] = [];
  if (f.bias) b.push('bias');
  if (f.k2) b.push('A2', 'B2');
  if (f.colScale) b.push('cs');
  if (f.gelu) b.push('pre');
  if (f.geluGrad) b.push('H');
  if (f.residual === 'src') b.push('R');
  if (f.ls) b.push('ls');
  return b;
}

/** u32 then f32 fields of the Params block, in order (the TS side packs them in this order). */
export function paramFields(f: Fusion): { u32: string[]; f32: string[] } {
  const u32 = ['M', 'N', 'K', 'lda', 'ldb', 'ldc', 'offA', 'offB', 'offC', 'NB2', 'sA1', 'sA2', 'sB1', 'sB2', 'sC1', 'sC2'];
  const f32 = ['alpha'];
  if (f.k2) u32.push('K2', 'lda2', 'ldb2', 'offA2', 'offB2');
  if (f.proA === 'dropout' || f.proB === 'dropout') {
    u32.push('seed0', 'seed1', 'thr');
    f32.push('dscale');
  }
  return { u32, f32 };
}

function validate(s: Schedule, f: Fusion): void {
  if (f.proA === 'dropout' && f.proB === 'dropout') throw new Error('matmul-gen: one dropout prologue at most');
  if (f.gelu && f.geluGrad) throw new Error('matmul-gen: gelu and geluGrad exclude each other');
  if (f.ls && f.residual === 'none') throw new Error('matmul-gen: ls needs a residual');
  if (f.residual !== 'none' && f.accum) throw new Error('matmul-gen: residual and accum exclude each other');
  if (s.tm % 4 || s.tn % 4) throw new Error(`matmul-gen: tile ${s.tm}x${s.tn} is not a multiple of 4`);
  if (s.kind === 'tiled' && (s.bm % s.tm || s.bn % s.tn || s.bm % 4 || s.bn % 4)) {
    throw new Error(`matmul-gen: tile ${s.bm}x${s.bn} does not split into ${s.tm}x${s.tn}`);
  }
}

// ------------------------------------------------------------------ shared header

function header(s: Schedule, f: Fusion): string {
  const vec = s.kind === 'reg' && s.vec4;
  const { u32, f32 } = paramFields(f);
  const L: string[] = [];
  L.push(`struct Params { ${u32.map((x) => `${x}: u32`).join(', ')}, ${f32.map((x) => `${x}: f32`).join(', ')}, };`);
  const elem = vec ? 'vec4<f32>' : 'f32';
  const decl: [string, string, string][] = [
    ['C', 'read_write', 'f32'],
    ['A', 'read', elem],
    ['B', 'read', elem],
  ];
  for (const x of extraBindings(f)) {
    const access = x === 'pre' ? 'read_write' : 'read';
    decl.push([x, access, (x === 'A2' || x === 'B2') ? elem : 'f32']);
  }
  decl.forEach(([name, access, t], i) => {
    L.push(`@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${t}>;`);
  });
  L.push(`@group(0) @binding(${decl.length}) var<uniform> p: Params;`);
  const needGelu = f.gelu || f.geluGrad || f.proA === 'gelu' || f.proB === 'gelu';
  if (needGelu) L.push('//#include "common/gelu.wgsl"');
  if (f.proA === 'dropout' || f.proB === 'dropout') {
    L.push(
      'fn pcg(v: u32) -> u32 {',
      '  let s = v * 747796405u + 2891336453u;',
      '  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;',
      '  return (w >> 22u) ^ w;',
      '}',
      'fn dropKeep(i: u32) -> bool { return pcg(pcg(pcg(p.seed0) ^ p.seed1) ^ i) >= p.thr; }',
    );
  }
  // Prologue per element: x is the stored value, i its index relative to the matrix start.
  const pro = (name: string, kind: Prologue) => {
    if (kind === 'gelu') return `fn pro${name}(x: f32, i: u32) -> f32 { return gelu_f32(x); }`;
    if (kind === 'dropout') return `fn pro${name}(x: f32, i: u32) -> f32 { return select(0.0, x * p.dscale, dropKeep(i)); }`;
    return `fn pro${name}(x: f32, i: u32) -> f32 { return x; }`;
  };
  L.push(pro('A', f.proA), pro('B', f.proB));
  // Loads. Scalar element e (absolute index into the binding) and, for vec4 bindings, vec4 index v.
  const loads = (name: string, off: string, kind: Prologue, plain: boolean) => {
    if (!vec) {
      if (plain || kind === 'none') L.push(`fn ld${name}(e: u32) -> f32 { return ${name}[e]; }`);
      else L.push(`fn ld${name}(e: u32) -> f32 { return pro${name.slice(0, 1)}(${name}[e], e - p.${off}); }`);
      return;
    }
    if (plain || kind === 'none') {
      L.push(`fn ld${name}4(v: u32) -> vec4<f32> { return ${name}[v]; }`);
      L.push(`fn el${name}(e: u32) -> f32 { return ${name}[e >> 2u][e & 3u]; }`);
      return;
    }
    const P = `pro${name.slice(0, 1)}`;
    L.push(
      `fn ld${name}4(v: u32) -> vec4<f32> {`,
      `  let x = ${name}[v]; let i = 4u * v - p.${off};`,
      `  return vec4<f32>(${P}(x.x, i), ${P}(x.y, i + 1u), ${P}(x.z, i + 2u), ${P}(x.w, i + 3u));`,
      '}',
      `fn el${name}(e: u32) -> f32 { return ${P}(${name}[e >> 2u][e & 3u], e - p.${off}); }`,
    );
  };
  loads('A', 'offA', f.proA, false);
  loads('B', 'offB', f.proB, false);
  if (f.k2) {
    loads('A2', 'offA2', 'none', true);
    loads('B2', 'offB2', 'none', true);
  }
  // Epilogue on 4 consecutive columns n0.. of row m.
  const e: string[] = [];
  e.push('fn store4(baseC: u32, m: u32, n0: u32, acc: vec4<f32>) {');
  e.push('  if (m >= p.M) { return; }');
  e.push('  for (var j = 0u; j < 4u; j++) {');
  e.push('    let n = n0 + j;');
  e.push('    if (n >= p.N) { return; }');
  e.push('    var v = p.alpha * acc[j];');
  e.push('    let c = baseC + m * p.ldc + n;');
  if (f.bias) e.push('    v += bias[n];');
  if (f.colScale) e.push('    v *= cs[n];');
  if (f.gelu) e.push('    pre[c] = v;', '    v = gelu_f32(v);');
  if (f.geluGrad) e.push('    v *= gelu_grad_f32(H[c]);');
  const scaled = f.ls ? 'ls[n] * v' : 'v';
  if (f.residual === 'src') e.push(`    v = R[c] + ${scaled};`);
  if (f.residual === 'inplace') e.push(`    v = C[c] + ${scaled};`);
  if (f.accum) e.push('    v += C[c];');
  e.push('    C[c] = v;', '  }', '}');
  L.push(...e);
  return L.join('\n');
}

// ------------------------------------------------------------------ reg schedule

/**
 * Register-tiled body. Accumulator c{i}_{j}: row i (0..TM-1) of the invocation's block, columns
 * 4j..4j+3. With quad sharing, rows 0..TM/2-1 are "mine" (loaded by me), the rest my X-neighbour's
 * (received through quadSwapX); column groups 0..TN/8-1 mine, the rest my Y-neighbour's.
 */
function regBody(s: RegSchedule, f: Fusion): string {
  const { tm: TM, tn: TN, vec4: VEC, quad: Q } = s;
  const LR = Q ? TM / 2 : TM; // rows I load
  const LG = Q ? TN / 8 : TN / 4; // column groups I load
  const RG = LR / 4;
  const L: string[] = [];
  const w = (x: string) => L.push(`  ${x}`);
  if (Q) {
    L.push('@compute @workgroup_size(WG_X, WG_Y, 1)');
    L.push('fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lii: u32,');
    L.push('        @builtin(subgroup_invocation_id) sgi: u32) {');
    w('let q = sgi & 3u;');
    w('let qx = q & 1u;');
    w('let qy = q >> 1u;');
    w('let quad = lii >> 2u;');
    w('let qpr = WG_X / 2u;');
    w('let nt = wid.x * WG_X + 2u * (quad % qpr) + qx;');
    w('let mt = wid.y * WG_Y + 2u * (quad / qpr) + qy;');
    w(`let n0 = nt * ${TN}u;`);
    w(`let m0 = mt * ${TM}u;`);
    w('// no early return: quad operations need all four lanes; tiles past the edge are clamped on');
    w('// load and not stored');
    w(`let mh = m0 + ${LR}u * qx;`);
    w(`let mo = m0 + ${LR}u * (1u - qx);`);
    w(`let nh = n0 + ${TN / 2}u * qy;`);
    w(`let no = n0 + ${TN / 2}u * (1u - qy);`);
    w('let z1 = wid.z / p.NB2;');
    w('let z2 = wid.z % p.NB2;');
  } else {
    L.push('@compute @workgroup_size(WG_X, WG_Y, 1)');
    L.push('fn main(@builtin(global_invocation_id) gid: vec3<u32>) {');
    w(`let n0 = gid.x * ${TN}u;`);
    w(`let m0 = gid.y * ${TM}u;`);
    w('if (n0 >= p.N || m0 >= p.M) { return; }');
    w('let mh = m0;');
    w('let nh = n0;');
    w('let z1 = gid.z / p.NB2;');
    w('let z2 = gid.z % p.NB2;');
  }
  w('let baseC = p.offC + z1 * p.sC1 + z2 * p.sC2;');
  // my row r (0..LR-1), all rows i (0..TM-1), my col group h, all col groups j
  const myRow = (r: number) => `mh + ${r}u`;
  const row = (i: number) => (i < LR ? `mh + ${i}u` : `mo + ${i - LR}u`);
  const myCol = (h: number) => `nh + ${4 * h}u`;
  const col = (j: number) => (j < LG ? `nh + ${4 * j}u` : `no + ${4 * (j - LG)}u`);
  for (let i = 0; i < TM; i++) {
    w(Array.from({ length: TN / 4 }, (_, j) => `var c${i}_${j} = vec4<f32>(0.0);`).join(' '));
  }

  // One product (A, B) or (A2, B2) accumulated into the c's.
  const product = (a: string, b: string, sfx: string) => {
    const K = `p.K${sfx}`, lda = `p.lda${sfx}`, ldb = `p.ldb${sfx}`;
    w(`{ // ${a} x ${b}`);
    w(`let baseA = p.offA${sfx} + z1 * p.sA1 + z2 * p.sA2;`);
    w(`let baseB = p.offB${sfx} + z1 * p.sB1 + z2 * p.sB2;`);
    if (VEC) {
      // vec4 lines: A rows (or, transposed, k-rows holding 4 consecutive m); B likewise.
      for (let g = 0; g < RG; g++) {
        for (let r = 0; r < 4; r++) {
          const e = f.transA ? `baseA + ${r}u * ${lda} + ${myRow(4 * g)}` : `baseA + min(${myRow(4 * g + r)}, p.M - 1u) * ${lda}`;
          w(`let ea${g}${r} = ${e}; let a${g}${r} = ea${g}${r} >> 2u;`);
        }
      }
      for (let h = 0; h < LG; h++) {
        for (let r = 0; r < 4; r++) {
          const e = f.transB ? `baseB + min(${myCol(h)} + ${r}u, p.N - 1u) * ${ldb}` : `baseB + ${r}u * ${ldb} + ${myCol(h)}`;
          w(`let eb${h}${r} = ${e}; let b${h}${r} = eb${h}${r} >> 2u;`);
        }
      }
      w(`let aStep = ${f.transA ? lda : '1u'};`);
      w(`let bStep = ${f.transB ? '1u' : ldb};`);
      w(`let KB = ${K} >> 2u;`);
      w('var ia = 0u;');
      w('var ib = 0u;');
      w('for (var kb = 0u; kb < KB; kb++) {');
      for (let g = 0; g < RG; g++) {
        w(`  var x${g} = mat4x4<f32>(${[0, 1, 2, 3].map((r) => `ld${a}4(a${g}${r} + ia)`).join(', ')});`);
        if (f.transA) w(`  x${g} = transpose(x${g});`);
      }
      for (let h = 0; h < LG; h++) {
        w(`  var y${h} = mat4x4<f32>(${[0, 1, 2, 3].map((r) => `ld${b}4(b${h}${r} + ib)`).join(', ')});`);
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
      for (let i = 0; i < TM; i++) {
        w(`  ${Array.from({ length: TN / 4 }, (_, j) => `c${i}_${j} += y${j} * x${i >> 2}[${i & 3}];`).join(' ')}`);
      }
      w('}');
      // K tail: one k at a time, every row and column loaded by each lane (no swaps).
      w(`for (var k = KB * 4u; k < ${K}; k++) {`);
      for (let g = 0; g < TM / 4; g++) {
        const r0 = row(4 * g);
        if (f.transA) w(`  let av${g} = ld${a}4((baseA + k * ${lda} + ${r0}) >> 2u);`);
        else w(`  let av${g} = vec4<f32>(${[0, 1, 2, 3].map((r) => `el${a}(baseA + min(${row(4 * g + r)}, p.M - 1u) * ${lda} + k)`).join(', ')});`);
      }
      for (let j = 0; j < TN / 4; j++) {
        const c0 = col(j);
        if (f.transB) w(`  let bv${j} = vec4<f32>(${[0, 1, 2, 3].map((r) => `el${b}(baseB + min(${c0} + ${r}u, p.N - 1u) * ${ldb} + k)`).join(', ')});`);
        else w(`  let bv${j} = ld${b}4((baseB + k * ${ldb} + ${c0}) >> 2u);`);
      }
      for (let i = 0; i < TM; i++) {
        w(`  ${Array.from({ length: TN / 4 }, (_, j) => `c${i}_${j} += av${i >> 2}[${i & 3}] * bv${j};`).join(' ')}`);
      }
      w('}');
    } else {
      // scalar loads: op(A)[m, k] at baseA + m * sAm + k * sAk
      w(`let sAm = ${f.transA ? '1u' : lda};`);
      w(`let sAk = ${f.transA ? lda : '1u'};`);
      w(`let sBk = ${f.transB ? '1u' : ldb};`);
      w(`let sBn = ${f.transB ? ldb : '1u'};`);
      for (let r = 0; r < LR; r++) w(`let a${r} = baseA + min(${myRow(r)}, p.M - 1u) * sAm;`);
      for (let h = 0; h < LG; h++) {
        for (let r = 0; r < 4; r++) w(`let b${4 * h + r} = baseB + min(${myCol(h)} + ${r}u, p.N - 1u) * sBn;`);
      }
      const step = (indent: string) => {
        for (let g = 0; g < RG; g++) {
          w(`${indent}let xa${g} = vec4<f32>(${[0, 1, 2, 3].map((r) => `ld${a}(a${4 * g + r} + ka)`).join(', ')});`);
        }
        for (let h = 0; h < LG; h++) {
          w(`${indent}let yb${h} = vec4<f32>(${[0, 1, 2, 3].map((r) => `ld${b}(b${4 * h + r} + kb)`).join(', ')});`);
        }
        if (Q) {
          for (let g = 0; g < RG; g++) w(`${indent}let xa${g + RG} = quadSwapX(xa${g});`);
          for (let h = 0; h < LG; h++) w(`${indent}let yb${h + LG} = quadSwapY(yb${h});`);
        }
        w(`${indent}ka += sAk;`);
        w(`${indent}kb += sBk;`);
        for (let i = 0; i < TM; i++) {
          w(`${indent}${Array.from({ length: TN / 4 }, (_, j) => `c${i}_${j} += xa${i >> 2}[${i & 3}] * yb${j};`).join(' ')}`);
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
  for (let i = 0; i < TM; i++) {
    w(Array.from({ length: TN / 4 }, (_, j) => `store4(baseC, ${row(i)}, ${col(j)}, c${i}_${j});`).join(' '));
  }
  L.push('}');
  return L.join('\n');
}

// ------------------------------------------------------------------ tiled schedule

function tiledBody(s: TiledSchedule, f: Fusion): string {
  const { bm: BM, bn: BN, bk: BK, tm: TM, tn: TN } = s;
  const WX = BN / TN, WY = BM / TM, NT = WX * WY;
  const L: string[] = [];
  const w = (x: string) => L.push(`  ${x}`);
  L.push(`// As[kk * ${BM / 4} + m / 4][m % 4] = op(A)[m0 + m, k0 + kk]; Bs[kk * ${BN / 4} + n / 4][n % 4] = op(B)[k0 + kk, n0 + n]`);
  L.push(`var<workgroup> As: array<vec4<f32>, ${(BK * BM) / 4}>;`);
  L.push(`var<workgroup> Bs: array<vec4<f32>, ${(BK * BN) / 4}>;`);
  L.push(`@compute @workgroup_size(${WX}, ${WY}, 1)`);
  L.push('fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,');
  L.push('        @builtin(local_invocation_index) t: u32) {');
  w(`let m0 = wid.y * ${BM}u;`);
  w(`let n0 = wid.x * ${BN}u;`);
  w('let z1 = wid.z / p.NB2;');
  w('let z2 = wid.z % p.NB2;');
  w('let baseC = p.offC + z1 * p.sC1 + z2 * p.sC2;');
  for (let i = 0; i < TM; i++) {
    w(Array.from({ length: TN / 4 }, (_, j) => `var c${i}_${j} = vec4<f32>(0.0);`).join(' '));
  }
  const product = (a: string, b: string, sfx: string) => {
    const K = `p.K${sfx}`, lda = `p.lda${sfx}`, ldb = `p.ldb${sfx}`;
    const el = (x: string, e: string) => `ld${x}(${e})`;
    w(`{ // ${a} x ${b}`);
    w(`let baseA = p.offA${sfx} + z1 * p.sA1 + z2 * p.sA2;`);
    w(`let baseB = p.offB${sfx} + z1 * p.sB1 + z2 * p.sB2;`);
    w(`for (var k0 = 0u; k0 < ${K}; k0 += ${BK}u) {`);
    // stage op(A)[BM, BK]: consecutive invocations walk the stored-contiguous dimension
    w(`  for (var e = t; e < ${BM * BK}u; e += ${NT}u) {`);
    if (f.transA) w(`    let m = e % ${BM}u; let kk = e / ${BM}u;`);
    else w(`    let kk = e % ${BK}u; let m = e / ${BK}u;`);
    w('    let gm = m0 + m; let gk = k0 + kk;');
    w('    var v = 0.0;');
    const ia = f.transA ? `baseA + gk * ${lda} + gm` : `baseA + gm * ${lda} + gk`;
    w(`    if (gm < p.M && gk < ${K}) { v = ${el(a, ia)}; }`);
    w(`    As[kk * ${BM / 4}u + m / 4u][m % 4u] = v;`);
    w('  }');
    w(`  for (var e = t; e < ${BK * BN}u; e += ${NT}u) {`);
    if (f.transB) w(`    let kk = e % ${BK}u; let n = e / ${BK}u;`);
    else w(`    let n = e % ${BN}u; let kk = e / ${BN}u;`);
    w('    let gn = n0 + n; let gk = k0 + kk;');
    w('    var v = 0.0;');
    const ib = f.transB ? `baseB + gn * ${ldb} + gk` : `baseB + gk * ${ldb} + gn`;
    w(`    if (gn < p.N && gk < ${K}) { v = ${el(b, ib)}; }`);
    w(`    Bs[kk * ${BN / 4}u + n / 4u][n % 4u] = v;`);
    w('  }');
    w('  workgroupBarrier();');
    w(`  for (var kk = 0u; kk < ${BK}u; kk++) {`);
    for (let g = 0; g < TM / 4; g++) w(`    let x${g} = As[kk * ${BM / 4}u + lid.y * ${TM / 4}u + ${g}u];`);
    for (let j = 0; j < TN / 4; j++) w(`    let y${j} = Bs[kk * ${BN / 4}u + lid.x * ${TN / 4}u + ${j}u];`);
    for (let i = 0; i < TM; i++) {
      w(`    ${Array.from({ length: TN / 4 }, (_, j) => `c${i}_${j} += x${i >> 2}[${i & 3}] * y${j};`).join(' ')}`);
    }
    w('  }');
    w('  workgroupBarrier();');
    w('}');
    w('}');
  };
  product('A', 'B', '');
  if (f.k2) product('A2', 'B2', '2');
  w(`let mt = m0 + lid.y * ${TM}u;`);
  w(`let nt = n0 + lid.x * ${TN}u;`);
  for (let i = 0; i < TM; i++) {
    w(Array.from({ length: TN / 4 }, (_, j) => `store4(baseC, mt + ${i}u, nt + ${4 * j}u, c${i}_${j});`).join(' '));
  }
  L.push('}');
  return L.join('\n');
}

/** The WGSL source of one matmul kernel. reg kernels take WG_X/WG_Y as override constants. */
export function matmulSource(s: Schedule, f: Fusion): string {
  validate(s, f);
  const desc = s.kind === 'reg'
    ? `reg ${s.tm}x${s.tn}${s.vec4 ? ' vec4' : ' scalar'}${s.quad ? ' quad' : ''}`
    : `tiled ${s.bm}x${s.bn}x${s.bk}, ${s.tm}x${s.tn} per invocation`;
  const parts = [];
  if (s.kind === 'reg' && s.quad) parts.push('enable subgroups;');
  parts.push(`// generated by src/ops/matmul-gen.ts: matmul ${desc}, fusions ${fusionKey(f)}`);
  if (s.kind === 'reg') parts.push('override WG_X: u32 = 4u;', 'override WG_Y: u32 = 4u;');
  parts.push(header(s, f));
  parts.push(s.kind === 'reg' ? regBody(s, f) : tiledBody(s, f));
  return `${parts.join('\n')}\n`;
}
