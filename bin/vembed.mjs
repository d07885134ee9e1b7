#!/usr/bin/env node
// `vembed` command: runs src/cli/main.ts through vite-node, so WGSL under shaders/ is loaded the
// same way as in the browser build and in vitest (Vite's import.meta.glob '?raw').
//
// Stopping: SIGINT, SIGTERM and SIGHUP sent to this process are passed on to the child, which
// saves and exits (src/cli/signals.ts; a copy that reaches both, as Ctrl-C does, counts once).
// This process then exits as the child did: with its code, or killed by the same signal. The
// child also has an IPC channel to us: if we are killed outright (SIGKILL), the channel closes
// and the child stops cleanly instead of training on unwatched.
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
  { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] },
);
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const forward = (sig) => {
  if (child.exitCode === null && child.signalCode === null) child.kill(sig);
};
for (const sig of SIGNALS) process.on(sig, forward);
child.on('exit', (code, signal) => {
  if (signal) {
    // Exit the way the child did, so a shell or CI sees "killed by SIGTERM", not a plain error.
    for (const sig of SIGNALS) process.off(sig, forward);
    process.kill(process.pid, signal);
  }
  process.exit(code ?? 1);
});
