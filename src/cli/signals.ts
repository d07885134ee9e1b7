/**
 * Stop requests for the `vembed` process: SIGINT (Ctrl-C), SIGTERM (`kill`, `timeout`, a CI
 * cancel, a process manager), SIGHUP (the terminal closed), and the wrapper going away
 * (bin/vembed.mjs runs this process as its child with an IPC channel: when the wrapper is killed,
 * even with SIGKILL, the channel closes and this process stops as if told to). Works the same
 * when main.ts runs without the wrapper (no channel then).
 *
 *   installStopSignals()   once, at start (main.ts). With no handler registered a request ends
 *                          the process at once, killed by that signal (nothing is being saved).
 *   onStop(handler)        a command that can stop cleanly (train: save a checkpoint, then
 *                          return) registers here; returns the function that unregisters it.
 *   stopExitCode()         128 + signal number of the request that stopped the command, or null.
 *
 * One stop can arrive twice: Ctrl-C reaches both the wrapper (which forwards it) and this process,
 * and `timeout` signals its child and then its whole process group. Requests within REPEAT_MS of
 * the first are that same stop; one later than that quits at once (a second Ctrl-C).
 */

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
type StopSignal = keyof typeof SIGNALS;

/** Requests closer than this to the first are duplicates of it. */
export const REPEAT_MS = 1000;

let handler: ((why: string) => void) | null = null;
let firstAt = 0;
let code: number | null = null;
let installed = false;

/**
 * Ends the process the way the signal's default action would: the handlers are removed and the
 * signal raised again, so the kernel ends it at once. (process.exit() would run exit-time cleanup
 * while Dawn's threads may be mid-work, which can crash.) The exit status is "killed by <sig>".
 */
function die(sig: StopSignal): never {
  for (const s of Object.keys(SIGNALS)) process.removeAllListeners(s);
  process.kill(process.pid, sig);
  // Not reached where the signal's default action ends the process (every POSIX system).
  process.exit(128 + SIGNALS[sig]);
}

function request(sig: StopSignal, why: string): void {
  const now = Date.now();
  if (!handler) die(sig);
  if (code === null) {
    code = 128 + SIGNALS[sig];
    firstAt = now;
    handler(why);
  } else if (now - firstAt > REPEAT_MS) {
    process.stderr.write(`\n${why} again: quitting at once (what was saved so far is intact)\n`);
    die(sig);
  }
}

export function installStopSignals(): void {
  if (installed) return;
  installed = true;
  for (const sig of Object.keys(SIGNALS) as StopSignal[]) {
    process.on(sig, () => request(sig, sig === 'SIGINT' ? 'interrupted (SIGINT)' : `got ${sig}`));
  }
  // The wrapper's IPC channel: closed when the wrapper exits or is killed. It must not keep us alive.
  if (process.channel) {
    process.channel.unref();
    process.on('disconnect', () => request('SIGTERM', 'the vembed launcher process went away'));
  }
}

export function onStop(h: (why: string) => void): () => void {
  handler = h;
  return () => {
    if (handler === h) handler = null;
  };
}

export function stopExitCode(): number | null {
  return code;
}
