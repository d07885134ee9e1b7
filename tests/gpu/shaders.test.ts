/**
 * The shader loader (src/gpu/shaders.ts): the //#if / //#elif / //#else / //#endif preprocessor,
 * `${NAME}` substitution, includes, and generated shaders (registerShaderSource,
 * registerShaderGenerator). Pure string functions: no GPU.
 */
import { describe, expect, test } from 'vitest';
import { registerShaderGenerator, registerShaderSource, shaderNames, shaderSource } from '../../src/gpu/shaders';

/** The non-empty lines of a preprocessed source (directives and inactive lines become ''). */
const lines = (name: string, defines = {}) =>
  shaderSource(name, defines)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

describe('preprocessor', () => {
  registerShaderSource(
    'pp/branches',
    [
      '//#if A',
      'a',
      '//#if B',
      'ab',
      '//#else',
      'a!b',
      '//#endif',
      '//#elif !C',
      'not-a, not-c',
      '//#elif D',
      'not-a, c, d',
      '//#else',
      'none',
      '//#endif',
      'always',
    ].join('\n'),
  );

  test('if / elif / else nest, negation works, an absent define is false', () => {
    expect(lines('pp/branches', { A: true, B: 1 })).toEqual(['a', 'ab', 'always']);
    expect(lines('pp/branches', { A: 'yes', B: 0 })).toEqual(['a', 'a!b', 'always']);
    expect(lines('pp/branches', {})).toEqual(['not-a, not-c', 'always']);
    expect(lines('pp/branches', { C: true, D: true })).toEqual(['not-a, c, d', 'always']);
    expect(lines('pp/branches', { A: false, C: 1, D: '' })).toEqual(['none', 'always']);
    // Only the first true branch is taken.
    expect(lines('pp/branches', { C: false, D: true })).toEqual(['not-a, not-c', 'always']);
  });

  test('directive lines and inactive lines keep their line numbers (empty lines)', () => {
    const src = shaderSource('pp/branches', { A: true, B: true }).split('\n');
    expect(src.length).toBe(15);
    expect(src[3]).toBe('ab');
    expect(src[14]).toBe('always');
  });

  test('${NAME} is replaced by the define value; an absent one is an error naming shader and line', () => {
    registerShaderSource('pp/subst', 'const K: u32 = ${K}u;\nconst F = ${F};\nconst B = ${B}; // ${S}\n');
    expect(lines('pp/subst', { K: 64, F: 0.5, B: false, S: 'text' })).toEqual([
      'const K: u32 = 64u;',
      'const F = 0.5;',
      'const B = false; // text',
    ]);
    expect(() => shaderSource('pp/subst', { K: 1, F: 1 })).toThrow(
      /shader pp\/subst line 3: \$\{B\} is not defined \(defines: K, F\)/,
    );
    // Substitution only happens on active lines.
    registerShaderSource('pp/subst-off', '//#if X\n${MISSING}\n//#endif\nok');
    expect(lines('pp/subst-off')).toEqual(['ok']);
  });

  test('an unterminated //#if is an error naming the shader and the line of the //#if', () => {
    registerShaderSource('pp/open', 'a\n//#if A\nb\n//#if B\nc\n//#endif\n');
    expect(() => shaderSource('pp/open')).toThrow(/^shader pp\/open line 2: \/\/#if without \/\/#endif$/);
  });

  test('stray and malformed directives are errors naming the shader and line', () => {
    const cases: [string, RegExp][] = [
      ['a\n//#endif', /shader pp\/bad0 line 2: \/\/#endif without \/\/#if/],
      ['//#else', /shader pp\/bad1 line 1: \/\/#else without \/\/#if/],
      ['//#if A\n//#else\n//#elif B\n//#endif', /shader pp\/bad2 line 3: \/\/#elif after \/\/#else/],
      ['//#if A\n//#else\n//#else\n//#endif', /shader pp\/bad3 line 3: a second \/\/#else/],
      ['//#if A && B\n//#endif', /shader pp\/bad4 line 1: \/\/#if expects NAME or !NAME, got "A && B"/],
      ['//#ifdef A', /shader pp\/bad5 line 1: unknown directive \/\/#ifdef/],
      ['//#include common/erf.wgsl', /shader pp\/bad6 line 1: \/\/#include expects "path.wgsl"/],
    ];
    cases.forEach(([code, err], i) => {
      registerShaderSource(`pp/bad${i}`, code);
      expect(() => shaderSource(`pp/bad${i}`)).toThrow(err);
    });
  });

  test('includes: expanded once, with the defines; not pulled in from an inactive block', () => {
    registerShaderSource('pp/inc', 'fn inc() -> u32 { return ${N}u; }');
    registerShaderSource('pp/uses', '//#include "pp/inc.wgsl"\n//#include "pp/inc.wgsl"\nfn main() {}');
    expect(lines('pp/uses', { N: 3 })).toEqual(['fn inc() -> u32 { return 3u; }', 'fn main() {}']);
    registerShaderSource('pp/cond-inc', '//#if USE\n//#include "pp/inc.wgsl"\n//#endif\nx');
    expect(lines('pp/cond-inc', {})).toEqual(['x']); // ${N} inside pp/inc is never looked at
    expect(lines('pp/cond-inc', { USE: true, N: 7 })).toEqual(['fn inc() -> u32 { return 7u; }', 'x']);
    // File shaders include as before.
    expect(shaderSource('ops/gelu.fwd')).toMatch(/fn erf_f32/);
  });
});

describe('generated shaders', () => {
  test('registerShaderSource adds a name; same code again is fine, other code or a file name throws', () => {
    registerShaderSource('gen-test/one', 'fn one() {}');
    registerShaderSource('gen-test/one', 'fn one() {}');
    expect(shaderNames()).toContain('gen-test/one');
    expect(() => registerShaderSource('gen-test/one', 'fn two() {}')).toThrow(
      /generated shader "gen-test\/one" is already registered with other code/,
    );
    expect(() => registerShaderSource('ops/colsum', 'fn x() {}')).toThrow(
      /generated shader "ops\/colsum" collides with the shader file of that name/,
    );
  });

  test('a generator makes each name under its folder once, on first use', () => {
    const made: string[] = [];
    registerShaderGenerator('gen-lazy', (name) => {
      made.push(name);
      return `// ${name}\nconst WIDTH: u32 = ${name.split('_')[1]}u;`;
    });
    expect(shaderSource('gen-lazy/w_16')).toContain('const WIDTH: u32 = 16u;');
    expect(shaderSource('gen-lazy/w_16')).toContain('const WIDTH: u32 = 16u;');
    expect(shaderSource('gen-lazy/w_8')).toContain('const WIDTH: u32 = 8u;');
    expect(made).toEqual(['gen-lazy/w_16', 'gen-lazy/w_8']);
    expect(() => registerShaderSource('gen-lazy/w_4', 'x')).toThrow(/under the generator prefix "gen-lazy\/"/);
  });

  test('generator folders may not hold shader files or overlap other folders', () => {
    expect(() => registerShaderGenerator('ops', () => '')).toThrow(/prefix "ops\/" covers the shader file "ops\//);
    expect(() => registerShaderGenerator('', () => '')).toThrow(/the folder is empty/);
    registerShaderGenerator('gen-a/', () => '');
    expect(() => registerShaderGenerator('gen-a/sub/', () => '')).toThrow(/overlaps the prefix "gen-a\/"/);
    registerShaderSource('gen-b/x', 'x');
    expect(() => registerShaderGenerator('gen-b/', () => '')).toThrow(/covers the registered shader "gen-b\/x"/);
  });

  test('an unknown name lists the known shaders and generator prefixes', () => {
    expect(() => shaderSource('gen-none/x')).toThrow(
      /unknown shader "gen-none\/x" \(known: .*ops\/colsum.*gen-lazy\/\*/,
    );
  });
});
