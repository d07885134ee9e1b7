import { defineConfig } from 'vite';

// The app (index.html) and the browser test/bench pages under tests/e2e and bench/ are all
// served by this one config; WGSL under shaders/ is imported with import.meta.glob('?raw').
export default defineConfig({
  server: { host: '127.0.0.1', fs: { allow: ['.'] } },
  worker: { format: 'es' },
  // Pre-bundle up front so the dev server never reloads a page mid-test to add them.
  optimizeDeps: { include: ['idb-keyval', 'zod', 'comlink'] },
  build: { target: 'es2022' },
});
