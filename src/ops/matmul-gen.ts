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
 */

export type Prologue = 'none' | 'gelu' | 'dropout' | 'geludrop' | 'kscale';

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
  /** Store v (after bias and column scale) into `pre` before the other epilogue steps. */
  pre: boolean;
  /** Inverted dropout on the product (LoRA's input gradient): mask at dbase + c - offC. */
  epiDropout: boolean;
  /** Keep v only where n is in [lo, hi) of row m's segment (m / segment rows; at most 3). */
  blockMask: boolean;
  gelu: boolean;
  geluGrad: boolean;
  residual: 'none' | 'src' | 'inplace';
  /** Residual scale vector ls[n] (LayerScale); without it the residual adds v itself. */
  ls: boolean;
}

export const NO_FUSION: Fusion = {
  transA: false,
  transB: false,
  accum: false,
  bias: false,
  proA: 'none',
  proB: 'none',
  k2: false,
  colScale: false,
  pre: false,
  epiDropout: false,
  blockMask: false,
  gelu: false,
  geluGrad: false,
  residual: 'none',
  ls: false,
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
  if (f.pre) bits.push('pre');
  if (f.epiDropout) bits.push('edrop');
  if (f.blockMask) bits.push('bmask');
  if (f.gelu) bits.push('gelu');
  if (f.geluGrad) bits.push('dgelu');
  if (f.residual !== 'none') bits.push(`res-${f.residual}`);
  if (f.ls) bits.push('ls');
  return bits.join('.') || 'plain';
}

/** The operands and extra tensors of a problem, in a fixed order: C, A, B, then the extras. */
export function problemBindings(f: Fusion): string[] {
  const b = ['C', 'A', 'B'];
  if (f.bias) b.push('bias');
  if (f.proA === 'kscale') b.push('ks');
  if (f.k2) b.push('A2', 'B2');
  if (f.colScale) b.push('cs');
  if (f.pre) b.push('pre');
  if (f.geluGrad) b.push('H');
  if (f.residual === 'src') b.push('R');
  if (f.ls) b.push('ls');
  return b;
}

/** Whether a binding of a problem is written (else read only). */
export function bindingWritten(name: string): boolean {
  return name === 'C' || name === 'pre';
}

/** Whether a binding of a problem is read as vec4 by the vec4 register schedule. */
export function bindingVec4(name: string): boolean {
  return name === 'A' || name === 'B' || name === 'A2' || name === 'B2';
}

function isDrop(p: Prologue): boolean {
  return p === 'dropout' || p === 'geludrop';
}

function usesDropout(f: Fusion): boolean {
  return isDrop(f.proA) || isDrop(f.proB) || f.epiDropout;
}

/** u32 then f32 fields of one problem's parameter block, in order (the TS side packs them so). */
export function paramFields(f: Fusion): { u32: string[]; f32: string[] } {
  const u32 = [
    'M',
    'N',
    'K',
    'lda',
    'ldb',
    'ldc',
    'offA',
    'offB',
    'offC',
    'NB2',
    'sA1',
    'sA2',
    'sB1',
    'sB2',
    'sC1',
    'sC2',
  ];
  const f32 = ['alpha'];
  if (f.k2) u32.push('K2', 'lda2', 'ldb2', 'offA2', 'offB2');
  if (usesDropout(f)) {
    u32.push('seed0', 'seed1', 'thr', 'dbase');
    f32.push('dscale');
  }
  if (f.blockMask) u32.push('mseg', 'mlo0', 'mhi0', 'mlo1', 'mhi1', 'mlo2', 'mhi2');
  // multi-problem dispatch: first flattened workgroup of this problem, tiles along N
  u32.push('wg0', 'wgx');
  return { u32, f32 };
}

function validate(s: Schedule, f: Fusion): void {
  const drops = [isDrop(f.proA), isDrop(f.proB), f.epiDropout].filter(Boolean).length;
  if (drops > 1) throw new Error('matmul-gen: one dropout (prologue or epilogue) at most');
  if (f.proB === 'kscale') throw new Error('matmul-gen: kscale is a prologue of A only');
  if (f.gelu && f.geluGrad) throw new Error('matmul-gen: gelu and geluGrad exclude each other');
  if (f.ls && f.residual === 'none') throw new Error('matmul-gen: ls needs a residual');
  if (f.residual !== 'none' && f.accum) throw new Error('matmul-gen: residual and accum exclude each other');
  if (s.tm % 4 || s.tn % 4) throw new Error(`matmul-gen: tile ${s.tm}x${s.tn} is not a multiple of 4`);
  if (s.kind === 'tiled' && (s.bm % s.tm || s.bn % s.tn || s.bm % 4 || s.bn % 4)) {
    throw new Error(`matmul-gen: tile ${s.bm}x${s.bn} does not split into ${s.tm}x${s.tn}`);
  }
}

/** One problem of a (multi-problem) kernel: its fusions and the slot of each of its bindings. */
export interface ProblemSpec {
  fusion: Fusion;
  /** Binding name (problemBindings) -> slot index. */
  slots: Record<string, number>;
}

export interface SlotSpec {
  written: boolean;
  /** Bound as array<vec4<f32>> (only with the vec4 register schedule). */
  vec4: boolean;
  /** Packed f16 (src/gpu/f16.ts): array<u32> of pairs, or array<vec2<u32>> of quads with vec4. */
  f16?: boolean;
}

function slotType(s: SlotSpec): string {
  if (s.f16) return s.vec4 ? 'vec2<u32>' : 'u32';
  return s.vec4 ? 'vec4<f32>' : 'f32';
}

// ------------------------------------------------------------------ shared header

function header(problems: ProblemSpec[], slots: SlotSpec[]): string {
  const L: string[] = [];
  problems.forEach((pr, i) => {
    const { u32, f32 } = paramFields(pr.fusion);
    L.push(`struct P${i} { ${[...u32.map((x) => `${x}: u32`), ...f32.map((x) => `${x}: f32`)].join(', ')}, };`);
  });
  L.push(`struct Params { ${problems.map((_, i) => `q${i}: P${i}`).join(', ')}, };`);
  slots.forEach((s, i) => {
    L.push(`@group(0) @binding(${i}) var<storage, ${s.written ? 'read_write' : 'read'}> S${i}: array<${slotType(s)}>;`);
  });
  L.push(`@group(0) @binding(${slots.length}) var<uniform> p: Params;`);
  const any = (fn: (f: Fusion) => boolean) => problems.some((pr) => fn(pr.fusion));
  const gelus = (p: Prologue) => p === 'gelu' || p === 'geludrop';
  if (any((f) => f.gelu || f.geluGrad || gelus(f.proA) || gelus(f.proB))) L.push('//#include "common/gelu.wgsl"');
  if (any(usesDropout)) {
    L.push(
      'fn pcg(v: u32) -> u32 {',
      '  let s = v * 747796405u + 2891336453u;',
      '  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;',
      '  return (w >> 22u) ^ w;',
      '}',
    );
  }
  problems.forEach((pr, i) => L.push(problemFunctions(pr, i, slots)));
  return L.join('\n');
}

/** Loads with prologues and the epilogue of problem i (names suffixed _i). */
function problemFunctions(pr: ProblemSpec, i: number, slots: SlotSpec[]): string {
  const f = pr.fusion;
  const q = `p.q${i}`;
  const S = (name: string) => `S${pr.slots[name]}`;
  const L: string[] = [];
  if (usesDropout(f)) {
    L.push(
      `fn dropKeep_${i}(j: u32) -> bool { return pcg(pcg(pcg(${q}.seed0) ^ ${q}.seed1) ^ (${q}.dbase + j)) >= ${q}.thr; }`,
    );
  }
  const pro = (X: string, kind: Prologue) => {
    if (kind === 'gelu') return `fn pro${X}_${i}(x: f32, j: u32) -> f32 { return gelu_f32(x); }`;
    if (kind === 'dropout')
      return `fn pro${X}_${i}(x: f32, j: u32) -> f32 { return select(0.0, x * ${q}.dscale, dropKeep_${i}(j)); }`;
    if (kind === 'geludrop')
      return `fn pro${X}_${i}(x: f32, j: u32) -> f32 { return select(0.0, gelu_f32(x) * ${q}.dscale, dropKeep_${i}(j)); }`;
    if (kind === 'kscale')
      return `fn pro${X}_${i}(x: f32, j: u32) -> f32 { return x * ${S('ks')}[j ${f.transA ? '/' : '%'} ${q}.lda]; }`;
    return `fn pro${X}_${i}(x: f32, j: u32) -> f32 { return x; }`;
  };
  L.push(pro('A', f.proA), pro('B', f.proB));
  // Loads: ld<X>_i(e) scalar element e of the binding; for vec4 slots ld<X>4_i(v) (vec4 index v)
  // and el<X>_i(e) (scalar element of a vec4 binding). Packed-f16 slots unpack to f32.
  const raw = (X: string) => {
    const slot = slots[pr.slots[X]],
      buf = S(X);
    if (!slot.f16)
      return {
        el: (e: string) => (slot.vec4 ? `${buf}[${e} >> 2u][${e} & 3u]` : `${buf}[${e}]`),
        v4: (v: string) => `${buf}[${v}]`,
      };
    return {
      el: (e: string) =>
        slot.vec4
          ? `unpack2x16float(${buf}[${e} >> 2u][(${e} >> 1u) & 1u])[${e} & 1u]`
          : `unpack2x16float(${buf}[${e} >> 1u])[${e} & 1u]`,
      v4: (v: string) => `vec4<f32>(unpack2x16float(${buf}[${v}].x), unpack2x16float(${buf}[${v}].y))`,
    };
  };
  const loads = (X: string, off: string, kind: Prologue) => {
    const P = `pro${X.slice(0, 1)}_${i}`;
    const plain = kind === 'none';
    const r = raw(X);
    if (!slots[pr.slots[X]].vec4) {
      L.push(
        plain
          ? `fn ld${X}_${i}(e: u32) -> f32 { return ${r.el('e')}; }`
          : `fn ld${X}_${i}(e: u32) -> f32 { return ${P}(${r.el('e')}, e - ${q}.${off}); }`,
      );
      return;
    }
    if (plain) {
      L.push(`fn ld${X}4_${i}(v: u32) -> vec4<f32> { return ${r.v4('v')}; }`);
      L.push(`fn el${X}_${i}(e: u32) -> f32 { return ${r.el('e')}; }`);
      return;
    }
    L.push(
      `fn ld${X}4_${i}(v: u32) -> vec4<f32> {`,
      `  let x = ${r.v4('v')}; let j = 4u * v - ${q}.${off};`,
      `  return vec4<f32>(${P}(x.x, j), ${P}(x.y, j + 1u), ${P}(x.z, j + 2u), ${P}(x.w, j + 3u));`,
      '}',
      `fn el${X}_${i}(e: u32) -> f32 { return ${P}(${r.el('e')}, e - ${q}.${off}); }`,
    );
  };
  loads('A', 'offA', f.proA);
  loads('B', 'offB', f.proB);
  if (f.k2) {
    loads('A2', 'offA2', 'none');
    loads('B2', 'offB2', 'none');
  }
  // Epilogue on 4 consecutive columns n0.. of row m: the values first, then the stores (packed
  // f16 outputs are written in pairs: n0 and the element index are even, see `matmulLegal`).
  const rd = (X: string, e: string) => raw(X).el(e);
  L.push(`fn store4_${i}(baseC: u32, m: u32, n0: u32, acc: vec4<f32>) {`);
  L.push(`  if (m >= ${q}.M || n0 >= ${q}.N) { return; }`);
  L.push(`  let cnt = min(4u, ${q}.N - n0);`);
  L.push(`  let c0 = baseC + m * ${q}.ldc + n0;`);
  if (f.blockMask) {
    L.push(`  let seg = m / ${q}.mseg;`);
    L.push(`  let lo = select(select(${q}.mlo2, ${q}.mlo1, seg == 1u), ${q}.mlo0, seg == 0u);`);
    L.push(`  let hi = select(select(${q}.mhi2, ${q}.mhi1, seg == 1u), ${q}.mhi0, seg == 0u);`);
  }
  L.push('  var res = vec4<f32>(0.0);');
  if (f.pre) L.push('  var pv = vec4<f32>(0.0);');
  L.push('  for (var j = 0u; j < cnt; j++) {');
  L.push('    let n = n0 + j;');
  L.push('    let c = c0 + j;');
  L.push(`    var v = ${q}.alpha * acc[j];`);
  if (f.bias) L.push(`    v += ${S('bias')}[n];`);
  if (f.colScale) L.push(`    v *= ${S('cs')}[n];`);
  if (f.pre) L.push('    pv[j] = v;');
  if (f.epiDropout) L.push(`    v = select(0.0, v * ${q}.dscale, dropKeep_${i}(c - ${q}.offC));`);
  if (f.blockMask) L.push('    if (n < lo || n >= hi) { v = 0.0; }');
  if (f.gelu) L.push('    v = gelu_f32(v);');
  if (f.geluGrad) L.push(`    v *= gelu_grad_f32(${rd('H', 'c')});`);
  const scaled = f.ls ? `${S('ls')}[n] * v` : 'v';
  if (f.residual === 'src') L.push(`    v = ${rd('R', 'c')} + ${scaled};`);
  if (f.residual === 'inplace') L.push(`    v = ${rd('C', 'c')} + ${scaled};`);
  if (f.accum) L.push(`    v += ${rd('C', 'c')};`);
  L.push('    res[j] = v;');
  L.push('  }');
  const write = (X: string, v: string) => {
    const slot = slots[pr.slots[X]],
      buf = S(X);
    if (!slot.f16) {
      L.push(`  for (var j = 0u; j < cnt; j++) { ${buf}[c0 + j] = ${v}[j]; }`);
      return;
    }
    // pairs (c0 even); a pair cut by the edge keeps the other half as it was
    L.push(
      `  ${buf}[c0 >> 1u] = pack2x16float(vec2<f32>(${v}.x, select(unpack2x16float(${buf}[c0 >> 1u]).y, ${v}.y, cnt > 1u)));`,
      `  if (cnt > 2u) { ${buf}[(c0 >> 1u) + 1u] = pack2x16float(vec2<f32>(${v}.z, select(unpack2x16float(${buf}[(c0 >> 1u) + 1u]).y, ${v}.w, cnt > 3u))); }`,
    );
  };
  if (f.pre) write('pre', 'pv');
  write('C', 'res');
  L.push('}');
  return L.join('\n');
}

// ------------------------------------------------------------------ reg schedule

/**
 * Register-tiled body of problem i, as a function of its tile coordinates. Accumulator c{r}_{j}:
 * row r (0..TM-1) of the invocation's block, columns 4j..4j+3. With quad sharing, rows
 * 0..TM/2-1 are "mine" (loaded by me), the rest my X-neighbour's (received through quadSwapX);
 * column groups 0..TN/8-1 mine, the rest my Y-neighbour's.
 */
function regBody(s: RegSchedule, pr: ProblemSpec, i: number, slots: SlotSpec[]): string {
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
    w('// no early return: quad operations need all four lanes; tiles past the edge are clamped on');
    w('// load and not stored');
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

// ------------------------------------------------------------------ tiled schedule

function tiledBody(s: TiledSchedule, pr: ProblemSpec, i: number): string {
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

// ------------------------------------------------------------------ entry point

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
  if (s.kind === 'tiled' && slots.some((x) => x.vec4)) throw new Error('matmul-gen: tiled kernels bind scalars');
  for (const pr of problems) {
    for (const X of ['C', 'pre']) {
      const sl = pr.slots[X] === undefined ? null : slots[pr.slots[X]];
      if (sl?.f16 && sl.vec4) throw new Error(`matmul-gen: output ${X} is f16 and vec4`);
    }
  }
  const desc =
    s.kind === 'reg'
      ? `reg ${s.tm}x${s.tn}${s.vec4 ? ' vec4' : ' scalar'}${s.quad ? ' quad' : ''}`
      : `tiled ${s.bm}x${s.bn}x${s.bk}, ${s.tm}x${s.tn} per invocation`;
  const parts: string[] = [];
  if (s.kind === 'reg' && s.quad) parts.push('enable subgroups;');
  parts.push(
    `// generated by src/ops/matmul-gen.ts: matmul ${desc}; problems: ${problems.map((x) => fusionKey(x.fusion)).join(' | ')}`,
  );
  if (s.kind === 'reg') parts.push('override WG_X: u32 = 4u;', 'override WG_Y: u32 = 4u;');
  parts.push(header(problems, slots));
  problems.forEach((pr, i) => parts.push(s.kind === 'reg' ? regBody(s, pr, i, slots) : tiledBody(s, pr, i)));
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
