/**
 * The npm package's build (`npm run build:lib`; `npm pack` / `npm publish` run it as prepack):
 * Vite library mode, ES modules into dist/, one build so the entries share chunks (one copy of
 * each class and of the shader registry):
 *   dist/index.js   `vembed-web`       src/index.ts       (browser bundles; imports no Node module)
 *   dist/node.js    `vembed-web/node`  src/index-node.ts  (Node: Dawn, sharp, node:fs)
 *   dist/cli.js     bin/vembed.mjs runs it with plain Node  src/cli/main.ts
 * WGSL under shaders/ is inlined as strings (src/gpu/shaders.ts's import.meta.glob '?raw'), so the
 * package needs neither Vite nor the shaders/ folder at run time. Dependencies and node:* stay
 * imports. Then tsconfig.lib.json writes the declarations of both entries to dist/types/.
 */
import { defineConfig } from 'vite';
import pkg from './package.json' with { type: 'json' };

const deps = Object.keys(pkg.dependencies);
const external = (id: string) => id.startsWith('node:') || deps.some((d) => id === d || id.startsWith(`${d}/`));

export default defineConfig({
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: false,
    lib: {
      entry: { index: 'src/index.ts', node: 'src/index-node.ts', cli: 'src/cli/main.ts' },
      formats: ['es'],
    },
    rollupOptions: { external, output: { chunkFileNames: 'chunks/[name]-[hash].js' } },
  },
});
