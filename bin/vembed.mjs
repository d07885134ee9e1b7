#!/usr/bin/env node
// `vembed` command: runs src/cli/main.ts through vite-node, so WGSL under shaders/ is loaded the
// same way as in the browser build and in vitest (Vite's import.meta.glob '?raw').
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const viteNode = join(dirname(require.resolve('vite-node/package.json')), 'dist', 'cli.mjs');
const child = spawn(
  process.execPath,
  [viteNode, '--root', root, join(root, 'src/cli/main.ts'), '--', ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
// Ctrl-C reaches the child through the terminal's process group; let it save and exit.
process.on('SIGINT', () => {});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
