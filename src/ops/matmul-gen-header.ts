/**
 * The shared part of a generated matmul kernel (src/ops/matmul-gen.ts): the parameter structs,
 * the binding slots, the GELU and dropout helpers, and per problem i the operand loads with their
 * prologues (ld<X>_i, ld<X>4_i, el<X>_i) and the epilogue with its stores (store4_i), which the
 * schedule bodies (matmul-gen-reg.ts, matmul-gen-tiled.ts) call.
 */
import {
  paramFields,
  slotType,
  usesDropout,
  type Fusion,
  type Half,
  type ProblemSpec,
  type Prologue,
  type SlotSpec,
} from './matmul-gen-spec';

/**
 * Parameter structs, bindings and helpers of a kernel running `problems` over `slots`; `half`:
 * packed-f16 slots bound as native vectors (matmul-gen-spec.ts `Half`).
 */
export function header(problems: ProblemSpec[], slots: SlotSpec[], half?: Half): string {
  const L: string[] = [];
  problems.forEach((pr, i) => {
    const { u32, f32 } = paramFields(pr.fusion);
    L.push(`struct P${i} { ${[...u32.map((x) => `${x}: u32`), ...f32.map((x) => `${x}: f32`)].join(', ')}, };`);
  });
  L.push(`struct Params { ${problems.map((_, i) => `q${i}: P${i}`).join(', ')}, };`);
  slots.forEach((s, i) => {
    L.push(
      `@group(0) @binding(${i}) var<storage, ${s.written ? 'read_write' : 'read'}> S${i}: array<${slotType(s, half)}>;`,
    );
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
  problems.forEach((pr, i) => L.push(problemFunctions(pr, i, slots, half)));
  return L.join('\n');
}

/** Loads with prologues and the epilogue of problem i (names suffixed _i). */
function problemFunctions(pr: ProblemSpec, i: number, slots: SlotSpec[], half?: Half): string {
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
  // and el<X>_i(e) (scalar element of a vec4 binding). Packed-f16 slots unpack to f32, or with
  // `half` are native vectors (pairs, quads for vec4 slots) converted to f32.
  const raw = (X: string) => {
    const slot = slots[pr.slots[X]],
      buf = S(X);
    if (!slot.f16)
      return {
        el: (e: string) => (slot.vec4 ? `${buf}[${e} >> 2u][${e} & 3u]` : `${buf}[${e}]`),
        v4: (v: string) => `${buf}[${v}]`,
      };
    if (half)
      return {
        el: (e: string) => (slot.vec4 ? `f32(${buf}[${e} >> 2u][${e} & 3u])` : `f32(${buf}[${e} >> 1u][${e} & 1u])`),
        v4: (v: string) => `vec4<f32>(${buf}[${v}])`,
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
    if (half) {
      const H = `vec2<${half}>`;
      L.push(
        `  ${buf}[c0 >> 1u] = ${H}(vec2<f32>(${v}.x, select(f32(${buf}[c0 >> 1u].y), ${v}.y, cnt > 1u)));`,
        `  if (cnt > 2u) { ${buf}[(c0 >> 1u) + 1u] = ${H}(vec2<f32>(${v}.z, select(f32(${buf}[(c0 >> 1u) + 1u].y), ${v}.w, cnt > 3u))); }`,
      );
      return;
    }
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
