import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

// The app (index.html) and the browser test/bench pages under tests/e2e and bench/ are all
// served by this one config; WGSL under shaders/ is imported with import.meta.glob('?raw').
//
// PWA (vite-plugin-pwa, Workbox generateSW; active in `vite build` / `vite preview` only): the
// service worker precaches the built app shell (HTML, JS including the engine worker, CSS, icons,
// manifest) and the bundled demo dataset, so after the first visit the app loads and trains
// offline. Model weights (*.safetensors, the demo model's included) and checkpoints are never
// precached: they live in IndexedDB (src/hub/cache-browser.ts) and OPFS (src/platform/checkpoint-store-browser.ts).
export default defineConfig({
  server: { host: '127.0.0.1', fs: { allow: ['.'] } },
  preview: { host: '127.0.0.1' },
  worker: { format: 'es' },
  // Pre-bundle up front so the dev server never reloads a page mid-test to add them.
  optimizeDeps: { include: ['idb-keyval', 'zod', 'comlink', 'yaml'] },
  // The app builds into dist-app/ (dist/ is the npm package's library build, vite.lib.config.ts).
  build: { target: 'es2022', outDir: 'dist-app' },
  plugins: [
    VitePWA({
      registerType: 'autoUpdate',
      includeManifestIcons: false,
      injectRegister: false,
      manifest: {
        name: 'vembed-web: train image retrieval models in your browser',
        short_name: 'vembed-web',
        description: 'Fine-tune DINOv3 / DINOv2 image-retrieval models on your own GPU with WebGPU.',
        theme_color: '#1d4ed8',
        background_color: '#f6f7f9',
        display: 'standalone',
        start_url: '.',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{html,js,css,svg,png}', 'demo/dataset/**/*'],
        globIgnores: ['**/*.safetensors', 'demo/model/**'],
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
        navigateFallback: 'index.html',
        cleanupOutdatedCaches: true,
        clientsClaim: true,
        skipWaiting: true,
      },
    }),
  ],
});
