/**
 * WGSL source registry. Every `.wgsl` file under `shaders/` is imported as a string through
 * Vite's `import.meta.glob` (`?raw`), so the browser build, vitest, the Node CLI run by vite-node
 * and the package's dist/ (vite.lib.config.ts, where the glob becomes inlined strings) all load
 * shaders the same way. Names are paths relative to `shaders/` without the
 * extension: `ops/linear.fwd`.
 *
 * Generated shaders: TypeScript kernel generators add sources by name at run time, either one at
 * a time (`registerShaderSource('fused/attn_64', code)`) or lazily for every name under a folder
 * (`registerShaderGenerator('gen', (name) => code)` makes `gen/...`, called once per name). Their
 * names may not collide with file shaders.
 *
 * Preprocessing (`shaderSource(name, defines)`), line by line, as the includes are expanded:
 *   //#include "common/erf.wgsl"   the file's text (path relative to `shaders/`), once per shader
 *   //#if NAME  / //#if !NAME      keeps the lines up to the matching //#elif, //#else or //#endif
 *   //#elif NAME / //#else / //#endif   when the define is (not) truthy; blocks nest
 *   ${NAME}                         the define's value (numbers as JS prints them, booleans as
 *                                   `true`/`false`)
 * A define is truthy unless it is absent, `false`, `0` or `''`. Conditionals are evaluated per
 * file, so an include inside an inactive block is not pulled in, and every //#if must close in
 * its own file. Directive and inactive lines become empty lines (line numbers stay put). Errors
 * name the shader and line: an unterminated //#if, a stray //#elif/#else/#endif, an unknown
 * directive, `${NAME}` of an absent define.
 */
export type Defines = Record<string, string | number | boolean>;

const files = import.meta.glob<string>(['../../shaders/**/*.wgsl', '!../../shaders/dev/**'], {
  query: '?raw',
  import: 'default',
  eager: true,
});

/** Sources by name: files, and generated ones (registered or produced by a generator). */
const sources = new Map<string, string>();
/** Names that come from `.wgsl` files (generated shaders may not take them). */
const fileNames = new Set<string>();
const generators: { prefix: string; generate: (name: string) => string }[] = [];

function generatorFor(name: string) {
  return generators.find((g) => name.startsWith(g.prefix));
}

/**
 * Adds shaders from a `{path: source}` glob result (names relative to `shaders/`). The kernel lab
 * registers shaders/dev/ this way, so the numbered lab variants stay out of the app bundle.
 */
export function registerShaders(glob: Record<string, string>): void {
  for (const [path, text] of Object.entries(glob)) {
    const name = path.replace(/^.*?\/shaders\//, '').replace(/\.wgsl$/, '');
    if (sources.has(name) && !fileNames.has(name)) {
      throw new Error(`shader file "${name}" collides with a generated shader of that name`);
    }
    if (generatorFor(name)) {
      throw new Error(`shader file "${name}" is under the generated prefix "${generatorFor(name)!.prefix}"`);
    }
    sources.set(name, text);
    fileNames.add(name);
  }
}
registerShaders(files);

/**
 * Adds a generated shader by name. Registering the same name again with the same code is a
 * no-op; with other code, or a name that a shader file or a generator prefix has, it throws.
 */
export function registerShaderSource(name: string, code: string): void {
  if (fileNames.has(name)) throw new Error(`generated shader "${name}" collides with the shader file of that name`);
  const gen = generatorFor(name);
  if (gen) throw new Error(`generated shader "${name}" is under the generator prefix "${gen.prefix}"`);
  const old = sources.get(name);
  if (old !== undefined && old !== code) {
    throw new Error(`generated shader "${name}" is already registered with other code`);
  }
  sources.set(name, code);
}

/**
 * Lazily generated shaders: every name under the folder `prefix` (`gen` or `gen/`: names
 * `gen/...`) is made by `generate(name)` on first use and kept. The folder may not hold a shader
 * file or overlap another generator's folder.
 */
export function registerShaderGenerator(folder: string, generate: (name: string) => string): void {
  if (!folder.replace(/\/$/, '')) throw new Error('registerShaderGenerator: the folder is empty');
  const prefix = folder.endsWith('/') ? folder : `${folder}/`;
  const file = [...fileNames].find((n) => n.startsWith(prefix));
  if (file) throw new Error(`shader generator prefix "${prefix}" covers the shader file "${file}"`);
  const other = generators.find((g) => g.prefix.startsWith(prefix) || prefix.startsWith(g.prefix));
  if (other) throw new Error(`shader generator prefix "${prefix}" overlaps the prefix "${other.prefix}"`);
  const named = [...sources.keys()].find((n) => n.startsWith(prefix));
  if (named) throw new Error(`shader generator prefix "${prefix}" covers the registered shader "${named}"`);
  generators.push({ prefix, generate });
}

/** Names of all known shaders (files and generated ones so far; for diagnostics and tests). */
export function shaderNames(): string[] {
  return [...sources.keys()].sort();
}

/** The raw text of `name` (generating it on first use), or an error listing the known names. */
function rawSource(name: string): string {
  let text = sources.get(name);
  if (text === undefined) {
    const gen = generatorFor(name);
    if (!gen) {
      const prefixes = generators.map((g) => `${g.prefix}*`);
      throw new Error(`unknown shader "${name}" (known: ${[...shaderNames(), ...prefixes].join(', ')})`);
    }
    text = gen.generate(name);
    sources.set(name, text);
  }
  return text;
}

/** Whether a define counts as true in //#if: present and not false, 0 or ''. */
function truthy(v: string | number | boolean | undefined): boolean {
  return v !== undefined && v !== false && v !== 0 && v !== '';
}

/** Returns the WGSL source of `name` with includes expanded and `defines` applied. */
export function shaderSource(name: string, defines: Defines = {}): string {
  return expand(name, defines, new Set());
}

const DIRECTIVE = /^\s*\/\/#(\w*)(.*)$/;
const INCLUDE = /^\s*"([^"]+)\.wgsl"\s*$/;
const CONDITION = /^(!?)\s*([A-Za-z_]\w*)$/;

interface Block {
  /** The line of its //#if, whether the enclosing text is active, a branch was taken, #else seen. */
  line: number;
  outer: boolean;
  taken: boolean;
  sawElse: boolean;
}

function expand(name: string, defines: Defines, seen: Set<string>): string {
  const text = rawSource(name);
  if (seen.has(name)) return ''; // include each file once
  seen.add(name);
  const lines = text.split('\n');
  const stack: Block[] = [];
  let active = true;
  const fail = (i: number, msg: string) => new Error(`shader ${name} line ${i + 1}: ${msg}`);
  const condition = (i: number, arg: string, directive: string) => {
    const m = CONDITION.exec(arg.trim());
    if (!m) throw fail(i, `//#${directive} expects NAME or !NAME, got "${arg.trim()}"`);
    return truthy(defines[m[2]]) !== (m[1] === '!');
  };
  const out = lines.map((line, i) => {
    const d = DIRECTIVE.exec(line);
    if (!d) {
      if (!active) return '';
      if (!line.includes('${')) return line;
      return line.replace(/\$\{(\w+)\}/g, (_m, key: string) => {
        const v = defines[key];
        if (v === undefined)
          throw fail(i, `\${${key}} is not defined (defines: ${Object.keys(defines).join(', ') || 'none'})`);
        return String(v);
      });
    }
    const [, directive, arg] = d;
    const top = stack[stack.length - 1];
    switch (directive) {
      case 'include': {
        const m = INCLUDE.exec(arg);
        if (!m) throw fail(i, `//#include expects "path.wgsl", got "${arg.trim()}"`);
        return active ? expand(m[1], defines, seen) : '';
      }
      case 'if': {
        const cond = condition(i, arg, 'if') && active;
        stack.push({ line: i + 1, outer: active, taken: cond, sawElse: false });
        active = cond;
        return '';
      }
      case 'elif': {
        if (!top) throw fail(i, '//#elif without //#if');
        if (top.sawElse) throw fail(i, '//#elif after //#else');
        active = condition(i, arg, 'elif') && top.outer && !top.taken;
        top.taken ||= active;
        return '';
      }
      case 'else': {
        if (!top) throw fail(i, '//#else without //#if');
        if (top.sawElse) throw fail(i, 'a second //#else');
        top.sawElse = true;
        active = top.outer && !top.taken;
        top.taken = true;
        return '';
      }
      case 'endif': {
        if (!top) throw fail(i, '//#endif without //#if');
        active = stack.pop()!.outer;
        return '';
      }
      default:
        throw fail(i, `unknown directive //#${directive} (known: include, if, elif, else, endif)`);
    }
  });
  if (stack.length) {
    throw new Error(`shader ${name} line ${stack[stack.length - 1].line}: //#if without //#endif`);
  }
  return out.join('\n');
}
