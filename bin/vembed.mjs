#!/usr/bin/env node
// `vembed` command: a launcher that runs the CLI (src/cli/main.ts) in a child process, from
//   dist/cli.js with plain Node: the installed package (`npm run build:lib` builds it; the
//                  shaders are inlined, no Vite at run time), or VEMBED_CLI=dist in a checkout;
//   src/ through vite-node: a checkout of the repository (src/ and vite-node present), so an
//                  edit to src/ or shaders/ is what runs, with no build step; or VEMBED_CLI=src.
//
// Stopping: SIGINT, SIGTERM and SIGHUP sent to this process are passed on to the child, which
// saves and exits (src/cli/signals.ts; a copy that reaches both, as Ctrl-C does, counts once).
// This process then exits as the child did: with its code, or killed by the same signal. The
// child also has an IPC channel to us: if we are killed outright (SIGKILL), the channel closes
// and the child stops cleanly instead of training on unwatched.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist', 'cli.js');
const main = join(root, 'src', 'cli', 'main.ts');

/** vite-node's CLI script when it is installed (a checkout's devDependencies), else null. */
function viteNode() {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('vite-node/package.json')), 'dist', 'cli.mjs');
  } catch {
    return null;
  }
}

function command() {
  const want = process.env.VEMBED_CLI;
  if (want && want !== 'dist' && want !== 'src') fail(`VEMBED_CLI=${want}: expected dist or src`);
  const vn = want === 'dist' || !existsSync(main) ? null : viteNode();
  if (vn) return [vn, '--root', root, main, '--'];
  if (want === 'src') fail(`VEMBED_CLI=src needs ${main} and vite-node (npm ci in the checkout)`);
  if (existsSync(dist)) return [dist];
  fail(`${dist} is missing: run \`npm run build:lib\` (or \`npm ci\` for vite-node to run src/ directly)`);
}

function fail(msg) {
  process.stderr.write(`vembed: ${msg}\n`);
  process.exit(1);
}

const child = spawn(process.execPath, [...command(), ...process.argv.slice(2)], {
  stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
});
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
