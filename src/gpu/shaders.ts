/**
 * WGSL source registry. Every `.wgsl` file under `shaders/` is imported as a string through
 * Vite's `import.meta.glob` (`?raw`), so the browser build, vitest and the Node CLI (run by
 * vite-node) all load shaders the same way.
 *
 * A shader may pull in another with a line `//#include "common/erf.wgsl"` (path relative to
 * `shaders/`); includes are expanded once, recursively.
 *
 * Names are paths relative to `shaders/` without the extension: `ops/linear.fwd`.
 */
const files = import.meta.glob(['../../shaders/**/*.wgsl', '!../../shaders/dev/**'], {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

const sources = new Map<string, string>();

/**
 * Adds shaders from a `{path: source}` glob result (names relative to `shaders/`). The kernel lab
 * registers shaders/dev/ this way, so the numbered lab variants stay out of the app bundle.
 */
export function registerShaders(glob: Record<string, string>): void {
  for (const [path, text] of Object.entries(glob)) {
    const name = path.replace(/^.*?\/shaders\//, '').replace(/\.wgsl$/, '');
    sources.set(name, text);
  }
}
registerShaders(files);

const generators = new Map<string, (name: string) => string>();

/**
 * Shaders written by TypeScript at run time (src/ops/matmul-gen.ts): every name under
 * `<prefix>/` is produced by `gen(name)` on first use and kept. Prefixes must not collide with
 * the file shaders' folders.
 */
export function registerShaderGenerator(prefix: string, gen: (name: string) => string): void {
  if ([...sources.keys()].some((n) => n.startsWith(`${prefix}/`))) {
    throw new Error(`shader generator "${prefix}" collides with shader files under shaders/${prefix}/`);
  }
  generators.set(prefix, gen);
}

function generated(name: string): string | undefined {
  const gen = generators.get(name.slice(0, name.indexOf('/')));
  if (!gen) return undefined;
  const code = gen(name);
  sources.set(name, code);
  return code;
}

/** Names of all known shaders (for diagnostics and tests). */
export function shaderNames(): string[] {
  return [...sources.keys()].sort();
}

/** Returns the WGSL source of `name` with `//#include` lines expanded. */
export function shaderSource(name: string, seen: Set<string> = new Set()): string {
  const text = sources.get(name) ?? generated(name);
  if (text === undefined) {
    throw new Error(`unknown shader "${name}" (known: ${shaderNames().join(', ')})`);
  }
  if (seen.has(name)) return ''; // include each file once
  seen.add(name);
  return text.replace(/^\/\/#include\s+"([^"]+)\.wgsl"\s*$/gm, (_m, inc: string) =>
    shaderSource(inc, seen),
  );
}
