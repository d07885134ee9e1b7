/**
 * Stopping `vembed train` (bin/vembed.mjs, a launcher that runs the CLI in a child process) the
 * ways people and machines do, on real processes with the tiny DINOv3:
 *   SIGTERM to the launcher's PID (kill, timeout, a CI cancel)   -> saves, exits 143, no orphan
 *   SIGINT to the launcher's PID alone, at a random moment         -> stops (was ignored), exits 130
 *   Ctrl-C: SIGINT to the whole process group (both processes)     -> one stop, not "quit at once"
 *   SIGKILL to the launcher                                        -> the child saves and stops
 *   SIGKILL to the child at a random moment                        -> every checkpoint left is
 *                                                                     complete, and the run resumes
 * "Random" moments come from a seed printed with the results (VEMBED_FAULT_SEED reproduces them).
 * After each stop: what was saved loads, and nothing changes in output_dir afterwards.
 * Run: npx vitest run tests/faults/signals.test.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { trainCommand } from '../../src/cli/train';
import { loadAdapter } from '../../src/model/lora';
import { dirSource } from '../../src/platform/file-source-node';
import { nodeStore } from '../../src/platform/checkpoint-store-node';
import { Rng } from '../../src/util/random';
import { hiddenEntries, TINY, visibleTree } from './helpers';

const SEED = Number(process.env.VEMBED_FAULT_SEED ?? Date.now() % 100000);
const rng = new Rng(SEED);
const root = mkdtempSync(join(tmpdir(), 'vembed-faults-signals-'));
const data = join(root, 'sop');
cpSync('tests/fixtures/data/sop-mini', data, { recursive: true });
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A config for a long run (5 pairs, batches of 2: 3 steps per epoch), into output_dir `name`. */
function config(name: string): string {
  const f = join(root, `${name}.yaml`);
  writeFileSync(
    f,
    `model_name: ${resolve(TINY)}\ndata_path: ${data}\noutput_dir: ${join(root, name)}\nepochs: 500\nbatch_size: 2\nuse_lora: true\nlora_r: 2\nlogging_steps: 1\nsave_steps: 2\n`,
  );
  return f;
}

interface Run {
  name: string;
  launcher: ChildProcess;
  child: () => number | null;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(re: RegExp, ms?: number): Promise<void>;
}

function start(name: string, opts: { group?: boolean } = {}): Run {
  const launcher = spawn(process.execPath, ['bin/vembed.mjs', 'train', config(name)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: opts.group,
  });
  let err = '';
  const waiters: (() => void)[] = [];
  launcher.stderr!.on('data', (b) => {
    err += String(b);
    waiters.splice(0).forEach((w) => w());
  });
  let childPid: number | null = null;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    launcher.on('exit', (code, signal) => ok({ code, signal })),
  );
  return {
    name,
    launcher,
    exit,
    stderr: () => err,
    child: () => {
      try {
        childPid ??=
          Number(readFileSync(`/proc/${launcher.pid}/task/${launcher.pid}/children`, 'utf8').trim().split(/\s+/)[0]) ||
          null;
      } catch {
        // the launcher is gone: keep what we saw
      }
      return childPid;
    },
    async waitFor(re, ms = 180_000) {
      const t0 = Date.now();
      while (!re.test(err)) {
        if (Date.now() - t0 > ms) throw new Error(`${name}: no ${re} after ${ms} ms; stderr:\n${err}`);
        await new Promise<void>((ok) => {
          waiters.push(ok);
          setTimeout(ok, 500);
        });
      }
    },
  };
}

const alive = (pid: number | null) => {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function gone(pid: number | null, ms = 60_000): Promise<boolean> {
  const t0 = Date.now();
  while (alive(pid) && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 200));
  return !alive(pid);
}

/** After a stop: every checkpoint loads, no temporary is left, and nothing changes any more. */
async function expectSettled(out: string, why: string): Promise<string[]> {
  await nodeStore(out).recovered();
  const names = existsSync(out)
    ? readdirSync(out)
        .filter((n) => n.startsWith('checkpoint-'))
        .sort()
    : [];
  for (const n of names) await loadAdapter(dirSource(join(out, n)));
  expect(hiddenEntries(out), why).toEqual([]);
  const now = visibleTree(out);
  await new Promise((r) => setTimeout(r, 1500));
  expect(visibleTree(out), `${why}: output_dir changed after the process exited`).toEqual(now);
  return names;
}

test(
  `stop signals save and exit, no orphan keeps training, a SIGKILLed run resumes (seed ${SEED})`,
  { timeout: 400_000 },
  async () => {
    const step = /^step [1-9]\d*\/1500 /m;
    const stopped =
      /^stopped: \d+\/1500 steps, .*last checkpoint .*checkpoint-step-\d+; .*continue with --config_override resume_from_checkpoint=latest$/m;
    const term = start('term');
    const int = start('int');
    const group = start('group', { group: true });
    const kill = start('kill');
    const killed = start('killed');
    const intDelay = 2000 + rng.int(8000);
    const killDelay = rng.int(3000);
    await Promise.all([
      (async () => {
        await term.waitFor(step);
        term.child();
        term.launcher.kill('SIGTERM');
      })(),
      (async () => {
        await int.waitFor(/^data: /m); // the child is running; the moment in its run is random
        int.child();
        await new Promise((r) => setTimeout(r, intDelay));
        int.launcher.kill('SIGINT');
      })(),
      (async () => {
        await group.waitFor(step);
        group.child();
        process.kill(-group.launcher.pid!, 'SIGINT'); // what a terminal's Ctrl-C does
      })(),
      (async () => {
        await kill.waitFor(step);
        kill.child();
        kill.launcher.kill('SIGKILL');
      })(),
      (async () => {
        await killed.waitFor(step);
        await new Promise((r) => setTimeout(r, killDelay));
        process.kill(killed.child()!, 'SIGKILL');
      })(),
    ]);
    const [t, i, g, , k] = await Promise.all([term, int, group, kill, killed].map((r) => r.exit));
    expect(t, term.stderr()).toEqual({ code: 143, signal: null });
    expect(term.stderr()).toMatch(/got SIGTERM: stopping after this step and saving a checkpoint/);
    expect(term.stderr()).toMatch(stopped);
    // SIGINT to the launcher alone: a stop after saving (130) once `train` has registered its stop
    // handler (which says so: "stopping after this step"), which it does before the first step;
    // before that the process ends at once, killed by SIGINT as by default (nothing to save yet).
    // (Whether a step line was printed does not decide it: the handler is in place a moment
    // before the first step ends.)
    const intTraining = step.test(int.stderr());
    const intStopping = /interrupted \(SIGINT\): stopping after this step/.test(int.stderr());
    if (intTraining) expect(intStopping, int.stderr()).toBe(true);
    expect(i, int.stderr()).toEqual(intStopping ? { code: 130, signal: null } : { code: null, signal: 'SIGINT' });
    expect(g, group.stderr()).toEqual({ code: 130, signal: null });
    expect(group.stderr()).toMatch(stopped);
    expect(group.stderr().match(/stopping after this step/g)).toHaveLength(1);
    expect(group.stderr()).not.toMatch(/quitting at once/);
    // The launcher killed outright: its child notices, saves and stops.
    expect(await gone(kill.child()), `the child of a SIGKILLed launcher is still running:\n${kill.stderr()}`).toBe(
      true,
    );
    expect(kill.stderr()).toMatch(/the vembed launcher process went away: stopping after this step/);
    expect(kill.stderr()).toMatch(stopped);
    expect(k).toEqual({ code: null, signal: 'SIGKILL' }); // the launcher reports its child's death the same way
    for (const r of [term, int, group, killed])
      expect(await gone(r.child(), 5000), `${r.name}: child left running`).toBe(true);
    for (const r of [term, group, kill])
      expect((await expectSettled(join(root, r.name), r.name)).length, r.name).toBeGreaterThan(0);
    await expectSettled(join(root, 'int'), 'int');

    // What the SIGKILL left is sound; resume from it (or start over, if nothing was saved yet) and finish.
    const out = join(root, 'killed');
    const names = await expectSettled(out, 'killed');
    const last = Math.max(
      0,
      ...names.map((n) => JSON.parse(readFileSync(join(out, n, 'trainer_state.json'), 'utf8')).step as number),
    );
    console.log(
      `signals (seed ${SEED}): SIGINT ${intDelay} ms after start (${intTraining ? 'while training' : intStopping ? 'before the first step, once train could stop' : 'before train could stop'}); ` +
        `SIGKILL ${killDelay} ms after the first step left ${names.length} checkpoints (last at step ${last})`,
    );
    const epochs = Math.floor(last / 3) + 1;
    await trainCommand([
      join(root, 'killed.yaml'),
      '--config_override',
      `epochs=${epochs}`,
      last ? 'resume_from_checkpoint=latest' : 'overwrite_output_dir=true',
    ]);
    const results = JSON.parse(readFileSync(join(out, 'train_results.json'), 'utf8'));
    expect(results.steps).toBe(epochs * 3);
    expect(results.stopped_early).toBe(false);
  },
);
