/**
 * Vite library build of tools/gpu-bench/bench.ts into one Node ESM file, .gpubench/bench.mjs:
 * everything bundled (our src/ and bench/ code, zod, the `webgpu` package's loader), the WGSL of
 * src/gpu/shaders.ts inlined by import.meta.glob, the config JSON inlined; only Node's built-ins
 * stay imports. The `webgpu` loader requires dist/linux-x64/dawn.node next to the bundle (run.sh
 * puts it there). Built by `npm run gpu-bench:build` (tools/gpu-bench/build.sh).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('../..', import.meta.url));

export default defineConfig({
  root,
  publicDir: false,
  logLevel: 'warn',
  build: {
    ssr: 'tools/gpu-bench/bench.ts',
    outDir: '.gpubench',
    emptyOutDir: false,
    target: 'node20',
    minify: false,
    sourcemap: false,
    rollupOptions: { output: { format: 'es', entryFileNames: 'bench.mjs', codeSplitting: false } },
  },
  ssr: { noExternal: true, target: 'node' },
});
